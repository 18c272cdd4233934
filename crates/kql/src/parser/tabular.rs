//! Parsing statements and tabular expressions: `let`s, sources, and the operators after `|`.

use super::cursor::{NEST_WEIGHT, Parser, UNSUPPORTED_STRING_OPERATORS};
use crate::ast::{
    Aggregate, Expr, ExprKind, Function, FunctionBody, JoinKind, Let, LetValue, NamedExpr, Op,
    OpKind, Param, Query, SortKey, Source, TabExpr,
};
use crate::error::KqlError;
use crate::lexer::{Tok, lex};
use crate::value::KqlType;

/// What `mv-expand` and `mv-apply` expand, and their `limit`.
pub(super) type ExpandItems = (Vec<(Option<String>, Expr, Option<KqlType>)>, Option<usize>);

/// Parses a query into its syntax tree.
pub fn parse(src: &str) -> Result<Query, KqlError> {
    let tokens = lex(src)?;
    let mut p = Parser {
        src,
        tokens,
        i: 0,
        depth: 0,
        external_urls: Vec::new(),
    };
    p.query()
}

impl Parser<'_> {
    pub(super) fn query(&mut self) -> Result<Query, KqlError> {
        let mut lets = Vec::new();
        let mut body = None;
        loop {
            while self.eat_sym(";") {}
            if matches!(self.peek(), Tok::Eof) {
                break;
            }
            if self.is_word("let") {
                self.bump();
                lets.push(self.let_statement()?);
            } else if body.is_some() {
                return Err(KqlError::syntax(
                    "only one tabular statement is supported",
                    self.src,
                    self.pos(),
                ));
            } else {
                body = Some(self.tabular()?);
                if !matches!(self.peek(), Tok::Eof | Tok::Sym(";")) {
                    return Err(self.unexpected_after_expression());
                }
            }
        }
        match body {
            Some(body) => Ok(Query {
                lets,
                body,
                external_urls: std::mem::take(&mut self.external_urls),
            }),
            None => Err(KqlError::syntax(
                "the query has no tabular statement",
                self.src,
                self.pos(),
            )),
        }
    }

    pub(super) fn let_statement(&mut self) -> Result<Let, KqlError> {
        let name = self.ident()?;
        self.expect_sym("=")?;
        let is_view = self.is_word("view") && matches!(self.peek_at(1), Tok::Sym("("));
        if is_view
            || (self.is_sym("(")
                && (matches!(self.peek_at(1), Tok::Sym(")"))
                    || (matches!(self.peek_at(1), Tok::Ident(_))
                        && matches!(self.peek_at(2), Tok::Sym(":")))))
        {
            if is_view {
                self.bump();
            }
            let function = self.function()?;
            let value = match function {
                // A view is read by its bare name, like a tabular `let`.
                Function {
                    params,
                    body: FunctionBody::Tabular(body),
                } if is_view && params.is_empty() => LetValue::Tabular(body),
                Function {
                    params,
                    body:
                        FunctionBody::Scalar(Expr {
                            kind: ExprKind::Ident(table),
                            pos,
                        }),
                } if is_view && params.is_empty() => LetValue::Tabular(TabExpr {
                    source: Source::Name(table, pos),
                    ops: Vec::new(),
                }),
                function => LetValue::Function(function),
            };
            if !matches!(self.peek(), Tok::Eof | Tok::Sym(";")) {
                return Err(self.unexpected_after_expression());
            }
            return Ok(Let { name, value });
        }
        let value = if self.let_is_tabular() {
            LetValue::Tabular(self.tabular()?)
        } else {
            LetValue::Scalar(self.expr()?)
        };
        if !matches!(self.peek(), Tok::Eof | Tok::Sym(";")) {
            return Err(self.unexpected_after_expression());
        }
        Ok(Let { name, value })
    }

    /// A `let` value is tabular when a pipe appears at its top level (or directly inside
    /// one pair of outer parentheses) or it starts with a tabular source keyword.
    pub(super) fn let_is_tabular(&self) -> bool {
        if matches!(self.peek(), Tok::Ident(w) if ["union", "materialize", "view"].contains(&w.as_str()))
        {
            return true;
        }
        if matches!(self.peek(), Tok::Ident(w) if w == "search" || w == "find")
            && !matches!(self.peek_at(1), Tok::Sym("(" | ";") | Tok::Eof)
        {
            return true;
        }
        if self.at_keyword_source() {
            return true;
        }
        if self.is_word("range") && matches!(self.peek_at(1), Tok::Ident(_)) {
            return true;
        }
        let outer_paren = self.is_sym("(");
        let mut depth = 0usize;
        for t in &self.tokens[self.i..] {
            match &t.tok {
                Tok::Sym("(" | "[" | "{") => depth += 1,
                Tok::Sym(")" | "]" | "}") => depth = depth.saturating_sub(1),
                Tok::Sym(";") | Tok::Eof if depth == 0 => break,
                Tok::Sym("|") if depth == 0 || (outer_paren && depth == 1) => return true,
                _ => {}
            }
        }
        false
    }

    pub(super) fn unexpected_after_expression(&self) -> KqlError {
        if let Tok::Ident(w) = self.peek()
            && UNSUPPORTED_STRING_OPERATORS.contains(&w.as_str())
        {
            return KqlError::new(
                format!("'{w}' operator is not supported"),
                self.src,
                self.pos(),
            );
        }
        KqlError::syntax(
            &format!("unexpected {}", self.describe()),
            self.src,
            self.pos(),
        )
    }

    pub(super) fn tabular(&mut self) -> Result<TabExpr, KqlError> {
        self.deeper(NEST_WEIGHT)?;
        let source = self.source()?;
        let mut ops = Vec::new();
        while self.eat_sym("|") {
            ops.push(self.operator()?);
        }
        self.depth -= NEST_WEIGHT;
        Ok(TabExpr { source, ops })
    }

    pub(super) fn source(&mut self) -> Result<Source, KqlError> {
        let pos = self.pos();
        if self.eat_sym("(") {
            let inner = self.tabular()?;
            self.expect_sym(")")?;
            return Ok(Source::Sub(Box::new(inner)));
        }
        if self.is_word("union") {
            self.bump();
            return Ok(Source::Union(self.union_items()?));
        }
        if self.is_word("materialize") && matches!(self.peek_at(1), Tok::Sym("(")) {
            self.bump();
            self.bump();
            let inner = self.tabular()?;
            self.expect_sym(")")?;
            return Ok(Source::Sub(Box::new(inner)));
        }
        if self.is_word("datatable") && matches!(self.peek_at(1), Tok::Sym("(")) {
            self.bump();
            return self.datatable();
        }
        if self.is_word("print")
            && !matches!(self.peek_at(1), Tok::Sym("|" | ")" | ";" | ",") | Tok::Eof)
        {
            self.bump();
            return Ok(Source::Print(self.named_list()?));
        }
        let keyword_source = !matches!(self.peek_at(1), Tok::Sym("|" | ")" | ";" | ",") | Tok::Eof);
        if self.is_word("search") && keyword_source {
            self.bump();
            return self.search_source();
        }
        if self.is_word("find") && keyword_source {
            self.bump();
            return self.find();
        }
        if self.is_word("range") && matches!(self.peek_at(1), Tok::Ident(_)) {
            self.bump();
            return self.range_source();
        }
        if self.is_word("externaldata") && matches!(self.peek_at(1), Tok::Sym("(")) {
            return self.externaldata();
        }
        let name = self.ident()?;
        if self.eat_sym("(") {
            let mut args = Vec::new();
            if !self.is_sym(")") {
                args = self.comma_list(Self::call_argument)?;
            }
            self.expect_sym(")")?;
            return Ok(Source::Call(name, args, pos));
        }
        Ok(Source::Name(name, pos))
    }

    /// An argument of a function call used as a source: a parenthesized tabular expression
    /// (for a tabular parameter) or a scalar.
    pub(super) fn call_argument(&mut self) -> Result<Expr, KqlError> {
        if self.is_sym("(") && self.pipe_in_parentheses() {
            let pos = self.pos();
            self.bump();
            let table = self.tabular()?;
            self.expect_sym(")")?;
            return Ok(Expr {
                kind: ExprKind::Table(Box::new(table)),
                pos,
            });
        }
        self.expr()
    }

    /// Whether the parentheses opening here hold a pipe directly: a tabular expression.
    fn pipe_in_parentheses(&self) -> bool {
        let mut depth = 0usize;
        for t in &self.tokens[self.i..] {
            match &t.tok {
                Tok::Sym("(" | "[" | "{") => depth += 1,
                Tok::Sym(")" | "]" | "}") => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return false;
                    }
                }
                Tok::Sym("|") if depth == 1 => return true,
                Tok::Eof => return false,
                _ => {}
            }
        }
        false
    }

    pub(super) fn union_items(&mut self) -> Result<Vec<TabExpr>, KqlError> {
        while let Tok::Ident(w) = self.peek() {
            if (w == "kind" || w == "withsource" || w == "isfuzzy")
                && matches!(self.peek_at(1), Tok::Sym("="))
            {
                let pos = self.pos();
                if w == "withsource" {
                    return Err(KqlError::new(
                        "'union withsource' is not supported".to_string(),
                        self.src,
                        pos,
                    ));
                }
                // Only the default outer union is evaluated; `kind=inner` must not pass as it.
                if w == "kind" && !matches!(self.peek_at(2), Tok::Ident(k) if k == "outer") {
                    return Err(KqlError::new(
                        "only 'union kind=outer' is supported".to_string(),
                        self.src,
                        pos,
                    ));
                }
                self.bump();
                self.bump();
                self.bump();
            } else {
                break;
            }
        }
        let mut items = Vec::new();
        loop {
            let pos = self.pos();
            if self.eat_sym("(") {
                let inner = self.tabular()?;
                self.expect_sym(")")?;
                items.push(inner);
            } else {
                let name = self.ident()?;
                if name.contains('*') {
                    return Err(KqlError::new(
                        "wildcard table names are not supported".to_string(),
                        self.src,
                        pos,
                    ));
                }
                items.push(TabExpr {
                    source: Source::Name(name, pos),
                    ops: Vec::new(),
                });
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(items)
    }

    pub(super) fn operator(&mut self) -> Result<Op, KqlError> {
        let pos = self.pos();
        let Tok::Ident(word) = self.peek().clone() else {
            return Err(self.err_here("a tabular operator"));
        };
        self.bump();
        let kind = match word.as_str() {
            "where" | "filter" => OpKind::Where(self.expr()?),
            "project" => OpKind::Project(self.named_list()?),
            "extend" => OpKind::Extend(self.named_list()?),
            "project-away" => OpKind::ProjectAway(self.pattern_list()?),
            "project-keep" => OpKind::ProjectKeep(self.pattern_list()?),
            "project-reorder" => OpKind::ProjectReorder(self.pattern_list()?),
            "project-rename" => {
                let pairs = self.comma_list(|p| {
                    let new = p.ident()?;
                    p.expect_sym("=")?;
                    Ok((new, p.ident()?))
                })?;
                OpKind::ProjectRename(pairs)
            }
            "summarize" => self.summarize()?,
            "take" | "limit" => OpKind::Take(self.expr()?),
            "top" => {
                let n = self.expr()?;
                self.expect_word("by")?;
                OpKind::Top(n, self.sort_key()?)
            }
            "sort" | "order" => {
                self.expect_word("by")?;
                let mut keys = vec![self.sort_key()?];
                while self.eat_sym(",") {
                    keys.push(self.sort_key()?);
                }
                OpKind::Sort(keys)
            }
            "distinct" => {
                if self.eat_sym("*") {
                    OpKind::Distinct(None)
                } else {
                    let mut cols = vec![self.expr()?];
                    while self.eat_sym(",") {
                        cols.push(self.expr()?);
                    }
                    OpKind::Distinct(Some(cols))
                }
            }
            "count" => OpKind::Count,
            "union" => OpKind::Union(self.union_items()?),
            "join" => self.join()?,
            "parse" | "parse-where" => self.parse_operator(word == "parse")?,
            "evaluate" => self.evaluate()?,
            "consume" => self.consume()?,
            "reduce" => self.reduce()?,
            "lookup" => self.lookup(pos)?,
            "mv-expand" | "mvexpand" => self.mv_expand()?,
            "mv-apply" => self.mv_apply()?,
            "as" => {
                self.skip_hints();
                OpKind::As(self.ident()?)
            }
            "invoke" => self.invoke()?,
            "partition" => self.partition()?,
            "scan" => self.scan()?,
            "sample-distinct" => self.sample_distinct()?,
            "top-hitters" => self.top_hitters()?,
            "parse-kv" => self.parse_kv()?,
            "make-series" => self.make_series()?,
            "top-nested" => self.top_nested()?,
            "search" => OpKind::Search(Box::new(self.search(true)?)),
            "fork" => self.fork()?,
            "facet" => self.facet()?,
            "sample" => OpKind::Sample(self.expr()?),
            "getschema" => OpKind::GetSchema,
            "serialize" => {
                if matches!(self.peek(), Tok::Eof | Tok::Sym("|" | ";" | ")")) {
                    OpKind::Pass
                } else {
                    OpKind::Extend(self.named_list()?)
                }
            }
            "render" => {
                self.skip_render_arguments();
                OpKind::Pass
            }
            other => {
                return Err(KqlError::syntax(
                    &format!("unknown tabular operator '{other}'"),
                    self.src,
                    pos,
                ));
            }
        };
        if !matches!(self.peek(), Tok::Eof | Tok::Sym("|" | ";" | ")" | "}")) {
            return Err(self.unexpected_after_expression());
        }
        Ok(Op { kind, pos })
    }

    /// `datatable`'s schema and values, after its name.
    fn datatable(&mut self) -> Result<Source, KqlError> {
        self.expect_sym("(")?;
        let columns = self.comma_list(|p| {
            let (name, ty) = p.typed_name()?;
            Ok((name, ty))
        })?;
        self.expect_sym(")")?;
        self.expect_sym("[")?;
        let values = self.list_until(",", "]", Self::expr)?;
        Ok(Source::Datatable { columns, values })
    }

    /// A user-defined function after `let name =` (and `view`): `(params) { body }`.
    fn function(&mut self) -> Result<Function, KqlError> {
        self.expect_sym("(")?;
        let mut params = Vec::new();
        if !self.is_sym(")") {
            params = self.comma_list(Self::param)?;
        }
        self.expect_sym(")")?;
        self.expect_sym("{")?;
        let body = if self.body_is_tabular() {
            FunctionBody::Tabular(self.tabular()?)
        } else {
            FunctionBody::Scalar(self.expr()?)
        };
        self.expect_sym("}")?;
        Ok(Function { params, body })
    }

    /// One parameter of a user-defined function: `x:string [= default]`, or a tabular one,
    /// `T:(*)` or `T:(A:string, ...)`, whose columns are not checked (the body names them).
    fn param(&mut self) -> Result<Param, KqlError> {
        let name = self.ident()?;
        self.expect_sym(":")?;
        let pos = self.pos();
        if self.eat_sym("(") {
            if !self.eat_sym("*") {
                self.comma_list(|p| {
                    p.ident()?;
                    p.expect_sym(":")?;
                    p.ident()
                })?;
            }
            self.expect_sym(")")?;
            return Ok(Param {
                name,
                default: None,
                tabular: true,
            });
        }
        let written = self.ident()?;
        KqlType::from_kql_name(&written)
            .ok_or_else(|| KqlError::syntax(&format!("unknown type '{written}'"), self.src, pos))?;
        let default = if self.eat_sym("=") {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(Param {
            name,
            default,
            tabular: false,
        })
    }

    /// Whether a function body (after its `{`) pipes: a tabular body.
    fn body_is_tabular(&self) -> bool {
        let mut depth = 0usize;
        for t in &self.tokens[self.i..] {
            match &t.tok {
                Tok::Sym("}") if depth == 0 => return false,
                Tok::Sym("(" | "[" | "{") => depth += 1,
                Tok::Sym(")" | "]" | "}") => depth = depth.saturating_sub(1),
                Tok::Sym("|") if depth == 0 => return true,
                Tok::Eof => return false,
                _ => {}
            }
        }
        false
    }

    /// `summarize`'s aggregates and `by` keys, after its name.
    fn summarize(&mut self) -> Result<OpKind, KqlError> {
        self.skip_hints();
        let mut aggs = Vec::new();
        if !self.is_word("by") {
            aggs = self.comma_list(Self::aggregate)?;
        }
        let by = if self.eat_word("by") {
            self.named_list()?
        } else {
            Vec::new()
        };
        if aggs.is_empty() && by.is_empty() {
            return Err(self.err_here("an aggregate or 'by'"));
        }
        Ok(OpKind::Summarize { aggs, by })
    }

    /// `lookup`, after its name at `pos`: a join of kind leftouter (the default) or inner.
    fn lookup(&mut self, pos: usize) -> Result<OpKind, KqlError> {
        match self.join_with_default(JoinKind::LeftOuter)? {
            OpKind::Join {
                kind: kind @ (JoinKind::LeftOuter | JoinKind::Inner),
                right,
                on,
            } => Ok(OpKind::Lookup { kind, right, on }),
            _ => Err(KqlError::new(
                "'lookup' takes kind=leftouter or kind=inner".to_string(),
                self.src,
                pos,
            )),
        }
    }

    /// Skips `render`'s visualization and `with (...)` properties: a chart is the client's
    /// business, the rows are the same.
    fn skip_render_arguments(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                Tok::Eof => return,
                Tok::Sym("|" | ";" | ")" | "}") if depth == 0 => return,
                Tok::Sym("(") => depth += 1,
                Tok::Sym(")") => depth -= 1,
                _ => {}
            }
            self.bump();
        }
    }

    /// The next `kind = NAME` option of an operator whose `hint.x = y` options may stand
    /// before and between its others; `None` once neither comes next.
    pub(super) fn kind_among_hints(&mut self) -> Result<Option<(String, usize)>, KqlError> {
        self.skip_hints();
        let kind = self.name_option("kind")?;
        self.skip_hints();
        Ok(kind)
    }

    pub(super) fn skip_hints(&mut self) {
        while let Tok::Ident(w) = self.peek() {
            if w.starts_with("hint.") || (w == "hint" && matches!(self.peek_at(1), Tok::Sym("."))) {
                while !self.is_sym("=") && !matches!(self.peek(), Tok::Eof) {
                    self.bump();
                }
                self.bump();
                self.bump();
            } else {
                break;
            }
        }
    }

    pub(super) fn join(&mut self) -> Result<OpKind, KqlError> {
        self.join_with_default(JoinKind::InnerUnique)
    }

    /// A `join` or `lookup` after its name: options, the right side and the `on` keys.
    pub(super) fn join_with_default(&mut self, default: JoinKind) -> Result<OpKind, KqlError> {
        let mut kind = default;
        while let Some((k, pos)) = self.kind_among_hints()? {
            kind = match k.as_str() {
                "inner" => JoinKind::Inner,
                "innerunique" => JoinKind::InnerUnique,
                "leftouter" => JoinKind::LeftOuter,
                "leftanti" | "anti" | "leftantisemi" => JoinKind::LeftAnti,
                "leftsemi" => JoinKind::LeftSemi,
                "rightanti" | "rightantisemi" => JoinKind::RightAnti,
                "rightsemi" => JoinKind::RightSemi,
                other => {
                    return Err(KqlError::new(
                        format!("join kind '{other}' is not supported"),
                        self.src,
                        pos,
                    ));
                }
            };
        }
        let right = if self.eat_sym("(") {
            let t = self.tabular()?;
            self.expect_sym(")")?;
            t
        } else {
            let pos = self.pos();
            TabExpr {
                source: Source::Name(self.ident()?, pos),
                ops: Vec::new(),
            }
        };
        self.expect_word("on")?;
        let mut on = Vec::new();
        loop {
            if matches!(self.peek(), Tok::Ident(w) if w == "$left" || w == "$right") {
                let (side_a, col_a) = self.join_side()?;
                self.expect_sym("==")?;
                let (side_b, col_b) = self.join_side()?;
                match (side_a.as_str(), side_b.as_str()) {
                    ("$left", "$right") => on.push((col_a, col_b)),
                    ("$right", "$left") => on.push((col_b, col_a)),
                    _ => return Err(self.err_here("'$left.column == $right.column'")),
                }
            } else {
                let col = self.ident()?;
                on.push((col.clone(), col));
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(OpKind::Join {
            kind,
            right: Box::new(right),
            on,
        })
    }

    pub(super) fn join_side(&mut self) -> Result<(String, String), KqlError> {
        let side = self.ident()?;
        if side != "$left" && side != "$right" {
            return Err(self.err_here("'$left' or '$right'"));
        }
        self.expect_sym(".")?;
        Ok((side, self.ident()?))
    }

    pub(super) fn mv_expand(&mut self) -> Result<OpKind, KqlError> {
        if matches!(self.peek(), Tok::Ident(w) if w == "kind" || w == "bagexpansion" || w == "with_itemindex")
        {
            return Err(KqlError::new(
                "mv-expand options (kind, bagexpansion, with_itemindex) are not supported"
                    .to_string(),
                self.src,
                self.pos(),
            ));
        }
        let (items, limit) = self.expand_items()?;
        Ok(OpKind::MvExpand { items, limit })
    }

    /// The expanded expressions of `mv-expand` and `mv-apply`, each `[Name =] Expr [to
    /// typeof(T)]`, and `limit N`.
    pub(super) fn expand_items(&mut self) -> Result<ExpandItems, KqlError> {
        let mut items = Vec::new();
        loop {
            let (name, expr) = self.named_expr()?;
            let mut ty = None;
            if self.eat_word("to") {
                self.expect_word("typeof")?;
                self.expect_sym("(")?;
                let pos = self.pos();
                let t = self.ident()?;
                ty = Some(KqlType::from_kql_name(&t).ok_or_else(|| {
                    KqlError::syntax(&format!("unknown type '{t}'"), self.src, pos)
                })?);
                self.expect_sym(")")?;
            }
            items.push((name, expr, ty));
            if !self.eat_sym(",") {
                break;
            }
        }
        let mut limit = None;
        if self.eat_word("limit") {
            match self.bump().tok {
                Tok::Long(n) => limit = Some(usize::try_from(n.max(0)).unwrap_or(usize::MAX)),
                _ => return Err(self.err_here("a row limit")),
            }
        }
        Ok((items, limit))
    }

    pub(super) fn sort_key(&mut self) -> Result<SortKey, KqlError> {
        let expr = self.expr()?;
        let mut desc = true;
        if self.eat_word("asc") {
            desc = false;
        } else {
            self.eat_word("desc");
        }
        let mut nulls_first = None;
        if self.eat_word("nulls") {
            if self.eat_word("first") {
                nulls_first = Some(true);
            } else {
                self.expect_word("last")?;
                nulls_first = Some(false);
            }
        }
        Ok(SortKey {
            expr,
            desc,
            nulls_first,
        })
    }

    pub(super) fn pattern_list(&mut self) -> Result<Vec<String>, KqlError> {
        let mut out = Vec::new();
        loop {
            let mut pattern = String::new();
            let start = self.i;
            loop {
                match self.peek().clone() {
                    Tok::Sym("*") => pattern.push('*'),
                    Tok::Ident(w) => pattern.push_str(&w),
                    Tok::Long(n) if self.i > start => pattern.push_str(&n.to_string()),
                    _ => break,
                }
                let end = self.tokens[self.i].pos
                    + match self.peek() {
                        Tok::Sym(_) => 1,
                        Tok::Ident(w) => w.len(),
                        Tok::Long(n) => n.to_string().len(),
                        _ => 0,
                    };
                self.bump();
                // Pattern pieces must touch (`Name*`, `*1`); a space ends the pattern.
                if self.pos() != end {
                    break;
                }
            }
            if pattern.is_empty() {
                return Err(self.err_here("a column name"));
            }
            out.push(pattern);
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(out)
    }

    pub(super) fn named_list(&mut self) -> Result<Vec<NamedExpr>, KqlError> {
        let mut out = vec![self.named_expr()?];
        while self.eat_sym(",") {
            out.push(self.named_expr()?);
        }
        Ok(out)
    }

    pub(super) fn aggregate(&mut self) -> Result<Aggregate, KqlError> {
        if self.is_sym("(")
            && matches!(self.peek_at(1), Tok::Ident(_))
            && matches!(self.peek_at(2), Tok::Sym("," | ")"))
        {
            self.bump();
            let mut names = vec![self.ident()?];
            while self.eat_sym(",") {
                names.push(self.ident()?);
            }
            self.expect_sym(")")?;
            self.expect_sym("=")?;
            return Ok(Aggregate {
                names,
                expr: self.expr()?,
            });
        }
        let (name, expr) = self.named_expr()?;
        Ok(Aggregate {
            names: name.into_iter().collect(),
            expr,
        })
    }

    pub(super) fn named_expr(&mut self) -> Result<NamedExpr, KqlError> {
        if matches!(self.peek(), Tok::Ident(_)) && matches!(self.peek_at(1), Tok::Sym("=")) {
            let name = self.ident()?;
            self.bump();
            return Ok((Some(name), self.expr()?));
        }
        if self.is_sym("(")
            && matches!(self.peek_at(1), Tok::Ident(_))
            && matches!(self.peek_at(2), Tok::Sym(","))
        {
            return Err(KqlError::new(
                "tuple assignments ('(a, b) = ...') are not supported".to_string(),
                self.src,
                self.pos(),
            ));
        }
        Ok((None, self.expr()?))
    }
}
