//! The tabular operators after a pipe, each with its own clauses.

use super::cursor::{Checker, Step};
use super::lex::Kind;
use super::{Event, TABULAR_KEYWORDS};

/// Every tabular operator keyword the checker knows.
pub(super) const OPERATORS: [&str; 49] = [
    "where",
    "filter",
    "project",
    "project-away",
    "project-keep",
    "project-rename",
    "project-reorder",
    "extend",
    "summarize",
    "take",
    "limit",
    "top",
    "top-nested",
    "top-hitters",
    "sort",
    "order",
    "distinct",
    "count",
    "union",
    "join",
    "lookup",
    "mv-expand",
    "mvexpand",
    "mv-apply",
    "mvapply",
    "make-series",
    "parse",
    "parse-where",
    "parse-kv",
    "evaluate",
    "render",
    "as",
    "invoke",
    "fork",
    "facet",
    "serialize",
    "sample",
    "sample-distinct",
    "getschema",
    "search",
    "find",
    "scan",
    "partition",
    "reduce",
    "consume",
    "range",
    "print",
    "datatable",
    "externaldata",
];

/// Operators that may also start a tabular expression (`print 1`, `union A, B`); the others
/// are names there, as in Kusto (`take` at the start is a table called `take`). The
/// [`TABULAR_KEYWORDS`] start one too.
const STARTING: [&str; 19] = [
    "where",
    "top-nested",
    "top-hitters",
    "evaluate",
    "render",
    "as",
    "invoke",
    "facet",
    "serialize",
    "sample",
    "sample-distinct",
    "getschema",
    "search",
    "find",
    "partition",
    "reduce",
    "consume",
    "range",
    "print",
];

/// The `hint.` names Kusto knows.
const HINTS: [&str; 11] = [
    "strategy",
    "remote",
    "shufflekey",
    "materialized",
    "num_partitions",
    "concurrency",
    "spread",
    "distribution",
    "pass_filters",
    "pass_filters_column",
    "progressive_top",
];

/// Whether `w` is a tabular operator keyword.
pub(super) fn is_operator(w: &str) -> bool {
    OPERATORS.contains(&w)
}

/// Whether `w` starts a tabular expression as an operator.
pub(super) fn starts_pipe(w: &str) -> bool {
    STARTING.contains(&w)
        || TABULAR_KEYWORDS.contains(&w)
        || w == "datatable"
        || w == "externaldata"
}

impl Checker<'_> {
    /// One tabular operator, at its keyword.
    pub(super) fn operator(&mut self) -> Step {
        let w = self.word();
        if !is_operator(w) {
            return self.fail("a tabular operator");
        }
        self.construct();
        self.record(Event::Operator(w.to_string()));
        self.nested(|p| p.operator_body(w))
    }

    fn operator_body(&mut self, w: &str) -> Step {
        match w {
            "where" | "filter" => self.named_expr(),
            "project" | "serialize" | "extend" => self.optional_named_list(w == "extend"),
            "project-away" | "project-keep" => self.optional_list(Self::name_pattern),
            "project-reorder" => self.optional_list(|p| {
                p.name_pattern()?;
                let _ = p.eat_word("asc") || p.eat_word("desc") || p.eat_word("granny-asc");
                Ok(())
            }),
            // Kusto parses its items as any output assignments; only analysis asks for names.
            "project-rename" => self.optional_list(Self::named_expr),
            "summarize" => self.summarize(),
            "take" | "limit" | "sample" => {
                self.options()?;
                self.named_expr()
            }
            "top" => {
                self.expr()?;
                self.expect_word("by")?;
                self.sort_key()
            }
            "sort" | "order" => {
                self.options()?;
                self.expect_word("by")?;
                self.list(Self::sort_key)
            }
            "distinct" => {
                self.options()?;
                if self.eat("*") {
                    return Ok(());
                }
                self.list(Self::named_expr)
            }
            "count" => {
                if self.eat_word("as") {
                    self.name()?;
                }
                Ok(())
            }
            "getschema" | "consume" => self.options(),
            "union" => self.union(),
            "join" => self.join(false),
            // Unlike `join`, `lookup` needs its `on` clause.
            "lookup" => self.join(true),
            "mv-expand" | "mvexpand" => self.mv_expand(),
            "mv-apply" | "mvapply" => self.mv_apply(),
            "make-series" => self.make_series(),
            "parse" | "parse-where" => self.parse_op(),
            "parse-kv" => self.parse_kv(),
            "evaluate" => {
                self.options()?;
                self.name()?;
                self.call_args()
            }
            "invoke" => {
                self.name()?;
                self.call_args()
            }
            "render" => self.render(),
            "as" => {
                self.options()?;
                self.name()
            }
            _ => self.more_operators(w),
        }
    }

    fn more_operators(&mut self, w: &str) -> Step {
        match w {
            "fork" => self.fork(),
            "facet" => self.facet(),
            "sample-distinct" => {
                self.options()?;
                self.expr()?;
                self.expect_word("of")?;
                self.expr()
            }
            "top-nested" => self.top_nested(),
            "top-hitters" => {
                self.expr()?;
                self.expect_word("of")?;
                self.named_expr()?;
                if self.eat_word("by") {
                    self.expr()?;
                }
                Ok(())
            }
            "search" => self.search(),
            "find" => self.find(),
            "scan" => self.scan(),
            "partition" => self.partition(),
            "reduce" => {
                self.options()?;
                self.expect_word("by")?;
                self.named_expr()?;
                if self.eat_word("with") {
                    self.list(Self::option)?;
                }
                Ok(())
            }
            "range" => {
                self.name()?;
                self.expect_word("from")?;
                self.expr()?;
                self.expect_word("to")?;
                self.expr()?;
                self.expect_word("step")?;
                self.expr()
            }
            "print" => self.list(Self::named_expr),
            "datatable" => self.datatable(),
            _ => self.externaldata(),
        }
    }

    /// `name = value` options before an operator's clauses (`kind=inner`, `hint.strategy=...`).
    pub(super) fn options(&mut self) -> Step {
        while self.tok().kind == Kind::Word && self.option_follows() {
            self.option()?;
        }
        Ok(())
    }

    /// Whether `word =` or `word.word =` (a hint) starts here.
    fn option_follows(&self) -> bool {
        let w = self.word();
        let known = matches!(
            w,
            "kind"
                | "withsource"
                | "isfuzzy"
                | "bagexpansion"
                | "with_itemindex"
                | "with_match_id"
                | "flags"
                | "decodeblocks"
                | "with_source"
                | "hint"
        ) || w.starts_with("hint");
        known && (self.is_at(1, "=") || (self.is_at(1, ".") && w == "hint"))
    }

    /// One `name = value` option; the name may be dotted (`hint.strategy`).
    fn option(&mut self) -> Step {
        let hint = self.is_word("hint");
        self.any_word()?;
        if hint {
            self.expect(".")?;
            if !HINTS.contains(&self.word()) {
                return self.fail("a hint name");
            }
            self.bump();
        }
        self.expect("=")?;
        self.option_value()
    }

    fn optional_named_list(&mut self, required: bool) -> Step {
        if !required && self.at_list_end() {
            return Ok(());
        }
        self.list(Self::named_expr)
    }

    fn optional_list(&mut self, item: impl FnMut(&mut Self) -> Step) -> Step {
        if self.at_list_end() {
            return Ok(());
        }
        self.list(item)
    }

    /// Whether the operator's clauses end here (a pipe, `;`, `)` or the end).
    fn at_list_end(&self) -> bool {
        matches!(
            self.tok().kind,
            Kind::Eof | Kind::Punct("|" | ";" | ")" | "}")
        )
    }

    /// A column name or wildcard pattern (`Name*`, `*1`, `*`), its pieces touching.
    fn name_pattern(&mut self) -> Step {
        let mut end = None;
        loop {
            let t = self.tok();
            let piece = t.kind == Kind::Punct("*") || self.at_name() || t.kind == Kind::Num;
            if !piece || end.is_some_and(|e| e != t.start) {
                break;
            }
            if t.kind == Kind::Num && end.is_none() {
                break;
            }
            if self.is("[") {
                self.name()?;
            } else {
                self.bump();
            }
            end = Some(self.toks[self.i - 1].end);
        }
        if end.is_none() {
            return self.fail("a column name");
        }
        Ok(())
    }

    fn summarize(&mut self) -> Step {
        self.options()?;
        if !self.is_word("by") && !self.at_list_end() {
            self.list(Self::named_expr)?;
        }
        if self.eat_word("by") {
            self.list(Self::named_expr)?;
        }
        Ok(())
    }

    /// An expression with an optional direction and nulls placement; Kusto takes a named one
    /// too (`sort by a = x`), as most operands.
    fn sort_key(&mut self) -> Step {
        self.named_expr()?;
        let _ = self.eat_word("asc") || self.eat_word("desc");
        if self.eat_word("nulls") && !(self.eat_word("first") || self.eat_word("last")) {
            return self.fail("'first' or 'last'");
        }
        Ok(())
    }

    fn union(&mut self) -> Step {
        self.options()?;
        self.list(|p| {
            if p.is("(") {
                p.bump();
                p.pipe()?;
                return p.expect(")");
            }
            // A table is a name read, so `kind` and its kin are tables too (`union kind`).
            if p.is("*") || p.at_read_name() {
                p.note_table(false);
                return p.name_pattern_or_call();
            }
            p.fail("a table")
        })
    }

    /// A table in `union`/`find`/`search`: a wildcard pattern or a path (a call,
    /// `cluster(...).database(...).T`), never an operator expression (`union A or (B)`).
    pub(super) fn name_pattern_or_call(&mut self) -> Step {
        let next = self.at(1);
        let touching_star = next.kind == Kind::Punct("*") && next.start == self.tok().end;
        if self.is("*") || touching_star {
            return self.name_pattern();
        }
        self.postfix()
    }

    fn join(&mut self, on_required: bool) -> Step {
        self.options()?;
        self.note_table(false);
        self.expr()?;
        if self.eat_word("on") {
            self.list(Self::expr)?;
        } else if on_required {
            return self.fail("'on'");
        } else if self.eat_word("where") {
            self.expr()?;
        }
        Ok(())
    }

    /// Items of `mv-expand` and `mv-apply`: `[name =] expr [to typeof(type)]`, ...
    fn expand_items(&mut self) -> Step {
        self.list(|p| {
            p.named_expr()?;
            if p.eat_word("to") {
                p.expect_word("typeof")?;
                p.expect("(")?;
                if !p.eat(")") {
                    p.type_name()?;
                    p.expect(")")?;
                }
            }
            Ok(())
        })
    }

    fn mv_expand(&mut self) -> Step {
        self.options()?;
        self.expand_items()?;
        if self.eat_word("limit") {
            self.expr()?;
        }
        Ok(())
    }

    /// `mv-expand`'s options, items and limit, then what `mv-apply` adds.
    fn mv_apply(&mut self) -> Step {
        self.mv_expand()?;
        if self.eat_word("id") {
            self.any_word()?;
        }
        self.expect_word("on")?;
        self.subquery()
    }

    /// `( operators )`: a pipe whose first element may be an operator.
    pub(super) fn subquery(&mut self) -> Step {
        self.expect("(")?;
        if matches!(self.word(), "datatable" | "externaldata") {
            return self.fail("a tabular operator");
        }
        self.nested(|p| {
            p.in_pipe(|q| {
                q.operator()?;
                while q.eat("|") {
                    q.operator()?;
                }
                Ok(())
            })
        })?;
        self.expect(")")
    }

    fn make_series(&mut self) -> Step {
        self.options()?;
        self.list(|p| {
            p.named_expr()?;
            if p.eat_word("default") {
                p.expect("=")?;
                p.expr()?;
            }
            Ok(())
        })?;
        self.expect_word("on")?;
        self.named_expr()?;
        if self.eat_word("in") {
            self.expr()?;
        } else {
            if self.eat_word("from") {
                self.expr()?;
            }
            if self.eat_word("to") {
                self.expr()?;
            }
            self.expect_word("step")?;
            self.expr()?;
        }
        if self.eat_word("by") {
            self.list(Self::named_expr)?;
        }
        Ok(())
    }
}
