//! The syntax tree of the supported KQL subset and a recursive-descent parser for it.

use super::KqlError;
use super::lexer::{Tok, Token, lex};
use super::value::{KqlType, Value, parse_datetime, parse_timespan};

/// A whole query: `let` statements, then one tabular expression.
#[derive(Debug, Clone)]
pub struct Query {
    /// The `let` statements in order.
    pub lets: Vec<Let>,
    /// The expression whose rows are the answer.
    pub body: TabExpr,
}

/// `let name = value;`
#[derive(Debug, Clone)]
pub struct Let {
    /// The bound name.
    pub name: String,
    /// What it is bound to.
    pub value: LetValue,
}

/// The right-hand side of a `let`.
#[derive(Debug, Clone)]
pub enum LetValue {
    /// A scalar expression (evaluated once).
    Scalar(Expr),
    /// A tabular expression.
    Tabular(TabExpr),
}

/// A source followed by piped operators.
#[derive(Debug, Clone)]
pub struct TabExpr {
    /// Where rows come from.
    pub source: Source,
    /// The operators, left to right.
    pub ops: Vec<Op>,
}

/// Where a tabular expression's rows come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A table or a `let`-bound tabular name.
    Name(String, usize),
    /// `union A, B, (subquery)`.
    Union(Vec<TabExpr>),
    /// A parenthesised expression or `materialize(...)`.
    Sub(Box<TabExpr>),
}

/// One piped operator and where its name is.
#[derive(Debug, Clone)]
pub struct Op {
    /// The operator.
    pub kind: OpKind,
    /// Byte offset of its name.
    pub pos: usize,
}

/// An output column: optional `name =` and an expression.
pub type NamedExpr = (Option<String>, Expr);

/// The supported tabular operators.
#[derive(Debug, Clone)]
pub enum OpKind {
    /// `where`/`filter`.
    Where(Expr),
    /// `project`.
    Project(Vec<NamedExpr>),
    /// `project-away` with name patterns.
    ProjectAway(Vec<String>),
    /// `project-keep` with name patterns.
    ProjectKeep(Vec<String>),
    /// `project-rename new = old`.
    ProjectRename(Vec<(String, String)>),
    /// `project-reorder` with name patterns.
    ProjectReorder(Vec<String>),
    /// `extend`.
    Extend(Vec<NamedExpr>),
    /// `summarize aggs by keys`.
    Summarize {
        /// Aggregates.
        aggs: Vec<Aggregate>,
        /// Group keys.
        by: Vec<NamedExpr>,
    },
    /// `take`/`limit`.
    Take(Expr),
    /// `top N by key`.
    Top(Expr, SortKey),
    /// `sort by`/`order by`.
    Sort(Vec<SortKey>),
    /// `distinct cols` (`None` means `*`).
    Distinct(Option<Vec<Expr>>),
    /// `count`.
    Count,
    /// `union` after a pipe.
    Union(Vec<TabExpr>),
    /// `join`.
    Join {
        /// The join flavour.
        kind: JoinKind,
        /// The right side.
        right: Box<TabExpr>,
        /// `(left column, right column)` pairs.
        on: Vec<(String, String)>,
    },
    /// `mv-expand`.
    MvExpand {
        /// Expanded expressions with optional names and `to typeof()` types.
        items: Vec<(Option<String>, Expr, Option<KqlType>)>,
        /// `limit N`.
        limit: Option<usize>,
    },
}

/// One aggregate of `summarize`: output names (`n =`, `(a, b) =`, or none) and the call.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Explicit output names, in order; empty for default names.
    pub names: Vec<String>,
    /// The aggregation call.
    pub expr: Expr,
}

/// The join kinds the engine evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// KQL's default: inner join after deduplicating the left side by key.
    InnerUnique,
    /// Every matching pair.
    Inner,
    /// Every left row, matched or not.
    LeftOuter,
    /// Left rows without a match.
    LeftAnti,
    /// Left rows with a match.
    LeftSemi,
    /// Right rows without a match.
    RightAnti,
    /// Right rows with a match.
    RightSemi,
}

/// A sort key with its direction.
#[derive(Debug, Clone)]
pub struct SortKey {
    /// What to sort by.
    pub expr: Expr,
    /// Descending (KQL's default).
    pub desc: bool,
    /// Explicit `nulls first`/`nulls last`.
    pub nulls_first: Option<bool>,
}

/// A scalar expression and where it starts.
#[derive(Debug, Clone)]
pub struct Expr {
    /// The expression.
    pub kind: ExprKind,
    /// Byte offset in the query.
    pub pos: usize,
}

/// Scalar expression forms.
#[derive(Debug, Clone)]
pub enum ExprKind {
    /// A literal.
    Lit(Value, KqlType),
    /// A column or `let` name.
    Ident(String),
    /// `*` as a function argument (`arg_max(T, *)`).
    Star,
    /// A function call.
    Call(String, Vec<Expr>),
    /// `x.field`.
    Member(Box<Expr>, String),
    /// `x[index]`.
    Index(Box<Expr>, Box<Expr>),
    /// `-x`.
    Neg(Box<Expr>),
    /// A binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `in`, `!in`, `in~`, `!in~`, `has_any`, `has_all`.
    List {
        /// Which list operator.
        op: ListOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Items; a tabular item contributes its first column.
        items: Vec<ListItem>,
    },
    /// `between (lo .. hi)` and `!between`.
    Between {
        /// Tested value.
        lhs: Box<Expr>,
        /// Lower bound.
        lo: Box<Expr>,
        /// Upper bound.
        hi: Box<Expr>,
        /// `!between`.
        negate: bool,
    },
    /// `toscalar(tabular)`.
    ToScalar(Box<TabExpr>),
}

/// Operators that take a list on the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOp {
    /// `in`.
    In,
    /// `!in`.
    NotIn,
    /// `in~`.
    InCi,
    /// `!in~`.
    NotInCi,
    /// `has_any`.
    HasAny,
    /// `has_all`.
    HasAll,
}

/// An item of a list operator's list.
#[derive(Debug, Clone)]
pub enum ListItem {
    /// A scalar (a dynamic array is flattened).
    Scalar(Expr),
    /// A tabular expression.
    Tabular(TabExpr),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `=~`.
    EqCi,
    /// `!~`.
    NeCi,
    /// `and`.
    And,
    /// `or`.
    Or,
    /// A string operator, possibly negated.
    Str(StrOp, bool),
}

/// String predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    /// `has`: whole term, case-insensitive.
    Has,
    /// `has_cs`.
    HasCs,
    /// `hasprefix`: a term starts with it.
    HasPrefix,
    /// `hassuffix`: a term ends with it.
    HasSuffix,
    /// `contains`: substring, case-insensitive.
    Contains,
    /// `contains_cs`.
    ContainsCs,
    /// `startswith`.
    StartsWith,
    /// `startswith_cs`.
    StartsWithCs,
    /// `endswith`.
    EndsWith,
    /// `endswith_cs`.
    EndsWithCs,
    /// `matches regex`.
    Regex,
}

impl StrOp {
    fn from_word(word: &str) -> Option<StrOp> {
        Some(match word {
            "has" => StrOp::Has,
            "has_cs" => StrOp::HasCs,
            "hasprefix" => StrOp::HasPrefix,
            "hassuffix" => StrOp::HasSuffix,
            "contains" => StrOp::Contains,
            "contains_cs" => StrOp::ContainsCs,
            "startswith" => StrOp::StartsWith,
            "startswith_cs" => StrOp::StartsWithCs,
            "endswith" => StrOp::EndsWith,
            "endswith_cs" => StrOp::EndsWithCs,
            _ => return None,
        })
    }
}

/// Operators of full KQL this engine does not evaluate; naming them gives a clear error.
const UNSUPPORTED_OPERATORS: [&str; 27] = [
    "parse",
    "parse-where",
    "parse-kv",
    "evaluate",
    "make-series",
    "mv-apply",
    "render",
    "as",
    "invoke",
    "lookup",
    "fork",
    "facet",
    "sample",
    "sample-distinct",
    "serialize",
    "getschema",
    "search",
    "find",
    "top-nested",
    "top-hitters",
    "scan",
    "partition",
    "reduce",
    "consume",
    "print",
    "range",
    "datatable",
];

/// String operators of full KQL that this engine does not evaluate.
const UNSUPPORTED_STRING_OPERATORS: [&str; 8] = [
    "hasprefix_cs",
    "hassuffix_cs",
    "has_any_cs",
    "like",
    "notcontains",
    "notcontains_cs",
    "notlike",
    "matches_cs",
];

/// Parses a query into its syntax tree.
pub fn parse(src: &str) -> Result<Query, KqlError> {
    let tokens = lex(src)?;
    let mut p = Parser {
        src,
        tokens,
        i: 0,
        depth: 0,
    };
    p.query()
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    i: usize,
    /// Depth of the tree being built, bounded so that neither parsing, evaluating nor
    /// dropping the tree can overflow the stack.
    depth: usize,
}

/// Limit on [`Parser::depth`]: a nested expression counts [`NEST_WEIGHT`], a chained operator 1.
const MAX_DEPTH: usize = 1000;
const NEST_WEIGHT: usize = 10;

impl Parser<'_> {
    fn deeper(&mut self, weight: usize) -> Result<(), KqlError> {
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

    fn peek(&self) -> &Tok {
        &self.tokens[self.i].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.i + n).min(self.tokens.len() - 1)].tok
    }

    fn pos(&self) -> usize {
        self.tokens[self.i].pos
    }

    fn bump(&mut self) -> Token {
        let t = self.tokens[self.i].clone();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == w)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn describe(&self) -> String {
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

    fn err_here(&self, what: &str) -> KqlError {
        KqlError::syntax(
            &format!("expected {what}, found {}", self.describe()),
            self.src,
            self.pos(),
        )
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), KqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.err_here(&format!("'{s}'")))
        }
    }

    fn expect_word(&mut self, w: &str) -> Result<(), KqlError> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.err_here(&format!("'{w}'")))
        }
    }

    fn ident(&mut self) -> Result<String, KqlError> {
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

    fn query(&mut self) -> Result<Query, KqlError> {
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
            Some(body) => Ok(Query { lets, body }),
            None => Err(KqlError::syntax(
                "the query has no tabular statement",
                self.src,
                self.pos(),
            )),
        }
    }

    fn let_statement(&mut self) -> Result<Let, KqlError> {
        let name = self.ident()?;
        self.expect_sym("=")?;
        if self.is_sym("(")
            && (matches!(self.peek_at(1), Tok::Sym(")"))
                || (matches!(self.peek_at(1), Tok::Ident(_))
                    && matches!(self.peek_at(2), Tok::Sym(":"))))
        {
            return Err(KqlError::new(
                "user-defined functions ('let f = (...) {...}') are not supported".to_string(),
                self.src,
                self.pos(),
            ));
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
    fn let_is_tabular(&self) -> bool {
        if matches!(self.peek(), Tok::Ident(w) if ["union", "materialize", "view"].contains(&w.as_str()))
        {
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

    fn unexpected_after_expression(&self) -> KqlError {
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

    fn tabular(&mut self) -> Result<TabExpr, KqlError> {
        self.deeper(NEST_WEIGHT)?;
        let source = self.source()?;
        let mut ops = Vec::new();
        while self.eat_sym("|") {
            ops.push(self.operator()?);
        }
        self.depth -= NEST_WEIGHT;
        Ok(TabExpr { source, ops })
    }

    fn source(&mut self) -> Result<Source, KqlError> {
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
        if let Tok::Ident(w) = self.peek()
            && UNSUPPORTED_OPERATORS.contains(&w.as_str())
            && !matches!(self.peek_at(1), Tok::Sym("|" | ")" | ";" | ",") | Tok::Eof)
        {
            return Err(KqlError::new(
                format!("'{w}' operator is not supported"),
                self.src,
                pos,
            ));
        }
        let name = self.ident()?;
        Ok(Source::Name(name, pos))
    }

    fn union_items(&mut self) -> Result<Vec<TabExpr>, KqlError> {
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

    fn operator(&mut self) -> Result<Op, KqlError> {
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
                let mut pairs = Vec::new();
                loop {
                    let new = self.ident()?;
                    self.expect_sym("=")?;
                    let old = self.ident()?;
                    pairs.push((new, old));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
                OpKind::ProjectRename(pairs)
            }
            "summarize" => {
                self.skip_hints();
                let mut aggs = Vec::new();
                if !self.is_word("by") {
                    loop {
                        aggs.push(self.aggregate()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                }
                let by = if self.eat_word("by") {
                    self.named_list()?
                } else {
                    Vec::new()
                };
                if aggs.is_empty() && by.is_empty() {
                    return Err(self.err_here("an aggregate or 'by'"));
                }
                OpKind::Summarize { aggs, by }
            }
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
            "mv-expand" => self.mv_expand()?,
            other if UNSUPPORTED_OPERATORS.contains(&other) => {
                return Err(KqlError::new(
                    format!("'{other}' operator is not supported"),
                    self.src,
                    pos,
                ));
            }
            other => {
                return Err(KqlError::syntax(
                    &format!("unknown tabular operator '{other}'"),
                    self.src,
                    pos,
                ));
            }
        };
        if !matches!(self.peek(), Tok::Eof | Tok::Sym("|" | ";" | ")")) {
            return Err(self.unexpected_after_expression());
        }
        Ok(Op { kind, pos })
    }

    fn skip_hints(&mut self) {
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

    fn join(&mut self) -> Result<OpKind, KqlError> {
        let mut kind = JoinKind::InnerUnique;
        loop {
            if self.is_word("kind") && matches!(self.peek_at(1), Tok::Sym("=")) {
                self.bump();
                self.bump();
                let pos = self.pos();
                let k = self.ident()?;
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
            } else if matches!(self.peek(), Tok::Ident(w) if w == "hint" || w.starts_with("hint."))
            {
                self.skip_hints();
            } else {
                break;
            }
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

    fn join_side(&mut self) -> Result<(String, String), KqlError> {
        let side = self.ident()?;
        if side != "$left" && side != "$right" {
            return Err(self.err_here("'$left' or '$right'"));
        }
        self.expect_sym(".")?;
        Ok((side, self.ident()?))
    }

    fn mv_expand(&mut self) -> Result<OpKind, KqlError> {
        if matches!(self.peek(), Tok::Ident(w) if w == "kind" || w == "bagexpansion" || w == "with_itemindex")
        {
            return Err(KqlError::new(
                "mv-expand options (kind, bagexpansion, with_itemindex) are not supported"
                    .to_string(),
                self.src,
                self.pos(),
            ));
        }
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
        Ok(OpKind::MvExpand { items, limit })
    }

    fn sort_key(&mut self) -> Result<SortKey, KqlError> {
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

    fn pattern_list(&mut self) -> Result<Vec<String>, KqlError> {
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

    fn named_list(&mut self) -> Result<Vec<NamedExpr>, KqlError> {
        let mut out = vec![self.named_expr()?];
        while self.eat_sym(",") {
            out.push(self.named_expr()?);
        }
        Ok(out)
    }

    fn aggregate(&mut self) -> Result<Aggregate, KqlError> {
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

    fn named_expr(&mut self) -> Result<NamedExpr, KqlError> {
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

    /// Parses a scalar expression.
    fn expr(&mut self) -> Result<Expr, KqlError> {
        self.deeper(NEST_WEIGHT)?;
        let e = self.or_expr();
        self.depth -= NEST_WEIGHT;
        e
    }

    fn or_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.and_expr()?;
        let start = self.depth;
        while self.is_word("or") {
            self.deeper(1)?;
            let pos = self.pos();
            self.bump();
            let rhs = self.and_expr()?;
            lhs = Expr {
                kind: ExprKind::Binary(BinOp::Or, Box::new(lhs), Box::new(rhs)),
                pos,
            };
        }
        self.depth = start;
        Ok(lhs)
    }

    fn and_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.cmp_expr()?;
        let start = self.depth;
        while self.is_word("and") {
            self.deeper(1)?;
            let pos = self.pos();
            self.bump();
            let rhs = self.cmp_expr()?;
            lhs = Expr {
                kind: ExprKind::Binary(BinOp::And, Box::new(lhs), Box::new(rhs)),
                pos,
            };
        }
        self.depth = start;
        Ok(lhs)
    }

    fn cmp_expr(&mut self) -> Result<Expr, KqlError> {
        let lhs = self.add_expr()?;
        let pos = self.pos();
        let sym_op = match self.peek() {
            Tok::Sym("==") => Some(BinOp::Eq),
            Tok::Sym("!=" | "<>") => Some(BinOp::Ne),
            Tok::Sym("<") => Some(BinOp::Lt),
            Tok::Sym("<=") => Some(BinOp::Le),
            Tok::Sym(">") => Some(BinOp::Gt),
            Tok::Sym(">=") => Some(BinOp::Ge),
            Tok::Sym("=~") => Some(BinOp::EqCi),
            Tok::Sym("!~") => Some(BinOp::NeCi),
            _ => None,
        };
        if let Some(op) = sym_op {
            self.bump();
            let rhs = self.add_expr()?;
            return Ok(Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                pos,
            });
        }
        let negate = self.is_sym("!") && matches!(self.peek_at(1), Tok::Ident(_));
        let word = match (negate, self.peek(), self.peek_at(1)) {
            (false, Tok::Ident(w), _) | (true, _, Tok::Ident(w)) => w.clone(),
            _ => return Ok(lhs),
        };
        if let Some(op) = StrOp::from_word(&word) {
            self.bump();
            if negate {
                self.bump();
            }
            let rhs = self.add_expr()?;
            return Ok(Expr {
                kind: ExprKind::Binary(BinOp::Str(op, negate), Box::new(lhs), Box::new(rhs)),
                pos,
            });
        }
        match word.as_str() {
            "matches" if !negate => {
                self.bump();
                self.expect_word("regex")?;
                let rhs = self.add_expr()?;
                Ok(Expr {
                    kind: ExprKind::Binary(
                        BinOp::Str(StrOp::Regex, false),
                        Box::new(lhs),
                        Box::new(rhs),
                    ),
                    pos,
                })
            }
            "in" | "has_any" | "has_all" => {
                self.bump();
                if negate {
                    self.bump();
                }
                let ci = word == "in" && self.eat_sym("~");
                let op = match (word.as_str(), negate, ci) {
                    ("in", false, false) => ListOp::In,
                    ("in", true, false) => ListOp::NotIn,
                    ("in", false, true) => ListOp::InCi,
                    ("in", true, true) => ListOp::NotInCi,
                    ("has_any", false, _) => ListOp::HasAny,
                    ("has_all", false, _) => ListOp::HasAll,
                    _ => {
                        return Err(KqlError::new(
                            format!("'!{word}' operator is not supported"),
                            self.src,
                            pos,
                        ));
                    }
                };
                let items = self.list_items()?;
                Ok(Expr {
                    kind: ExprKind::List {
                        op,
                        lhs: Box::new(lhs),
                        items,
                    },
                    pos,
                })
            }
            "between" => {
                self.bump();
                if negate {
                    self.bump();
                }
                self.expect_sym("(")?;
                let lo = self.add_expr()?;
                self.expect_sym("..")?;
                let hi = self.add_expr()?;
                self.expect_sym(")")?;
                Ok(Expr {
                    kind: ExprKind::Between {
                        lhs: Box::new(lhs),
                        lo: Box::new(lo),
                        hi: Box::new(hi),
                        negate,
                    },
                    pos,
                })
            }
            w if UNSUPPORTED_STRING_OPERATORS.contains(&w) || (negate && !w.is_empty()) => {
                Err(KqlError::new(
                    format!(
                        "'{}{w}' operator is not supported",
                        if negate { "!" } else { "" }
                    ),
                    self.src,
                    pos,
                ))
            }
            _ => Ok(lhs),
        }
    }

    fn list_items(&mut self) -> Result<Vec<ListItem>, KqlError> {
        self.expect_sym("(")?;
        let mut items = Vec::new();
        if self.eat_sym(")") {
            return Ok(items);
        }
        // A tabular item is a name followed by a pipe, or a tabular keyword.
        let tabular = self.is_word("union")
            || (matches!(self.peek(), Tok::Ident(_)) && matches!(self.peek_at(1), Tok::Sym("|")))
            || (self.is_sym("(") && self.let_is_tabular());
        if tabular {
            items.push(ListItem::Tabular(self.tabular()?));
            self.expect_sym(")")?;
            return Ok(items);
        }
        loop {
            items.push(ListItem::Scalar(self.expr()?));
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym(")")?;
        Ok(items)
    }

    fn add_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.mul_expr()?;
        let start = self.depth;
        loop {
            let pos = self.pos();
            let op = match self.peek() {
                Tok::Sym("+") => BinOp::Add,
                Tok::Sym("-") => BinOp::Sub,
                _ => {
                    self.depth = start;
                    return Ok(lhs);
                }
            };
            self.deeper(1)?;
            self.bump();
            let rhs = self.mul_expr()?;
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                pos,
            };
        }
    }

    fn mul_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.unary()?;
        let start = self.depth;
        loop {
            let pos = self.pos();
            let op = match self.peek() {
                Tok::Sym("*") => BinOp::Mul,
                Tok::Sym("/") => BinOp::Div,
                Tok::Sym("%") => BinOp::Mod,
                _ => {
                    self.depth = start;
                    return Ok(lhs);
                }
            };
            self.deeper(1)?;
            self.bump();
            let rhs = self.unary()?;
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                pos,
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, KqlError> {
        let pos = self.pos();
        if self.eat_sym("-") {
            self.deeper(1)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(match inner.kind {
                ExprKind::Lit(Value::Long(n), t) => Expr {
                    kind: ExprKind::Lit(Value::Long(-n), t),
                    pos,
                },
                ExprKind::Lit(Value::Real(r), t) => Expr {
                    kind: ExprKind::Lit(Value::Real(-r), t),
                    pos,
                },
                ExprKind::Lit(Value::TimeSpan(n), t) => Expr {
                    kind: ExprKind::Lit(Value::TimeSpan(-n), t),
                    pos,
                },
                kind => Expr {
                    kind: ExprKind::Neg(Box::new(Expr {
                        kind,
                        pos: inner.pos,
                    })),
                    pos,
                },
            });
        }
        if self.eat_sym("+") {
            self.deeper(1)?;
            let inner = self.unary();
            self.depth -= 1;
            return inner;
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, KqlError> {
        let mut e = self.primary()?;
        let start = self.depth;
        loop {
            let pos = self.pos();
            if self.is_sym(".") || self.is_sym("[") {
                self.deeper(1)?;
            }
            if self.is_sym(".") && matches!(self.peek_at(1), Tok::Ident(_)) {
                self.bump();
                let field = self.ident()?;
                e = Expr {
                    kind: ExprKind::Member(Box::new(e), field),
                    pos,
                };
            } else if self.eat_sym("[") {
                let index = self.expr()?;
                self.expect_sym("]")?;
                e = Expr {
                    kind: ExprKind::Index(Box::new(e), Box::new(index)),
                    pos,
                };
            } else {
                self.depth = start;
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, KqlError> {
        let pos = self.pos();
        let lit = |v: Value, t: KqlType| {
            Ok(Expr {
                kind: ExprKind::Lit(v, t),
                pos,
            })
        };
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                let mut text = s;
                // Adjacent string literals concatenate, as in KQL.
                while let Tok::Str(more) = self.peek().clone() {
                    self.bump();
                    text.push_str(&more);
                }
                lit(Value::str(&text), KqlType::String)
            }
            Tok::Long(n) => {
                self.bump();
                lit(Value::Long(n), KqlType::Long)
            }
            Tok::Real(r) => {
                self.bump();
                lit(Value::Real(r), KqlType::Real)
            }
            Tok::TimeSpan(t) => {
                self.bump();
                lit(Value::TimeSpan(t), KqlType::TimeSpan)
            }
            Tok::Sym("(") => {
                self.bump();
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Sym("*") => {
                self.bump();
                Ok(Expr {
                    kind: ExprKind::Star,
                    pos,
                })
            }
            Tok::Ident(w) => {
                self.bump();
                match w.as_str() {
                    "true" | "false" if !self.is_sym("(") => {
                        return lit(Value::Bool(w == "true"), KqlType::Bool);
                    }
                    "datetime" | "time" | "timespan" | "guid" if self.is_sym("(") => {
                        return self.raw_literal(&w, pos);
                    }
                    "dynamic" if self.is_sym("(") => {
                        self.bump();
                        let json = self.dynamic_literal()?;
                        self.expect_sym(")")?;
                        return lit(Value::dynamic(json), KqlType::Dynamic);
                    }
                    "toscalar" if self.is_sym("(") => {
                        self.bump();
                        let inner = self.tabular()?;
                        self.expect_sym(")")?;
                        return Ok(Expr {
                            kind: ExprKind::ToScalar(Box::new(inner)),
                            pos,
                        });
                    }
                    _ => {}
                }
                if let Some(ty) = KqlType::from_kql_name(&w).filter(|_| self.is_sym("(")) {
                    // Typed literals such as `long(5)`, `bool(null)`, `real(1.5)`.
                    if matches!(self.peek_at(1), Tok::Ident(n) if n == "null")
                        && matches!(self.peek_at(2), Tok::Sym(")"))
                    {
                        self.bump();
                        self.bump();
                        self.bump();
                        return lit(Value::Null, ty);
                    }
                }
                if self.eat_sym("(") {
                    let mut args = Vec::new();
                    if !self.eat_sym(")") {
                        loop {
                            args.push(self.expr()?);
                            if !self.eat_sym(",") {
                                break;
                            }
                        }
                        self.expect_sym(")")?;
                    }
                    return Ok(Expr {
                        kind: ExprKind::Call(w, args),
                        pos,
                    });
                }
                Ok(Expr {
                    kind: ExprKind::Ident(w),
                    pos,
                })
            }
            Tok::Sym("[") => {
                let name = self.ident()?;
                Ok(Expr {
                    kind: ExprKind::Ident(name),
                    pos,
                })
            }
            _ => Err(self.err_here("an expression")),
        }
    }

    fn raw_literal(&mut self, kind: &str, pos: usize) -> Result<Expr, KqlError> {
        self.bump();
        let raw_pos = self.pos();
        let Tok::Raw(text) = self.bump().tok else {
            return Err(KqlError::syntax("expected a literal", self.src, raw_pos));
        };
        self.expect_sym(")")?;
        let bad = |what: &str| {
            KqlError::syntax(
                &format!("invalid {what} literal '{text}'"),
                self.src,
                raw_pos,
            )
        };
        let (value, ty) = if text == "null" {
            let ty = match kind {
                "datetime" => KqlType::DateTime,
                "guid" => KqlType::Guid,
                _ => KqlType::TimeSpan,
            };
            (Value::Null, ty)
        } else {
            match kind {
                "datetime" => (
                    Value::DateTime(parse_datetime(&text).ok_or_else(|| bad("datetime"))?),
                    KqlType::DateTime,
                ),
                "guid" => (Value::str(&text), KqlType::Guid),
                _ => (
                    Value::TimeSpan(parse_timespan(&text).ok_or_else(|| bad("timespan"))?),
                    KqlType::TimeSpan,
                ),
            }
        };
        Ok(Expr {
            kind: ExprKind::Lit(value, ty),
            pos,
        })
    }

    fn dynamic_literal(&mut self) -> Result<serde_json::Value, KqlError> {
        let pos = self.pos();
        let tok = self.bump().tok;
        Ok(match tok {
            Tok::Sym("[") => {
                let mut items = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        items.push(self.dynamic_literal()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.expect_sym("]")?;
                }
                serde_json::Value::Array(items)
            }
            Tok::Sym("{") => {
                let mut map = serde_json::Map::new();
                if !self.eat_sym("}") {
                    loop {
                        let (Tok::Str(key) | Tok::Ident(key)) = self.bump().tok else {
                            return Err(KqlError::syntax(
                                "expected a property name",
                                self.src,
                                pos,
                            ));
                        };
                        self.expect_sym(":")?;
                        map.insert(key, self.dynamic_literal()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.expect_sym("}")?;
                }
                serde_json::Value::Object(map)
            }
            Tok::Str(s) => serde_json::Value::String(s),
            Tok::Long(n) => serde_json::Value::from(n),
            Tok::Real(r) => serde_json::Number::from_f64(r)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Tok::Sym("-") => match self.bump().tok {
                Tok::Long(n) => serde_json::Value::from(-n),
                Tok::Real(r) => serde_json::Number::from_f64(-r)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
                _ => return Err(KqlError::syntax("expected a number", self.src, pos)),
            },
            Tok::Ident(w) if w == "true" || w == "false" => serde_json::Value::Bool(w == "true"),
            Tok::Ident(w) if w == "null" => serde_json::Value::Null,
            _ => {
                return Err(KqlError::syntax(
                    "expected a dynamic literal value",
                    self.src,
                    pos,
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_with_lets_parses() {
        let q = parse("let x = 5;\nlet t = T | where A > x;\nt | project A, b = A + 1 | take 3")
            .expect("fixture value");
        assert_eq!(q.lets.len(), 2);
        assert!(matches!(q.lets[0].value, LetValue::Scalar(_)));
        assert!(matches!(q.lets[1].value, LetValue::Tabular(_)));
        assert_eq!(q.body.ops.len(), 2);
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let q = parse("T | where a == 1 or b == 2 and c == 3").expect("fixture value");
        let OpKind::Where(e) = &q.body.ops[0].kind else {
            panic!()
        };
        assert!(matches!(e.kind, ExprKind::Binary(BinOp::Or, _, _)));
    }

    #[test]
    fn negated_and_case_insensitive_list_operators_parse() {
        let q = parse("T | where a !in~ ('x', 'y') and b !has 'z'").expect("fixture value");
        let OpKind::Where(e) = &q.body.ops[0].kind else {
            panic!()
        };
        let ExprKind::Binary(BinOp::And, l, r) = &e.kind else {
            panic!()
        };
        assert!(matches!(
            l.kind,
            ExprKind::List {
                op: ListOp::NotInCi,
                ..
            }
        ));
        assert!(matches!(
            r.kind,
            ExprKind::Binary(BinOp::Str(StrOp::Has, true), _, _)
        ));
    }

    #[test]
    fn project_away_wildcards_are_patterns() {
        let q = parse("T | project-away *1, Name*, Plain").expect("fixture value");
        let OpKind::ProjectAway(p) = &q.body.ops[0].kind else {
            panic!()
        };
        assert_eq!(
            p,
            &vec!["*1".to_string(), "Name*".to_string(), "Plain".to_string()]
        );
    }

    #[test]
    fn join_on_left_right_pairs() {
        let q =
            parse("T | join kind=leftouter (U) on $left.A == $right.B, C").expect("fixture value");
        let OpKind::Join { kind, on, .. } = &q.body.ops[0].kind else {
            panic!()
        };
        assert_eq!(*kind, JoinKind::LeftOuter);
        assert_eq!(
            on,
            &vec![
                ("A".to_string(), "B".to_string()),
                ("C".to_string(), "C".to_string())
            ]
        );
    }

    #[test]
    fn unsupported_operator_is_named_with_its_position() {
        let err = parse("T\n| parse A with * 'x' B").expect_err("the query must fail");
        assert_eq!(err.message, "'parse' operator is not supported");
        assert_eq!((err.line, err.column), (2, 3));
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let err = parse("T\n| where A == ").expect_err("the query must fail");
        assert!(
            err.message
                .starts_with("Syntax error: expected an expression"),
            "{}",
            err.message
        );
        assert_eq!((err.line, err.column), (2, 14));
    }

    #[test]
    fn trailing_garbage_is_a_syntax_error() {
        let err = parse("T | where A == 1 B").expect_err("the query must fail");
        assert_eq!(err.message, "Syntax error: unexpected 'B'");
        assert_eq!(err.column, 18);
    }

    #[test]
    fn deep_nesting_and_long_chains_are_errors_not_stack_overflows() {
        let nested = format!("T | where {}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(
            parse(&nested)
                .expect_err("too deep")
                .message
                .contains("nested too deeply")
        );
        let chain = format!("T | where {}", vec!["A == 1"; 50_000].join(" or "));
        assert!(
            parse(&chain)
                .expect_err("too long")
                .message
                .contains("nested too deeply")
        );
        let minus = format!("T | where A == {}1", "-".repeat(100_000));
        assert!(parse(&minus).is_err());
        let fine = format!("T | where {}", vec!["A == 1"; 500].join(" or "));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn user_defined_functions_are_rejected() {
        let err = parse("let f = (x: string) { x }; T").expect_err("the query must fail");
        assert!(err.message.contains("not supported"));
    }
}
