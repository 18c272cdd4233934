//! Parsing `scan`: its match id column, declared columns and steps.

use super::cursor::Parser;
use crate::ast::{OpKind, Scan, ScanOutput, ScanStep};
use crate::error::KqlError;

impl Parser<'_> {
    /// `scan`, after its name: `[with_match_id = Id] [declare (c:type [= v], ...)] with (step
    /// s [output = all|last|none]: Condition [=> c = Expr, ...]; ...)`.
    pub(super) fn scan(&mut self) -> Result<OpKind, KqlError> {
        let match_id = self.name_option("with_match_id")?.map(|(name, _)| name);
        let mut declare = Vec::new();
        if self.eat_word("declare") {
            self.expect_sym("(")?;
            declare = self.comma_list(|p| {
                let (name, ty) = p.typed_name()?;
                let default = if p.eat_sym("=") {
                    Some(p.expr()?)
                } else {
                    None
                };
                Ok((name, ty, default))
            })?;
            self.expect_sym(")")?;
        }
        self.expect_word("with")?;
        self.expect_sym("(")?;
        let steps = self.list_until(";", ")", Self::scan_step)?;
        if steps.is_empty() {
            return Err(self.err_here("a 'step'"));
        }
        Ok(OpKind::Scan(Box::new(Scan {
            match_id,
            declare,
            steps,
        })))
    }

    /// One `step name [output = ...]: Condition [=> c = Expr, ...]`.
    fn scan_step(&mut self) -> Result<ScanStep, KqlError> {
        self.expect_word("step")?;
        let name = self.ident()?;
        let mut output = ScanOutput::All;
        if self.eat_word("output") {
            self.expect_sym("=")?;
            let pos = self.pos();
            output = match self.ident()?.as_str() {
                "all" => ScanOutput::All,
                "last" => ScanOutput::Last,
                "none" => ScanOutput::None,
                other => {
                    return Err(KqlError::syntax(
                        &format!("unknown scan output '{other}'"),
                        self.src,
                        pos,
                    ));
                }
            };
        }
        self.expect_sym(":")?;
        let condition = self.expr()?;
        let mut assign = Vec::new();
        if self.eat_sym("=>") {
            assign = self.comma_list(|p| {
                let column = p.ident()?;
                p.expect_sym("=")?;
                Ok((column, p.expr()?))
            })?;
        }
        Ok(ScanStep {
            name,
            output,
            condition,
            assign,
        })
    }
}
