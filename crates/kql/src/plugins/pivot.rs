//! The reshaping plugins of `evaluate`: `pivot` (a column per value) and `narrow` (a row per
//! cell).

use crate::ast::{Aggregate, Expr, ExprKind, NamedExpr};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::{KeyMap, Rel};
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// The most cells a pivot may make, as many as `make-series` allows.
const MAX_CELLS: usize = 1 << 24;

impl Ctx<'_> {
    /// `pivot`: a row per group, a column per value of `column` (named by its text, in sorted
    /// order), each cell the aggregate over the group's rows with that value; a combination
    /// without rows holds what the aggregate gives over no rows (0 for `count()`).
    pub(crate) fn pivot(
        &self,
        rel: &Rel,
        column: &str,
        agg: Option<&Expr>,
        by: &[String],
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let at = |kind| Expr { kind, pos };
        let agg = agg
            .cloned()
            .unwrap_or_else(|| at(ExprKind::Call("count".into(), Vec::new())));
        if rel.index(column).is_none() {
            return Err(self.err(format!("pivot: no column named '{column}'"), pos));
        }
        let group: Vec<String> = if by.is_empty() {
            let named =
                |name: &str| agg.contains(&|e| matches!(&e.kind, ExprKind::Ident(n) if n == name));
            rel.cols
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| n != column && !named(n))
                .collect()
        } else {
            by.to_vec()
        };
        let mut keys: Vec<NamedExpr> = group
            .iter()
            .map(|n| (None, at(ExprKind::Ident(n.clone()))))
            .collect();
        keys.push((None, at(ExprKind::Ident(column.to_string()))));
        let cell = Aggregate {
            names: vec![" cell".to_string()],
            expr: agg,
        };
        let cells = self.summarize(rel, rel.rows.iter(), std::slice::from_ref(&cell), &keys)?;
        let nothing = self.summarize(rel, std::iter::empty(), std::slice::from_ref(&cell), &[])?;
        let empty_cell = nothing
            .rows
            .first()
            .map(|r| r[0].clone())
            .unwrap_or_default();
        let width = group.len();
        let cell_ty = cells.cols.get(width + 1).map_or(KqlType::Dynamic, |c| c.1);
        let mut names: Vec<String> = cells
            .rows
            .iter()
            .map(|r| scalar::to_text(&r[width]).into_owned())
            .collect();
        names.sort();
        names.dedup();
        let groups = cells.rows.len().min(rel.rows.len()).max(1);
        if names.len().saturating_mul(groups) > MAX_CELLS {
            return Err(self.err(
                format!(
                    "pivot: {} values of '{column}' make more than {MAX_CELLS} cells; pivot a \
                     column with fewer values",
                    names.len()
                ),
                pos,
            ));
        }
        let slot: KeyMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), width + i))
            .collect();
        let mut cols: Vec<(String, KqlType)> = cells.cols[..width].to_vec();
        cols.extend(names.iter().map(|n| (n.clone(), cell_ty)));
        let mut row_of: KeyMap<Vec<Value>, usize> = KeyMap::default();
        let mut rows: Vec<Vec<Value>> = Vec::new();
        for r in &cells.rows {
            let key = r[..width].to_vec();
            let at = *row_of.entry(key.clone()).or_insert_with(|| {
                let mut fresh = key;
                fresh.resize(cols.len(), empty_cell.clone());
                rows.push(fresh);
                rows.len() - 1
            });
            if let Some(&i) = slot.get(scalar::to_text(&r[width]).as_ref()) {
                rows[at][i] = r[width + 1].clone();
            }
        }
        Ok(Rel {
            cols,
            rows: rows.into_iter().map(Row::from).collect(),
        })
    }
}

/// `narrow`: a row per cell, its row's position, its column's name and its value as text.
pub(crate) fn narrow(rel: &Rel) -> Rel {
    let cols = vec![
        ("Row".to_string(), KqlType::Long),
        ("Column".to_string(), KqlType::String),
        ("Value".to_string(), KqlType::String),
    ];
    let mut rows = Vec::with_capacity(rel.rows.len() * rel.cols.len());
    for (i, r) in rel.rows.iter().enumerate() {
        let n = Value::Long(i64::try_from(i).unwrap_or(i64::MAX));
        for ((name, _), v) in rel.cols.iter().zip(r.iter()) {
            rows.push(Row::from(vec![
                n.clone(),
                Value::str(name),
                Value::str(&scalar::to_text(v)),
            ]));
        }
    }
    Rel { cols, rows }
}
