//! The tabular operators with clauses of their own shape: `parse`, `render`, `fork`, `facet`,
//! `top-nested`, `search`, `find`, `scan`, `partition`, `datatable`, `externaldata`.

use super::cursor::{Checker, Step, is_chart};
use super::lex::Kind;
use super::operators::is_operator;

/// The properties `render ... with (...)` takes.
const RENDER_PROPERTIES: [&str; 18] = [
    "title",
    "xcolumn",
    "ycolumns",
    "series",
    "xtitle",
    "ytitle",
    "xaxis",
    "yaxis",
    "legend",
    "ysplit",
    "accumulate",
    "kind",
    "ymin",
    "ymax",
    "xmin",
    "xmax",
    "anomalycolumns",
    "xsplit",
];

impl Checker<'_> {
    /// `parse [kind=...] expr with pattern`: strings, `*` and `name[:type]` in any order.
    pub(super) fn parse_op(&mut self) -> Step {
        self.options()?;
        self.expr()?;
        self.expect_word("with")?;
        loop {
            match self.tok().kind {
                Kind::Str => {
                    while self.tok().kind == Kind::Str {
                        self.bump();
                    }
                }
                Kind::Punct("*") => {
                    self.bump();
                }
                // Pattern names are declared, so some keywords are names here (`* "x" where *`).
                _ if self.at_declared_name() => {
                    self.declared_name()?;
                    if self.eat(":") {
                        self.type_name()?;
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// `parse-kv expr as (name: type, ...) [with (option = value, ...)]`.
    pub(super) fn parse_kv(&mut self) -> Step {
        self.expr()?;
        self.expect_word("as")?;
        self.expect("(")?;
        self.schema_columns(true)?;
        self.expect(")")?;
        self.with_options()
    }

    /// `with (name = value, ...)` when present.
    fn with_options(&mut self) -> Step {
        if self.eat_word("with") {
            self.expect("(")?;
            if !self.is(")") {
                self.list(|p| {
                    p.any_word()?;
                    p.expect("=")?;
                    p.expr()
                })?;
            }
            self.expect(")")?;
        }
        Ok(())
    }

    /// `render chart [kind=...] [with (name = value, ...)]`.
    pub(super) fn render(&mut self) -> Step {
        let chart = self.word();
        if chart.is_empty() || is_operator(chart) || !(self.at_name() || is_chart(chart)) {
            return self.fail("a chart type");
        }
        self.bump();
        self.options()?;
        if self.eat_word("with") {
            self.expect("(")?;
            self.list(|p| {
                if RENDER_PROPERTIES.contains(&p.word()) && p.is_at(1, "=") {
                    p.bump();
                    p.bump();
                }
                p.expr()
            })?;
            self.expect(")")?;
        }
        Ok(())
    }

    /// `fork (ops) (ops) ...` or `fork name = (ops) ...`.
    pub(super) fn fork(&mut self) -> Step {
        let mut any = false;
        loop {
            if self.at_name() && self.is_at(1, "=") {
                self.name()?;
                self.bump();
            } else if !self.is("(") {
                break;
            }
            if is_operator(self.word_at(1)) {
                self.subquery()?;
            } else {
                self.bump();
                self.pipe()?;
                self.expect(")")?;
            }
            any = true;
        }
        if !any {
            return self.fail("'('");
        }
        Ok(())
    }

    /// `facet by col, ... [with (ops) | with operator]`.
    pub(super) fn facet(&mut self) -> Step {
        self.expect_word("by")?;
        self.list(Self::name)?;
        if self.eat_word("with") {
            if self.is("(") {
                return self.subquery();
            }
            return self.operator();
        }
        Ok(())
    }

    /// `top-nested [N] of expr [with others = v] by agg [asc|desc], ...`.
    pub(super) fn top_nested(&mut self) -> Step {
        self.list(|p| {
            if !p.is_word("of") {
                p.expr()?;
            }
            p.expect_word("of")?;
            p.named_expr()?;
            if p.eat_word("with") {
                p.expect_word("others")?;
                p.expect("=")?;
                p.expr()?;
            }
            p.expect_word("by")?;
            p.named_expr()?;
            let _ = p.eat_word("asc") || p.eat_word("desc");
            Ok(())
        })
    }

    /// `(T, U*, ...)` after `in` in `search` and `find`.
    fn table_list(&mut self) -> Step {
        self.expect("(")?;
        self.list(|p| {
            if p.is("*") || p.at_name() {
                return p.name_pattern_or_call();
            }
            p.fail("a table")
        })?;
        self.expect(")")
    }

    /// `search [kind=...] [in (tables)] predicate`.
    pub(super) fn search(&mut self) -> Step {
        self.options()?;
        if self.eat_word("in") {
            self.table_list()?;
        }
        self.expr()
    }

    /// `find [withsource=...] [in (tables)] where predicate [project-smart | project cols]`.
    pub(super) fn find(&mut self) -> Step {
        self.options()?;
        if self.eat_word("in") {
            self.table_list()?;
        }
        self.expect_word("where")?;
        self.expr()?;
        if self.eat_word("project-smart") {
            return Ok(());
        }
        if self.eat_word("project") || self.eat_word("project-away") {
            self.list(|p| {
                if p.eat("*") {
                    return Ok(());
                }
                p.name()?;
                if p.eat(":") {
                    p.type_name()?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// `scan [with_match_id=...] [declare (name: type [= v], ...)] with (step ...; ...)`.
    pub(super) fn scan(&mut self) -> Step {
        self.options()?;
        if self.eat_word("order") {
            self.expect_word("by")?;
            self.list(Self::expr)?;
        }
        if self.eat_word("partition") {
            self.expect_word("by")?;
            self.list(Self::expr)?;
        }
        if self.eat_word("declare") {
            self.expect("(")?;
            self.list(|p| {
                p.name()?;
                p.expect(":")?;
                p.type_name()?;
                if p.eat("=") {
                    p.expr()?;
                }
                Ok(())
            })?;
            self.expect(")")?;
        }
        self.expect_word("with")?;
        self.expect("(")?;
        loop {
            self.expect_word("step")?;
            self.name()?;
            self.eat_word("optional");
            if self.eat_word("output") {
                self.expect("=")?;
                // Kusto takes exactly these three, in lower case.
                if !matches!(self.word(), "all" | "last" | "none") {
                    return self.fail("one of 'all', 'last', 'none'");
                }
                self.bump();
            }
            self.expect(":")?;
            self.expr()?;
            if self.eat("=>") {
                self.list(|p| {
                    p.name()?;
                    p.expect("=")?;
                    p.expr()
                })?;
            }
            self.expect(";")?;
            if self.eat(")") {
                return Ok(());
            }
        }
    }

    /// `partition [hints] by col (ops)` or `{ ... }`.
    pub(super) fn partition(&mut self) -> Step {
        self.options()?;
        self.expect_word("by")?;
        self.name()?;
        if self.eat("{") {
            self.pipe()?;
            return self.expect("}");
        }
        self.subquery()
    }

    /// `datatable (name: type, ...) [values, ...]`.
    pub(super) fn datatable(&mut self) -> Step {
        self.expect("(")?;
        self.schema_columns(true)?;
        self.expect(")")?;
        self.expect("[")?;
        // Kusto takes a leading and a trailing comma, but no empty value between two.
        self.eat(",");
        self.list_until("]", Self::literal)
    }

    /// A literal value: a string, a number or timespan, a typed literal, `dynamic(...)`,
    /// `true` or `false`, with an optional sign on numbers.
    fn literal(&mut self) -> Step {
        if self.is("-") || self.is("+") {
            self.bump();
        }
        if self.eat_constant() {
            return Ok(());
        }
        match self.tok().kind {
            Kind::Word if matches!(self.word(), "true" | "false") => {
                self.bump();
                Ok(())
            }
            Kind::Word if self.word() == "dynamic" && self.is_at(1, "(") => self.expr(),
            _ => self.fail("a literal value"),
        }
    }

    /// `externaldata (name: type, ...) [urls] [with (property = value, ...)]`.
    pub(super) fn externaldata(&mut self) -> Step {
        self.expect("(")?;
        self.schema_columns(true)?;
        self.expect(")")?;
        self.expect("[")?;
        // A trailing comma after the last URL is allowed, as in Kusto.
        self.list_until("]", Self::expr)?;
        if self.eat_word("with") {
            self.expect("(")?;
            if !self.is(")") {
                self.list(Self::external_property)?;
            }
            self.expect(")")?;
        }
        Ok(())
    }

    /// `name = value` in `externaldata`'s `with (...)`: Kusto reads the value as one literal
    /// token or a name, never an expression (`format = csv`, `ignoreFirstRecord = true`).
    fn external_property(&mut self) -> Step {
        self.declared_name()?;
        self.expect("=")?;
        let t = self.tok();
        let literal = match t.kind {
            Kind::Str => {
                while self.tok().kind == Kind::Str {
                    self.bump();
                }
                return Ok(());
            }
            Kind::Num => is_plain_number(self.text(t)),
            Kind::Typed => {
                let keyword = self.text(t).split('(').next().unwrap_or("").trim_end();
                EXTERNAL_TYPED.contains(&keyword)
            }
            Kind::Word => matches!(self.word(), "true" | "false"),
            _ => false,
        };
        if literal {
            self.bump();
            return Ok(());
        }
        self.declared_name()
    }
}

/// The typed literals Kusto's lexer makes a long, real, bool, datetime or guid token of, the
/// only typed literals `externaldata`'s properties take (not `int(1)`, `timespan(1d)`).
const EXTERNAL_TYPED: [&str; 7] = ["long", "real", "double", "bool", "datetime", "date", "guid"];

/// Whether a number token is a plain number (`10`, `1.5`, `2e3`, `0x1F`) rather than a
/// timespan (`1d`) or digits run into other letters.
fn is_plain_number(text: &str) -> bool {
    if text.starts_with("0x") || text.starts_with("0X") {
        return true;
    }
    let rest = text.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let exponent = rest
        .strip_prefix(['e', 'E'])
        .map(|e| e.trim_start_matches(['+', '-']));
    match exponent {
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        None => rest.is_empty(),
    }
}
