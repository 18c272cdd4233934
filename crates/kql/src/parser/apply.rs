//! Parsing the operators that run per row or per pair of a row: `mv-apply` and `parse-kv`.

use super::cursor::Parser;
use crate::ast::{KvMode, MvApply, OpKind, ParseKv};
use crate::error::KqlError;
use crate::lexer::Tok;

impl Parser<'_> {
    /// `mv-apply`, after its name: `[with_itemindex = Name] [Name =] Expr [to typeof(T)], ...
    /// [limit N] on (operators)`.
    pub(super) fn mv_apply(&mut self) -> Result<OpKind, KqlError> {
        let index = self.name_option("with_itemindex")?.map(|(name, _)| name);
        let (items, limit) = self.expand_items()?;
        self.expect_word("on")?;
        let ops = self.sub_pipeline()?;
        Ok(OpKind::MvApply(Box::new(MvApply {
            index,
            items,
            limit,
            ops,
        })))
    }

    /// `parse-kv`, after its name: `Expr as (k:type, ...) with (option = value, ...)`.
    pub(super) fn parse_kv(&mut self) -> Result<OpKind, KqlError> {
        let source = self.expr()?;
        self.expect_word("as")?;
        self.expect_sym("(")?;
        let keys = self.comma_list(|p| {
            let (name, ty) = p.typed_name()?;
            Ok((name, ty))
        })?;
        self.expect_sym(")")?;
        let pos = self.pos();
        if !self.eat_word("with") {
            let mode = self.kv_mode(Vec::new(), pos)?;
            return Ok(OpKind::ParseKv(Box::new(ParseKv { source, keys, mode })));
        }
        self.expect_sym("(")?;
        if self.eat_sym(")") {
            let mode = self.kv_mode(Vec::new(), pos)?;
            return Ok(OpKind::ParseKv(Box::new(ParseKv { source, keys, mode })));
        }
        let options = self.comma_list(|p| {
            let pos = p.pos();
            let name = p.ident()?;
            p.expect_sym("=")?;
            let value = match p.bump().tok {
                Tok::Str(text) => text,
                Tok::Ident(word) => word,
                _ => return Err(p.err_here("a string")),
            };
            Ok((name, value, pos))
        })?;
        self.expect_sym(")")?;
        let mode = self.kv_mode(options, pos)?;
        Ok(OpKind::ParseKv(Box::new(ParseKv { source, keys, mode })))
    }

    /// The mode `parse-kv`'s options choose: both delimiters (maybe `greedy`), a regex, or
    /// none (values found after their keys).
    fn kv_mode(
        &self,
        options: Vec<(String, String, usize)>,
        at: usize,
    ) -> Result<KvMode, KqlError> {
        let (mut pair, mut kv, mut regex, mut greedy) = (None, None, None, false);
        let (mut quotes, mut escapes) = (Vec::new(), Vec::new());
        for (name, value, pos) in options {
            let bad =
                |what: &str| KqlError::new(format!("parse-kv: '{name}' {what}"), self.src, pos);
            let mut chars = value.chars();
            match name.as_str() {
                "pair_delimiter" if !value.is_empty() => pair = Some(value),
                "kv_delimiter" if !value.is_empty() => kv = Some(value),
                "quote" => match (chars.next(), chars.next(), chars.next()) {
                    (Some(open), close, None) => quotes.push((open, close.unwrap_or(open))),
                    _ => return Err(bad("takes one or two characters")),
                },
                "escape" => match (chars.next(), chars.next()) {
                    (Some(c), None) => escapes.push(c),
                    _ => return Err(bad("takes one character")),
                },
                "regex" => {
                    let re = regex::Regex::new(&value)
                        .map_err(|e| bad(&format!("is not a valid regular expression: {e}")))?;
                    if re.captures_len() != 3 {
                        return Err(bad("must have exactly two capturing groups, key and value"));
                    }
                    regex = Some(re);
                }
                "greedy" => match value.as_str() {
                    "true" => greedy = true,
                    "false" => greedy = false,
                    _ => return Err(bad("takes true or false")),
                },
                "pair_delimiter" | "kv_delimiter" => return Err(bad("must not be empty")),
                _ => return Err(bad("is not a parse-kv option")),
            }
        }
        match (pair, kv, regex) {
            (_, _, Some(re)) => Ok(KvMode::Regex(re)),
            (Some(pair), Some(kv), None) => Ok(KvMode::Delimited {
                pair,
                kv,
                quotes,
                escapes,
                greedy,
            }),
            (None, None, None) if !greedy => Ok(KvMode::Free { quotes, escapes }),
            _ => Err(KqlError::new(
                "parse-kv: write both pair_delimiter and kv_delimiter (greedy needs them), a \
                 regex, or neither"
                    .to_string(),
                self.src,
                at,
            )),
        }
    }
}
