//! `externaldata (columns) [urls] [with (options)]`: the schema, the URLs a caller must fetch
//! and how their bodies are read.

use super::cursor::Parser;
use crate::ast::{DataFormat, External, Source};
use crate::error::KqlError;
use crate::external::parse_mapping;
use crate::lexer::Tok;

impl Parser<'_> {
    /// Whether a `datatable` or `externaldata` source starts here, behind any `(`s: such a
    /// source is tabular though no pipe follows it (`let iocs = externaldata ...`, `x in
    /// ((externaldata ...))`).
    pub(super) fn at_keyword_source(&self) -> bool {
        let opening = self.tokens[self.i..]
            .iter()
            .take_while(|t| t.tok == Tok::Sym("("))
            .count();
        matches!(self.peek_at(opening), Tok::Ident(w) if w == "datatable" || w == "externaldata")
            && matches!(self.peek_at(opening + 1), Tok::Sym("("))
    }

    /// `externaldata`'s schema, URLs and options; the keyword is the current token.
    pub(super) fn externaldata(&mut self) -> Result<Source, KqlError> {
        let pos = self.pos();
        self.bump();
        self.expect_sym("(")?;
        let columns = self.comma_list(Self::typed_name)?;
        self.expect_sym(")")?;
        self.expect_sym("[")?;
        let urls = self.list_until(",", "]", Self::storage_url)?;
        if urls.is_empty() {
            return Err(KqlError::new(
                "'externaldata' needs at least one storage connection string".to_string(),
                self.src,
                pos,
            ));
        }
        for url in &urls {
            if !self.external_urls.contains(url) {
                self.external_urls.push(url.clone());
            }
        }
        let mut external = External {
            columns,
            urls,
            format: None,
            ignore_first_record: false,
            mapping: None,
            pos,
        };
        if self.eat_word("with") {
            self.external_options(&mut external)?;
        }
        Ok(Source::External(Box::new(external)))
    }

    /// One storage connection string: string literals side by side, joined as Kusto joins them
    /// (a URL and its SAS token are often written as two, the token obfuscated).
    fn storage_url(&mut self) -> Result<String, KqlError> {
        let Tok::Str(first) = self.peek().clone() else {
            // The token is not described: it may be part of a URL whose query holds a secret.
            return Err(KqlError::new(
                "'externaldata' reads URLs written as string literals".to_string(),
                self.src,
                self.pos(),
            ));
        };
        self.bump();
        let mut url = first;
        while let Tok::Str(more) = self.peek() {
            url.push_str(more);
            self.bump();
        }
        Ok(url)
    }

    /// `with (format = "csv", ignoreFirstRecord = true, ingestionMapping = '[...]')`, after
    /// `with`, set on `external`; property names are read without case, as hunters write them
    /// either way.
    fn external_options(&mut self, external: &mut External) -> Result<(), KqlError> {
        self.expect_sym("(")?;
        self.list_until(",", ")", |p| p.external_option(external))?;
        Ok(())
    }

    /// One `name = value` of `externaldata`'s options, set on `external`.
    fn external_option(&mut self, external: &mut External) -> Result<(), KqlError> {
        let name_pos = self.pos();
        let name = self.ident()?;
        self.expect_sym("=")?;
        let value_pos = self.pos();
        let value = match self.bump().tok {
            Tok::Str(text) | Tok::Ident(text) => text,
            Tok::Long(n) => n.to_string(),
            _ => {
                return Err(
                    self.option_error("a property's value is a string, name or number", value_pos)
                );
            }
        };
        let set = match name.to_ascii_lowercase().as_str() {
            "format" => DataFormat::from_name(&value)
                .map(|format| external.format = Some(format))
                .ok_or_else(|| {
                    format!(
                        "format '{value}' is not one huntd emulate reads (csv, tsv, scsv, \
                         psv, sohsv, txt, raw, json, multijson)"
                    )
                }),
            "ignorefirstrecord" => match value.to_ascii_lowercase().as_str() {
                "true" | "false" => {
                    external.ignore_first_record = value.eq_ignore_ascii_case("true");
                    Ok(())
                }
                _ => Err("ignoreFirstRecord is true or false".to_string()),
            },
            "ingestionmapping" => parse_mapping(&value, &external.columns)
                .map(|mapping| external.mapping = Some(mapping)),
            _ => {
                let what = format!("property '{name}' is not supported by huntd emulate");
                return Err(self.option_error(&what, name_pos));
            }
        };
        set.map_err(|what| self.option_error(&what, value_pos))
    }

    fn option_error(&self, what: &str, pos: usize) -> KqlError {
        KqlError::new(format!("'externaldata': {what}"), self.src, pos)
    }
}
