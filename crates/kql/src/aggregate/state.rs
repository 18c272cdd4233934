//! An aggregate's compiled form (`AggSpec`), its state per group and how a row updates it.

use std::sync::Arc;

use super::percentiles;
use super::stats::{Moments, Spread};
use crate::ast::BinOp;
use crate::cexpr::CExpr;
use crate::error::KqlError;
use crate::hll::Distinct;
use crate::rel::KeySet;
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// Aggregate state per group.
pub(crate) enum AggState {
    Count(i64),
    Distinct(KeySet<Value>),
    Sum(Value),
    Avg(f64, i64),
    Best(Value),
    Make(Vec<Value>, KeySet<Value>),
    Bag(serde_json::Map<String, serde_json::Value>),
    Arg(Value, Option<Row>),
    Any(Option<Value>),
    Moments(Moments),
    Values(Vec<(Value, u64)>),
    Hll(Distinct),
}

/// What an aggregate computes, with its compiled arguments.
pub(crate) enum AggKind {
    Count,
    DCount(CExpr),
    Sum(CExpr),
    Avg(CExpr),
    MinMax(CExpr, bool),
    Make {
        x: CExpr,
        set: bool,
        nulls: bool,
        limit: usize,
    },
    Bag(CExpr, usize),
    Arg {
        key: CExpr,
        max: bool,
        cols: Vec<usize>,
    },
    /// The first value, or with `true` the first that is neither null nor empty, when there
    /// is one (`take_anyif`, which Kusto documents as trying for such a value).
    Any(CExpr, bool),
    Spread(CExpr, Spread),
    /// Values with optional weights, the percents, and whether they form one array column.
    Percentiles {
        x: CExpr,
        weight: Option<CExpr>,
        percents: Vec<f64>,
        array: bool,
    },
    Hll(CExpr),
    HllMerge(CExpr),
}

/// A compiled aggregate: what it computes, over which rows, and its result column.
pub(crate) struct AggSpec {
    /// What it computes.
    pub(crate) kind: AggKind,
    /// The `if` forms' predicate: rows where it is not true are left out.
    pub(crate) cond: Option<CExpr>,
    /// The start of its unnamed column's name (`sumif` of `sumif_X`).
    pub(crate) prefix: &'static str,
    /// Its value's type.
    pub(crate) ty: KqlType,
    /// Whether an unnamed column takes the argument's name after the prefix (`count_` does not).
    pub(crate) names_column: bool,
    /// The error a group past the aggregate's memory bound gives, built where its offset is known.
    pub(crate) overflow: KqlError,
}

impl AggSpec {
    /// The type of the aggregate's value.
    pub(crate) fn ty(&self) -> KqlType {
        self.ty
    }

    /// How many result columns the aggregate fills (`percentiles` one per percent).
    pub(crate) fn width(&self) -> usize {
        match &self.kind {
            AggKind::Percentiles {
                percents,
                array: false,
                ..
            } => percents.len(),
            _ => 1,
        }
    }

    /// A group's state before any row.
    pub(crate) fn start(&self) -> AggState {
        match &self.kind {
            AggKind::Count => AggState::Count(0),
            AggKind::DCount(..) => AggState::Distinct(KeySet::default()),
            AggKind::Sum(_) => AggState::Sum(Value::Null),
            AggKind::Avg(_) => AggState::Avg(0.0, 0),
            AggKind::MinMax(..) => AggState::Best(Value::Null),
            AggKind::Make { .. } => AggState::Make(Vec::new(), KeySet::default()),
            AggKind::Bag(..) => AggState::Bag(serde_json::Map::new()),
            AggKind::Arg { .. } => AggState::Arg(Value::Null, None),
            AggKind::Any(..) => AggState::Any(None),
            AggKind::Spread(..) => AggState::Moments(Moments::default()),
            AggKind::Percentiles { .. } => AggState::Values(Vec::new()),
            AggKind::Hll(_) | AggKind::HllMerge(_) => AggState::Hll(Distinct::default()),
        }
    }

    /// Adds `row` to a group's state; an error when the group outgrows the aggregate's bound.
    pub(crate) fn update(&self, st: &mut AggState, row: &Row) -> Result<(), KqlError> {
        if self.cond.as_ref().is_some_and(|c| !c.truthy(row)) {
            return Ok(());
        }
        match (&self.kind, st) {
            (AggKind::Count, AggState::Count(n)) => *n += 1,
            (AggKind::DCount(x), AggState::Distinct(set)) => {
                let v = x.eval(row);
                if !v.is_null() && !set.contains(&*v) {
                    set.insert(v.into_owned());
                }
            }
            (AggKind::Sum(x), AggState::Sum(acc)) => {
                let v = x.eval(row);
                if !v.is_null() {
                    *acc = if acc.is_null() {
                        v.scalarize().into_owned()
                    } else {
                        scalar::arith(BinOp::Add, acc, &v)
                    };
                }
            }
            (AggKind::Avg(x), AggState::Avg(sum, n)) => {
                if let Some(f) = x.eval(row).as_f64() {
                    *sum += f;
                    *n += 1;
                }
            }
            (AggKind::MinMax(x, max), AggState::Best(best)) => {
                let v = x.eval(row);
                if !v.is_null() && (best.is_null() || is_better(&v, best, *max)) {
                    *best = v.into_owned();
                }
            }
            (AggKind::Make { .. }, st @ AggState::Make(..)) => self.make(st, row),
            (AggKind::Bag(x, limit), AggState::Bag(bag)) => {
                if let Value::Dynamic(json) = &*x.eval(row)
                    && let Some(obj) = json.as_object()
                {
                    for (k, v) in obj {
                        if bag.len() < *limit && !bag.contains_key(k) {
                            bag.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            (AggKind::Arg { key, max, .. }, AggState::Arg(best, picked)) => {
                let v = key.eval(row);
                let better = picked.is_none()
                    || (!v.is_null() && (best.is_null() || is_better(&v, best, *max)));
                if better {
                    *best = v.into_owned();
                    *picked = Some(Arc::clone(row));
                }
            }
            (AggKind::Any(x, false), AggState::Any(slot)) if slot.is_none() => {
                *slot = Some(x.eval(row).into_owned());
            }
            (AggKind::Any(x, true), AggState::Any(slot)) if slot.as_ref().is_none_or(is_blank) => {
                let v = x.eval(row);
                if slot.is_none() || !is_blank(&v) {
                    *slot = Some(v.into_owned());
                }
            }
            (AggKind::Spread(x, _), AggState::Moments(m)) => {
                if let Some(f) = x.eval(row).as_f64() {
                    m.push(f);
                }
            }
            (AggKind::Percentiles { x, weight, .. }, AggState::Values(values)) => {
                self.buffer(values, x, weight.as_ref(), row)?;
            }
            (AggKind::Hll(x), AggState::Hll(set)) => {
                let fits = set.add(x.eval(row).to_json());
                self.within_bound(fits)?;
            }
            (AggKind::HllMerge(x), AggState::Hll(set)) => {
                let fits = set.merge(&x.eval(row));
                self.within_bound(fits)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The aggregate's bound error when a value did not fit.
    fn within_bound(&self, fits: bool) -> Result<(), KqlError> {
        if fits {
            Ok(())
        } else {
            Err(self.overflow.clone())
        }
    }

    /// `make_set`/`make_list` and their `if` and `with_nulls` forms: up to the limit, nulls
    /// only for `make_list_with_nulls`.
    fn make(&self, st: &mut AggState, row: &Row) {
        let (
            AggKind::Make {
                x,
                set,
                nulls,
                limit,
            },
            AggState::Make(items, seen),
        ) = (&self.kind, st)
        else {
            return;
        };
        let v = x.eval(row);
        if (v.is_null() && !*nulls) || items.len() >= *limit {
            return;
        }
        if !*set || seen.insert(v.clone().into_owned()) {
            items.push(v.into_owned());
        }
    }

    /// Keeps a value (and its weight) for the percentiles; a non-positive or missing weight
    /// leaves the row out, as it adds nothing to any rank.
    fn buffer(
        &self,
        values: &mut Vec<(Value, u64)>,
        x: &CExpr,
        weight: Option<&CExpr>,
        row: &Row,
    ) -> Result<(), KqlError> {
        let v = x.eval(row);
        if v.is_null() {
            return Ok(());
        }
        let w = match weight {
            None => 1,
            Some(w) => match w.eval(row).as_f64() {
                // A float-to-int cast saturates, so a huge weight is u64::MAX, not a wrap.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // >= 1
                Some(f) if f >= 1.0 => f as u64,
                _ => return Ok(()),
            },
        };
        if values.len() >= percentiles::MAX_VALUES {
            return Err(self.overflow.clone());
        }
        values.push((v.scalarize().into_owned(), w));
        Ok(())
    }

    /// Writes the aggregate's value into `out[slot]` (`percentiles` from `slot` on) and, for
    /// arg_max/arg_min, the returned columns into their `(input column, output slot)` places.
    pub(crate) fn finish(
        &self,
        st: AggState,
        out: &mut [Value],
        slot: usize,
        extra: &[(usize, usize)],
    ) {
        let value = match st {
            AggState::Count(n) => Value::Long(n),
            AggState::Distinct(set) => Value::Long(i64::try_from(set.len()).unwrap_or(i64::MAX)),
            AggState::Sum(v) if v.is_null() && self.ty.is_numeric() => Value::Long(0),
            AggState::Sum(v) | AggState::Best(v) => v,
            #[allow(clippy::cast_precision_loss)]
            AggState::Avg(sum, n) => {
                if n == 0 {
                    Value::Null
                } else {
                    Value::Real(sum / n as f64)
                }
            }
            AggState::Make(items, _) => Value::dynamic(serde_json::Value::Array(
                items.iter().map(Value::to_json).collect(),
            )),
            AggState::Bag(bag) => Value::dynamic(serde_json::Value::Object(bag)),
            AggState::Arg(best, picked) => {
                for &(i, to) in extra {
                    out[to] = picked.as_ref().map_or(Value::Null, |r| r[i].clone());
                }
                best
            }
            AggState::Any(v) => v.unwrap_or_default(),
            AggState::Moments(m) => match &self.kind {
                AggKind::Spread(_, spread) => m.finish(*spread),
                _ => Value::Null,
            },
            AggState::Values(values) => self.percentiles(values, out, slot),
            AggState::Hll(set) => set.finish(),
        };
        if let Some(cell) = out.get_mut(slot) {
            *cell = value;
        }
    }

    /// The percentiles of a group: one per column from `slot` on (the first returned), or
    /// one array.
    fn percentiles(&self, values: Vec<(Value, u64)>, out: &mut [Value], slot: usize) -> Value {
        let AggKind::Percentiles {
            percents, array, ..
        } = &self.kind
        else {
            return Value::Null;
        };
        let mut found = percentiles::compute(values, percents).into_iter();
        if *array {
            return Value::dynamic(serde_json::Value::Array(
                found.map(|v| v.to_json()).collect(),
            ));
        }
        let first = found.next().unwrap_or_default();
        for (cell, v) in out.iter_mut().skip(slot + 1).zip(found) {
            *cell = v;
        }
        first
    }
}

/// Whether `v` beats `best` for a max (`max`) or a min.
fn is_better(v: &Value, best: &Value, max: bool) -> bool {
    let o = v.sort_cmp(best);
    if max { o.is_gt() } else { o.is_lt() }
}

/// Null or the empty string, the values `take_anyif` passes over when it can.
fn is_blank(v: &Value) -> bool {
    v.is_null() || matches!(v, Value::String(s) if s.is_empty())
}
