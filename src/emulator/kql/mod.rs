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

mod eval;
mod lexer;
mod parser;
mod scalar;
mod value;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use value::{KqlType, Value, format_datetime_iso, format_timespan};

/// One row: cells in column order, shared between a table and every result that keeps it.
pub type Row = Arc<[Value]>;

/// A query that cannot run: the message the service would give and where in the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (line {line}, column {column})")]
pub struct KqlError {
    /// The message, worded like the real service's (`Syntax error: ...`, `'x' operator is not supported`).
    pub message: String,
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
}

impl KqlError {
    fn new(message: String, src: &str, pos: usize) -> KqlError {
        let pos = pos.min(src.len());
        let before = src.get(..pos).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        KqlError {
            message,
            line,
            column,
        }
    }

    fn syntax(message: &str, src: &str, pos: usize) -> KqlError {
        KqlError::new(format!("Syntax error: {message}"), src, pos)
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, KqlError>;

/// Why a table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// A row's cell count differs from the column count.
    #[error("table {table}: row has {got} cells, expected {want}")]
    Arity {
        /// Table name.
        table: String,
        /// Cells given.
        got: usize,
        /// Columns declared.
        want: usize,
    },
}

/// A named table with typed columns.
#[derive(Debug, Clone)]
pub struct Table {
    /// Table name, e.g. `DeviceProcessEvents`.
    pub name: String,
    /// Column names and types, in order.
    pub columns: Vec<(String, KqlType)>,
    /// The rows.
    pub rows: Vec<Row>,
}

impl Table {
    /// An empty table with the given schema.
    pub fn new(name: impl Into<String>, columns: Vec<(String, KqlType)>) -> Table {
        Table {
            name: name.into(),
            columns,
            rows: Vec::new(),
        }
    }

    /// Appends a row, checking its width.
    pub fn push(&mut self, row: Vec<Value>) -> std::result::Result<(), TableError> {
        if row.len() != self.columns.len() {
            return Err(TableError::Arity {
                table: self.name.clone(),
                got: row.len(),
                want: self.columns.len(),
            });
        }
        self.rows.push(Row::from(row));
        Ok(())
    }
}

/// Tables by name.
#[derive(Debug, Clone, Default)]
pub struct Database {
    /// The tables, keyed by name (case-sensitive, as in KQL).
    pub tables: HashMap<String, Table>,
}

impl Database {
    /// An empty database.
    pub fn new() -> Database {
        Database::default()
    }

    /// Adds or replaces a table.
    pub fn insert(&mut self, table: Table) {
        self.tables.insert(table.name.clone(), table);
    }
}

/// A query's answer: a schema and rows.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Column names and types.
    pub columns: Vec<(String, KqlType)>,
    /// The rows (the caller applies row caps).
    pub rows: Vec<Row>,
}

impl QueryResult {
    /// The schema as Defender reports it: `(name, type name)` pairs such as `("Timestamp", "DateTime")`.
    pub fn schema(&self) -> Vec<(String, &'static str)> {
        self.columns
            .iter()
            .map(|(n, t)| (n.clone(), t.defender_name()))
            .collect()
    }

    /// One row as a JSON object in Defender's format (datetimes with 7 fraction digits and `Z`).
    pub fn row_json(&self, row: &[Value]) -> serde_json::Map<String, serde_json::Value> {
        self.columns
            .iter()
            .zip(row)
            .map(|((n, _), v)| (n.clone(), v.to_json()))
            .collect()
    }

    /// The schema as Defender's APIs send it: `[{"Name": ..., "Type": ...}]`.
    pub fn schema_json(&self) -> serde_json::Value {
        self.columns
            .iter()
            .map(|(n, t)| serde_json::json!({"Name": n, "Type": t.defender_name()}))
            .collect()
    }

    /// Every row as JSON objects.
    pub fn rows_json(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows.iter().map(|r| self.row_json(r)).collect()
    }
}

/// Runs a query. `window` (Graph's `Timespan`) keeps only rows whose `Timestamp` lies within
/// `[start, end]` in every table that has one; `now` is what `now()` and `ago()` see.
#[tracing::instrument(skip(db, query), fields(query_len = query.len()))]
pub fn run(
    db: &Database,
    query: &str,
    now: DateTime<Utc>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<QueryResult> {
    let parsed = parser::parse(query)?;
    let rel = eval::Ctx::new(db, query, now, window).run(&parsed)?;
    Ok(QueryResult {
        columns: rel.cols,
        rows: rel.rows,
    })
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests;
