//! `evaluate sliding_window_counts(...)` and `activity_counts_metrics(...)`: counts and distinct
//! counts of ids per window of the timeline, from `Start` in steps up to the window holding
//! `End`, per combination of the dimension columns.
//!
//! Rows outside `[Start, End]` are left out; only windows (and combinations) with rows
//! contributing to them answer a row, in window order and then in the order the combinations
//! first occur; a null id counts as a row but not as an id. A calendar step (`'week'`,
//! `'month'`, `'year'`) is refused by name.
//!
//! `Windows`, the columns and windows of the timeline, is shared with `activity_metrics` and
//! `session_count`.

use crate::ast::{Activity, ActivityKind, BinOp, ColumnArg, Expr};
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

/// The windows of one of the plugins over a timeline: the columns it reads, where the first
/// window starts, the step and the last window, each row's window found from them.
pub(crate) struct Windows {
    /// The plugin's name, for its errors.
    pub(crate) plugin: &'static str,
    /// The id column.
    pub(crate) id: usize,
    /// The timeline column.
    pub(crate) time: usize,
    /// The dimension columns.
    pub(crate) dims: Vec<usize>,
    /// The first window's start.
    pub(crate) start: Value,
    /// The windows' length.
    pub(crate) step: Value,
    /// The index of the window holding `End`.
    pub(crate) last: i64,
}

impl Windows {
    /// The window of the row's time, when it falls within `[Start, End]`.
    pub(crate) fn of(&self, row: &Row) -> Option<i64> {
        let offset = scalar::arith(BinOp::Sub, &row[self.time], &self.start);
        steps(&offset, &self.step)
            .map(|(i, _)| i)
            .filter(|i| (0..=self.last).contains(i))
    }

    /// The row's combination of the dimensions.
    pub(crate) fn key(&self, row: &Row) -> Vec<Value> {
        self.dims.iter().map(|&d| row[d].clone()).collect()
    }

    /// Window `w`'s start, the value of the timeline column in the answer.
    pub(crate) fn start_of(&self, w: i64) -> Value {
        bin_value(&self.start, &self.step, w)
    }

    /// The timeline's column then the dimensions', as the answer starts.
    pub(crate) fn columns(&self, rel: &Rel) -> Vec<(String, KqlType)> {
        let mut cols = vec![rel.cols[self.time].clone()];
        cols.extend(self.dims.iter().map(|&d| rel.cols[d].clone()));
        cols
    }

    /// How many whole steps `span` (a lookback) covers; `None` when it is not a span of the
    /// step's kind or is negative.
    pub(crate) fn span_steps(&self, span: &Value) -> Option<i64> {
        let zero = scalar::arith(BinOp::Sub, &self.step, &self.step);
        steps(span, &self.step)
            .filter(|_| scalar::comparison(BinOp::Ge, span, &zero))
            .map(|(n, _)| n)
    }
}

impl Ctx<'_> {
    /// The columns, `Start`, `End` and step of `spec`, checked: the columns exist, the step is a
    /// positive span of the timeline's kind (not a calendar step) and the windows are few enough.
    pub(crate) fn activity_windows(&self, rel: &Rel, spec: &Activity) -> Result<Windows, KqlError> {
        let plugin = spec.kind.name();
        let column = |c: &ColumnArg| self.plugin_column(rel, c, plugin);
        let id = column(&spec.id)?;
        let time = column(&spec.timeline)?;
        let dims = spec
            .dims
            .iter()
            .map(column)
            .collect::<Result<Vec<_>, _>>()?;
        let start = self.plugin_constant(&spec.start, plugin)?;
        let end = self.plugin_constant(&spec.end, plugin)?;
        let step = self.plugin_constant(&spec.step, plugin)?;
        let bad = |what: &str| self.err(format!("{plugin}: {what}"), spec.step.pos);
        if matches!(step, Value::String(_)) {
            return Err(bad(
                "a calendar step ('week', 'month', 'year') is not supported by huntd emulate; \
                 write a timespan",
            ));
        }
        let positive =
            scalar::comparison(BinOp::Gt, &step, &scalar::arith(BinOp::Sub, &step, &step));
        let offset = scalar::arith(BinOp::Sub, &end, &start);
        let Some((last, _)) = steps(&offset, &step).filter(|_| positive) else {
            return Err(bad(
                "Start, End and the step must be of one kind, the step positive",
            ));
        };
        if last >= MAX_BINS {
            return Err(bad(&format!(
                "more than {MAX_BINS} windows; use a larger step"
            )));
        }
        Ok(Windows {
            plugin,
            id,
            time,
            dims,
            start,
            step,
            last,
        })
    }

    /// The plugin's rows: `TimelineColumn`, the dimensions, then `count` and `dcount` (and for
    /// `activity_counts_metrics` `new_dcount`, ids no earlier window had, and
    /// `aggregated_dcount`, ids of this window and every earlier one).
    pub(crate) fn activity(&self, rel: &Rel, spec: &Activity) -> Result<Rel, KqlError> {
        let windows = self.activity_windows(rel, spec)?;
        let plugin = windows.plugin;
        let sliding = spec.kind == ActivityKind::SlidingWindowCounts;
        let reach = match &spec.lookback {
            Some(lookback) if sliding => {
                let span = self.plugin_constant(lookback, plugin)?;
                windows.span_steps(&span).map_or(1, |n| n.max(1))
            }
            _ => 1,
        };
        if reach >= MAX_BINS {
            return Err(self.err(
                format!("{plugin}: more than {MAX_BINS} windows; use a larger step"),
                spec.step.pos,
            ));
        }
        let mut cells: KeyMap<(i64, Vec<Value>), Cell> = KeyMap::default();
        let mut order: Vec<(i64, Vec<Value>)> = Vec::new();
        let mut spread: i64 = 0;
        for row in &rel.rows {
            let Some(i) = windows.of(row) else {
                continue;
            };
            let key = windows.key(row);
            // Sliding counts put a row in each window whose lookback reaches back to it.
            let until = (i + reach - 1).min(windows.last);
            spread += until - i + 1;
            if spread > MAX_CELLS {
                return Err(self.err(
                    format!(
                        "{plugin}: more than {MAX_CELLS} row windows; use a larger step or a \
                         shorter lookback"
                    ),
                    spec.step.pos,
                ));
            }
            for w in i..=until {
                let cell = cells.entry((w, key.clone())).or_insert_with(|| {
                    order.push((w, key.clone()));
                    Cell::default()
                });
                cell.count += 1;
                if !row[windows.id].is_null() {
                    cell.ids.insert(row[windows.id].clone());
                }
            }
        }
        order.sort_by_key(|(w, _)| *w);
        Ok(answer(&windows, rel, sliding, cells, order))
    }

    /// The index of a plugin's column argument; an error naming the plugin where it is written.
    pub(crate) fn plugin_column(
        &self,
        rel: &Rel,
        c: &ColumnArg,
        plugin: &str,
    ) -> Result<usize, KqlError> {
        rel.index(&c.name)
            .ok_or_else(|| self.err(format!("{plugin}: no column named '{}'", c.name), c.pos))
    }

    /// A constant argument of a plugin.
    pub(crate) fn plugin_constant(&self, e: &Expr, plugin: &str) -> Result<Value, KqlError> {
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
/// the counts.
fn answer(
    windows: &Windows,
    rel: &Rel,
    sliding: bool,
    mut cells: KeyMap<(i64, Vec<Value>), Cell>,
    order: Vec<(i64, Vec<Value>)>,
) -> Rel {
    let mut cols = windows.columns(rel);
    let mut names = vec!["count", "dcount"];
    if !sliding {
        names.extend(["new_dcount", "aggregated_dcount"]);
    }
    cols.extend(names.iter().map(|n| ((*n).to_string(), KqlType::Long)));
    let mut seen: KeyMap<Vec<Value>, KeySet<Value>> = KeyMap::default();
    let mut rows = Vec::with_capacity(order.len());
    for (w, key) in order {
        let Some(cell) = cells.remove(&(w, key.clone())) else {
            continue;
        };
        let mut out = vec![windows.start_of(w)];
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

/// A count as a `long` cell.
pub(crate) fn long(n: usize) -> Value {
    Value::Long(i64::try_from(n).unwrap_or(i64::MAX))
}
