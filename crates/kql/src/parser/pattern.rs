//! The `parse` and `parse-where` operators: `parse [kind=simple|regex|relaxed] [flags=...] Expr
//! with [*] "literal" Column[:type] ...`, turned into one anchored regular expression with a
//! capture group per column, as Kusto describes its simple mode.

use super::cursor::Parser;
use crate::ast::{OpKind, ParsePattern};
use crate::error::KqlError;
use crate::lexer::Tok;
use crate::value::KqlType;

impl Parser<'_> {
    /// After `parse` (`keep_unmatched`) or `parse-where`.
    pub(super) fn parse_operator(&mut self, keep_unmatched: bool) -> Result<OpKind, KqlError> {
        let mut regex_mode = false;
        let mut flags = String::new();
        loop {
            if let Some((kind, pos)) = self.name_option("kind")? {
                match kind.as_str() {
                    "simple" | "relaxed" => regex_mode = false,
                    "regex" => regex_mode = true,
                    other => {
                        return Err(KqlError::syntax(
                            &format!("unknown parse kind '{other}'"),
                            self.src,
                            pos,
                        ));
                    }
                }
            } else if let Some((name, _)) = self.name_option("flags")? {
                flags = name;
            } else {
                break;
            }
        }
        let source = self.expr()?;
        self.expect_word("with")?;
        let pattern_pos = self.pos();
        let mut regex = String::from("^");
        let mut columns: Vec<(String, KqlType)> = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Sym("*") => {
                    self.bump();
                    regex.push_str("(?:.*?)");
                }
                Tok::Str(text) => {
                    self.bump();
                    if regex_mode {
                        regex.push_str("(?:");
                        regex.push_str(&text);
                        regex.push(')');
                    } else {
                        regex.push_str(&regex::escape(&text));
                    }
                }
                Tok::Ident(name) => {
                    self.bump();
                    let ty = if self.eat_sym(":") {
                        let pos = self.pos();
                        let written = self.ident()?;
                        KqlType::from_kql_name(&written).ok_or_else(|| {
                            KqlError::syntax(&format!("unknown type '{written}'"), self.src, pos)
                        })?
                    } else {
                        KqlType::String
                    };
                    // Numbers capture only their digits, so `Id:long *` stops where the number
                    // does rather than leaving it all to the wildcard.
                    regex.push_str(match ty {
                        KqlType::Long | KqlType::Int => r"(-?\d+)",
                        KqlType::Real => r"(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)",
                        _ => "(.*?)",
                    });
                    columns.push((name, ty));
                }
                _ => break,
            }
        }
        if columns.is_empty() {
            return Err(self.err_here("a column to extract"));
        }
        regex.push('$');
        let flags: String = flags
            .chars()
            .filter(|c| matches!(c, 'i' | 'm' | 's' | 'U'))
            .collect();
        let regex = if flags.is_empty() {
            regex
        } else {
            format!("(?{flags}){regex}")
        };
        let regex = regex::Regex::new(&regex).map_err(|e| {
            KqlError::syntax(
                &format!("invalid parse pattern: {e}"),
                self.src,
                pattern_pos,
            )
        })?;
        Ok(OpKind::Parse(Box::new(ParsePattern {
            source,
            regex,
            columns,
            keep_unmatched,
        })))
    }
}
