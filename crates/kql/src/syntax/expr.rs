//! Scalar expressions, by precedence: `or`, `and`, one comparison, `+ -`, `* / %`, a sign,
//! then member access, indexing and calls on a primary.

use super::cursor::{Checker, Step};
use super::lex::Kind;
use super::{Construct, Event, Literal};

/// Comparison and string operators that take one operand on the right.
pub(super) const BINARY_WORDS: [&str; 44] = [
    "has",
    "!has",
    "has_cs",
    "!has_cs",
    "hasprefix",
    "!hasprefix",
    "hasprefix_cs",
    "!hasprefix_cs",
    "hassuffix",
    "!hassuffix",
    "hassuffix_cs",
    "!hassuffix_cs",
    "contains",
    "!contains",
    "contains_cs",
    "!contains_cs",
    "startswith",
    "!startswith",
    "startswith_cs",
    "!startswith_cs",
    "endswith",
    "!endswith",
    "endswith_cs",
    "!endswith_cs",
    "like",
    "!like",
    "likecs",
    "!likecs",
    "notlike",
    "notlikecs",
    "notcontains",
    "notcontainscs",
    "notstartswith",
    "notstartswithcs",
    "notendswith",
    "notendswithcs",
    "matches",
    "hasprefixcs",
    "hassuffixcs",
    "containscs",
    "startswithcs",
    "endswithcs",
    "notbetween",
    "notin",
];

/// Operators that take a parenthesized list on the right.
pub(super) const LIST_WORDS: [&str; 7] =
    ["in", "!in", "in~", "!in~", "has_any", "has_all", "in_cs"];

const ORDER_OPS: [&str; 4] = ["<", "<=", ">", ">="];

impl Checker<'_> {
    /// A scalar expression.
    pub(super) fn expr(&mut self) -> Step {
        self.nested(|p| {
            p.and_expr()?;
            while p.eat_word("or") {
                p.and_expr()?;
            }
            Ok(())
        })
    }

    fn and_expr(&mut self) -> Step {
        self.comparison()?;
        while self.eat_word("and") {
            self.comparison()?;
        }
        Ok(())
    }

    /// Comparisons in three levels, loosest first, each taking at most one operator (they do
    /// not chain): equality and the list operators (`==`, `in`, `between`), the string
    /// operators and `=~`, then order (`<`, `>=`); so `a has b == c` is valid and
    /// `a has b has c` is not, as in Kusto.
    fn comparison(&mut self) -> Step {
        let lhs = self.i;
        self.string_comparison()?;
        let lhs = lhs..self.i;
        let w = self.word();
        if self.is("==") || self.is("!=") || self.is("<>") {
            self.bump();
            let rhs = self.i;
            self.string_comparison()?;
            self.note_comparison(lhs, rhs..self.i);
            return Ok(());
        }
        if LIST_WORDS.contains(&w) {
            self.bump();
            return self.in_list();
        }
        if w == "between" || w == "!between" {
            self.bump();
            self.expect("(")?;
            self.expr()?;
            self.expect("..")?;
            self.expr()?;
            return self.expect(")");
        }
        Ok(())
    }

    fn string_comparison(&mut self) -> Step {
        self.order_comparison()?;
        let w = self.word();
        if w == "matches" {
            self.bump();
            self.expect_word("regex")?;
            return self.order_comparison();
        }
        if BINARY_WORDS.contains(&w) || self.is("=~") || self.is("!~") {
            self.bump();
            return self.order_comparison();
        }
        Ok(())
    }

    fn order_comparison(&mut self) -> Step {
        let lhs = self.i;
        self.additive()?;
        let lhs = lhs..self.i;
        if ORDER_OPS.iter().any(|op| self.is(op)) {
            self.bump();
            let rhs = self.i;
            self.additive()?;
            self.note_comparison(lhs, rhs..self.i);
        }
        Ok(())
    }

    /// Records a comparison of a bare name with a literal (either way round), given the token
    /// ranges of its two sides.
    fn note_comparison(&mut self, a: std::ops::Range<usize>, b: std::ops::Range<usize>) {
        let name_and_literal = |name: &std::ops::Range<usize>, lit: &std::ops::Range<usize>| {
            let one_name = name.len() == 1 && self.toks[name.start].kind == Kind::Word;
            let literal = self.literal_of(lit)?;
            let token = self.toks[name.start];
            let text = self.text(token);
            (one_name && !matches!(text, "true" | "false" | "null")).then(|| {
                let used = Construct {
                    name: text.to_string(),
                    span: token.start..token.end,
                };
                (used, literal)
            })
        };
        if let Some((used, literal)) = name_and_literal(&a, &b).or_else(|| name_and_literal(&b, &a))
        {
            self.record(Event::Compares(used, literal));
        }
    }

    /// The kind of literal the tokens `range` are, when they are exactly one.
    fn literal_of(&self, range: &std::ops::Range<usize>) -> Option<Literal> {
        let first = self.toks.get(range.start)?;
        match first.kind {
            Kind::Str if self.toks[range.clone()].iter().all(|t| t.kind == Kind::Str) => {
                Some(Literal::String)
            }
            Kind::Num if range.len() == 1 => {
                let text = self.text(*first);
                text.chars()
                    .all(|c| c.is_ascii_digit() || c == '.')
                    .then_some(Literal::Number)
            }
            Kind::Word if range.len() == 1 && matches!(self.text(*first), "true" | "false") => {
                Some(Literal::Bool)
            }
            _ => None,
        }
    }

    /// `(a, b, ...)` or `(tabular expression)` after `in` and its kin.
    fn in_list(&mut self) -> Step {
        self.expect("(")?;
        self.pipe_or_expr_list()?;
        self.expect(")")
    }

    /// Inside parentheses: a tabular expression (one with a pipe) or expressions.
    pub(super) fn pipe_or_expr_list(&mut self) -> Step {
        self.in_pipe(|p| {
            p.pipe_element()?;
            if p.is("|") {
                while p.eat("|") {
                    p.operator()?;
                }
                return Ok(());
            }
            while p.eat(",") {
                p.expr()?;
            }
            Ok(())
        })
    }

    fn additive(&mut self) -> Step {
        self.multiplicative()?;
        while self.is("+") || self.is("-") {
            self.bump();
            self.multiplicative()?;
        }
        Ok(())
    }

    fn multiplicative(&mut self) -> Step {
        self.unary()?;
        while self.is("*") || self.is("/") || self.is("%") {
            self.bump();
            self.unary()?;
        }
        Ok(())
    }

    /// One sign at most: Kusto rejects `- -x`.
    fn unary(&mut self) -> Step {
        if self.is("-") || self.is("+") {
            self.bump();
        }
        self.postfix()
    }

    /// A primary with its member accesses, indexes and calls.
    pub(super) fn postfix(&mut self) -> Step {
        self.nested(|p| {
            p.primary()?;
            loop {
                if p.eat(".") {
                    p.member()?;
                } else if p.eat("[") {
                    p.expr()?;
                    p.expect("]")?;
                } else {
                    return Ok(());
                }
            }
        })
    }

    /// After a dot: a name, `['name']`, or a method call; `kind` and its kin read a member
    /// but are never called, and other keywords need brackets (`x.['where']`), as in Kusto.
    fn member(&mut self) -> Step {
        if self.is("[") || (self.at_name() && self.tok().kind == Kind::Word) {
            self.name()?;
            if self.is("(") {
                self.call_args()?;
            }
            return Ok(());
        }
        if self.at_read_name() && !self.is_at(1, "(") {
            self.bump();
            return Ok(());
        }
        self.fail("a name")
    }

    /// Takes a string (adjacent strings are one, as in Kusto), a number or a typed literal;
    /// false when none is here.
    pub(super) fn eat_constant(&mut self) -> bool {
        match self.tok().kind {
            Kind::Str => {
                while self.tok().kind == Kind::Str {
                    self.bump();
                }
                true
            }
            Kind::Num | Kind::Typed => {
                self.bump();
                true
            }
            _ => false,
        }
    }

    fn primary(&mut self) -> Step {
        if self.eat_constant() {
            return Ok(());
        }
        let t = self.tok();
        match t.kind {
            Kind::Punct("(") => {
                self.bump();
                self.pipe()?;
                self.expect(")")
            }
            Kind::Word => self.word_primary(),
            _ if self.at_name() => {
                if !self.is_at(3, "(") {
                    let used = self.here();
                    self.record(Event::Uses(used));
                }
                self.name()?;
                if self.is("(") {
                    self.call_args()?;
                }
                Ok(())
            }
            Kind::Punct("[") => {
                self.bump();
                self.expr()?;
                self.expect("]")
            }
            _ => self.fail("an expression"),
        }
    }

    /// A primary that starts with a word: a special form, a call, or a name.
    fn word_primary(&mut self) -> Step {
        match self.word() {
            "dynamic" if self.is_at(1, "(") => {
                self.bump();
                self.bump();
                self.json()?;
                return self.expect(")");
            }
            // Kusto takes these sources as operands too (`f(datatable(a: long)[1])`).
            "datatable" | "externaldata" if self.is_at(1, "(") => {
                let datatable = self.is_word("datatable");
                self.construct();
                return if datatable {
                    self.datatable()
                } else {
                    self.externaldata()
                };
            }
            "toscalar" if self.is_at(1, "(") => {
                self.construct();
                self.bump();
                self.pipe_args()?;
                return self.expect(")");
            }
            // A type literal: `typeof(long)`, or a name's type `typeof(x)`.
            "typeof" if self.is_at(1, "(") => {
                self.bump();
                self.bump();
                if self.type_name().is_err() {
                    self.errors.pop();
                    self.name()?;
                }
                return self.expect(")");
            }
            // Literals, never names nor called.
            "true" | "false" => {
                self.bump();
                return Ok(());
            }
            _ => {}
        }
        // `kind` and its kin are read as names but never called.
        if !self.at_read_name() || (!self.at_name() && self.is_at(1, "(")) {
            return self.fail("an expression");
        }
        if !self.is_at(1, "(") && !self.word().starts_with('$') {
            let used = self.here();
            self.record(Event::Uses(used));
        }
        self.bump();
        if self.is("(") {
            self.call_args()?;
        }
        Ok(())
    }

    /// `toscalar(...)`'s argument: a tabular expression, then optional `kind = ...` options.
    fn pipe_args(&mut self) -> Step {
        self.pipe()?;
        while self.eat(",") {
            self.expr()?;
        }
        Ok(())
    }

    /// `(args)` of a call: expressions, `name = expr`, or `*`.
    pub(super) fn call_args(&mut self) -> Step {
        self.expect("(")?;
        if self.eat(")") {
            return Ok(());
        }
        self.list(|p| {
            if p.is("*") {
                p.bump();
                return Ok(());
            }
            // A named argument's name is one where a name is assigned (`f(where = 1)`).
            let name_len = if p.is("[") { 3 } else { 1 };
            if p.at_declared_name() && p.is_at(name_len, "=") {
                p.declared_name()?;
                p.bump();
            }
            p.expr()
        })?;
        self.expect(")")
    }

    /// A `dynamic(...)` value: JSON-like, with KQL literals allowed as scalars.
    fn json(&mut self) -> Step {
        self.nested(|p| {
            if p.eat("[") {
                if !p.eat("]") {
                    p.list(Self::json)?;
                    p.expect("]")?;
                }
                return Ok(());
            }
            if p.eat("{") {
                if !p.eat("}") {
                    p.list(|q| {
                        if q.tok().kind != Kind::Str {
                            return q.fail("a property name in quotes");
                        }
                        q.bump();
                        q.expect(":")?;
                        q.json()
                    })?;
                    p.expect("}")?;
                }
                return Ok(());
            }
            if p.is("-") || p.is("+") {
                p.bump();
            }
            match p.tok().kind {
                Kind::Str | Kind::Num | Kind::Typed => {
                    p.bump();
                    Ok(())
                }
                Kind::Word if matches!(p.word(), "true" | "false" | "null") => {
                    p.bump();
                    Ok(())
                }
                _ => p.fail("a dynamic value"),
            }
        })
    }

    /// `name = expr`, `(a, b) = expr` or `expr`.
    pub(super) fn named_expr(&mut self) -> Step {
        // Some keywords are output names too (`extend where = 1`), as in Kusto.
        let name_len = if self.is("[") { 3 } else { 1 };
        if self.at_declared_name() && self.is_at(name_len, "=") {
            let defined = self.here().name;
            self.record(Event::Defines(defined));
            self.declared_name()?;
            self.bump();
        } else if self.is("(") && self.tuple_names_follow() {
            self.bump();
            self.list(Self::declared_name)?;
            self.expect(")")?;
            self.expect("=")?;
        }
        self.expr()
    }

    /// Whether `(a, b, ...) =` starts here.
    fn tuple_names_follow(&self) -> bool {
        let mut n = 1;
        loop {
            let t = self.at(n);
            if t.kind != Kind::Word && !self.is_at(n, "[") {
                return false;
            }
            n += if self.is_at(n, "[") { 3 } else { 1 };
            if self.is_at(n, ")") {
                return self.is_at(n + 1, "=");
            }
            if !self.is_at(n, ",") {
                return false;
            }
            n += 1;
        }
    }
}
