//! `summarize`: aggregation functions, their per-group state and the output schema.

use std::sync::Arc;

use crate::ast::{Aggregate, BinOp, Expr, ExprKind, NamedExpr};
use crate::cexpr::CExpr;
use crate::compile::derive_name;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::lifted::{self, LiftedPlan};
use crate::rel::{KeyMap, KeySet, Rel, push_unique, select};
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

pub(crate) fn agg_arg(e: &Expr, i: usize) -> &Expr {
    agg_arg_opt(e, i).unwrap_or(e)
}

pub(crate) fn agg_arg_opt(e: &Expr, i: usize) -> Option<&Expr> {
    match &e.kind {
        ExprKind::Call(_, args) => args.get(i),
        _ => None,
    }
}

/// Aggregate state per group.
pub(crate) enum AggState {
    Count(i64),
    Distinct(KeySet<Value>),
    Sum(Value),
    Avg(f64, i64),
    Best(Value),
    Make(Vec<Value>, KeySet<Value>),
    Arg(Value, Option<Row>),
    Any(Option<Value>),
}

pub(crate) enum AggKind {
    Count,
    CountIf(CExpr),
    DCount(CExpr, Option<CExpr>),
    Sum(CExpr),
    Avg(CExpr),
    MinMax(CExpr, bool),
    Make(CExpr, bool, usize),
    Arg {
        key: CExpr,
        max: bool,
        cols: Vec<usize>,
    },
    Any(CExpr),
}

pub(crate) struct AggSpec {
    kind: AggKind,
    prefix: &'static str,
    ty: KqlType,
    names_column: bool,
}

impl AggSpec {
    /// The type of the aggregate's value.
    pub(crate) fn ty(&self) -> KqlType {
        self.ty
    }

    pub(crate) fn start(&self) -> AggState {
        match &self.kind {
            AggKind::Count | AggKind::CountIf(_) => AggState::Count(0),
            AggKind::DCount(..) => AggState::Distinct(KeySet::default()),
            AggKind::Sum(_) => AggState::Sum(Value::Null),
            AggKind::Avg(_) => AggState::Avg(0.0, 0),
            AggKind::MinMax(..) => AggState::Best(Value::Null),
            AggKind::Make(..) => AggState::Make(Vec::new(), KeySet::default()),
            AggKind::Arg { .. } => AggState::Arg(Value::Null, None),
            AggKind::Any(_) => AggState::Any(None),
        }
    }

    pub(crate) fn update(&self, st: &mut AggState, row: &Row) {
        match (&self.kind, st) {
            (AggKind::Count, AggState::Count(n)) => *n += 1,
            (AggKind::CountIf(p), AggState::Count(n)) => *n += i64::from(p.truthy(row)),
            (AggKind::DCount(x, cond), AggState::Distinct(set))
                if cond.as_ref().is_none_or(|c| c.truthy(row)) =>
            {
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
                if !v.is_null() {
                    let better = best.is_null() || {
                        let o = v.sort_cmp(best);
                        if *max { o.is_gt() } else { o.is_lt() }
                    };
                    if better {
                        *best = v.into_owned();
                    }
                }
            }
            (AggKind::Make(x, set, limit), AggState::Make(items, seen)) => {
                let v = x.eval(row);
                if !v.is_null() && items.len() < *limit {
                    if *set {
                        if seen.insert(v.clone().into_owned()) {
                            items.push(v.into_owned());
                        }
                    } else {
                        items.push(v.into_owned());
                    }
                }
            }
            (AggKind::Arg { key, max, .. }, AggState::Arg(best, picked)) => {
                let v = key.eval(row);
                let better = picked.is_none()
                    || (!v.is_null()
                        && (best.is_null() || {
                            let o = v.sort_cmp(best);
                            if *max { o.is_gt() } else { o.is_lt() }
                        }));
                if better {
                    *best = v.into_owned();
                    *picked = Some(Arc::clone(row));
                }
            }
            (AggKind::Any(x), AggState::Any(slot)) if slot.is_none() => {
                *slot = Some(x.eval(row).into_owned());
            }
            _ => {}
        }
    }

    /// Writes the aggregate's value into `out[slot]` and, for arg_max/arg_min, the
    /// returned columns into their `(input column, output slot)` places.
    pub(crate) fn finish(
        &self,
        st: AggState,
        out: &mut [Value],
        slot: usize,
        extra: &[(usize, usize)],
    ) {
        out[slot] = match st {
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
            AggState::Arg(best, picked) => {
                for &(i, to) in extra {
                    out[to] = picked.as_ref().map_or(Value::Null, |r| r[i].clone());
                }
                best
            }
            AggState::Any(v) => v.unwrap_or_default(),
        };
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
            let mut extra = Vec::new();
            if let AggKind::Arg { cols: picked, .. } = &spec.kind {
                let key_name = names
                    .first()
                    .cloned()
                    .or_else(|| derive_name(agg_arg(e, 0)))
                    .unwrap_or_else(|| format!("{}_", spec.prefix));
                push_unique(&mut cols, key_name, spec.ty);
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
            } else {
                let default = match agg_arg_opt(e, 0).and_then(derive_name) {
                    Some(n) if spec.names_column => format!("{}_{n}", spec.prefix),
                    _ => format!("{}_", spec.prefix),
                };
                push_unique(
                    &mut cols,
                    names.first().cloned().unwrap_or(default),
                    spec.ty,
                );
            }
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
                spec.update(st, r);
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

    /// `make_set`/`make_list`'s optional cap on the elements kept; the service's default is 1,048,576.
    fn make_limit(&self, args: &[Expr], rel: &Rel, name: &str) -> Result<usize, KqlError> {
        match args.get(1) {
            Some(l) => self.const_count(l, rel, name),
            None => Ok(1_048_576),
        }
    }

    /// `arg_max(key, cols...)`/`arg_min`: the key to compare and the input columns to return.
    fn compile_arg_agg(
        &self,
        e: &Expr,
        name: &str,
        args: &[Expr],
        rel: &Rel,
    ) -> Result<(AggKind, &'static str, KqlType, bool), KqlError> {
        if args.len() < 2 {
            return Err(self.err(
                format!("'{name}' expects an expression and the columns to return"),
                e.pos,
            ));
        }
        let (key, t) = self.compile(&args[0], rel, "summarize")?;
        let mut picked = Vec::new();
        for a in &args[1..] {
            match &a.kind {
                ExprKind::Star => picked.extend(0..rel.cols.len()),
                ExprKind::Ident(n) => picked.push(rel.index(n).ok_or_else(|| {
                    self.unresolved("summarize", "scalar expression", n, a.pos, rel)
                })?),
                _ => {
                    return Err(self.err(
                        format!("'{name}' returns columns: list column names or *"),
                        a.pos,
                    ));
                }
            }
        }
        let max = name.contains("max");
        Ok((
            AggKind::Arg {
                key,
                max,
                cols: picked,
            },
            if max { "max" } else { "min" },
            t,
            true,
        ))
    }

    pub(crate) fn compile_agg(&self, e: &Expr, rel: &Rel) -> Result<AggSpec, KqlError> {
        let ExprKind::Call(name, args) = &e.kind else {
            return Err(self.err(
                "'summarize' operator: expected an aggregation function such as count()"
                    .to_string(),
                e.pos,
            ));
        };
        let arity = |lo: usize, hi: usize| {
            if args.len() < lo || args.len() > hi {
                Err(self.err(
                    format!(
                        "'{name}' expects {lo} to {hi} arguments, got {}",
                        args.len()
                    ),
                    e.pos,
                ))
            } else {
                Ok(())
            }
        };
        let arg = |i: usize| self.compile(&args[i], rel, "summarize");
        let (kind, prefix, ty, names_column) = match name.as_str() {
            "count" => {
                arity(0, 1)?;
                (AggKind::Count, "count", KqlType::Long, false)
            }
            "countif" => {
                arity(1, 1)?;
                (AggKind::CountIf(arg(0)?.0), "countif", KqlType::Long, false)
            }
            "dcount" => {
                arity(1, 2)?;
                let kind = AggKind::DCount(arg(0)?.0, None);
                (kind, "dcount", KqlType::Long, true)
            }
            "dcountif" => {
                arity(2, 3)?;
                let kind = AggKind::DCount(arg(0)?.0, Some(arg(1)?.0));
                (kind, "dcountif", KqlType::Long, true)
            }
            "sum" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                let t = if t == KqlType::Int { KqlType::Long } else { t };
                (AggKind::Sum(c), "sum", t, true)
            }
            "avg" => {
                arity(1, 1)?;
                (AggKind::Avg(arg(0)?.0), "avg", KqlType::Real, true)
            }
            "min" | "max" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                (
                    AggKind::MinMax(c, name == "max"),
                    if name == "max" { "max" } else { "min" },
                    t,
                    true,
                )
            }
            "make_set" | "makeset" | "make_list" | "makelist" => {
                arity(1, 2)?;
                let set = name.contains("set");
                let kind = AggKind::Make(arg(0)?.0, set, self.make_limit(args, rel, name)?);
                (
                    kind,
                    if set { "set" } else { "list" },
                    KqlType::Dynamic,
                    true,
                )
            }
            "any" | "take_any" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                (AggKind::Any(c), "any", t, true)
            }
            "arg_max" | "argmax" | "arg_min" | "argmin" => {
                self.compile_arg_agg(e, name, args, rel)?
            }
            other => {
                return Err(self.err(
                    format!("'{other}' is not a supported aggregation function"),
                    e.pos,
                ));
            }
        };
        Ok(AggSpec {
            kind,
            prefix,
            ty,
            names_column,
        })
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
