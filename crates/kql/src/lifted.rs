//! Expressions over aggregates in `summarize` (`round(avg(x), 2)`, `100.0 * countif(c) /
//! count()`): each aggregate call inside such an expression is lifted out into a hidden
//! aggregate of its own, the summarize runs over plain aggregates only, and the expression is
//! computed afterwards from the hidden columns, which are then dropped.

use crate::ast::{Aggregate, Expr, ExprKind, ListItem, NamedExpr};

/// The aggregation functions the engine evaluates.
pub(crate) const AGGREGATE_FUNCTIONS: [&str; 18] = [
    "count",
    "countif",
    "dcount",
    "dcountif",
    "sum",
    "avg",
    "min",
    "max",
    "make_set",
    "makeset",
    "make_list",
    "makelist",
    "any",
    "take_any",
    "arg_max",
    "argmax",
    "arg_min",
    "argmin",
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
    if is_aggregate_call(e) {
        return true;
    }
    match &e.kind {
        ExprKind::Call(_, args) => args.iter().any(contains_aggregate),
        ExprKind::Member(x, _) | ExprKind::Neg(x) => contains_aggregate(x),
        ExprKind::Index(x, i) => contains_aggregate(x) || contains_aggregate(i),
        ExprKind::Binary(_, a, b) => contains_aggregate(a) || contains_aggregate(b),
        ExprKind::List { lhs, items, .. } => {
            contains_aggregate(lhs)
                || items
                    .iter()
                    .any(|i| matches!(i, ListItem::Scalar(s) if contains_aggregate(s)))
        }
        ExprKind::Between { lhs, lo, hi, .. } => {
            contains_aggregate(lhs) || contains_aggregate(lo) || contains_aggregate(hi)
        }
        ExprKind::Lit(..) | ExprKind::Ident(_) | ExprKind::Star | ExprKind::ToScalar(_) => false,
    }
}

/// `e` with each aggregate call replaced by a reference to a hidden column, the calls pushed to
/// `lifted` as aggregates named after those columns.
fn replace_aggregates(e: &Expr, index: usize, lifted: &mut Vec<Aggregate>) -> Expr {
    if is_aggregate_call(e) {
        let name = hidden(index, lifted.len());
        lifted.push(Aggregate {
            names: vec![name.clone()],
            expr: e.clone(),
        });
        return Expr {
            kind: ExprKind::Ident(name),
            pos: e.pos,
        };
    }
    let mut go = |x: &Expr| Box::new(replace_aggregates(x, index, lifted));
    let kind = match &e.kind {
        ExprKind::Call(name, args) => ExprKind::Call(
            name.clone(),
            args.iter()
                .map(|a| replace_aggregates(a, index, lifted))
                .collect(),
        ),
        ExprKind::Member(x, field) => ExprKind::Member(go(x), field.clone()),
        ExprKind::Neg(x) => ExprKind::Neg(go(x)),
        ExprKind::Index(x, i) => {
            let x = go(x);
            ExprKind::Index(x, go(i))
        }
        ExprKind::Binary(op, a, b) => {
            let a = go(a);
            ExprKind::Binary(*op, a, go(b))
        }
        ExprKind::Between {
            lhs,
            lo,
            hi,
            negate,
        } => {
            let lhs = go(lhs);
            let lo = go(lo);
            ExprKind::Between {
                lhs,
                lo,
                hi: go(hi),
                negate: *negate,
            }
        }
        other => other.clone(),
    };
    Expr { kind, pos: e.pos }
}
