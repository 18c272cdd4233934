//! The whole Kusto query language, checked: a recognizer for everything advanced hunting
//! accepts (every tabular operator, `let` functions, `declare query_parameters`, every literal
//! form), held to Microsoft's own parser by the oracle tests (`tests/kql_oracle.rs`).
//!
//! It is separate from the evaluator's parser (`crate::parser`), which builds the tree the
//! engine runs and refuses what the engine cannot evaluate: this one only says whether a query
//! is valid KQL and where it is not, and names the operators it met, so a query the engine
//! cannot run is told apart from one that is not KQL at all.

mod cursor;
mod expr;
mod keywords;
mod lex;
mod operators;
mod sources;
mod statements;

use std::ops::Range;

/// Operator keywords that are reserved, start a tabular expression and are never an output
/// name, all at once.
const TABULAR_KEYWORDS: [&str; 11] = [
    "project",
    "project-away",
    "project-keep",
    "project-rename",
    "project-reorder",
    "union",
    "mv-expand",
    "mv-apply",
    "make-series",
    "parse-where",
    "parse-kv",
];

/// The string operators, each with its case-sensitive form: reserved words, and negatable
/// with `!` (`!has`).
const STRING_OPERATORS: [&str; 12] = [
    "has",
    "has_cs",
    "hasprefix",
    "hasprefix_cs",
    "hassuffix",
    "hassuffix_cs",
    "contains",
    "contains_cs",
    "startswith",
    "startswith_cs",
    "endswith",
    "endswith_cs",
];

/// A syntax error: what is wrong and the byte span of the query it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong, e.g. `expected an expression, found end of query`.
    pub message: String,
    /// Byte span in the query text (empty at the end of the query).
    pub span: Range<usize>,
}

/// A tabular operator or statement the query uses, and where its keyword is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Construct {
    /// The keyword as written: `scan`, `mv-apply`, `let`...
    pub name: String,
    /// Byte span of the keyword.
    pub span: Range<usize>,
}

/// What checking a query's syntax found.
#[derive(Debug, Clone, Default)]
pub struct Syntax {
    /// Each statement's first syntax error, in order; empty for a valid query.
    pub errors: Vec<SyntaxError>,
    /// Every tabular operator and statement keyword met, in order.
    pub constructs: Vec<Construct>,
    /// Names used where a table goes (a pipe's first element, a `union` or `join` operand):
    /// tables, or names the query binds itself (see `bound`).
    pub tables: Vec<Construct>,
    /// Names the query binds: `let` names, function and query parameters.
    pub bound: Vec<String>,
    /// Each tabular expression's source and the names its operators use and define, in order,
    /// for checking columns against a schema.
    pub pipes: Vec<Pipe>,
}

/// One tabular expression as names flow through it.
#[derive(Debug, Clone, Default)]
pub struct Pipe {
    /// The table or bound name it starts from, when it starts from a bare name.
    pub source: Option<Construct>,
    /// What its operators do with names, in order.
    pub events: Vec<Event>,
}

/// What an operator of a pipe does with a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An operator starts (its keyword).
    Operator(String),
    /// A bare name is used in an expression: a column, or a bound name.
    Uses(Construct),
    /// An output name is assigned (`extend x = ...`).
    Defines(String),
    /// A bare name is compared with a literal (`FileSize > "100"`), for type checks.
    Compares(Construct, Literal),
}

/// The kind of a literal a name is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Literal {
    /// A string literal.
    String,
    /// A number (not a timespan such as `7d`).
    Number,
    /// `true` or `false`.
    Bool,
}

impl Syntax {
    /// Whether the query is valid KQL.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks the syntax of a whole query (statements separated by `;`), collecting the first error
/// of each statement; never panics, whatever the input.
pub fn check(src: &str) -> Syntax {
    let mut p = cursor::Checker::new(src);
    p.statements();
    Syntax {
        errors: p.errors,
        constructs: p.constructs,
        tables: p.tables,
        bound: p.bound,
        pipes: p.pipes,
    }
}

/// The words of the language a misspelt word is compared with for a "did you mean": the
/// tabular operators and the string and list operators.
pub fn keywords() -> impl Iterator<Item = &'static str> {
    operators::OPERATORS
        .iter()
        .chain(&expr::BINARY_WORDS)
        .chain(&expr::LIST_WORDS)
        .copied()
        .filter(|w| !w.starts_with('!'))
}

#[cfg(test)]
mod tests;
