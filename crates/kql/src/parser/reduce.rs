//! Parsing `consume` and `reduce`, after their names.

use super::cursor::Parser;
use crate::ast::{OpKind, Reduce};
use crate::error::KqlError;
use crate::lexer::Tok;

/// `reduce`'s threshold when none is written, as Kusto documents it.
const DEFAULT_THRESHOLD: f64 = 0.1;

impl Parser<'_> {
    /// `consume [decodeblocks = Bool]`: the option changes nothing the emulator answers.
    pub(super) fn consume(&mut self) -> Result<OpKind, KqlError> {
        while let Tok::Ident(name) = self.peek().clone()
            && matches!(self.peek_at(1), Tok::Sym("="))
        {
            let pos = self.pos();
            if name != "decodeblocks" {
                return Err(KqlError::new(
                    format!("consume: unknown option '{name}' (consume takes decodeblocks)"),
                    self.src,
                    pos,
                ));
            }
            self.bump();
            self.bump();
            self.expr()?;
        }
        Ok(OpKind::Consume)
    }

    /// `reduce [kind=source] by Expr [with threshold = T [, characters = "..."]]`.
    pub(super) fn reduce(&mut self) -> Result<OpKind, KqlError> {
        let mut source = false;
        if let Some((kind, pos)) = self.name_option("kind")? {
            if kind != "source" {
                return Err(KqlError::new(
                    format!("reduce: unknown kind '{kind}' (the one kind is source)"),
                    self.src,
                    pos,
                ));
            }
            source = true;
        }
        self.expect_word("by")?;
        let expr = self.expr()?;
        let mut spec = Reduce {
            expr,
            threshold: DEFAULT_THRESHOLD,
            characters: None,
            source,
        };
        if self.eat_word("with") {
            self.comma_list(|p| p.reduce_option(&mut spec))?;
        }
        Ok(OpKind::Reduce(Box::new(spec)))
    }

    /// One `name = value` of `reduce`'s `with`: a threshold in [0, 1] or the characters.
    fn reduce_option(&mut self, spec: &mut Reduce) -> Result<(), KqlError> {
        let pos = self.pos();
        let name = self.ident()?;
        self.expect_sym("=")?;
        let at = self.pos();
        match (name.as_str(), self.bump().tok) {
            ("threshold", Tok::Real(t)) if (0.0..=1.0).contains(&t) => spec.threshold = t,
            ("threshold", Tok::Long(0)) => spec.threshold = 0.0,
            ("threshold", Tok::Long(1)) => spec.threshold = 1.0,
            ("threshold", _) => {
                return Err(KqlError::new(
                    "reduce: threshold must be a number between 0 and 1".to_string(),
                    self.src,
                    at,
                ));
            }
            ("characters", Tok::Str(chars)) => spec.characters = Some(chars),
            ("characters", _) => {
                return Err(KqlError::new(
                    "reduce: characters must be a string literal".to_string(),
                    self.src,
                    at,
                ));
            }
            _ => {
                return Err(KqlError::new(
                    format!("reduce: unknown option '{name}' (threshold or characters)"),
                    self.src,
                    pos,
                ));
            }
        }
        Ok(())
    }
}
