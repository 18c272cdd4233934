//! Compiling a `summarize` aggregate call into an `AggSpec`: its name, arguments, result type
//! and the prefix of its unnamed column.

use super::percentiles;
use super::stats::Spread;
use crate::ast::{Expr, ExprKind};
use crate::cexpr::CExpr;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::hll;
use crate::rel::Rel;
use crate::value::{KqlType, Value};

use super::state::{AggKind, AggSpec};

/// The aggregate without its `if` (`sumif` is `sum`, `make_set_if` is `make_set`), and whether
/// the name had one: the `if` forms take their predicate as the second argument.
fn split_if(name: &str) -> (&str, bool) {
    if let Some(base) = name.strip_suffix("_if")
        && matches!(base, "make_set" | "make_list" | "make_bag" | "hll")
    {
        return (base, true);
    }
    match name.strip_suffix("if") {
        Some(
            base @ ("count" | "dcount" | "count_distinct" | "sum" | "avg" | "min" | "max" | "stdev"
            | "variance" | "take_any" | "any"),
        ) => (base, true),
        _ => (name, false),
    }
}

/// The prefix of the aggregate's unnamed column, as Kusto names it (`sumif_X`, `set_X`,
/// `percentile_X_50`); empty for `take_anyif`, which Kusto names after its argument alone
/// (its deprecated alias `anyif` keeps a prefix).
fn prefix_of(name: &str, base: &str) -> &'static str {
    match (name, base) {
        ("countif", _) => "countif",
        ("dcountif", _) => "dcountif",
        ("count_distinctif", _) => "count_distinctif",
        ("sumif", _) => "sumif",
        ("avgif", _) => "avgif",
        ("minif", _) => "minif",
        ("maxif", _) => "maxif",
        ("stdevif", _) => "stdevif",
        ("varianceif", _) => "varianceif",
        ("hll_if", _) => "hll_if",
        ("anyif", _) => "anyif",
        ("take_anyif", _) => "",
        (_, "make_set" | "makeset") => "set",
        (_, "make_list" | "makelist" | "make_list_with_nulls") => "list",
        (_, "make_bag") => "bag",
        (_, "any" | "take_any") => "any",
        (_, "count_distinct") => "count_distinct",
        (_, "stdev") => "stdev",
        (_, "stdevp") => "stdevp",
        (_, "variance") => "variance",
        (_, "variancep") => "variancep",
        (_, "percentiles_array" | "percentilesw_array") => "percentiles",
        (_, b) if b.starts_with("percentile") => "percentile",
        (_, "hll") => "hll",
        (_, "hll_merge") => "hll_merge",
        (_, "count") => "count",
        (_, "dcount") => "dcount",
        (_, "sum") => "sum",
        (_, "avg") => "avg",
        (_, "min") => "min",
        (_, "max") => "max",
        _ => "agg",
    }
}

impl Ctx<'_> {
    /// Compiles one aggregate call of a `summarize` over `rel`'s columns.
    pub(crate) fn compile_agg(&self, e: &Expr, rel: &Rel) -> Result<AggSpec, KqlError> {
        let ExprKind::Call(name, args) = &e.kind else {
            return Err(self.err(
                "'summarize' operator: expected an aggregation function such as count()"
                    .to_string(),
                e.pos,
            ));
        };
        if matches!(name.as_str(), "arg_max" | "argmax" | "arg_min" | "argmin") {
            return self.compile_arg_agg(e, name, args, rel);
        }
        let (base, has_if) = split_if(name);
        // `countif(predicate)` has no value argument before its predicate.
        let at = usize::from(base != "count");
        let cond = if has_if {
            let Some(p) = args.get(at) else {
                return Err(self.err(
                    format!("'{name}' expects an expression and a predicate"),
                    e.pos,
                ));
            };
            Some(self.compile(p, rel, "summarize")?.0)
        } else {
            None
        };
        // The value arguments: the predicate of an `if` form taken out.
        let rest: Vec<&Expr> = args
            .iter()
            .enumerate()
            .filter(|(i, _)| !(has_if && *i == at))
            .map(|(_, a)| a)
            .collect();
        let (kind, ty, names_column) = self.base_agg(e, base, name, &rest, rel)?;
        let overflow = match &kind {
            AggKind::Hll(_) | AggKind::HllMerge(_) => format!(
                "'{name}': more than {} distinct values in one group; huntd holds hll values \
                 as exact sets, so narrow the input or group it more finely",
                hll::MAX_VALUES
            ),
            _ => format!(
                "'{name}': more than {} values in one group; narrow the input or group it more \
                 finely",
                percentiles::MAX_VALUES
            ),
        };
        Ok(AggSpec {
            kind,
            cond,
            prefix: prefix_of(name, base),
            ty,
            names_column,
            overflow: self.err(overflow, e.pos),
        })
    }

    /// The aggregate `base` over its value arguments `args` (`name` as written, for errors).
    fn base_agg(
        &self,
        e: &Expr,
        base: &str,
        name: &str,
        args: &[&Expr],
        rel: &Rel,
    ) -> Result<(AggKind, KqlType, bool), KqlError> {
        // Counted with the predicate the `if` forms took out, as the query writes them.
        let shift = usize::from(name != base);
        let arity = |lo: usize, hi: usize| {
            if args.len() < lo || args.len() > hi {
                let (lo, hi, n) = (lo + shift, hi + shift, args.len() + shift);
                Err(self.err(
                    format!("'{name}' expects {lo} to {hi} arguments, got {n}"),
                    e.pos,
                ))
            } else {
                Ok(())
            }
        };
        let arg = |i: usize| self.compile(args[i], rel, "summarize");
        Ok(match base {
            "count" => {
                arity(0, 1)?;
                (AggKind::Count, KqlType::Long, false)
            }
            "dcount" | "count_distinct" => {
                arity(1, if base == "dcount" { 2 } else { 1 })?;
                (AggKind::DCount(arg(0)?.0), KqlType::Long, true)
            }
            "sum" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                let t = if t == KqlType::Int { KqlType::Long } else { t };
                (AggKind::Sum(c), t, true)
            }
            "avg" => {
                arity(1, 1)?;
                (AggKind::Avg(arg(0)?.0), KqlType::Real, true)
            }
            "min" | "max" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                (AggKind::MinMax(c, base == "max"), t, true)
            }
            "make_set" | "makeset" | "make_list" | "makelist" | "make_list_with_nulls" => {
                let nulls = base == "make_list_with_nulls";
                arity(1, if nulls { 1 } else { 2 })?;
                let x = arg(0)?.0;
                let limit = self.make_limit(args, rel, name)?;
                let set = base.contains("set");
                let kind = AggKind::Make {
                    x,
                    set,
                    nulls,
                    limit,
                };
                (kind, KqlType::Dynamic, true)
            }
            "make_bag" => {
                arity(1, 2)?;
                let kind = AggKind::Bag(arg(0)?.0, self.make_limit(args, rel, name)?);
                (kind, KqlType::Dynamic, true)
            }
            "any" | "take_any" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                (AggKind::Any(c, name != base), t, true)
            }
            "stdev" | "stdevp" | "variance" | "variancep" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                if !(t.is_numeric() || t == KqlType::Dynamic) {
                    return Err(self.err(format!("'{name}' expects a number"), args[0].pos));
                }
                let spread = Spread {
                    population: base.ends_with('p'),
                    root: base.starts_with("stdev"),
                };
                (AggKind::Spread(c, spread), KqlType::Real, true)
            }
            b if b.starts_with("percentile") => self.percentile_agg(e, base, args, rel)?,
            "hll" => {
                arity(1, 2)?;
                (AggKind::Hll(arg(0)?.0), KqlType::Dynamic, true)
            }
            "hll_merge" => {
                arity(1, 1)?;
                (AggKind::HllMerge(arg(0)?.0), KqlType::Dynamic, true)
            }
            other => {
                return Err(self.err(
                    format!("'{other}' is not a supported aggregation function"),
                    e.pos,
                ));
            }
        })
    }

    /// `percentile(x, P)`, `percentiles(x, P...)`, `percentiles_array(x, P... | dynamic([...]))`
    /// and the weighted `percentilew(x, W, P)`, `percentilesw`, `percentilesw_array`.
    fn percentile_agg(
        &self,
        e: &Expr,
        base: &str,
        args: &[&Expr],
        rel: &Rel,
    ) -> Result<(AggKind, KqlType, bool), KqlError> {
        let weighted = matches!(base, "percentilew" | "percentilesw" | "percentilesw_array");
        let single = matches!(base, "percentile" | "percentilew");
        let known = single
            || matches!(
                base,
                "percentiles" | "percentilesw" | "percentiles_array" | "percentilesw_array"
            );
        let first = 1 + usize::from(weighted);
        if !known {
            return Err(self.err(
                format!("'{base}' is not a supported aggregation function"),
                e.pos,
            ));
        }
        if args.len() <= first || (single && args.len() > first + 1) {
            let what = if weighted { ", a weight" } else { "" };
            return Err(self.err(
                format!("'{base}' expects an expression{what} and percentiles"),
                e.pos,
            ));
        }
        let (x, ty) = self.compile(args[0], rel, "summarize")?;
        let weight = if weighted {
            Some(self.compile(args[1], rel, "summarize")?.0)
        } else {
            None
        };
        let mut percents = Vec::new();
        for p in &args[first..] {
            self.const_percents(p, rel, base, &mut percents)?;
        }
        let array = base.ends_with("_array");
        let ty = match ty {
            _ if array => KqlType::Dynamic,
            KqlType::Int => KqlType::Long,
            t => t,
        };
        let kind = AggKind::Percentiles {
            x,
            weight,
            percents,
            array,
        };
        Ok((kind, ty, true))
    }

    /// A percentile argument: a constant number from 0 to 100, or (for the `_array` forms) a
    /// constant `dynamic` array of them.
    fn const_percents(
        &self,
        p: &Expr,
        rel: &Rel,
        name: &str,
        out: &mut Vec<f64>,
    ) -> Result<(), KqlError> {
        let bad = || {
            self.err(
                format!("'{name}': a percentile must be a constant number from 0 to 100"),
                p.pos,
            )
        };
        let in_range = |f: f64| (0.0..=100.0).contains(&f);
        match self.compile(p, rel, "summarize")?.0 {
            CExpr::Lit(Value::Dynamic(json)) if name.ends_with("_array") => {
                let items = json.as_array().ok_or_else(bad)?;
                for item in items {
                    let f = item.as_f64().filter(|f| in_range(*f)).ok_or_else(bad)?;
                    out.push(f);
                }
            }
            CExpr::Lit(v) => out.push(v.as_f64().filter(|f| in_range(*f)).ok_or_else(bad)?),
            _ => return Err(bad()),
        }
        Ok(())
    }

    /// `make_set`/`make_list`/`make_bag`'s optional cap on the elements kept (the second value
    /// argument); the service's default is 1,048,576.
    fn make_limit(&self, args: &[&Expr], rel: &Rel, name: &str) -> Result<usize, KqlError> {
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
    ) -> Result<AggSpec, KqlError> {
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
        Ok(AggSpec {
            kind: AggKind::Arg {
                key,
                max,
                cols: picked,
            },
            cond: None,
            prefix: if max { "max" } else { "min" },
            ty: t,
            names_column: true,
            overflow: self.err(format!("'{name}'"), e.pos),
        })
    }
}
