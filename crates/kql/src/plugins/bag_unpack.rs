//! `evaluate bag_unpack(Bag [, 'prefix'])`, the one `evaluate` plugin hunts commonly use: each
//! key of a property bag (a `dynamic` object, or a string holding one, as `AdditionalFields`
//! is stored) becomes a column of its own, typed by the values it holds.

use std::collections::BTreeMap;

use crate::ast::{Expr, ExprKind};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::Rel;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// The type that holds every value a key has: one scalar type when they share it, else
/// `dynamic`.
fn column_type(values: &[&serde_json::Value]) -> KqlType {
    let of = |v: &serde_json::Value| match v {
        serde_json::Value::String(_) => Some(KqlType::String),
        serde_json::Value::Bool(_) => Some(KqlType::Bool),
        serde_json::Value::Number(n) if n.is_i64() => Some(KqlType::Long),
        serde_json::Value::Number(_) => Some(KqlType::Real),
        serde_json::Value::Null => None,
        _ => Some(KqlType::Dynamic),
    };
    let mut types = values.iter().filter_map(|v| of(v));
    let Some(first) = types.next() else {
        return KqlType::Dynamic;
    };
    let mut ty = first;
    for t in types {
        ty = match (ty, t) {
            (a, b) if a == b => a,
            (KqlType::Long | KqlType::Real, KqlType::Long | KqlType::Real) => KqlType::Real,
            _ => return KqlType::Dynamic,
        };
    }
    ty
}

/// A bag value as the column's type sees it.
fn typed(value: Option<&serde_json::Value>, ty: KqlType) -> Value {
    match (value, ty) {
        (None | Some(serde_json::Value::Null), _) => Value::Null,
        (Some(serde_json::Value::String(s)), KqlType::String) => Value::str(s),
        (Some(serde_json::Value::Bool(b)), KqlType::Bool) => Value::Bool(*b),
        (Some(serde_json::Value::Number(n)), KqlType::Long) => {
            n.as_i64().map_or(Value::Null, Value::Long)
        }
        (Some(serde_json::Value::Number(n)), KqlType::Real) => {
            n.as_f64().map_or(Value::Null, Value::Real)
        }
        (Some(v), _) => Value::dynamic(v.clone()),
    }
}

impl Ctx<'_> {
    /// The rows with the bag's keys as columns (sorted by name, after `prefix`), the bag's own
    /// column left out when it is a bare column.
    pub(crate) fn bag_unpack(&self, rel: &Rel, bag: &Expr, prefix: &str) -> Result<Rel, KqlError> {
        let (compiled, _) = self.compile(bag, rel, "evaluate bag_unpack")?;
        let bags: Vec<Option<serde_json::Map<String, serde_json::Value>>> = rel
            .rows
            .iter()
            .map(|row| match compiled.eval(row).into_owned() {
                Value::Dynamic(json) => match json.as_ref() {
                    serde_json::Value::Object(map) => Some(map.clone()),
                    serde_json::Value::String(s) => serde_json::from_str(s).ok(),
                    _ => None,
                },
                Value::String(s) => serde_json::from_str(&s).ok(),
                _ => None,
            })
            .collect();
        let mut keys: BTreeMap<&str, Vec<&serde_json::Value>> = BTreeMap::new();
        for bag in bags.iter().flatten() {
            for (k, v) in bag {
                keys.entry(k.as_str()).or_default().push(v);
            }
        }
        let dropped = match &bag.kind {
            ExprKind::Ident(name) => rel.index(name),
            _ => None,
        };
        let kept: Vec<usize> = (0..rel.cols.len())
            .filter(|i| Some(*i) != dropped)
            .collect();
        let unpacked: Vec<(&str, KqlType)> = keys
            .iter()
            .map(|(k, values)| (*k, column_type(values)))
            .collect();
        let mut cols: Vec<(String, KqlType)> = kept.iter().map(|&i| rel.cols[i].clone()).collect();
        for (key, ty) in &unpacked {
            let name = format!("{prefix}{key}");
            if cols.iter().any(|(n, _)| *n == name) {
                return Err(self.err(
                    format!(
                        "bag_unpack: the bag's key '{key}' clashes with column '{name}'; give a prefix"
                    ),
                    bag.pos,
                ));
            }
            cols.push((name, *ty));
        }
        let rows = rel
            .rows
            .iter()
            .zip(&bags)
            .map(|(row, bag)| {
                let mut values: Vec<Value> = kept.iter().map(|&i| row[i].clone()).collect();
                values.extend(
                    unpacked
                        .iter()
                        .map(|(key, ty)| typed(bag.as_ref().and_then(|b| b.get(*key)), *ty)),
                );
                Row::from(values)
            })
            .collect();
        Ok(Rel { cols, rows })
    }
}
