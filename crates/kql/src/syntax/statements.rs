//! Statements (`let`, `declare query_parameters`, `set`, queries) and tabular expressions: a
//! first element, then operators after pipes.

use super::cursor::{Checker, Step};
use super::lex::Kind;
use super::operators::starts_pipe;

/// The scalar type names.
const TYPE_NAMES: [&str; 17] = [
    "bool", "boolean", "int", "int32", "long", "int64", "real", "double", "decimal", "string",
    "datetime", "date", "timespan", "time", "dynamic", "guid", "uniqueid",
];

impl Checker<'_> {
    /// Every statement up to the end; after an error, checking resumes at the next `;`.
    pub(super) fn statements(&mut self) {
        if self.is_eof() {
            return;
        }
        loop {
            let start = self.i;
            if self.statement().is_err() {
                self.skip_statement();
            } else if !self.is_eof() && !self.is(";") {
                let _ = self.fail::<()>("'|' or ';'");
                self.skip_statement();
            }
            if self.is_eof() {
                return;
            }
            self.eat(";");
            if self.is_eof() || self.i == start {
                return;
            }
        }
    }

    /// Skips to the next `;` outside brackets (or the end).
    fn skip_statement(&mut self) {
        let mut depth = 0usize;
        while !self.is_eof() {
            match self.tok().kind {
                Kind::Punct("(" | "[" | "{") => depth += 1,
                Kind::Punct(")" | "]" | "}") => depth = depth.saturating_sub(1),
                Kind::Punct(";") if depth == 0 => return,
                _ => {}
            }
            self.bump();
        }
    }

    fn statement(&mut self) -> Step {
        match self.word() {
            "let" if self.at(1).kind == Kind::Word || self.is_at(1, "[") => self.let_statement(),
            "declare" if self.word_at(1) == "query_parameters" => {
                self.construct();
                self.bump();
                self.params()
            }
            "set" => {
                self.construct();
                self.option_name()?;
                if self.eat("=") {
                    self.option_value()?;
                }
                Ok(())
            }
            _ => self.pipe(),
        }
    }

    /// `set`'s option name: one name, no keyword (`set notruncation`), as Kusto reads it.
    fn option_name(&mut self) -> Step {
        self.name()
    }

    /// A literal or word as an option's value.
    pub(super) fn option_value(&mut self) -> Step {
        if self.is("-") {
            self.bump();
        }
        match self.tok().kind {
            Kind::Str | Kind::Num | Kind::Typed => {
                self.bump();
                Ok(())
            }
            // A name, or one of the keywords options take (`output=last`, `kind=simple`); not
            // other keywords.
            Kind::Word
                if self.at_name()
                    || matches!(
                        self.word(),
                        "true" | "false" | "last" | "first" | "simple" | "relaxed"
                    ) =>
            {
                self.bump();
                Ok(())
            }
            _ => self.fail("a value"),
        }
    }

    fn let_statement(&mut self) -> Step {
        self.construct();
        let bound = self.here().name;
        self.bound.push(bound);
        self.name()?;
        self.expect("=")?;
        if self.is_word("view") && self.is_at(1, "(") {
            self.bump();
            return self.function_body();
        }
        if self.is("(") && self.function_follows() {
            return self.function_body();
        }
        // `materialize(...)` is a form of `let` alone in Kusto, never an expression elsewhere.
        if self.is_word("materialize") && self.is_at(1, "(") {
            self.construct();
            self.bump();
            self.pipe()?;
            return self.expect(")");
        }
        self.pipe()
    }

    /// Whether `(` starts a function's parameter list: `()` then `{`, or `(name:`.
    fn function_follows(&self) -> bool {
        (self.is_at(1, ")") && self.is_at(2, "{"))
            || ((self.at(1).kind == Kind::Word || self.is_at(1, "[")) && {
                let n = if self.is_at(1, "[") { 4 } else { 2 };
                self.is_at(n, ":")
            })
    }

    /// `(params) { statements }`.
    fn function_body(&mut self) -> Step {
        self.params()?;
        self.expect("{")?;
        self.nested(|p| {
            loop {
                if p.is_word("let") && (p.at(1).kind == Kind::Word || p.is_at(1, "[")) {
                    p.let_statement()?;
                    p.expect(";")?;
                    continue;
                }
                p.pipe()?;
                p.eat(";");
                return Ok(());
            }
        })?;
        self.expect("}")
    }

    /// `(name: type [= default], ...)`, possibly empty.
    fn params(&mut self) -> Step {
        self.expect("(")?;
        if self.eat(")") {
            return Ok(());
        }
        self.list(|p| {
            let bound = p.here().name;
            p.bound.push(bound);
            p.declared_name()?;
            p.expect(":")?;
            p.param_type()?;
            if p.eat("=") {
                p.expr()?;
            }
            Ok(())
        })?;
        self.expect(")")
    }

    /// A scalar type name or a tabular schema `(*)`, `(a: long, ...)`.
    pub(super) fn param_type(&mut self) -> Step {
        if self.eat("(") {
            if self.eat("*") {
                return self.expect(")");
            }
            self.schema_columns(false)?;
            return self.expect(")");
        }
        self.type_name()
    }

    /// `name: type, ...` inside a schema, a trailing comma allowed; a row schema (of
    /// `datatable`, `externaldata`, `parse-kv`) takes a leading one too, as Kusto's parser does.
    pub(super) fn schema_columns(&mut self, row: bool) -> Step {
        if row {
            self.eat(",");
        }
        if self.is(")") {
            return Ok(());
        }
        self.list(|p| {
            if p.is(")") {
                return Ok(());
            }
            p.declared_name()?;
            p.expect(":")?;
            p.type_name()
        })
    }

    /// A scalar type name (`long`, `string`, `dynamic`, ...).
    pub(super) fn type_name(&mut self) -> Step {
        if TYPE_NAMES.contains(&self.word()) {
            self.bump();
            return Ok(());
        }
        self.fail("a type name")
    }

    /// A tabular expression: a first element, then `| operator`s.
    pub(super) fn pipe(&mut self) -> Step {
        self.nested(|p| {
            p.in_pipe(|q| {
                q.pipe_element()?;
                while q.eat("|") {
                    q.operator()?;
                }
                Ok(())
            })
        })
    }

    /// The first element of a pipe: an operator that starts one (`print`, `union`, `range`,
    /// `where`, ...) or an expression (a table, a call, a literal).
    pub(super) fn pipe_element(&mut self) -> Step {
        // `range` alone is a name; `range x from ...` the operator.
        let operator = match self.word() {
            "range" => self.at(1).kind == Kind::Word,
            // `count` starts a pipe only as `count as Name`; alone it is a name.
            "count" => self.word_at(1) == "as",
            w => starts_pipe(w),
        };
        if operator {
            return self.operator();
        }
        self.note_table(true);
        self.expr()
    }
}
