//! `invoke`: a tabular let-function called with the piped rows as its first argument.

use crate::ast::{Expr, ExprKind};
use crate::context::{Bound, Ctx};
use crate::error::KqlError;
use crate::rel::Rel;

/// The name the piped rows are bound to for the call: a space keeps queries from naming it.
const PIPED: &str = " invoke input";

impl Ctx<'_> {
    /// `invoke f(args)`: `f(rows, args)`, `f`'s first parameter being tabular.
    pub(crate) fn invoke(
        &self,
        rel: Rel,
        name: &str,
        args: &[Expr],
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let takes_table = matches!(
            self.lets.get(name),
            Some(Bound::Function(f)) if f.params.first().is_some_and(|p| p.tabular)
        );
        if !takes_table {
            return Err(self.err(
                format!(
                    "'invoke' operator: '{name}' must be a let-bound function whose first \
                     parameter is a table, such as `let {name} = (T:(*)) {{ T | ... }}`"
                ),
                pos,
            ));
        }
        let mut lets = self.lets.clone();
        lets.insert(PIPED.to_string(), Bound::Rows(rel));
        let inner = self.inner(lets, self.calls.get());
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(Expr {
            kind: ExprKind::Ident(PIPED.to_string()),
            pos,
        });
        all.extend(args.iter().cloned());
        inner.call_tabular(name, &all, pos)
    }
}
