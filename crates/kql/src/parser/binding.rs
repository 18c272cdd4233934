//! Parsing the `range` source and the operators that name, call, split or pick from the rows:
//! `invoke`, `partition`, `sample-distinct` and `top-hitters`.

use super::cursor::Parser;
use crate::ast::{OpKind, PartitionBody, Source};
use crate::error::KqlError;

impl Parser<'_> {
    /// `range`, after its name: `Name from A to B step S`.
    pub(super) fn range_source(&mut self) -> Result<Source, KqlError> {
        let name = self.ident()?;
        self.expect_word("from")?;
        let from = self.expr()?;
        self.expect_word("to")?;
        let to = self.expr()?;
        self.expect_word("step")?;
        let step = self.expr()?;
        Ok(Source::Range {
            name,
            from,
            to,
            step,
        })
    }

    /// `invoke`, after its name: `f(args)`, the piped rows being the first argument.
    pub(super) fn invoke(&mut self) -> Result<OpKind, KqlError> {
        let name = self.ident()?;
        self.expect_sym("(")?;
        let mut args = Vec::new();
        if !self.is_sym(")") {
            args = self.comma_list(Self::call_argument)?;
        }
        self.expect_sym(")")?;
        Ok(OpKind::Invoke(name, args))
    }

    /// `partition`, after its name: `[hints] by Column (ops)` or `{ query }`.
    pub(super) fn partition(&mut self) -> Result<OpKind, KqlError> {
        self.skip_hints();
        self.expect_word("by")?;
        let column = self.ident()?;
        self.skip_hints();
        let body = if self.eat_sym("{") {
            let query = self.tabular()?;
            self.expect_sym("}")?;
            PartitionBody::Source(Box::new(query))
        } else {
            PartitionBody::Ops(self.sub_pipeline()?)
        };
        Ok(OpKind::Partition { column, body })
    }

    /// `sample-distinct`, after its name: `N of Expr`.
    pub(super) fn sample_distinct(&mut self) -> Result<OpKind, KqlError> {
        let count = self.add_expr()?;
        self.expect_word("of")?;
        Ok(OpKind::SampleDistinct(count, self.expr()?))
    }

    /// `top-hitters`, after its name: `N of Expr [by Weight]`.
    pub(super) fn top_hitters(&mut self) -> Result<OpKind, KqlError> {
        let count = self.add_expr()?;
        self.expect_word("of")?;
        let value = self.add_expr()?;
        let weight = if self.eat_word("by") {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(OpKind::TopHitters {
            count,
            value,
            weight,
        })
    }
}
