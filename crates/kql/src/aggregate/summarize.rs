//! `summarize`: grouping rows, running each group's aggregates and the output schema.

use super::percentiles;
use crate::ast::{Aggregate, Expr, ExprKind, NamedExpr};
use crate::compile::derive_name;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::lifted::{self, LiftedPlan};
use crate::rel::{KeyMap, Rel, push_unique, select};
use crate::table::Row;
use crate::value::{KqlType, Value};

use super::state::{AggKind, AggSpec, AggState};

/// An aggregate call's argument `i`.
fn agg_arg_opt(e: &Expr, i: usize) -> Option<&Expr> {
    match &e.kind {
        ExprKind::Call(_, args) => args.get(i),
        _ => None,
    }
}

/// The groups of a summarize so far: each key's index and, in first-seen order, its key and
/// aggregate states.
#[derive(Default)]
struct Groups {
    index: KeyMap<Vec<Value>, usize>,
    states: Vec<(Vec<Value>, Vec<AggState>)>,
}

impl Groups {
    /// The states of `key`'s group, started when the key is new.
    fn of(&mut self, key: &[Value], specs: &[AggSpec]) -> &mut [AggState] {
        let g = if let Some(&g) = self.index.get(key) {
            g
        } else {
            self.index.insert(key.to_vec(), self.states.len());
            let started = specs.iter().map(AggSpec::start).collect();
            self.states.push((key.to_vec(), started));
            self.states.len() - 1
        };
        &mut self.states[g].1
    }
}

/// Pushes the result columns of one aggregate onto `cols`; for arg_max/arg_min returns the
/// `(input column, output slot)` of each column it returns.
fn result_columns(
    spec: &AggSpec,
    names: &[String],
    e: &Expr,
    rel: &Rel,
    cols: &mut Vec<(String, KqlType)>,
) -> Vec<(usize, usize)> {
    let mut extra = Vec::new();
    let arg_name = agg_arg_opt(e, 0).and_then(derive_name);
    match &spec.kind {
        AggKind::Arg { cols: picked, .. } => {
            let key_name = names
                .first()
                .cloned()
                .or(arg_name)
                .unwrap_or_else(|| format!("{}_", spec.prefix));
            push_unique(cols, key_name, spec.ty);
            for (k, &i) in picked.iter().enumerate() {
                // `(a, b) = arg_max(x, b)` renames the returned columns in order.
                let name = names
                    .get(k + 1)
                    .cloned()
                    .unwrap_or_else(|| rel.cols[i].0.clone());
                if !cols.iter().any(|(n, _)| *n == name) {
                    extra.push((i, cols.len()));
                    cols.push((name, rel.cols[i].1));
                }
            }
        }
        AggKind::Percentiles {
            percents,
            array: false,
            ..
        } => {
            // One column per percentile, `percentile_X_95`, renamed in order by `(a, b) = ...`.
            let stem = arg_name.unwrap_or_default();
            for (k, p) in percents.iter().enumerate() {
                let default = format!("{}_{stem}_{}", spec.prefix, percentiles::name_suffix(*p));
                let name = names.get(k).cloned().unwrap_or(default);
                push_unique(cols, name, spec.ty);
            }
        }
        _ => {
            let default = match arg_name {
                Some(n) if spec.prefix.is_empty() => n,
                Some(n) if spec.names_column => format!("{}_{n}", spec.prefix),
                _ if spec.prefix.is_empty() => "Column1".to_string(),
                _ => format!("{}_", spec.prefix),
            };
            push_unique(cols, names.first().cloned().unwrap_or(default), spec.ty);
        }
    }
    extra
}

impl Ctx<'_> {
    /// Groups `rows`, whose columns are those of `rel` (whose own rows are not read).
    pub(crate) fn summarize<'r>(
        &self,
        rel: &Rel,
        rows: impl Iterator<Item = &'r Row>,
        aggs: &[Aggregate],
        by: &[NamedExpr],
    ) -> Result<Rel, KqlError> {
        if let Some(plan) = lifted::lift(aggs) {
            let inner = self.summarize(rel, rows, &plan.aggs, by)?;
            return self.computed_columns(&inner, &plan);
        }
        let mut cols: Vec<(String, KqlType)> = Vec::new();
        let mut keys = Vec::new();
        let mut unnamed = 0;
        for (name, e) in by {
            let (c, ty) = self.compile(e, rel, "summarize")?;
            let name = name.clone().or_else(|| derive_name(e)).unwrap_or_else(|| {
                unnamed += 1;
                format!("Column{unnamed}")
            });
            cols.push((name, ty));
            keys.push(c);
        }
        let mut specs = Vec::new();
        // Per aggregate: its output slot, and for arg_max/arg_min (input column, output slot).
        let mut layout: Vec<(usize, Vec<(usize, usize)>)> = Vec::new();
        for Aggregate { names, expr: e } in aggs {
            let spec = self.compile_agg(e, rel)?;
            let slot = cols.len();
            let extra = result_columns(&spec, names, e, rel, &mut cols);
            layout.push((slot, extra));
            specs.push(spec);
        }
        let mut groups = Groups::default();
        let mut key_buf: Vec<Value> = Vec::with_capacity(keys.len());
        for r in rows {
            // One key, the usual `by Column`, is looked up where it lies in the row; copying
            // it into the key buffer first (and dropping it again) cost 45 instructions a row.
            let states = if let [key] = keys.as_slice() {
                groups.of(std::slice::from_ref(&*key.eval(r)), &specs)
            } else {
                key_buf.clear();
                key_buf.extend(keys.iter().map(|k| k.eval(r).into_owned()));
                groups.of(&key_buf, &specs)
            };
            for (spec, st) in specs.iter().zip(states) {
                spec.update(st, r)?;
            }
        }
        let mut states = groups.states;
        if states.is_empty() && keys.is_empty() {
            states.push((Vec::new(), specs.iter().map(AggSpec::start).collect()));
        }
        let rows = states
            .into_iter()
            .map(|(key, st)| {
                let mut out = key;
                out.resize(cols.len(), Value::Null);
                for ((spec, s), (slot, extra)) in specs.iter().zip(st).zip(&layout) {
                    spec.finish(s, &mut out, *slot, extra);
                }
                Row::from(out)
            })
            .collect();
        Ok(Rel { cols, rows })
    }
}

impl Ctx<'_> {
    /// The columns of a summarize whose expressions over aggregates were lifted apart: each
    /// expression computed from its hidden columns, in the place of its first one, and the
    /// hidden columns dropped.
    fn computed_columns(&self, inner: &Rel, plan: &LiftedPlan) -> Result<Rel, KqlError> {
        let items: Vec<NamedExpr> = plan
            .computed
            .iter()
            .map(|(named, _)| named.clone())
            .collect();
        let extended = self.project(inner, &items, true, "summarize")?;
        let position = |name: &str| extended.cols.iter().position(|(n, _)| n == name);
        let mut order = Vec::with_capacity(inner.cols.len());
        for (name, _) in &inner.cols {
            let shown = match plan.in_place_of(name) {
                Some((Some(computed), _)) => position(computed),
                _ if lifted::is_hidden(name) => None,
                _ => position(name),
            };
            order.extend(shown);
        }
        Ok(select(&extended, &order))
    }
}
