//! `top-hitters` and `sample-distinct`: the values of an expression that occur most, or any
//! distinct ones.

use crate::ast::{Aggregate, Expr, ExprKind, SortKey};
use crate::compile::derive_name;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::Rel;

/// The aggregate's column while it ranks the values, before it takes Kusto's name.
const HITS: &str = " hits";

impl Ctx<'_> {
    /// `sample-distinct N of Expr`: Kusto picks any N distinct values; the first N keep answers
    /// repeatable.
    pub(crate) fn sample_distinct(
        &self,
        rel: Rel,
        count: &Expr,
        value: &Expr,
    ) -> Result<Rel, KqlError> {
        let n = self.const_count(count, &rel, "sample-distinct")?;
        let mut out = self.distinct(rel, Some(std::slice::from_ref(value)))?;
        out.rows.truncate(n);
        Ok(out)
    }

    /// `top-hitters N of Expr [by Weight]`: exact counts (or sums) where Kusto estimates them,
    /// in `approximate_count_<Expr>` (or `approximate_sum_<Weight>`), largest first.
    pub(crate) fn top_hitters(
        &self,
        rel: &Rel,
        count: &Expr,
        value: &Expr,
        weight: Option<&Expr>,
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let n = self.const_count(count, rel, "top-hitters")?;
        let at = |kind| Expr { kind, pos };
        let agg = Aggregate {
            names: vec![HITS.to_string()],
            expr: at(match weight {
                Some(w) => ExprKind::Call("sum".to_string(), vec![w.clone()]),
                None => ExprKind::Call("count".to_string(), Vec::new()),
            }),
        };
        let summed = self.summarize(rel, rel.rows.iter(), &[agg], &[(None, value.clone())])?;
        let key = SortKey {
            expr: at(ExprKind::Ident(HITS.to_string())),
            desc: true,
            nulls_first: None,
        };
        let mut out = self.sort(summed, &[key], "top-hitters")?;
        out.rows.truncate(n);
        let named = match weight {
            Some(w) => format!("approximate_sum_{}", derive_name(w).unwrap_or_default()),
            None => format!("approximate_count_{}", out.cols[0].0),
        };
        if let Some(col) = out.cols.iter_mut().find(|(c, _)| c == HITS) {
            col.0 = named;
        }
        Ok(out)
    }
}
