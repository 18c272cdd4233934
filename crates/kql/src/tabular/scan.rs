//! The `scan` operator: rows matched against steps in order, as the state machine of Kusto's
//! scan logic does.

use crate::ast::{Expr, ExprKind, Scan, ScanOutput};
use crate::cexpr::CExpr;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::Rel;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// A step's condition and assignments, compiled against the wide row (the row, then each
/// step's state as `step.column`).
struct Step {
    condition: CExpr,
    assign: Vec<(usize, CExpr)>,
    output: ScanOutput,
}

/// One step's state: the record each step up to it matched in the ongoing sequence, and the
/// sequence's match number.
#[derive(Clone)]
struct State {
    records: Vec<Option<Vec<Value>>>,
    id: i64,
}

/// Where the steps put their output, in the order it is made.
struct Output {
    rows: Vec<Row>,
    with_id: bool,
}

impl Output {
    fn emit(&mut self, mut record: Vec<Value>, id: i64) {
        if self.with_id {
            record.push(Value::Long(id));
        }
        self.rows.push(Row::from(record));
    }
}

impl Ctx<'_> {
    /// `scan`: each row is checked against the steps from the last to the first. A step
    /// whose previous step has a sequence takes the sequence over when the row matches (check
    /// 1); otherwise a step with a sequence, or the first step, replaces its own record when
    /// the row matches (check 2), the first step starting a new sequence. `output=last`
    /// emits a step's record when its sequence moves on to the next step, or at the end of
    /// the input while it is still the step's latest.
    pub(crate) fn scan_operator(
        &self,
        rel: &Rel,
        spec: &Scan,
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let (cols, defaults, steps) = self.scan_steps(rel, spec, pos)?;
        let mut blank = vec![Value::Null; rel.cols.len()];
        blank.extend(defaults.iter().cloned());
        let n = steps.len();
        let mut states: Vec<Option<State>> = vec![None; n];
        let mut next_id = 0i64;
        let mut out = Output {
            rows: Vec::new(),
            with_id: spec.match_id.is_some(),
        };
        for r in &rel.rows {
            let mut ext = r.to_vec();
            ext.extend(defaults.iter().cloned());
            for k in (0..n).rev() {
                let step = &steps[k];
                if k > 0
                    && let Some(prev) = &states[k - 1]
                {
                    let wide = widen(&ext, prev, &blank);
                    if step.condition.truthy(&wide) {
                        let record = assigned(&ext, &wide, step);
                        let Some(mut moved) = states[k - 1].take() else {
                            continue;
                        };
                        if steps[k - 1].output == ScanOutput::Last
                            && let Some(last) = moved.records[k - 1].clone()
                        {
                            out.emit(last, moved.id);
                        }
                        if step.output == ScanOutput::All {
                            out.emit(record.clone(), moved.id);
                        }
                        moved.records[k] = Some(record);
                        states[k] = Some(moved);
                        continue;
                    }
                }
                let own = match (&states[k], k) {
                    (Some(state), _) => state.clone(),
                    (None, 0) => State {
                        records: vec![None; n],
                        id: next_id,
                    },
                    (None, _) => continue,
                };
                let wide = widen(&ext, &own, &blank);
                if !step.condition.truthy(&wide) {
                    continue;
                }
                let record = assigned(&ext, &wide, step);
                let mut state = own;
                if k == 0 {
                    state.id = next_id;
                    next_id += 1;
                }
                if step.output == ScanOutput::All {
                    out.emit(record.clone(), state.id);
                }
                state.records[k] = Some(record);
                states[k] = Some(state);
            }
        }
        for (k, state) in states.into_iter().enumerate() {
            if steps[k].output == ScanOutput::Last
                && let Some(state) = state
                && let Some(last) = state.records[k].clone()
            {
                out.emit(last, state.id);
            }
        }
        let mut cols = cols;
        if let Some(id) = &spec.match_id {
            cols.push((id.clone(), KqlType::Long));
        }
        Ok(Rel {
            cols,
            rows: out.rows,
        })
    }

    /// The row's columns with the declared ones, their defaults, and the compiled steps.
    #[allow(clippy::type_complexity)] // three results of one pass over the declarations
    fn scan_steps(
        &self,
        rel: &Rel,
        spec: &Scan,
        pos: usize,
    ) -> Result<(Vec<(String, KqlType)>, Vec<Value>, Vec<Step>), KqlError> {
        let empty = Rel {
            cols: Vec::new(),
            rows: Vec::new(),
        };
        let mut cols = rel.cols.clone();
        let mut defaults = Vec::new();
        for (name, ty, default) in &spec.declare {
            if cols.iter().any(|(c, _)| c == name) {
                return Err(self.err(
                    format!("'scan' operator: declared column '{name}' is already a column"),
                    pos,
                ));
            }
            cols.push((name.clone(), *ty));
            defaults.push(match default {
                Some(e) => self.compile(e, &empty, "scan")?.0.eval(&[]).into_owned(),
                None => Value::Null,
            });
        }
        let names: Vec<&str> = spec.steps.iter().map(|s| s.name.as_str()).collect();
        let mut wide = cols.clone();
        for step in &names {
            wide.extend(cols.iter().map(|(c, ty)| (format!("{step}.{c}"), *ty)));
        }
        let wide = Rel {
            cols: wide,
            rows: Vec::new(),
        };
        let state_names = |e: &Expr| {
            e.rewrite(&mut |x| match &x.kind {
                ExprKind::Member(inner, field) => match &inner.kind {
                    ExprKind::Ident(step) if names.contains(&step.as_str()) => Some(Expr {
                        kind: ExprKind::Ident(format!("{step}.{field}")),
                        pos: x.pos,
                    }),
                    _ => None,
                },
                _ => None,
            })
        };
        let mut steps = Vec::with_capacity(spec.steps.len());
        for step in &spec.steps {
            let (condition, _) = self.compile(&state_names(&step.condition), &wide, "scan")?;
            let mut assign = Vec::with_capacity(step.assign.len());
            for (column, e) in &step.assign {
                let slot = cols.iter().position(|(c, _)| c == column).ok_or_else(|| {
                    self.err(
                        format!("'scan' operator: step '{}' assigns '{column}', which is neither a column nor declared", step.name),
                        e.pos,
                    )
                })?;
                assign.push((slot, self.compile(&state_names(e), &wide, "scan")?.0));
            }
            steps.push(Step {
                condition,
                assign,
                output: step.output,
            });
        }
        Ok((cols, defaults, steps))
    }
}

/// The row followed by each step's record in `state`; a step without one reads `blank`
/// (nulls, and the declared columns' defaults).
fn widen(ext: &[Value], state: &State, blank: &[Value]) -> Vec<Value> {
    let mut wide = ext.to_vec();
    for record in &state.records {
        wide.extend(record.as_deref().unwrap_or(blank).iter().cloned());
    }
    wide
}

/// The row with the step's assignments made, each computed over the wide row.
fn assigned(ext: &[Value], wide: &[Value], step: &Step) -> Vec<Value> {
    let mut record = ext.to_vec();
    for (slot, e) in &step.assign {
        record[*slot] = e.eval(wide).into_owned();
    }
    record
}
