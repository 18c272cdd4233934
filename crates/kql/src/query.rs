//! Running a query over a database and the answer in Defender's wire format.

use chrono::{DateTime, Utc};

use crate::context::Ctx;
use crate::error::{KqlError, Result};
use crate::external::ExternalBodies;
use crate::parser;
use crate::table::{Database, Row};
use crate::value::{KqlType, Value};

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

/// Runs a query that reads no external data. `window` (Graph's `Timespan`) keeps only rows
/// whose `Timestamp` lies within `[start, end]` in every table that has one; `now` is what
/// `now()` and `ago()` see. An `externaldata` source fails: nothing was fetched for it.
pub fn run(
    db: &Database,
    query: &str,
    now: DateTime<Utc>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<QueryResult> {
    run_with_external(db, query, now, window, &ExternalBodies::new())
}

/// Runs a query as [`run`] does, its `externaldata` sources reading `external`: the bodies the
/// caller fetched for the URLs [`external_urls`] lists.
#[tracing::instrument(skip(db, query, external), fields(query_len = query.len()))]
pub fn run_with_external(
    db: &Database,
    query: &str,
    now: DateTime<Utc>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    external: &ExternalBodies,
) -> Result<QueryResult> {
    let parsed = parser::parse(query).map_err(|e| name_unsupported(e, query))?;
    let rel = Ctx::new(db, query, now, window, external).run(&parsed)?;
    Ok(QueryResult {
        columns: rel.cols,
        rows: rel.rows,
    })
}

/// The error that stops `query` running over `db`, if any: `validate` runs each query over the
/// schema's tables, empty, so that it costs next to nothing, and reports the error's `cause`.
/// `None` also when the engine's parser refuses the query (the syntax checker reports that).
pub fn dry_run(db: &Database, query: &str) -> Option<KqlError> {
    let parsed = parser::parse(query).ok()?;
    Ctx::new(
        db,
        query,
        DateTime::UNIX_EPOCH,
        None,
        &ExternalBodies::new(),
    )
    .run(&parsed)
    .err()
}

/// The distinct URLs the query's `externaldata` sources read, in the order they are written:
/// what a caller fetches before [`run_with_external`]. Secret-bearing: show them only through
/// [`crate::redact_url`].
pub fn external_urls(query: &str) -> Result<Vec<String>> {
    let parsed = parser::parse(query).map_err(|e| name_unsupported(e, query))?;
    Ok(parsed.external_urls)
}

/// A syntax error of the engine's parser on a query that is valid KQL (the full checker accepts
/// it) is a construct the engine does not run: say so and name it, instead of calling valid KQL
/// a syntax error.
fn name_unsupported(error: KqlError, query: &str) -> KqlError {
    if !error.message.starts_with("Syntax error") {
        return error;
    }
    let syntax = crate::syntax::check(query);
    if !syntax.is_valid() {
        return error;
    }
    let at = error.offset(query);
    if query[at..].trim().is_empty() {
        // Valid to the checker, yet nothing after the `let`s: the usual cause is a `//` comment
        // in a query folded onto one line, which then runs to the end of the query.
        return KqlError::new(
            "the query has no tabular expression to run after its `let` statements (a `//` \
             comment runs to the end of its line: in a query folded onto one line, to the end \
             of the query)"
                .to_string(),
            query,
            at,
        );
    }
    let message = if let Some(construct) = syntax.constructs.iter().find(|c| c.span.start == at) {
        format!(
            "operator '{}' is not supported by huntd emulate",
            construct.name
        )
    } else {
        // The word before the failing spot and the spot itself: `view ()`, `x.length()`.
        let before = query[..at].trim_end();
        let from = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let to = query[at..]
            .find(char::is_whitespace)
            .map_or(query.len(), |i| at + i);
        let text: String = query[from..to].chars().take(60).collect();
        format!("'{text}' is valid KQL that huntd emulate does not support")
    };
    KqlError::new(message, query, at)
}
