//! Parsing `search` and `find`: their tables and their predicates, whose bare string terms
//! match every column.

use super::cursor::{NEST_WEIGHT, Parser};
use crate::ast::{BinOp, Expr, ExprKind, Find, FindProject, Search, Source, StrOp};
use crate::error::KqlError;
use crate::lexer::Tok;
use crate::value::{KqlType, Value};

/// The string operator a search term's wildcards choose: `x` has, `*x` hassuffix, `x*`
/// hasprefix, `*x*` contains, a `*` inside a regex; and the text to match.
fn term(text: &str, case_sensitive: bool) -> (StrOp, String) {
    let inner = text.trim_start_matches('*').trim_end_matches('*');
    let (lead, trail) = (text.starts_with('*'), text.ends_with('*') && text.len() > 1);
    let op = if inner.contains('*') {
        let pieces: Vec<String> = inner.split('*').map(regex::escape).collect();
        let flags = if case_sensitive { "" } else { "(?i)" };
        return (StrOp::Regex, format!("{flags}{}", pieces.join(".*")));
    } else {
        match (lead, trail, case_sensitive) {
            (false, false, false) => StrOp::Has,
            (false, false, true) => StrOp::HasCs,
            (true, true, false) => StrOp::Contains,
            (true, true, true) => StrOp::ContainsCs,
            (true, false, false) => StrOp::HasSuffix,
            (false, true, false) => StrOp::HasPrefix,
            (true, false, true) => StrOp::HasSuffixCs,
            (false, true, true) => StrOp::HasPrefixCs,
        }
    };
    (op, inner.to_string())
}

impl Parser<'_> {
    /// `kind=case_sensitive` (or `default`, `case_insensitive`) before a search's predicate.
    fn search_kind(&mut self) -> Result<bool, KqlError> {
        let Some((kind, pos)) = self.name_option("kind")? else {
            return Ok(false);
        };
        match kind.as_str() {
            "case_sensitive" => Ok(true),
            "default" | "case_insensitive" => Ok(false),
            other => Err(KqlError::syntax(
                &format!("unknown search kind '{other}'"),
                self.src,
                pos,
            )),
        }
    }

    /// A predicate of `search` or `find`: an expression whose string literals in a boolean
    /// place (and `* has "x"`) are terms over every column.
    fn term_predicate(&mut self, case_sensitive: bool) -> Result<Expr, KqlError> {
        self.deeper(NEST_WEIGHT)?;
        let e = self.term_chain(case_sensitive, "or");
        self.depth -= NEST_WEIGHT;
        self.terms(e?, case_sensitive)
    }

    /// Operands joined by `or` (each an `and` chain) or by `and` (each a unit); each operator
    /// counts one level deeper, as in scalar expressions, so a huge chain hits the limit.
    fn term_chain(&mut self, case_sensitive: bool, word: &str) -> Result<Expr, KqlError> {
        let operand = |p: &mut Self| {
            if word == "or" {
                p.term_chain(case_sensitive, "and")
            } else {
                p.term_unit(case_sensitive)
            }
        };
        let op = if word == "or" { BinOp::Or } else { BinOp::And };
        self.left_chain(operand, |p| p.is_word(word).then_some(op))
    }

    /// `Column:"term"` (the term's operator over one column), else a comparison.
    fn term_unit(&mut self, case_sensitive: bool) -> Result<Expr, KqlError> {
        if let (Tok::Ident(column), Tok::Sym(":"), Tok::Str(text)) = (
            self.peek().clone(),
            self.peek_at(1),
            self.peek_at(2).clone(),
        ) {
            let pos = self.pos();
            self.bump();
            self.bump();
            self.bump();
            let (op, text) = term(&text, case_sensitive);
            let at = |kind| Expr { kind, pos };
            return Ok(at(ExprKind::Binary(
                BinOp::Str(op, false),
                Box::new(at(ExprKind::Ident(column))),
                Box::new(at(ExprKind::Lit(Value::str(&text), KqlType::String))),
            )));
        }
        self.cmp_expr()
    }

    /// `e` with its string literals in a boolean place (the root, the operands of `and`/`or`,
    /// the argument of `not`) and its `* has "x"` made terms over every column.
    fn terms(&self, e: Expr, case_sensitive: bool) -> Result<Expr, KqlError> {
        let make = |text: &str, pos: usize| {
            let (op, text) = term(text, case_sensitive);
            Expr {
                kind: ExprKind::Term(op, text),
                pos,
            }
        };
        let kind = match e.kind {
            ExprKind::Lit(Value::String(s), _) => return Ok(make(&s, e.pos)),
            ExprKind::Binary(BinOp::Str(op, negate), lhs, rhs)
                if matches!(lhs.kind, ExprKind::Star)
                    && matches!(rhs.kind, ExprKind::Lit(Value::String(_), _)) =>
            {
                let ExprKind::Lit(Value::String(s), _) = &rhs.kind else {
                    return Err(KqlError::new("expected a string".into(), self.src, rhs.pos));
                };
                let found = Expr {
                    kind: ExprKind::Term(op, s.to_string()),
                    pos: e.pos,
                };
                if !negate {
                    return Ok(found);
                }
                ExprKind::Call("not".to_string(), vec![found])
            }
            ExprKind::Binary(op @ (BinOp::And | BinOp::Or), a, b) => ExprKind::Binary(
                op,
                Box::new(self.terms(*a, case_sensitive)?),
                Box::new(self.terms(*b, case_sensitive)?),
            ),
            ExprKind::Call(name, args) if name == "not" => ExprKind::Call(
                name,
                args.into_iter()
                    .map(|a| self.terms(a, case_sensitive))
                    .collect::<Result<_, _>>()?,
            ),
            other => other,
        };
        Ok(Expr { kind, pos: e.pos })
    }

    /// `search`, after its name: `[kind=...] [in (T1, T2)] predicate`; `piped` when rows come
    /// from the pipe (then there is no `in`).
    pub(super) fn search(&mut self, piped: bool) -> Result<Search, KqlError> {
        let case_sensitive = self.search_kind()?;
        let mut tables = Vec::new();
        if !piped && self.is_word("in") && matches!(self.peek_at(1), Tok::Sym("(")) {
            self.bump();
            self.bump();
            tables = self.union_items()?;
            self.expect_sym(")")?;
        }
        let predicate = self.term_predicate(case_sensitive)?;
        Ok(Search { tables, predicate })
    }

    /// `find`, after its name: `[withsource=Name] [in (T1, T2)] [where] predicate
    /// [project-smart | project A, B:type [, pack_all()]]`.
    pub(super) fn find(&mut self) -> Result<Source, KqlError> {
        let source_column = self
            .name_option("withsource")?
            .map_or_else(|| "source_".to_string(), |(name, _)| name);
        let mut tables = Vec::new();
        if self.is_word("in") && matches!(self.peek_at(1), Tok::Sym("(")) {
            self.bump();
            self.bump();
            for t in self.union_items()? {
                let name = match &t.source {
                    Source::Name(n, _) => n.clone(),
                    _ => String::new(),
                };
                tables.push((name, t));
            }
            self.expect_sym(")")?;
            self.expect_word("where")?;
        } else {
            self.eat_word("where");
        }
        let predicate = self.term_predicate(false)?;
        let project = if self.eat_word("project-smart") || !self.eat_word("project") {
            None
        } else {
            Some(self.find_project()?)
        };
        Ok(Source::Find(Box::new(Find {
            source_column,
            tables,
            predicate,
            project,
        })))
    }

    /// `find`'s `project` list: `A, B:type [, pack_all()]`.
    fn find_project(&mut self) -> Result<FindProject, KqlError> {
        let mut columns = Vec::new();
        let mut pack_all = false;
        loop {
            if self.is_word("pack_all") && matches!(self.peek_at(1), Tok::Sym("(")) {
                self.bump();
                self.bump();
                self.expect_sym(")")?;
                pack_all = true;
            } else {
                let name = self.ident()?;
                let ty = if self.eat_sym(":") {
                    let pos = self.pos();
                    let t = self.ident()?;
                    Some(KqlType::from_kql_name(&t).ok_or_else(|| {
                        KqlError::syntax(&format!("unknown type '{t}'"), self.src, pos)
                    })?)
                } else {
                    None
                };
                columns.push((name, ty));
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(FindProject { columns, pack_all })
    }

    /// A `search` that starts a query, as a source.
    pub(super) fn search_source(&mut self) -> Result<Source, KqlError> {
        Ok(Source::Search(Box::new(self.search(false)?)))
    }
}
