//! Parsing `evaluate` and the plugins the engine runs: `bag_unpack`, `pivot` and `narrow`.

use super::cursor::Parser;
use crate::ast::{Expr, ExprKind, OpKind};
use crate::error::KqlError;
use crate::lexer::Tok;

impl Parser<'_> {
    /// `evaluate` and its plugin: `bag_unpack(Bag [, 'prefix'])`, `pivot(...)`, `narrow()`;
    /// other plugins are named.
    pub(super) fn evaluate(&mut self) -> Result<OpKind, KqlError> {
        self.skip_hints();
        let pos = self.pos();
        let plugin = self.ident()?;
        if plugin == "pivot" || plugin == "narrow" {
            return self.reshape_plugin(&plugin);
        }
        if plugin != "bag_unpack" {
            return Err(KqlError::new(
                format!("plugin '{plugin}' of 'evaluate' is not supported"),
                self.src,
                pos,
            ));
        }
        self.expect_sym("(")?;
        let bag = self.expr()?;
        let prefix = if self.eat_sym(",") {
            let pos = self.pos();
            match self.bump().tok {
                Tok::Str(prefix) => prefix,
                _ => {
                    return Err(KqlError::new(
                        "bag_unpack: the prefix must be a string literal".to_string(),
                        self.src,
                        pos,
                    ));
                }
            }
        } else {
            String::new()
        };
        self.expect_sym(")")?;
        Ok(OpKind::BagUnpack { bag, prefix })
    }

    /// `pivot(Column [, Agg] [, GroupColumn, ...])` or `narrow()`, after the plugin's name.
    fn reshape_plugin(&mut self, plugin: &str) -> Result<OpKind, KqlError> {
        let open = self.pos();
        self.expect_sym("(")?;
        let mut args = Vec::new();
        if !self.is_sym(")") {
            args = self.comma_list(Self::expr)?;
        }
        self.expect_sym(")")?;
        if plugin == "narrow" {
            if let Some(extra) = args.first() {
                return Err(KqlError::new(
                    "narrow() takes no arguments".to_string(),
                    self.src,
                    extra.pos,
                ));
            }
            return Ok(OpKind::Narrow);
        }
        let mut args = args.into_iter();
        let Some(Expr {
            kind: ExprKind::Ident(column),
            ..
        }) = args.next()
        else {
            return Err(KqlError::new(
                "pivot: name the column to pivot first, pivot(Column, ...)".to_string(),
                self.src,
                open,
            ));
        };
        let mut agg = None;
        let mut by = Vec::new();
        for arg in args {
            match arg.kind {
                ExprKind::Ident(name) => by.push(name),
                ExprKind::Call(..) if agg.is_none() && by.is_empty() => agg = Some(arg),
                _ => {
                    return Err(KqlError::new(
                        "pivot: after the column, an aggregation then column names".to_string(),
                        self.src,
                        arg.pos,
                    ));
                }
            }
        }
        Ok(OpKind::Pivot { column, agg, by })
    }
}
