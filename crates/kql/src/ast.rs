//! The syntax tree of the supported KQL subset; every node keeps the byte offset it starts at.

use crate::value::{KqlType, Value};

mod plugins;

pub use plugins::{
    Activity, ActivityKind, ColumnArg, DcountIntersect, DiffPatterns, IpLookup, RollingPercentile,
    Segments,
};

/// A whole query: `let` statements, then one tabular expression.
#[derive(Debug, Clone)]
pub struct Query {
    /// The `let` statements in order.
    pub lets: Vec<Let>,
    /// The expression whose rows are the answer.
    pub body: TabExpr,
    /// The distinct URLs its `externaldata` sources read, in the order they are written.
    pub external_urls: Vec<String>,
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
    /// A user-defined function: `let f = (x:string, n:long = 3) { ... }`.
    Function(Function),
}

/// A parameter of a user-defined function.
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name in the body.
    pub name: String,
    /// Its default value, when it has one.
    pub default: Option<Expr>,
    /// A tabular parameter (`T:(*)`, `T:(A:string)`): the call passes a table.
    pub tabular: bool,
}

/// A user-defined function: its parameters and its body.
#[derive(Debug, Clone)]
pub struct Function {
    /// The parameters, in order.
    pub params: Vec<Param>,
    /// What it computes.
    pub body: FunctionBody,
}

/// A function's body: a scalar expression, or a tabular one called as a source.
#[derive(Debug, Clone)]
pub enum FunctionBody {
    /// `{ strcat(x, "!") }`.
    Scalar(Expr),
    /// `{ T | where A == x }`.
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
    /// `print a = 1, b`: one row of scalar expressions.
    Print(Vec<NamedExpr>),
    /// A call of a tabular user-defined function: `f(1, "x")`.
    Call(String, Vec<Expr>, usize),
    /// `datatable (a:string, b:long) ["x", 1, ...]`: rows written in the query.
    Datatable {
        /// The columns and their types.
        columns: Vec<(String, KqlType)>,
        /// The values, row after row.
        values: Vec<Expr>,
    },
    /// `externaldata (a:string, ...) ["url", ...] [with (...)]`: rows read from its URLs' bodies.
    External(Box<External>),
    /// `search in (T1, T2) predicate`, or over every table: rows with a `$table` column.
    Search(Box<Search>),
    /// `find in (T1, T2) where predicate [project ...]`.
    Find(Box<Find>),
    /// `range x from A to B step S`: a row per value, `B` included.
    Range {
        /// The column's name.
        name: String,
        /// The first value.
        from: Expr,
        /// The last value (included when a step lands on it).
        to: Expr,
        /// The step between values.
        step: Expr,
    },
}

/// An `externaldata` source: its schema, its URLs and how their bodies are read.
#[derive(Debug, Clone)]
pub struct External {
    /// The columns and their types.
    pub columns: Vec<(String, KqlType)>,
    /// The URLs as the query writes them (adjacent string literals joined), rows read in order.
    pub urls: Vec<String>,
    /// `format`; `None` reads each URL by its file extension, CSV when it has none known.
    pub format: Option<DataFormat>,
    /// `ignoreFirstRecord`: each body's first record (a header) is left out.
    pub ignore_first_record: bool,
    /// `ingestionMapping`: where each column's value is in a record, by column (`None` for a
    /// column it leaves out); without one, fields by position and properties by name.
    pub mapping: Option<Vec<Option<Locate>>>,
    /// Where `externaldata` stands.
    pub pos: usize,
}

/// Where an `ingestionMapping` finds a column's value in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locate {
    /// The field at this 0-based position (separated formats).
    Ordinal(usize),
    /// A JSON path such as `$.a.b[0]` (JSON formats).
    Path(String),
}

/// The data formats of Kusto's ingestion that `externaldata` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// Comma-separated values, RFC 4180 quoting.
    Csv,
    /// Tab-separated values, quoted as CSV.
    Tsv,
    /// Semicolon-separated values.
    Scsv,
    /// Pipe-separated values.
    Psv,
    /// Values separated by SOH (U+0001).
    Sohsv,
    /// One row per non-empty line, in the first column.
    Txt,
    /// The whole body as one row, in the first column.
    Raw,
    /// One JSON object per line (JSON Lines), mapped to the columns by name.
    Json,
    /// JSON objects, or arrays of them, one after another, mapped to the columns by name.
    MultiJson,
}

/// A `search`'s tables (every table when empty) and its predicate.
#[derive(Debug, Clone)]
pub struct Search {
    /// `in (...)`; empty for every table of the database (or the piped input).
    pub tables: Vec<TabExpr>,
    /// The predicate; bare terms are `ExprKind::Term`.
    pub predicate: Expr,
}

/// A `find`'s tables, predicate and projection.
#[derive(Debug, Clone)]
pub struct Find {
    /// The name of the column that says which table a row came from (`source_`).
    pub source_column: String,
    /// `in (...)`: the tables and their names; empty for every table of the database.
    pub tables: Vec<(String, TabExpr)>,
    /// The predicate; bare terms are `ExprKind::Term`.
    pub predicate: Expr,
    /// `project A, B:string [, pack_all()]`; `None` for `project-smart` (the default).
    pub project: Option<FindProject>,
}

/// `find`'s explicit `project` list.
#[derive(Debug, Clone)]
pub struct FindProject {
    /// The columns, each with the type it is cast to when one is written.
    pub columns: Vec<(String, Option<KqlType>)>,
    /// `pack_all()`: every column of the row in one property bag too.
    pub pack_all: bool,
}

/// `make-series`: aggregates along an axis, one array per aggregate per group.
#[derive(Debug, Clone)]
pub struct MakeSeries {
    /// Each aggregate and its `default =` value (0 when absent).
    pub aggs: Vec<(Aggregate, Option<Expr>)>,
    /// The axis column or expression.
    pub axis: Expr,
    /// `from` (or `range`'s start).
    pub from: Option<Expr>,
    /// `to` (exclusive), or `range`'s stop (inclusive).
    pub to: Option<Expr>,
    /// `step` (or `range`'s step).
    pub step: Expr,
    /// `in range(start, stop, step)`: the stop is the last bin rather than the bound after it.
    pub inclusive: bool,
    /// Group keys.
    pub by: Vec<NamedExpr>,
    /// `kind=nonempty`: one row of defaults when the input is empty.
    pub nonempty: bool,
}

/// One level of `top-nested`.
#[derive(Debug, Clone)]
pub struct TopNested {
    /// How many values to keep (`None`: all).
    pub count: Option<Expr>,
    /// The value of this level, with its output name.
    pub value: NamedExpr,
    /// `with others = value`: a row for the values left out, with this as its value.
    pub others: Option<Expr>,
    /// The aggregate that ranks the values, with its output name.
    pub agg: Aggregate,
    /// Descending (the default) or ascending.
    pub desc: bool,
}

/// What `parse` extracts: the text it reads and the columns its pattern captures.
#[derive(Debug, Clone)]
pub struct ParsePattern {
    /// The text parsed.
    pub source: Expr,
    /// The pattern, anchored, with a group per column.
    pub regex: regex::Regex,
    /// The extracted columns and their types.
    pub columns: Vec<(String, KqlType)>,
    /// `parse` keeps a row that does not match (its columns null); `parse-where` drops it.
    pub keep_unmatched: bool,
}

/// `mv-apply`: each row's arrays expanded into a subtable that the subquery runs over.
#[derive(Debug, Clone)]
pub struct MvApply {
    /// `with_itemindex = Name`: a `long` column holding each item's position in its array.
    pub index: Option<String>,
    /// Expanded expressions with optional names and `to typeof()` types.
    pub items: Vec<(Option<String>, Expr, Option<KqlType>)>,
    /// `limit N`: at most N items of each row.
    pub limit: Option<usize>,
    /// The subquery's operators, run over each row's subtable.
    pub ops: Vec<Op>,
}

/// Which of a `scan` step's matches are output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOutput {
    /// Every match (the default).
    All,
    /// The last of a run of matches of the step.
    Last,
    /// None.
    None,
}

/// One `step` of `scan`.
#[derive(Debug, Clone)]
pub struct ScanStep {
    /// Its name, `Name.Column` in conditions and assignments reading its state.
    pub name: String,
    /// Which matches are output.
    pub output: ScanOutput,
    /// When a row matches the step.
    pub condition: Expr,
    /// `=> Column = Expr, ...`: what a match sets.
    pub assign: Vec<(String, Expr)>,
}

/// `scan [with_match_id = Id] [declare (...)] with (step ...; ...)`.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The column holding each output row's match number.
    pub match_id: Option<String>,
    /// Declared columns, their types and default values.
    pub declare: Vec<(String, KqlType, Option<Expr>)>,
    /// The steps, in order.
    pub steps: Vec<ScanStep>,
}

/// What `partition` runs per key value.
#[derive(Debug, Clone)]
pub enum PartitionBody {
    /// `( ops )`: operators over each partition's rows.
    Ops(Vec<Op>),
    /// `{ T | ... }`: a query with its own source, where `toscalar(Column)` is the key.
    Source(Box<TabExpr>),
}

/// How `parse-kv` finds its pairs.
#[derive(Debug, Clone)]
pub enum KvMode {
    /// `pair_delimiter`, `kv_delimiter`, `quote` and `escape`.
    Delimited {
        /// Between pairs.
        pair: String,
        /// Between a key and its value.
        kv: String,
        /// Opening and closing quote characters.
        quotes: Vec<(char, char)>,
        /// Characters that make the next character inside quotes literal.
        escapes: Vec<char>,
        /// `greedy = true`: a value runs to the pair delimiter before the next key.
        greedy: bool,
    },
    /// No delimiters: each key's value follows it after non-alphanumeric characters.
    Free {
        /// Opening and closing quote characters.
        quotes: Vec<(char, char)>,
        /// Characters that make the next character inside quotes literal.
        escapes: Vec<char>,
    },
    /// `regex`: each match's first group is a key, its second the value.
    Regex(regex::Regex),
}

/// `parse-kv Expr as (k:type, ...) with (...)`.
#[derive(Debug, Clone)]
pub struct ParseKv {
    /// The text parsed.
    pub source: Expr,
    /// The keys extracted, as columns with their types.
    pub keys: Vec<(String, KqlType)>,
    /// How pairs are found.
    pub mode: KvMode,
}

/// `reduce [kind=source] by Expr [with threshold = T, characters = "..."]`.
#[derive(Debug, Clone)]
pub struct Reduce {
    /// The text reduced.
    pub expr: Expr,
    /// The least fraction of the rows a pattern must hold not to be folded into `others`.
    pub threshold: f64,
    /// The characters that separate terms; `None` for every character that is not an ASCII
    /// letter or digit.
    pub characters: Option<String>,
    /// `kind=source`: the rows kept, each with its `Pattern`.
    pub source: bool,
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
    /// Rows left as they are: `render` (a chart hint for the client), `serialize` without
    /// columns (the rows keep their order).
    Pass,
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
    /// `lookup`: a join that keeps the left's columns and adds the right's other columns.
    Lookup {
        /// `leftouter` (the default) or `inner`.
        kind: JoinKind,
        /// The right side (a dimension table).
        right: Box<TabExpr>,
        /// `(left column, right column)` pairs.
        on: Vec<(String, String)>,
    },
    /// `parse` (rows that do not match keep nulls) and `parse-where` (they are dropped).
    Parse(Box<ParsePattern>),
    /// `evaluate bag_unpack(Bag [, 'prefix'])`.
    BagUnpack {
        /// The property bag.
        bag: Expr,
        /// Put before each new column's name.
        prefix: String,
    },
    /// `evaluate pivot(Column [, Agg] [, GroupColumn, ...])`: a column per value of `Column`.
    Pivot {
        /// The column whose values become columns.
        column: String,
        /// The aggregate in each cell (`count()` when absent).
        agg: Option<Expr>,
        /// The group columns (all but `Column` and those `agg` names when empty).
        by: Vec<String>,
    },
    /// `evaluate narrow()`: a row per cell, `Row`, `Column` and `Value`.
    Narrow,
    /// `make-series`.
    MakeSeries(Box<MakeSeries>),
    /// `top-nested`, one level per clause.
    TopNested(Vec<TopNested>),
    /// `search` over the piped rows.
    Search(Box<Search>),
    /// `fork (ops) (ops)`: the API answers one table, the first branch's.
    Fork(Vec<Vec<Op>>),
    /// `facet by A, B [with (ops)]`: the API answers one table, the first one.
    Facet {
        /// The faceted columns.
        by: Vec<String>,
        /// The `with` operators.
        with: Option<Vec<Op>>,
    },
    /// `sample N`: N rows, any of them.
    Sample(Expr),
    /// `getschema`: a row per column.
    GetSchema,
    /// `mv-apply`.
    MvApply(Box<MvApply>),
    /// `partition by Column (ops)` or `{ query }`: the subquery per key value, unioned.
    Partition {
        /// The key column.
        column: String,
        /// The subquery.
        body: PartitionBody,
    },
    /// `scan`.
    Scan(Box<Scan>),
    /// `as Name`: the rows, unchanged, also bound to `Name` for the rest of the query.
    As(String),
    /// `invoke f(args)`: the tabular function `f` called with the rows as its first argument.
    Invoke(String, Vec<Expr>),
    /// `sample-distinct N of Expr`: up to N distinct values of `Expr`.
    SampleDistinct(Expr, Expr),
    /// `top-hitters N of Expr [by Weight]`: the N values of `Expr` with the most rows (or the
    /// largest sum of `Weight`).
    TopHitters {
        /// How many values.
        count: Expr,
        /// The value counted.
        value: Expr,
        /// What is summed per value instead of counting its rows.
        weight: Option<Expr>,
    },
    /// `parse-kv`.
    ParseKv(Box<ParseKv>),
    /// `consume`: the rows read and dropped; no columns, no rows.
    Consume,
    /// `reduce`.
    Reduce(Box<Reduce>),
    /// `evaluate ipv4_lookup(...)`, `ipv6_lookup(...)`.
    IpLookup(Box<IpLookup>),
    /// `evaluate autocluster(...)`, `basket(...)`.
    Segments(Box<Segments>),
    /// `evaluate sliding_window_counts(...)`, `activity_counts_metrics(...)`,
    /// `activity_metrics(...)`, `session_count(...)`.
    Activity(Box<Activity>),
    /// `evaluate rolling_percentile(...)`.
    RollingPercentile(Box<RollingPercentile>),
    /// `evaluate diffpatterns(...)`.
    DiffPatterns(Box<DiffPatterns>),
    /// `evaluate dcount_intersect(...)`.
    DcountIntersect(Box<DcountIntersect>),
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

impl Expr {
    /// A copy in which every sub-expression `replace` answers for (the outermost first) is
    /// replaced, and the rest is kept; tabular parts (`toscalar`, tabular list items) are kept
    /// as they are.
    pub(crate) fn rewrite(&self, replace: &mut impl FnMut(&Expr) -> Option<Expr>) -> Expr {
        if let Some(new) = replace(self) {
            return new;
        }
        let mut go = |x: &Expr| Box::new(x.rewrite(replace));
        let kind = match &self.kind {
            ExprKind::Call(name, args) => {
                ExprKind::Call(name.clone(), args.iter().map(|a| *go(a)).collect())
            }
            ExprKind::Member(x, field) => ExprKind::Member(go(x), field.clone()),
            ExprKind::Neg(x) => ExprKind::Neg(go(x)),
            ExprKind::Index(x, i) => {
                let x = go(x);
                ExprKind::Index(x, go(i))
            }
            ExprKind::Binary(op, a, b) => {
                let a = go(a);
                ExprKind::Binary(*op, a, go(b))
            }
            ExprKind::List { op, lhs, items } => {
                let lhs = go(lhs);
                let items = items
                    .iter()
                    .map(|item| match item {
                        ListItem::Scalar(s) => ListItem::Scalar(*go(s)),
                        tabular @ ListItem::Tabular(_) => tabular.clone(),
                    })
                    .collect();
                ExprKind::List {
                    op: *op,
                    lhs,
                    items,
                }
            }
            ExprKind::Between {
                lhs,
                lo,
                hi,
                negate,
            } => {
                let lhs = go(lhs);
                let lo = go(lo);
                ExprKind::Between {
                    lhs,
                    lo,
                    hi: go(hi),
                    negate: *negate,
                }
            }
            other => other.clone(),
        };
        Expr {
            kind,
            pos: self.pos,
        }
    }

    /// Whether this expression or any part of it satisfies `test`.
    pub(crate) fn contains(&self, test: &impl Fn(&Expr) -> bool) -> bool {
        let mut found = false;
        self.rewrite(&mut |x| {
            found |= test(x);
            found.then(|| x.clone())
        });
        found
    }
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
    /// `(T | where ...)` written as a call's argument, for a tabular parameter.
    Table(Box<TabExpr>),
    /// A bare term of `search` or `find` (`"err"`, `"*err*"`): the string operator its
    /// wildcards choose, over every column of the row.
    Term(StrOp, String),
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
    /// `hasprefix_cs`.
    HasPrefixCs,
    /// `hassuffix_cs`.
    HasSuffixCs,
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
    pub(crate) fn from_word(word: &str) -> Option<StrOp> {
        Some(match word {
            "has" => StrOp::Has,
            "has_cs" => StrOp::HasCs,
            "hasprefix" => StrOp::HasPrefix,
            "hassuffix" => StrOp::HasSuffix,
            "hasprefix_cs" => StrOp::HasPrefixCs,
            "hassuffix_cs" => StrOp::HasSuffixCs,
            "contains" => StrOp::Contains,
            "contains_cs" => StrOp::ContainsCs,
            "startswith" => StrOp::StartsWith,
            "startswith_cs" => StrOp::StartsWithCs,
            "endswith" => StrOp::EndsWith,
            "endswith_cs" => StrOp::EndsWithCs,
            _ => return None,
        })
    }

    /// The older spellings Kusto's parser still takes (`notcontains`, `containscs`, ...): the
    /// operator each names and whether it is negated, as their names say.
    pub(crate) fn from_legacy_word(word: &str) -> Option<(StrOp, bool)> {
        let (negate, rest) = match word.strip_prefix("not") {
            Some(rest) => (true, rest),
            None => (false, word),
        };
        let op = match rest {
            "contains" if negate => StrOp::Contains,
            "startswith" if negate => StrOp::StartsWith,
            "endswith" if negate => StrOp::EndsWith,
            "containscs" => StrOp::ContainsCs,
            "startswithcs" => StrOp::StartsWithCs,
            "endswithcs" => StrOp::EndsWithCs,
            "hasprefixcs" if !negate => StrOp::HasPrefixCs,
            "hassuffixcs" if !negate => StrOp::HasSuffixCs,
            _ => return None,
        };
        Some((op, negate))
    }
}
