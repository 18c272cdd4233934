//! Expressions over aggregates in `summarize` (`round(avg(x), 2)`, `100.0 * countif(c) /
//! count()`): each aggregate call inside such an expression is lifted out into a hidden
//! aggregate of its own, the summarize runs over plain aggregates only, and the expression is
//! computed afterwards from the hidden columns, which are then dropped.

use crate::ast::{Aggregate, Expr, ExprKind, NamedExpr};

/// The aggregation functions the engine evaluates.
pub(crate) const AGGREGATE_FUNCTIONS: [&str; 46] = [
    "count",
    "countif",
    "dcount",
    "dcountif",
    "count_distinct",
    "count_distinctif",
    "sum",
    "sumif",
    "avg",
    "avgif",
    "min",
    "minif",
    "max",
    "maxif",
    "make_set",
    "makeset",
    "make_set_if",
    "make_list",
    "makelist",
    "make_list_if",
    "make_list_with_nulls",
    "make_bag",
    "make_bag_if",
    "any",
    "take_any",
    "anyif",
    "take_anyif",
    "arg_max",
    "argmax",
    "arg_min",
    "argmin",
    "stdev",
    "stdevif",
    "stdevp",
    "variance",
    "varianceif",
    "variancep",
    "percentile",
    "percentiles",
    "percentiles_array",
    "percentilew",
    "percentilesw",
    "percentilesw_array",
    "hll",
    "hll_if",
    "hll_merge",
];

/// A hidden aggregate's name: not a name a query can write unquoted, so it never clashes.
fn hidden(index: usize, part: usize) -> String {
    format!(" agg{index}.{part}")
}

/// Whether `e` is a call of an aggregation function.
fn is_aggregate_call(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Call(name, _) if AGGREGATE_FUNCTIONS.contains(&name.as_str()))
}

/// Splits `aggs` when one of them is an expression over aggregates; `None` when every one is a
/// plain aggregate call (or is not an aggregate at all, which the summarize reports).
pub(crate) fn lift(aggs: &[Aggregate]) -> Option<LiftedPlan> {
    let needs = aggs
        .iter()
        .any(|a| !is_aggregate_call(&a.expr) && contains_aggregate(&a.expr));
    if !needs {
        return None;
    }
    let mut plan = LiftedPlan::default();
    let mut extra = Vec::new();
    for (index, a) in aggs.iter().enumerate() {
        if is_aggregate_call(&a.expr) || !contains_aggregate(&a.expr) {
            plan.aggs.push(a.clone());
            continue;
        }
        let mut lifted = Vec::new();
        let expr = replace_aggregates(&a.expr, index, &mut lifted);
        let mut lifted = lifted.into_iter();
        let Some(first) = lifted.next() else {
            plan.aggs.push(a.clone());
            continue;
        };
        let place = first.names[0].clone();
        plan.aggs.push(first);
        extra.extend(lifted);
        let name = a
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| format!("Column{}", plan.computed.len() + 1));
        plan.computed.push(((Some(name), expr), place));
    }
    plan.aggs.extend(extra);
    Some(plan)
}

/// The plan [`lift`] makes.
#[derive(Debug, Default)]
pub(crate) struct LiftedPlan {
    /// The plain aggregates to run, hidden ones included.
    pub aggs: Vec<Aggregate>,
    /// Each computed column (name and expression over hidden columns) with the hidden column
    /// standing in its place.
    pub computed: Vec<(NamedExpr, String)>,
}

impl LiftedPlan {
    /// The computed column that takes the place of `column`, when it is a placeholder.
    pub fn in_place_of(&self, column: &str) -> Option<&NamedExpr> {
        self.computed
            .iter()
            .find(|(_, place)| place == column)
            .map(|(named, _)| named)
    }
}

/// Whether a hidden column name is one [`lift`] made.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with(" agg")
}

fn contains_aggregate(e: &Expr) -> bool {
    e.contains(&is_aggregate_call)
}

/// `e` with each aggregate call replaced by a reference to a hidden column, the calls pushed to
/// `lifted` as aggregates named after those columns.
fn replace_aggregates(e: &Expr, index: usize, lifted: &mut Vec<Aggregate>) -> Expr {
    e.rewrite(&mut |x| {
        is_aggregate_call(x).then(|| {
            let name = hidden(index, lifted.len());
            lifted.push(Aggregate {
                names: vec![name.clone()],
                expr: x.clone(),
            });
            Expr {
                kind: ExprKind::Ident(name),
                pos: x.pos,
            }
        })
    })
}
