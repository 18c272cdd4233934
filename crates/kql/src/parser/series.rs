//! Parsing the operators that aggregate along an axis or a hierarchy: `make-series` and
//! `top-nested`.

use super::cursor::Parser;
use crate::ast::{MakeSeries, OpKind, TopNested};
use crate::error::KqlError;
use crate::lexer::Tok;

impl Parser<'_> {
    /// `make-series`, after its name: `[kind=nonempty] [Name =] Agg [default = V], ... on Axis
    /// (from A to B step S | in range(A, B, S)) [by ...]`.
    pub(super) fn make_series(&mut self) -> Result<OpKind, KqlError> {
        let mut nonempty = false;
        while let Some((kind, pos)) = self.kind_among_hints()? {
            if kind != "nonempty" {
                return Err(KqlError::new(
                    format!("make-series kind '{kind}' is not supported"),
                    self.src,
                    pos,
                ));
            }
            nonempty = true;
        }
        let aggs = self.comma_list(|p| {
            let agg = p.aggregate()?;
            let default = if p.eat_word("default") {
                p.expect_sym("=")?;
                Some(p.expr()?)
            } else {
                None
            };
            Ok((agg, default))
        })?;
        self.expect_word("on")?;
        let axis = self.add_expr()?;
        let (from, to, step, inclusive) = if self.eat_word("in") {
            self.expect_word("range")?;
            self.expect_sym("(")?;
            let from = self.expr()?;
            self.expect_sym(",")?;
            let to = self.expr()?;
            self.expect_sym(",")?;
            let step = self.expr()?;
            self.expect_sym(")")?;
            (Some(from), Some(to), step, true)
        } else {
            let from = if self.eat_word("from") {
                Some(self.expr()?)
            } else {
                None
            };
            let to = if self.eat_word("to") {
                Some(self.expr()?)
            } else {
                None
            };
            self.expect_word("step")?;
            (from, to, self.expr()?, false)
        };
        let by = if self.eat_word("by") {
            self.named_list()?
        } else {
            Vec::new()
        };
        Ok(OpKind::MakeSeries(Box::new(MakeSeries {
            aggs,
            axis,
            from,
            to,
            step,
            inclusive,
            by,
            nonempty,
        })))
    }

    /// `top-nested`, after its first name: its levels, separated by `, top-nested`.
    pub(super) fn top_nested(&mut self) -> Result<OpKind, KqlError> {
        let mut levels = Vec::new();
        // Each level nests one deeper when evaluated, so the levels count against the limit.
        let start = self.depth;
        loop {
            self.deeper(1)?;
            let count = if self.is_word("of") {
                None
            } else {
                Some(self.add_expr()?)
            };
            self.expect_word("of")?;
            let value = self.named_expr()?;
            let others = if self.eat_word("with") {
                self.expect_word("others")?;
                self.expect_sym("=")?;
                Some(self.expr()?)
            } else {
                None
            };
            self.expect_word("by")?;
            let agg = self.aggregate()?;
            let desc = !self.eat_word("asc");
            if desc {
                self.eat_word("desc");
            }
            levels.push(TopNested {
                count,
                value,
                others,
                agg,
                desc,
            });
            if !(self.is_sym(",") && matches!(self.peek_at(1), Tok::Ident(w) if w == "top-nested"))
            {
                break;
            }
            self.bump();
            self.bump();
        }
        self.depth = start;
        Ok(OpKind::TopNested(levels))
    }

    /// A parenthesized run of operators without a source: a `fork` branch, `facet`'s `with`.
    pub(super) fn sub_pipeline(&mut self) -> Result<Vec<crate::ast::Op>, KqlError> {
        self.expect_sym("(")?;
        let mut ops = vec![self.operator()?];
        while self.eat_sym("|") {
            ops.push(self.operator()?);
        }
        self.expect_sym(")")?;
        Ok(ops)
    }

    /// `fork`, after its name: one or more `[name =] (operators)` branches.
    pub(super) fn fork(&mut self) -> Result<OpKind, KqlError> {
        let mut branches = Vec::new();
        loop {
            if matches!(self.peek(), Tok::Ident(_)) && matches!(self.peek_at(1), Tok::Sym("=")) {
                self.bump();
                self.bump();
            }
            if !self.is_sym("(") {
                break;
            }
            branches.push(self.sub_pipeline()?);
        }
        if branches.is_empty() {
            return Err(self.err_here("'(' and a fork branch"));
        }
        Ok(OpKind::Fork(branches))
    }

    /// `facet`, after its name: `by A, B [with (operators)]`.
    pub(super) fn facet(&mut self) -> Result<OpKind, KqlError> {
        self.expect_word("by")?;
        let by = self.comma_list(Self::ident)?;
        let with = if self.eat_word("with") {
            Some(self.sub_pipeline()?)
        } else {
            None
        };
        Ok(OpKind::Facet { by, with })
    }
}
