//! The parser's cursor over the tokens, its depth limit, and the string operators it refuses.

use crate::error::KqlError;
use crate::lexer::{Tok, Token};
use crate::value::KqlType;

/// String operator words refused by name: Kusto's parser takes the `like` family, which its
/// documentation does not describe (so nothing says what they match), and hunters write the
/// others, which are not Kusto operators at all (`has_any_cs`, `notcontains_cs`, `matches_cs`).
pub(super) const UNSUPPORTED_STRING_OPERATORS: [&str; 7] = [
    "like",
    "likecs",
    "notlike",
    "notlikecs",
    "has_any_cs",
    "notcontains_cs",
    "matches_cs",
];

pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) tokens: Vec<Token>,
    pub(super) i: usize,
    /// Depth of the tree being built, bounded so that neither parsing, evaluating nor
    /// dropping the tree can overflow the stack.
    pub(super) depth: usize,
    /// The URLs of the `externaldata` sources read so far, each once: what a caller fetches.
    pub(super) external_urls: Vec<String>,
}

/// Limit on [`Parser::depth`]: a nested expression counts [`NEST_WEIGHT`], a chained operator 1.
pub(super) const MAX_DEPTH: usize = 1000;
pub(super) const NEST_WEIGHT: usize = 10;

impl Parser<'_> {
    pub(super) fn deeper(&mut self, weight: usize) -> Result<(), KqlError> {
        self.depth += weight;
        if self.depth > MAX_DEPTH {
            return Err(KqlError::syntax(
                "the query is nested too deeply",
                self.src,
                self.pos(),
            ));
        }
        Ok(())
    }

    pub(super) fn peek(&self) -> &Tok {
        &self.tokens[self.i].tok
    }

    pub(super) fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.i + n).min(self.tokens.len() - 1)].tok
    }

    pub(super) fn pos(&self) -> usize {
        self.tokens[self.i].pos
    }

    pub(super) fn bump(&mut self) -> Token {
        let t = self.tokens[self.i].clone();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }

    pub(super) fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }

    /// A `Name: type` pair of a schema (`datatable`, `parse-kv`, `scan`'s `declare`).
    pub(super) fn typed_name(&mut self) -> Result<(String, KqlType), KqlError> {
        let name = self.ident()?;
        self.expect_sym(":")?;
        let pos = self.pos();
        let ty = self.ident()?;
        let ty = KqlType::from_kql_name(&ty)
            .ok_or_else(|| KqlError::syntax(&format!("unknown type '{ty}'"), self.src, pos))?;
        Ok((name, ty))
    }

    /// An operator's `word = NAME` option (`kind`, `withsource`...) when it comes next: the name
    /// and where it stands.
    pub(super) fn name_option(&mut self, word: &str) -> Result<Option<(String, usize)>, KqlError> {
        if !(self.is_word(word) && matches!(self.peek_at(1), Tok::Sym("="))) {
            return Ok(None);
        }
        self.bump();
        self.bump();
        let pos = self.pos();
        Ok(Some((self.ident()?, pos)))
    }

    pub(super) fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == w)
    }

    pub(super) fn eat_sym(&mut self, s: &str) -> bool {
        self.eat_if(self.is_sym(s))
    }

    pub(super) fn eat_word(&mut self, w: &str) -> bool {
        self.eat_if(self.is_word(w))
    }

    /// Steps over the current token when `matched`; says whether it did.
    fn eat_if(&mut self, matched: bool) -> bool {
        if matched {
            self.bump();
        }
        matched
    }

    /// One or more items, each read by `item`, separated by commas.
    pub(super) fn comma_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, KqlError>,
    ) -> Result<Vec<T>, KqlError> {
        let mut items = vec![item(self)?];
        while self.eat_sym(",") {
            items.push(item(self)?);
        }
        Ok(items)
    }

    /// Items read by `item` up to and including `close`, each but the last followed by `sep`:
    /// the list may be empty and may end with a `sep`, as Kusto allows in these lists.
    pub(super) fn list_until<T>(
        &mut self,
        sep: &str,
        close: &str,
        mut item: impl FnMut(&mut Self) -> Result<T, KqlError>,
    ) -> Result<Vec<T>, KqlError> {
        let mut items = Vec::new();
        while !self.eat_sym(close) {
            items.push(item(self)?);
            if !self.eat_sym(sep) {
                self.expect_sym(close)?;
                break;
            }
        }
        Ok(items)
    }

    pub(super) fn describe(&self) -> String {
        match self.peek() {
            Tok::Eof => "end of query".to_string(),
            Tok::Ident(w) => format!("'{w}'"),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Long(n) => format!("'{n}'"),
            Tok::Real(r) => format!("'{r}'"),
            Tok::TimeSpan(_) => "timespan literal".to_string(),
            Tok::Raw(r) => format!("'{r}'"),
        }
    }

    pub(super) fn err_here(&self, what: &str) -> KqlError {
        KqlError::syntax(
            &format!("expected {what}, found {}", self.describe()),
            self.src,
            self.pos(),
        )
    }

    pub(super) fn expect_sym(&mut self, s: &str) -> Result<(), KqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.err_here(&format!("'{s}'")))
        }
    }

    pub(super) fn expect_word(&mut self, w: &str) -> Result<(), KqlError> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.err_here(&format!("'{w}'")))
        }
    }

    pub(super) fn ident(&mut self) -> Result<String, KqlError> {
        if let Tok::Ident(w) = self.peek() {
            let w = w.clone();
            self.bump();
            return Ok(w);
        }
        if self.is_sym("[")
            && let (Tok::Str(s), Tok::Sym("]")) = (self.peek_at(1).clone(), self.peek_at(2))
        {
            self.bump();
            self.bump();
            self.bump();
            return Ok(s);
        }
        Err(self.err_here("a name"))
    }
}
