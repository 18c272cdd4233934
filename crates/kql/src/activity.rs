//! `evaluate sliding_window_counts(...)` and `activity_counts_metrics(...)`: counts and distinct
//! counts of ids per window of the timeline, from `Start` in steps up to the window holding
//! `End`, per combination of the dimension columns.
//!
//! Rows outside `[Start, End]` are left out; only windows (and combinations) with rows
//! contributing to them answer a row, in window order and then in the order the combinations
//! first occur; a null id counts as a row but not as an id. A calendar step (`'week'`,
//! `'month'`, `'year'`) is refused by name.

use crate::ast::{Activity, BinOp, Expr};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::make_series::{MAX_BINS, MAX_CELLS, bin_value, steps};
use crate::rel::{KeyMap, KeySet, Rel};
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// One window of one combination: its rows and its distinct ids.
#[derive(Default)]
struct Cell {
    count: i64,
    ids: KeySet<Value>,
}

impl Ctx<'_> {
    /// The plugin's rows: `TimelineColumn`, the dimensions, then `count` and `dcount` (and for
    /// `activity_counts_metrics` `new_dcount`, ids no earlier window had, and
    /// `aggregated_dcount`, ids of this window and every earlier one).
    pub(crate) fn activity(&self, rel: &Rel, spec: &Activity, pos: usize) -> Result<Rel, KqlError> {
        let plugin = if spec.sliding {
            "sliding_window_counts"
        } else {
            "activity_counts_metrics"
        };
        let bad = |what: String| self.err(format!("{plugin}: {what}"), pos);
        let column = |name: &str| {
            rel.index(name)
                .ok_or_else(|| bad(format!("no column named '{name}'")))
        };
        let id = column(&spec.id)?;
        let time = column(&spec.timeline)?;
        let dims = spec
            .dims
            .iter()
            .map(|d| column(d))
            .collect::<Result<Vec<_>, _>>()?;
        let start = self.activity_constant(&spec.start, plugin)?;
        let end = self.activity_constant(&spec.end, plugin)?;
        let step = self.activity_constant(&spec.step, plugin)?;
        if matches!(step, Value::String(_)) {
            return Err(bad(
                "a calendar step ('week', 'month', 'year') is not supported by \
                            huntd emulate; write a timespan"
                    .to_string(),
            ));
        }
        let positive =
            scalar::comparison(BinOp::Gt, &step, &scalar::arith(BinOp::Sub, &step, &step));
        let offset = |v: &Value| steps(&scalar::arith(BinOp::Sub, v, &start), &step);
        let Some((last, _)) = offset(&end).filter(|_| positive) else {
            return Err(bad(
                "Start, End and the step must be of one kind, the step positive".to_string(),
            ));
        };
        let reach = match &spec.lookback {
            Some(lookback) => {
                let lookback = self.activity_constant(lookback, plugin)?;
                steps(&lookback, &step).map_or(1, |(n, _)| n.max(1))
            }
            None => 1,
        };
        if last >= MAX_BINS || reach >= MAX_BINS {
            return Err(bad(format!(
                "more than {MAX_BINS} windows; use a larger step"
            )));
        }
        let mut cells: KeyMap<(i64, Vec<Value>), Cell> = KeyMap::default();
        let mut order: Vec<(i64, Vec<Value>)> = Vec::new();
        let mut spread: i64 = 0;
        for row in &rel.rows {
            let Some((i, _)) = offset(&row[time]) else {
                continue;
            };
            if i < 0 || i > last {
                continue;
            }
            let key: Vec<Value> = dims.iter().map(|&d| row[d].clone()).collect();
            // Sliding counts put a row in each window whose lookback reaches back to it.
            let until = if spec.sliding {
                (i + reach - 1).min(last)
            } else {
                i
            };
            spread += until - i + 1;
            if spread > MAX_CELLS {
                return Err(bad(format!(
                    "more than {MAX_CELLS} row windows; use a larger step or a shorter lookback"
                )));
            }
            for w in i..=until {
                let cell = cells.entry((w, key.clone())).or_insert_with(|| {
                    order.push((w, key.clone()));
                    Cell::default()
                });
                cell.count += 1;
                if !row[id].is_null() {
                    cell.ids.insert(row[id].clone());
                }
            }
        }
        order.sort_by_key(|(w, _)| *w);
        let mut cols = vec![rel.cols[time].clone()];
        cols.extend(dims.iter().map(|&d| rel.cols[d].clone()));
        Ok(answer(cols, spec.sliding, (&start, &step), cells, order))
    }

    /// A constant argument of the activity plugins.
    fn activity_constant(&self, e: &Expr, plugin: &str) -> Result<Value, KqlError> {
        let empty = Rel {
            cols: Vec::new(),
            rows: Vec::new(),
        };
        let (c, _) = self.compile(e, &empty, plugin)?;
        if !c.is_lit() {
            return Err(self.err(format!("{plugin}: each value must be a constant"), e.pos));
        }
        Ok(c.eval(&[]).into_owned())
    }
}

/// A row per window and combination, in `order`: the window's start, the combination, then
/// the counts (`cols` holds the timeline's and the dimensions' columns so far).
fn answer(
    mut cols: Vec<(String, KqlType)>,
    sliding: bool,
    (start, step): (&Value, &Value),
    mut cells: KeyMap<(i64, Vec<Value>), Cell>,
    order: Vec<(i64, Vec<Value>)>,
) -> Rel {
    let mut names = vec!["count", "dcount"];
    if !sliding {
        names.extend(["new_dcount", "aggregated_dcount"]);
    }
    cols.extend(names.iter().map(|n| ((*n).to_string(), KqlType::Long)));
    let mut seen: KeyMap<Vec<Value>, KeySet<Value>> = KeyMap::default();
    let long = |n: usize| Value::Long(i64::try_from(n).unwrap_or(i64::MAX));
    let mut rows = Vec::with_capacity(order.len());
    for (w, key) in order {
        let Some(cell) = cells.remove(&(w, key.clone())) else {
            continue;
        };
        let mut out = vec![bin_value(start, step, w)];
        out.extend(key.iter().cloned());
        out.push(Value::Long(cell.count));
        out.push(long(cell.ids.len()));
        if !sliding {
            let before = seen.entry(key).or_default();
            let fresh = cell.ids.iter().filter(|v| !before.contains(*v)).count();
            before.extend(cell.ids);
            out.push(long(fresh));
            out.push(long(before.len()));
        }
        rows.push(Row::from(out));
    }
    Rel { cols, rows }
}
