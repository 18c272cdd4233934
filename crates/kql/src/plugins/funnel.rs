//! `evaluate funnel_sequence(IdColumn, TimelineColumn, Start, End, MaxSequenceStepWindow, Step,
//! StateColumn, Sequence)`: per window, how many distinct ids went through the sequence of
//! states from each state before it to each state after it; and `evaluate
//! funnel_sequence_completion(IdColumn, TimelineColumn, Start, End, Step, StateColumn, Sequence,
//! MaxSequenceStepWindows)`: per window and period, how many distinct ids reached each step of
//! the sequence within the period from its first step.
//!
//! Kusto's `funnel_sequence` answers three tables; the API answers one, so the emulator answers
//! the first (`prev`, `next`, `dcount`, `samples`), as it answers `fork`'s first branch. Where
//! the reference is silent the emulator reads it this way: each id's rows of a window, in time
//! order (rows at one time in input order), match the sequence when consecutive rows hold its
//! states, each within `MaxSequenceStepWindow` of the one before; `prev` is the state of the row
//! just before the match and `next` that of the row just after, each when it is within
//! `MaxSequenceStepWindow` too, else empty (`""`, or null for a state column that is not a
//! string). An id counts once per window and (`prev`, `next`), however often it matches;
//! `samples` holds up to 128 of the ids, in the order they first occur. Rows come by window,
//! then by `dcount`, largest first, then by `prev` and `next`.
//!
//! `funnel_sequence_completion` lets other states come between the steps (a funnel's steps
//! need only follow each other), and counts an id at every step up to the furthest any of its
//! runs from a first step reaches within the period. Every window with rows answers a row per
//! period and step, zero included.
//!
//! Both use `activity_counts_metrics`' windows (`activity::Windows`): rows outside `[Start,
//! End]`, and rows with a null id, are left out. Ids are counted exactly where Kusto estimates.

use super::activity::{Windows, long};
use crate::ast::{Activity, BinOp, Expr};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::make_series::MAX_CELLS;
use crate::rel::{KeyMap, KeySet, Rel};
use crate::scalar;
use crate::table::Row;
use crate::value::{self, KqlType, Value, parse_timespan};

/// Kusto's cap on the ids in a row's `samples`.
const SAMPLES: usize = 128;

/// The ids of one window's transitions from `prev` to `next`.
#[derive(Default)]
struct Path {
    ids: KeySet<Value>,
    samples: Vec<serde_json::Value>,
}

/// One id's rows of one window: their times and states.
type Visits = Vec<(Value, Value)>;

/// What both funnels read: the windows, the state column, the sequence's states and each id's
/// rows of each window, sorted by time, in the order the (window, id) pairs first occur.
struct Funnel {
    windows: Windows,
    state_at: usize,
    wanted: Vec<Value>,
    visits: Vec<((i64, Value), Visits)>,
}

impl Ctx<'_> {
    /// The plugin's first table: the window's start, `prev`, `next`, `dcount` and `samples`.
    pub(crate) fn funnel_sequence(&self, rel: &Rel, spec: &Activity) -> Result<Rel, KqlError> {
        let funnel = self.funnel_input(rel, spec)?;
        let plugin = funnel.windows.plugin;
        let Some(max_step) = &spec.lookback else {
            return Err(self.err(format!("{plugin}: expected the sequence"), spec.step.pos));
        };
        let gap = self.plugin_constant(max_step, plugin)?;
        if funnel.windows.span_steps(&gap).is_none() {
            return Err(self.err(
                format!(
                    "{plugin}: MaxSequenceStepWindow must be of the step's kind and not negative"
                ),
                max_step.pos,
            ));
        }
        let none = if rel.cols[funnel.state_at].1 == KqlType::String {
            Value::str("")
        } else {
            Value::Null
        };
        let mut paths: KeyMap<(i64, Value, Value), Path> = KeyMap::default();
        for ((w, id), rows) in &funnel.visits {
            for (prev, next) in matches(rows, &funnel.wanted, &gap, &none) {
                let path = paths.entry((*w, prev, next)).or_default();
                if path.ids.insert(id.clone()) && path.samples.len() < SAMPLES {
                    path.samples.push(id.to_json());
                }
            }
        }
        Ok(answer(&funnel.windows, rel, funnel.state_at, paths))
    }

    /// `funnel_sequence_completion`'s rows: per window, per period in the order given, per step
    /// of the sequence, the window's start, the step's state, `Period` and `dcount`, the ids
    /// that reached the step within the period from the first step.
    pub(crate) fn funnel_completion(&self, rel: &Rel, spec: &Activity) -> Result<Rel, KqlError> {
        let funnel = self.funnel_input(rel, spec)?;
        let plugin = funnel.windows.plugin;
        let periods = self.funnel_periods(&funnel.windows, spec)?;
        let steps = funnel.wanted.len();
        let mut counts: KeyMap<i64, Vec<Vec<i64>>> = KeyMap::default();
        let mut order: Vec<i64> = Vec::new();
        let mut read: i64 = 0;
        let too_many = |what: &str| {
            self.err(
                format!(
                    "{plugin}: more than {MAX_CELLS} {what}; use fewer periods or a larger step"
                ),
                spec.step.pos,
            )
        };
        for ((w, _), rows) in &funnel.visits {
            let table = counts.entry(*w).or_insert_with(|| {
                order.push(*w);
                vec![vec![0; steps]; periods.len()]
            });
            let cells = i64::try_from(order.len() * periods.len() * steps).unwrap_or(i64::MAX);
            if cells > MAX_CELLS {
                return Err(too_many("counts"));
            }
            for (p, period) in periods.iter().enumerate() {
                let reached = furthest(rows, &funnel.wanted, period, &mut read);
                if read > MAX_CELLS {
                    return Err(too_many("rows read"));
                }
                if let Some(row) = table.get_mut(p) {
                    row.iter_mut().take(reached).for_each(|n| *n += 1);
                }
            }
        }
        order.sort_unstable();
        let period_type = match periods.first() {
            Some(Value::Long(_)) => KqlType::Long,
            Some(Value::Real(_)) => KqlType::Real,
            _ => KqlType::TimeSpan,
        };
        let cols = vec![
            rel.cols[funnel.windows.time].clone(),
            rel.cols[funnel.state_at].clone(),
            ("Period".to_string(), period_type),
            ("dcount".to_string(), KqlType::Long),
        ];
        let mut out = Vec::new();
        for w in order {
            let Some(table) = counts.get(&w) else {
                continue;
            };
            for (period, row) in periods.iter().zip(table) {
                for (state, n) in funnel.wanted.iter().zip(row) {
                    out.push(Row::from(vec![
                        funnel.windows.start_of(w),
                        state.clone(),
                        period.clone(),
                        Value::Long(*n),
                    ]));
                }
            }
        }
        Ok(Rel { cols, rows: out })
    }

    /// The windows, the state column, the sequence and each id's rows both funnels read.
    fn funnel_input(&self, rel: &Rel, spec: &Activity) -> Result<Funnel, KqlError> {
        let windows = self.activity_windows(rel, spec)?;
        let plugin = windows.plugin;
        let Some((state, sequence)) = &spec.funnel else {
            return Err(self.err(format!("{plugin}: expected the sequence"), spec.step.pos));
        };
        let state_at = self.plugin_column(rel, state, plugin)?;
        let wanted = self.constant_array(sequence, plugin)?;
        if wanted.is_empty() {
            return Err(self.err(
                format!("{plugin}: Sequence must be a non-empty dynamic array of states"),
                sequence.pos,
            ));
        }
        let mut visits: Vec<((i64, Value), Visits)> = Vec::new();
        let mut place: KeyMap<(i64, Value), usize> = KeyMap::default();
        for row in &rel.rows {
            let id = &row[windows.id];
            let Some(w) = windows.of(row).filter(|_| !id.is_null()) else {
                continue;
            };
            let slot = *place.entry((w, id.clone())).or_insert_with(|| {
                visits.push(((w, id.clone()), Vec::new()));
                visits.len() - 1
            });
            if let Some((_, rows)) = visits.get_mut(slot) {
                rows.push((row[windows.time].clone(), row[state_at].clone()));
            }
        }
        for (_, rows) in &mut visits {
            rows.sort_by(|a, b| a.0.sort_cmp(&b.0));
        }
        Ok(Funnel {
            windows,
            state_at,
            wanted,
            visits,
        })
    }

    /// `MaxSequenceStepWindows`: spans of the step's kind, not negative (a timespan in a
    /// `dynamic` array is its text, `'01:00:00'`).
    fn funnel_periods(&self, windows: &Windows, spec: &Activity) -> Result<Vec<Value>, KqlError> {
        let plugin = windows.plugin;
        let Some(expr) = &spec.lookback else {
            return Err(self.err(format!("{plugin}: expected the periods"), spec.step.pos));
        };
        let periods: Vec<Value> = self
            .constant_array(expr, plugin)?
            .into_iter()
            .map(|v| match &v {
                Value::String(text) => parse_timespan(text).map_or(Value::Null, Value::TimeSpan),
                _ => v,
            })
            .collect();
        if periods.is_empty() || periods.iter().any(|p| windows.span_steps(p).is_none()) {
            return Err(self.err(
                format!(
                    "{plugin}: MaxSequenceStepWindows must be a non-empty dynamic array of \
                     spans of the step's kind, none negative"
                ),
                expr.pos,
            ));
        }
        Ok(periods)
    }

    /// The items of a constant `dynamic` array, as plain values; none for anything else.
    fn constant_array(&self, e: &Expr, plugin: &str) -> Result<Vec<Value>, KqlError> {
        let Value::Dynamic(json) = self.plugin_constant(e, plugin)? else {
            return Ok(Vec::new());
        };
        let serde_json::Value::Array(items) = json.as_ref() else {
            return Ok(Vec::new());
        };
        Ok(items
            .iter()
            .map(|item| Value::dynamic(item.clone()).scalarize().into_owned())
            .collect())
    }
}

/// How many steps of `wanted` one id's rows (sorted by time) reach in order, the last within
/// `period` of the first; other states may come between. `read` counts the rows looked at.
fn furthest(rows: &Visits, wanted: &[Value], period: &Value, read: &mut i64) -> usize {
    let Some(first) = wanted.first() else {
        return 0;
    };
    let mut best = 0;
    for (at, (t0, state)) in rows.iter().enumerate() {
        if !value::equals(state, first) {
            continue;
        }
        // The earliest next match leaves the most room for the steps after it.
        let mut reached = 1;
        for (t, state) in &rows[at + 1..] {
            let Some(next) = wanted.get(reached) else {
                break;
            };
            *read += 1;
            let apart = scalar::arith(BinOp::Sub, t, t0);
            if scalar::comparison(BinOp::Gt, &apart, period) {
                break;
            }
            if value::equals(state, next) {
                reached += 1;
            }
        }
        best = best.max(reached);
        if best == wanted.len() {
            break;
        }
    }
    best
}

/// The (`prev`, `next`) of each match of `wanted` in one id's rows, sorted by time.
fn matches(rows: &Visits, wanted: &[Value], gap: &Value, none: &Value) -> Vec<(Value, Value)> {
    let near = |a: usize, b: usize| {
        let apart = scalar::arith(BinOp::Sub, &rows[b].0, &rows[a].0);
        !scalar::comparison(BinOp::Gt, &apart, gap)
    };
    let mut found = Vec::new();
    for start in 0..rows.len() {
        let end = start + wanted.len();
        if end > rows.len() {
            break;
        }
        let holds = wanted
            .iter()
            .enumerate()
            .all(|(k, state)| value::equals(&rows[start + k].1, state))
            && (start + 1..end).all(|i| near(i - 1, i));
        if !holds {
            continue;
        }
        let prev = match start.checked_sub(1) {
            Some(before) if near(before, start) => rows[before].1.clone(),
            _ => none.clone(),
        };
        let next = if end < rows.len() && near(end - 1, end) {
            rows[end].1.clone()
        } else {
            none.clone()
        };
        found.push((prev, next));
    }
    found
}

/// The rows of the first table, by window, then `dcount` (largest first), `prev` and `next`.
fn answer(
    windows: &Windows,
    rel: &Rel,
    state_at: usize,
    paths: KeyMap<(i64, Value, Value), Path>,
) -> Rel {
    let state = rel.cols[state_at].1;
    let cols = vec![
        rel.cols[windows.time].clone(),
        ("prev".to_string(), state),
        ("next".to_string(), state),
        ("dcount".to_string(), KqlType::Long),
        ("samples".to_string(), KqlType::Dynamic),
    ];
    let mut paths: Vec<_> = paths.into_iter().collect();
    paths.sort_by(|((wa, pa, na), a), ((wb, pb, nb), b)| {
        wa.cmp(wb)
            .then(b.ids.len().cmp(&a.ids.len()))
            .then_with(|| pa.sort_cmp(pb))
            .then_with(|| na.sort_cmp(nb))
    });
    let rows = paths
        .into_iter()
        .map(|((w, prev, next), path)| {
            Row::from(vec![
                windows.start_of(w),
                prev,
                next,
                long(path.ids.len()),
                Value::dynamic(serde_json::Value::Array(path.samples)),
            ])
        })
        .collect();
    Rel { cols, rows }
}
