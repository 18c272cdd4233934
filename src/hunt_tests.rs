//! `huntd test`: a job's `tests:` run offline through the KQL engine the emulator uses. Each
//! case's input rows become tables (with Defender's columns for the tables the emulator knows,
//! so a query may name columns a case leaves out), the query is rendered for the case's window
//! and run as the daemon would send it, and the answer is held to the case's expectation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use crate::diagnostic::Location;
use crate::emulator::{jsonl, schema};
use crate::jobs::cases::{External, Input, TestCase};
use crate::jobs::{Environment, Job};

/// A row as JSON.
pub type JsonRow = serde_json::Map<String, serde_json::Value>;

/// How one case went.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The job.
    pub job: String,
    /// The case.
    pub case: String,
    /// The job file and where the case is written in it.
    pub at: (PathBuf, Location),
    /// Passed, failed or could not run.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// What a case came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The answer met the expectation.
    Passed {
        /// Rows returned.
        rows: usize,
    },
    /// The answer did not: what is wrong, and the rows returned.
    Failed {
        /// Each way the answer missed the expectation.
        problems: Vec<String>,
        /// What the query returned.
        actual: Vec<JsonRow>,
    },
    /// The case could not run: an input file, a row or the query itself is wrong.
    Error(String),
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Passed { .. })
    }
}

/// Runs every case of `jobs`, in job and case order.
pub fn run_all(jobs: &[Job]) -> Vec<CaseResult> {
    jobs.iter()
        .flat_map(|job| job.tests.iter().map(move |case| run_case(job, case)))
        .collect()
}

/// Runs one case of `job`.
pub fn run_case(job: &Job, case: &TestCase) -> CaseResult {
    let started = Instant::now();
    let outcome = match answer(job, case) {
        Ok(actual) => judge(case, actual),
        Err(message) => Outcome::Error(message),
    };
    CaseResult {
        job: job.name.clone(),
        case: case.name.clone(),
        at: (job.source.clone(), case.location),
        outcome,
        elapsed: started.elapsed(),
    }
}

/// The rows the job's query returns over the case's tables and window.
fn answer(job: &Job, case: &TestCase) -> Result<Vec<JsonRow>, String> {
    let mut tables = BTreeMap::new();
    for (name, input) in &case.input {
        tables.insert(name.clone(), records(name, input)?);
    }
    let end = case
        .window
        .end
        .or_else(|| newest_timestamp(&tables).map(|t| t + TimeDelta::seconds(1)))
        .unwrap_or_else(Utc::now);
    let lookback = TimeDelta::from_std(job.lookback).unwrap_or(TimeDelta::MAX);
    let start = case
        .window
        .start
        .unwrap_or_else(|| end.checked_sub_signed(lookback).unwrap_or(end));
    let mut db = kql::Database::new();
    // The tables a case leaves out are there, empty, as in a tenant with no such events.
    for name in schema::sample_table_names() {
        if !tables.contains_key(name) {
            let columns = schema::sample_schema(name);
            let table = jsonl::table_from_records(name, Vec::new(), columns, &job.source)
                .map_err(|e| e.to_string())?;
            db.insert(table);
        }
    }
    for (name, rows) in tables {
        let columns = schema::sample_schema(&name);
        if let Some(columns) = &columns {
            check_columns(&name, columns, &rows)?;
        }
        let table = jsonl::table_from_records(&name, rows, columns, &job.source)
            .map_err(|e| format!("input of {name}: {e}"))?;
        db.insert(table);
    }
    let query = job
        .render(start, end)
        .map_err(|e| format!("the query does not render: {e}"))?;
    // Graph narrows every table to the window it is sent (`Timespan`); MDE sends none.
    let timespan = (job.environment == Environment::Graph && job.timespan).then_some((start, end));
    let bodies = external_bodies(case, &query)?;
    let result = kql::run_with_external(&db, &query, end, timespan, &bodies)
        .map_err(|e| format!("the query fails: {e}"))?;
    Ok(result.rows_json())
}

/// What each URL the query's `externaldata` reads answers, from the case's `external:`; a URL
/// the case leaves out, or one it gives that the query does not read (a typo, most likely), is
/// an error naming it without its query string, where a SAS token would be.
fn external_bodies(case: &TestCase, query: &str) -> Result<kql::ExternalBodies, String> {
    let urls = kql::external_urls(query).unwrap_or_default();
    let mut bodies = kql::ExternalBodies::new();
    for url in &urls {
        let body = match case.external.get(url) {
            Some(External::Text(text)) => text.clone().into_bytes(),
            Some(External::File(path)) => std::fs::read(path).map_err(|e| {
                format!(
                    "the body of {}: {}: {e}",
                    kql::redact_url(url),
                    path.display()
                )
            })?,
            None => {
                return Err(format!(
                    "the query reads externaldata from {}, which the case does not give: add it \
                     under `external:`, as the text it answers or `{{file: list.csv}}`",
                    kql::redact_url(url)
                ));
            }
        };
        bodies.insert(url.clone(), body);
    }
    if let Some(unread) = case.external.keys().find(|u| !urls.contains(u)) {
        return Err(format!(
            "the case gives `external:` {}, which the query does not read",
            kql::redact_url(unread)
        ));
    }
    Ok(bodies)
}

/// A table's input records, numbered by line (a file) or position (inline rows).
fn records(name: &str, input: &Input) -> Result<Vec<(usize, JsonRow)>, String> {
    match input {
        Input::Rows(rows) => Ok(rows
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, r)| (i + 1, r))
            .collect()),
        Input::File(path) => jsonl::read_records(path).map_err(|e| format!("input of {name}: {e}")),
    }
}

/// A column a row names that the known table lacks is a typo the query would never see.
fn check_columns(
    name: &str,
    columns: &[(String, kql::KqlType)],
    rows: &[(usize, JsonRow)],
) -> Result<(), String> {
    for (n, row) in rows {
        if let Some(unknown) = row.keys().find(|k| !columns.iter().any(|(c, _)| c == *k)) {
            let hint =
                crate::diagnostic::did_you_mean(unknown, columns.iter().map(|(c, _)| c.as_str()))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
            return Err(format!(
                "row {n} of {name} has column `{unknown}`, which {name} does not have{hint}"
            ));
        }
    }
    Ok(())
}

/// The newest `Timestamp` of any input row.
fn newest_timestamp(tables: &BTreeMap<String, Vec<(usize, JsonRow)>>) -> Option<DateTime<Utc>> {
    tables
        .values()
        .flatten()
        .filter_map(|(_, row)| {
            row.get("Timestamp")?
                .as_str()?
                .parse::<DateTime<Utc>>()
                .ok()
        })
        .max()
}

/// Holds `actual` to the case's expectation.
fn judge(case: &TestCase, actual: Vec<JsonRow>) -> Outcome {
    let mut problems = Vec::new();
    if let Some(rows) = case.expect.rows
        && rows != actual.len()
    {
        problems.push(match rows {
            0 => format!("expected no rows, got {}", actual.len()),
            1 => format!("expected 1 row, got {}", actual.len()),
            n => format!("expected {n} rows, got {}", actual.len()),
        });
    }
    for expected in &case.expect.contains {
        if !actual.iter().any(|row| matches(expected, row)) {
            problems.push(format!(
                "no row matches {}",
                serde_json::Value::Object(expected.clone())
            ));
        }
    }
    if problems.is_empty() {
        Outcome::Passed { rows: actual.len() }
    } else {
        Outcome::Failed { problems, actual }
    }
}

/// Whether `row` holds every column of `expected` with an equal value.
fn matches(expected: &JsonRow, row: &JsonRow) -> bool {
    expected
        .iter()
        .all(|(column, want)| row.get(column).is_some_and(|got| same(want, got)))
}

/// Equal values, as a hunter means it: the same instant written two ways, `1` and `1.0`, or a
/// number written as text in YAML.
fn same(want: &serde_json::Value, got: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    if want == got {
        return true;
    }
    match (want, got) {
        (J::String(w), J::String(g)) => {
            match (w.parse::<DateTime<Utc>>(), g.parse::<DateTime<Utc>>()) {
                (Ok(w), Ok(g)) => w == g,
                _ => false,
            }
        }
        (J::Number(w), J::Number(g)) => w.as_f64() == g.as_f64(),
        (J::String(w), J::Number(_) | J::Bool(_)) => w.as_str() == got.to_string().as_str(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(value: serde_json::Value) -> JsonRow {
        match value {
            serde_json::Value::Object(map) => map,
            _ => panic!("an object"),
        }
    }

    #[test]
    fn partial_rows_match_the_same_instant_number_or_text_however_written() {
        let actual = row(json!({
            "Timestamp": "2024-05-01T09:10:00.0000000Z", "Port": 443, "Ratio": 1.0, "Name": "ws-1"
        }));
        assert!(matches(
            &row(json!({"Timestamp": "2024-05-01T09:10:00Z", "Port": "443"})),
            &actual
        ));
        assert!(matches(&row(json!({"Ratio": 1, "Name": "ws-1"})), &actual));
        assert!(!matches(&row(json!({"Name": "ws-2"})), &actual));
        assert!(!matches(&row(json!({"Missing": null})), &actual));
    }
}
