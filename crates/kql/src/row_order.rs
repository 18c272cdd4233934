//! The row-order functions `prev(x [, offset [, default]])` and `next(...)` in `extend` and
//! `project`: each call is computed over the whole input first, as a hidden column holding `x`
//! of the row `offset` before (or after) each row, and the expression then reads that column.
//! Kusto asks for a serialized input (`serialize`, `sort`); the engine's rows always have an
//! order, so it does not.

use crate::ast::{Expr, ExprKind, NamedExpr};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::Rel;
use crate::table::Row;
use crate::value::Value;

/// Whether `e` is a `prev` or `next` call.
fn is_row_order_call(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Call(name, _) if name == "prev" || name == "next")
}

/// A hidden column's name: not a name a query can write unquoted.
fn hidden(k: usize) -> String {
    format!(" row{k}")
}

/// Whether a column is one [`Ctx::with_row_order_columns`] added.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with(" row")
}

impl Ctx<'_> {
    /// When `items` call `prev` or `next`: `rel` with a hidden column per call and the items
    /// reading those columns instead; `None` when they call neither.
    pub(crate) fn with_row_order_columns(
        &self,
        rel: &Rel,
        items: &[NamedExpr],
        op: &str,
    ) -> Result<Option<(Rel, Vec<NamedExpr>)>, KqlError> {
        if !items.iter().any(|(_, e)| e.contains(&is_row_order_call)) {
            return Ok(None);
        }
        let mut calls: Vec<Expr> = Vec::new();
        let rewritten: Vec<NamedExpr> = items
            .iter()
            .map(|(name, e)| {
                let e = e.rewrite(&mut |x| {
                    is_row_order_call(x).then(|| {
                        calls.push(x.clone());
                        Expr {
                            kind: ExprKind::Ident(hidden(calls.len() - 1)),
                            pos: x.pos,
                        }
                    })
                });
                (name.clone(), e)
            })
            .collect();
        let mut cols = rel.cols.clone();
        let mut extra: Vec<Vec<Value>> = Vec::with_capacity(calls.len());
        for (k, call) in calls.iter().enumerate() {
            let (column, ty) = self.shifted(rel, call, op)?;
            cols.push((hidden(k), ty));
            extra.push(column);
        }
        let rows = rel
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let mut values = row.to_vec();
                values.extend(extra.iter().map(|column| column[i].clone()));
                Row::from(values)
            })
            .collect();
        Ok(Some((Rel { cols, rows }, rewritten)))
    }

    /// One `prev`/`next` call over every row: the argument of the row `offset` away, or the
    /// default (null unless given) where there is none.
    fn shifted(
        &self,
        rel: &Rel,
        call: &Expr,
        op: &str,
    ) -> Result<(Vec<Value>, crate::value::KqlType), KqlError> {
        let ExprKind::Call(name, args) = &call.kind else {
            return Err(self.err(format!("'{op}': expected prev() or next()"), call.pos));
        };
        if args.is_empty() || args.len() > 3 {
            return Err(self.err(
                format!("'{name}' expects 1 to 3 arguments, got {}", args.len()),
                call.pos,
            ));
        }
        let (value, ty) = self.compile(&args[0], rel, op)?;
        let empty = Rel {
            cols: Vec::new(),
            rows: Vec::new(),
        };
        let offset = match args.get(1) {
            Some(e) => match self.compile(e, &empty, op)?.0.eval(&[]).into_owned() {
                Value::Long(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => {
                    return Err(self.err(
                        format!("'{name}': the offset must be a constant whole number"),
                        e.pos,
                    ));
                }
            },
            None => 1,
        };
        let default = match args.get(2) {
            Some(e) => self.compile(e, &empty, op)?.0.eval(&[]).into_owned(),
            None => Value::Null,
        };
        let values: Vec<Value> = rel
            .rows
            .iter()
            .map(|r| value.eval(r).into_owned())
            .collect();
        let at = |i: usize| {
            let source = if name == "prev" {
                i.checked_sub(offset)
            } else {
                i.checked_add(offset).filter(|j| *j < values.len())
            };
            source.map_or_else(|| default.clone(), |j| values[j].clone())
        };
        Ok(((0..values.len()).map(at).collect(), ty))
    }
}
