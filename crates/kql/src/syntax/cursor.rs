//! The checker's cursor over the tokens: looking ahead, expecting, and its depth limit.

use super::keywords::{is_declarable, is_readable, is_reserved};
use super::lex::{Kind, Token, lex};
use super::{Construct, Event, Pipe, SyntaxError};

/// How deep the checker recurses before it calls the query too deeply nested.
const MAX_DEPTH: usize = 200;

/// Stops the statement being checked; the error is already recorded.
#[derive(Debug)]
pub(super) struct Stop;

/// Result alias for the checker's steps.
pub(super) type Step<T = ()> = Result<T, Stop>;

pub(super) struct Checker<'a> {
    pub(super) src: &'a str,
    pub(super) toks: Vec<Token>,
    pub(super) i: usize,
    depth: usize,
    pub(super) errors: Vec<SyntaxError>,
    pub(super) constructs: Vec<Construct>,
    pub(super) tables: Vec<Construct>,
    pub(super) bound: Vec<String>,
    pub(super) pipes: Vec<Pipe>,
    /// The pipes being read, innermost last (indexes into `pipes`).
    open: Vec<usize>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(src: &'a str) -> Checker<'a> {
        Checker {
            src,
            toks: lex(src),
            i: 0,
            depth: 0,
            errors: Vec::new(),
            constructs: Vec::new(),
            tables: Vec::new(),
            bound: Vec::new(),
            pipes: Vec::new(),
            open: Vec::new(),
        }
    }

    /// Runs `f` as a new tabular expression, its names recorded apart from the outer one's.
    pub(super) fn in_pipe<T>(&mut self, f: impl FnOnce(&mut Self) -> Step<T>) -> Step<T> {
        self.pipes.push(Pipe::default());
        self.open.push(self.pipes.len() - 1);
        let r = f(self);
        self.open.pop();
        r
    }

    /// Records `event` in the innermost open pipe.
    pub(super) fn record(&mut self, event: Event) {
        if let Some(&at) = self.open.last() {
            self.pipes[at].events.push(event);
        }
    }

    /// The current token as a construct (its text and span).
    pub(super) fn here(&self) -> Construct {
        let t = self.tok();
        let text = if self.is("[") && self.at(1).kind == Kind::Str {
            let s = self.text(self.at(1));
            s.get(1..s.len().saturating_sub(1)).unwrap_or("")
        } else {
            self.text(t)
        };
        Construct {
            name: text.to_string(),
            span: t.start..t.end,
        }
    }

    /// When a bare name (no call, no member access) stands here before one of `ends`, records
    /// it as a table reference, and as the innermost pipe's source when `source`.
    pub(super) fn note_table(&mut self, source: bool) {
        let n = if self.is("[") { 3 } else { 1 };
        let next = self.at(n);
        let bare = matches!(
            next.kind,
            Kind::Eof | Kind::Punct("|" | ";" | ")" | "," | "}")
        ) || matches!(self.word_at(n), "on" | "where");
        if !self.at_name() || !bare || self.word().starts_with('$') {
            return;
        }
        let found = self.here();
        if source
            && let Some(&at) = self.open.last()
            && self.pipes[at].source.is_none()
            && self.pipes[at].events.is_empty()
        {
            self.pipes[at].source = Some(found.clone());
        }
        self.tables.push(found);
    }

    pub(super) fn tok(&self) -> Token {
        self.at(0)
    }

    pub(super) fn at(&self, n: usize) -> Token {
        self.toks[(self.i + n).min(self.toks.len() - 1)]
    }

    pub(super) fn text(&self, t: Token) -> &'a str {
        self.src.get(t.start..t.end).unwrap_or("")
    }

    /// The current token's text.
    pub(super) fn word(&self) -> &'a str {
        let t = self.tok();
        if t.kind == Kind::Word {
            self.text(t)
        } else {
            ""
        }
    }

    pub(super) fn word_at(&self, n: usize) -> &'a str {
        let t = self.at(n);
        if t.kind == Kind::Word {
            self.text(t)
        } else {
            ""
        }
    }

    pub(super) fn bump(&mut self) -> Token {
        let t = self.tok();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    pub(super) fn is(&self, p: &str) -> bool {
        self.is_at(0, p)
    }

    pub(super) fn is_at(&self, n: usize, p: &str) -> bool {
        matches!(self.at(n).kind, Kind::Punct(x) if x == p)
    }

    pub(super) fn is_word(&self, w: &str) -> bool {
        self.word() == w
    }

    pub(super) fn is_eof(&self) -> bool {
        self.tok().kind == Kind::Eof
    }

    pub(super) fn eat(&mut self, p: &str) -> bool {
        let found = self.is(p);
        if found {
            self.bump();
        }
        found
    }

    pub(super) fn eat_word(&mut self, w: &str) -> bool {
        let found = self.is_word(w);
        if found {
            self.bump();
        }
        found
    }

    pub(super) fn expect(&mut self, p: &str) -> Step {
        if self.eat(p) {
            Ok(())
        } else {
            self.fail(&format!("'{p}'"))
        }
    }

    pub(super) fn expect_word(&mut self, w: &str) -> Step {
        if self.eat_word(w) {
            Ok(())
        } else {
            self.fail(&format!("'{w}'"))
        }
    }

    /// Records that `what` was expected at the current token and stops the statement.
    pub(super) fn fail<T>(&mut self, what: &str) -> Step<T> {
        let t = self.tok();
        let message = match t.kind {
            Kind::Unterminated => "string literal without its closing quote".to_string(),
            Kind::Stray => format!("unexpected character '{}'", self.text(t)),
            _ => format!("expected {what}, found {}", self.describe(t)),
        };
        self.errors.push(SyntaxError {
            message,
            span: t.start..t.end,
        });
        Err(Stop)
    }

    fn describe(&self, t: Token) -> String {
        if t.kind == Kind::Eof {
            return "end of query".to_string();
        }
        let text: String = self.text(t).chars().take(40).collect();
        format!("'{text}'")
    }

    /// Notes a construct's keyword, the current token, and steps over it.
    pub(super) fn construct(&mut self) {
        let t = self.bump();
        self.constructs.push(Construct {
            name: self.text(t).to_string(),
            span: t.start..t.end,
        });
    }

    /// Runs `f` one level deeper, failing instead of overflowing the stack.
    pub(super) fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Step<T>) -> Step<T> {
        if self.depth >= MAX_DEPTH {
            let t = self.tok();
            self.errors.push(SyntaxError {
                message: "the query is nested too deeply".to_string(),
                span: t.start..t.end,
            });
            return Err(Stop);
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Whether the current token is a name: a word that is not reserved, or `['name']`.
    pub(super) fn at_name(&self) -> bool {
        let w = self.word();
        // `true` and `false` are literals in Kusto, never names; `matches regex` is one keyword.
        let keyword = w.is_empty()
            || is_reserved(w)
            || w.starts_with('!')
            || matches!(w, "true" | "false")
            || (w == "matches" && self.word_at(1) == "regex");
        !keyword || (self.is("[") && self.at(1).kind == Kind::Str && self.is_at(2, "]"))
    }

    /// A name: a word that is not reserved, or `['name']`.
    pub(super) fn name(&mut self) -> Step {
        if self.is("[") && self.at(1).kind == Kind::Str && self.is_at(2, "]") {
            self.i += 3;
            return Ok(());
        }
        if self.at_name() {
            self.bump();
            return Ok(());
        }
        self.fail("a name")
    }

    /// Whether a name stands here where one is declared or assigned: a name, or a keyword Kusto
    /// takes there (`extend where = 1`, `datatable(by: long)`).
    pub(super) fn at_declared_name(&self) -> bool {
        self.at_name() || is_declarable(self.word())
    }

    /// A name where one is declared or assigned (see `at_declared_name`).
    pub(super) fn declared_name(&mut self) -> Step {
        if is_declarable(self.word()) {
            self.bump();
            return Ok(());
        }
        self.name()
    }

    /// Whether a name stands here where one is read: a name, or `kind` and its kin, which are
    /// option names too (`where kind == 1`).
    pub(super) fn at_read_name(&self) -> bool {
        self.at_name() || is_readable(self.word())
    }

    /// A name or a keyword used as one (option values such as `kind=inner`).
    pub(super) fn any_word(&mut self) -> Step {
        if self.tok().kind == Kind::Word || self.at_name() {
            return self.name().or_else(|_| {
                self.errors.pop();
                self.bump();
                Ok(())
            });
        }
        self.fail("a name")
    }

    /// One or more items read by `item`, separated by commas.
    pub(super) fn list(&mut self, mut item: impl FnMut(&mut Self) -> Step) -> Step {
        item(self)?;
        while self.eat(",") {
            item(self)?;
        }
        Ok(())
    }

    /// Items read by `item` up to and including `close`, separated by commas: none, and a comma
    /// after the last, are allowed, as Kusto allows them in these lists.
    pub(super) fn list_until(
        &mut self,
        close: &str,
        mut item: impl FnMut(&mut Self) -> Step,
    ) -> Step {
        while !self.eat(close) {
            item(self)?;
            if !self.eat(",") {
                return self.expect(close);
            }
        }
        Ok(())
    }
}

/// Chart types of `render`, reserved words too.
const CHARTS: [&str; 15] = [
    "barchart",
    "piechart",
    "ladderchart",
    "timechart",
    "linechart",
    "anomalychart",
    "pivotchart",
    "areachart",
    "stackedareachart",
    "scatterchart",
    "timepivot",
    "columnchart",
    "timeline",
    "card",
    "treemap",
];

/// Whether `w` is one of `render`'s reserved chart types.
pub(super) fn is_chart(w: &str) -> bool {
    CHARTS.contains(&w)
}
