//! `evaluate session_count(IdColumn, TimelineColumn, Start, End, Bin, LookBackWindow [, Dim,
//! ...])`: how many sessions are active in each window of the timeline.
//!
//! Kusto documents only that an id seen within `LookBackWindow` before continues its session
//! and one not seen starts a new one, so the emulator reads it this way: each id's rows of a
//! combination, in time order, form sessions, a row more than `LookBackWindow` after the id's
//! previous row starting a new one; a window counts each session with a row in it once. The
//! windows are `activity_counts_metrics`' (`activity::Windows`): rows outside `[Start, End]` are
//! left out (also from the lookback), only windows with rows answer, and a null id is a row but
//! no session.

use crate::ast::{Activity, BinOp};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::{KeyMap, Rel};
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// An id within a combination of the dimensions, whose rows' times and windows make its
/// sessions.
type Visitor = (Vec<Value>, Value);

impl Ctx<'_> {
    /// The plugin's rows, in window order then in the order the combinations first occur: the
    /// window's start, the dimensions, then `count_sessions`.
    pub(crate) fn session_count(&self, rel: &Rel, spec: &Activity) -> Result<Rel, KqlError> {
        let windows = self.activity_windows(rel, spec)?;
        let plugin = windows.plugin;
        let Some(lookback) = &spec.lookback else {
            return Err(self.err(
                format!("{plugin}: expected the LookBackWindow"),
                spec.step.pos,
            ));
        };
        let span = self.plugin_constant(lookback, plugin)?;
        if windows.span_steps(&span).is_none() {
            return Err(self.err(
                format!("{plugin}: LookBackWindow must be of the step's kind and not negative"),
                lookback.pos,
            ));
        }
        let mut counts: KeyMap<(i64, Vec<Value>), i64> = KeyMap::default();
        let mut order: Vec<(i64, Vec<Value>)> = Vec::new();
        let mut visits: KeyMap<Visitor, Vec<(Value, i64)>> = KeyMap::default();
        for row in &rel.rows {
            let Some(w) = windows.of(row) else {
                continue;
            };
            let key = windows.key(row);
            counts.entry((w, key.clone())).or_insert_with(|| {
                order.push((w, key.clone()));
                0
            });
            let id = &row[windows.id];
            if !id.is_null() {
                let times = visits.entry((key, id.clone())).or_default();
                times.push((row[windows.time].clone(), w));
            }
        }
        for ((key, _), mut times) in visits {
            times.sort_by(|a, b| a.0.sort_cmp(&b.0));
            let mut previous: Option<&Value> = None;
            // The window the current session was last counted in, so it counts once per window.
            let mut counted = None;
            for (time, w) in &times {
                let gap = previous.map(|p| scalar::arith(BinOp::Sub, time, p));
                if gap.is_none_or(|g| scalar::comparison(BinOp::Gt, &g, &span)) {
                    counted = None;
                }
                if counted != Some(*w) {
                    if let Some(n) = counts.get_mut(&(*w, key.clone())) {
                        *n += 1;
                    }
                    counted = Some(*w);
                }
                previous = Some(time);
            }
        }
        order.sort_by_key(|(w, _)| *w);
        let mut cols = windows.columns(rel);
        cols.push(("count_sessions".to_string(), KqlType::Long));
        let rows = order
            .into_iter()
            .map(|(w, key)| {
                let n = counts.get(&(w, key.clone())).copied().unwrap_or(0);
                let mut out = vec![windows.start_of(w)];
                out.extend(key);
                out.push(Value::Long(n));
                Row::from(out)
            })
            .collect();
        Ok(Rel { cols, rows })
    }
}
