//! `evaluate activity_metrics(IdColumn, TimelineColumn, Start, End, Window [, Dim, ...])`: each
//! window of the timeline against the one just before it: its distinct ids, those the previous
//! window lacked, and the shares of the previous window's ids that came back (retention) and
//! that did not (churn).
//!
//! The windows are `activity_counts_metrics`' (`activity::Windows`). The previous window is the
//! one a step earlier, empty when it holds no rows of the combination or lies before `Start`; its
//! rates are then 0/0, NaN, as Kusto's documentation shows for the first window. Ids are counted
//! exactly where Kusto estimates.

use super::activity::long;
use crate::ast::Activity;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::{KeyMap, KeySet, Rel};
use crate::table::Row;
use crate::value::{KqlType, Value};

impl Ctx<'_> {
    /// The plugin's rows, in window order then in the order the combinations first occur: the
    /// window's start, `dcount_values`, `dcount_newvalues`, `retention_rate`, `churn_rate`, then
    /// the dimensions, as Kusto's documentation orders them.
    pub(crate) fn activity_metrics(&self, rel: &Rel, spec: &Activity) -> Result<Rel, KqlError> {
        let windows = self.activity_windows(rel, spec)?;
        let mut cells: KeyMap<(i64, Vec<Value>), KeySet<Value>> = KeyMap::default();
        let mut order: Vec<(i64, Vec<Value>)> = Vec::new();
        for row in &rel.rows {
            let Some(w) = windows.of(row) else {
                continue;
            };
            let key = windows.key(row);
            let ids = cells.entry((w, key.clone())).or_insert_with(|| {
                order.push((w, key));
                KeySet::default()
            });
            if !row[windows.id].is_null() {
                ids.insert(row[windows.id].clone());
            }
        }
        order.sort_by_key(|(w, _)| *w);
        let mut cols = vec![rel.cols[windows.time].clone()];
        cols.extend(
            [
                ("dcount_values", KqlType::Long),
                ("dcount_newvalues", KqlType::Long),
                ("retention_rate", KqlType::Real),
                ("churn_rate", KqlType::Real),
            ]
            .map(|(name, kind)| (name.to_string(), kind)),
        );
        cols.extend(windows.dims.iter().map(|&d| rel.cols[d].clone()));
        let none = KeySet::default();
        let mut rows = Vec::with_capacity(order.len());
        for (w, key) in order {
            let before = cells.get(&(w - 1, key.clone())).unwrap_or(&none);
            let ids = cells.get(&(w, key.clone())).unwrap_or(&none);
            let kept = ids.iter().filter(|v| before.contains(*v)).count();
            let mut out = vec![
                windows.start_of(w),
                long(ids.len()),
                long(ids.len() - kept),
                ratio(kept, before.len()),
                ratio(before.len() - kept, before.len()),
            ];
            out.extend(key);
            rows.push(Row::from(out));
        }
        Ok(Rel { cols, rows })
    }
}

/// `part / whole` as a real: NaN when `whole` is 0, as Kusto divides reals.
#[allow(clippy::cast_precision_loss)] // counts of rows held in memory
fn ratio(part: usize, whole: usize) -> Value {
    Value::Real(part as f64 / whole as f64)
}
