//! The emulator's KQL engine: the part of KQL that hunting queries use, over in-memory tables.
//!
//! Why our own parser: the `kqlparser` crate (0.0.4, nom-based, last released years ago)
//! has no positions in its errors, lacks `=~`, `has`, `contains`, `in`, `between`, `!`-forms,
//! comments, sort directions and wildcard `project-away`, and parses `and` with the wrong
//! precedence; carrying this subset on it would mean rewriting most of it.
//!
//! `run` lexes and parses the whole query first (syntax errors carry line and column), then
//! compiles each operator's expressions against the incoming schema (columns become indexes,
//! constants such as `ago(7d)` are folded once) and evaluates over rows shared by `Arc`, so
//! filtering and projecting never copy cell data.

mod aggregate;
mod ast;
mod calendar;
mod cexpr;
mod compile;
mod context;
mod error;
mod eval;
mod external;
mod functions;
mod hll;
mod lexer;
mod lifted;
mod make_series;
mod operators;
mod parser;
mod plugins;
mod query;
mod rel;
mod row_order;
mod scalar;
mod syntax;
mod table;
mod tabular;
mod user_functions;
mod value;

pub use error::{Cause, KqlError, Result, Unresolved, show_invisible};
pub use external::{ExternalBodies, redact_url};
pub use query::{QueryResult, dry_run, external_urls, run, run_with_external};
pub use syntax::{
    Construct, Event, Literal, Pipe, Syntax, SyntaxError, check as check_syntax, keywords,
};
pub use table::{Database, Row, Table, TableError};
pub use value::{KqlType, Value, format_datetime_iso, format_timespan};

#[cfg(test)]
mod fixture;

#[cfg(test)]
mod tests;
