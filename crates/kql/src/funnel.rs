//! `evaluate funnel_sequence(IdColumn, TimelineColumn, Start, End, MaxSequenceStepWindow, Step,
//! StateColumn, Sequence)`: per window, how many distinct ids went through the sequence of
//! states from each state before it to each state after it.
//!
//! Kusto answers three tables; the API answers one, so the emulator answers the first (`prev`,
//! `next`, `dcount`, `samples`), as it answers `fork`'s first branch. Where the reference is
//! silent the emulator reads it this way: each id's rows of a window, in time order (rows at
//! one time in input order), match the sequence when consecutive rows hold its states, each
//! within `MaxSequenceStepWindow` of the one before; `prev` is the state of the row just before
//! the match and `next` that of the row just after, each when it is within
//! `MaxSequenceStepWindow` too, else empty (`""`, or null for a state column that is not a
//! string). An id counts once per window and (`prev`, `next`), however often it matches;
//! `samples` holds up to 128 of the ids, in the order they first occur. Rows come by window,
//! then by `dcount`, largest first, then by `prev` and `next`. The windows are
//! `activity_counts_metrics'` (`activity::Windows`): rows outside `[Start, End]`, and rows with
//! a null id, are left out.

use crate::activity::{Windows, long};
use crate::ast::{Activity, BinOp};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::{KeyMap, KeySet, Rel};
use crate::scalar;
use crate::table::Row;
use crate::value::{self, KqlType, Value};

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

impl Ctx<'_> {
    /// The plugin's first table: the window's start, `prev`, `next`, `dcount` and `samples`.
    pub(crate) fn funnel_sequence(&self, rel: &Rel, spec: &Activity) -> Result<Rel, KqlError> {
        let windows = self.activity_windows(rel, spec)?;
        let plugin = windows.plugin;
        let (Some(max_step), Some((state, sequence))) = (&spec.lookback, &spec.funnel) else {
            return Err(self.err(format!("{plugin}: expected the sequence"), spec.step.pos));
        };
        let state_at = rel.index(&state.name).ok_or_else(|| {
            self.err(
                format!("{plugin}: no column named '{}'", state.name),
                state.pos,
            )
        })?;
        let gap = self.plugin_constant(max_step, plugin)?;
        if windows.span_steps(&gap).is_none() {
            return Err(self.err(
                format!(
                    "{plugin}: MaxSequenceStepWindow must be of the step's kind and not negative"
                ),
                max_step.pos,
            ));
        }
        let wanted = match self.plugin_constant(sequence, plugin)? {
            Value::Dynamic(json) => match json.as_ref() {
                serde_json::Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|item| Value::dynamic(item.clone()).scalarize().into_owned())
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        if wanted.is_empty() {
            return Err(self.err(
                format!("{plugin}: Sequence must be a non-empty dynamic array of states"),
                sequence.pos,
            ));
        }
        let mut visits: KeyMap<(i64, Value), Visits> = KeyMap::default();
        let mut order: Vec<(i64, Value)> = Vec::new();
        for row in &rel.rows {
            let id = &row[windows.id];
            let Some(w) = windows.of(row).filter(|_| !id.is_null()) else {
                continue;
            };
            visits
                .entry((w, id.clone()))
                .or_insert_with(|| {
                    order.push((w, id.clone()));
                    Vec::new()
                })
                .push((row[windows.time].clone(), row[state_at].clone()));
        }
        let none = if rel.cols[state_at].1 == KqlType::String {
            Value::str("")
        } else {
            Value::Null
        };
        let mut paths: KeyMap<(i64, Value, Value), Path> = KeyMap::default();
        for (w, id) in order {
            let Some(mut rows) = visits.remove(&(w, id.clone())) else {
                continue;
            };
            rows.sort_by(|a, b| a.0.sort_cmp(&b.0));
            for (prev, next) in matches(&rows, &wanted, &gap, &none) {
                let path = paths.entry((w, prev, next)).or_default();
                if path.ids.insert(id.clone()) && path.samples.len() < SAMPLES {
                    path.samples.push(id.to_json());
                }
            }
        }
        Ok(answer(&windows, rel, state_at, paths))
    }
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
