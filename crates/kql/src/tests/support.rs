//! The tables the engine's tests query and helpers to run a query and look at its answer.

use serde_json::{Value as J, json};

use crate::fixture::{db, dt, j, l, now, s, table};
use crate::{Database, KqlError, KqlType, QueryResult, Table, Value, run};

pub(super) fn procs() -> Table {
    table(
        "Proc",
        &[
            ("Timestamp", KqlType::DateTime),
            ("DeviceName", KqlType::String),
            ("FileName", KqlType::String),
            ("CommandLine", KqlType::String),
            ("Size", KqlType::Long),
            ("Extra", KqlType::Dynamic),
        ],
    )
    .row(vec![
        dt("2024-02-10T08:00:00Z"),
        s("ws1"),
        s("powershell.exe"),
        s("powershell.exe -enc SQBFAFgA"),
        l(10),
        j(json!({"Parent": "explorer.exe", "Tags": ["a", "b"]})),
    ])
    .row(vec![
        dt("2024-02-10T09:30:00Z"),
        s("ws1"),
        s("cmd.exe"),
        s("cmd.exe /c whoami"),
        l(20),
        j(json!({"Parent": "winword.exe", "Tags": []})),
    ])
    .row(vec![
        dt("2024-02-09T10:00:00Z"),
        s("WS2"),
        s("PowerShell.EXE"),
        s("PowerShell.EXE -File x.ps1"),
        Value::Null,
        Value::Null,
    ])
    .row(vec![
        dt("2024-01-01T00:00:00Z"),
        s("srv1"),
        s("notepad.exe"),
        s(""),
        l(5),
        j(json!({"Parent": "explorer.exe", "Tags": ["c"]})),
    ])
    .build()
}

pub(super) fn devices() -> Table {
    table(
        "Dev",
        &[
            ("DeviceName", KqlType::String),
            ("OS", KqlType::String),
            ("Size", KqlType::Long),
        ],
    )
    .row(vec![s("ws1"), s("Windows11"), l(1)])
    .row(vec![s("srv1"), s("WindowsServer"), l(2)])
    .row(vec![s("srv1"), s("WindowsServer2"), l(3)])
    .build()
}

pub(super) fn test_db() -> Database {
    db(vec![
        procs(),
        devices(),
        table("Empty", &[("A", KqlType::String), ("N", KqlType::Long)]).build(),
    ])
}

pub(super) fn run_ok(query: &str) -> QueryResult {
    run_in(&test_db(), query)
}

/// `query`'s answer over `database`; a failure fails the test, naming the query.
pub(super) fn run_in(database: &Database, query: &str) -> QueryResult {
    match run(database, query, now(), None) {
        Ok(r) => r,
        Err(e) => panic!("query failed: {e}\n{query}"),
    }
}

/// `query`'s rows, as JSON objects, over a database of `tables`.
pub(super) fn rows_in(tables: Vec<Table>, query: &str) -> Vec<J> {
    run_in(&db(tables), query)
        .rows_json()
        .into_iter()
        .map(J::Object)
        .collect()
}

pub(super) fn rows(query: &str) -> Vec<J> {
    run_ok(query)
        .rows_json()
        .into_iter()
        .map(J::Object)
        .collect()
}

/// The values of one column, as JSON.
pub(super) fn col(query: &str, name: &str) -> Vec<J> {
    rows(query).into_iter().map(|r| r[name].clone()).collect()
}

pub(super) fn names(query: &str) -> Vec<String> {
    run_ok(query).columns.into_iter().map(|(n, _)| n).collect()
}

pub(super) fn fails(query: &str) -> KqlError {
    fails_in(&test_db(), query)
}

/// `query`'s error over `database`; an answer fails the test, naming the query.
pub(super) fn fails_in(database: &Database, query: &str) -> KqlError {
    match run(database, query, now(), None) {
        Ok(r) => panic!("query should fail but gave {} rows: {query}", r.rows.len()),
        Err(e) => e,
    }
}

/// Asserts `query` fails with `message` at `(line, column)`.
pub(super) fn assert_fails_at(query: &str, message: &str, at: (usize, usize)) {
    let e = fails(query);
    assert_eq!(e.message, message, "{query}");
    assert_eq!((e.line, e.column), at, "{query}");
}

/// Asserts how many rows each query gives, naming the query that disagrees.
pub(super) fn assert_counts(cases: &[(&str, usize)]) {
    for (query, want) in cases {
        assert_eq!(rows(query).len(), *want, "{query}");
    }
}

/// The value and the type of `print v = <expr>`.
pub(super) fn eval(expr: &str) -> (J, KqlType) {
    let r = run_ok(&format!("print v = {expr}"));
    let ty = r.columns.first().map_or(KqlType::Dynamic, |c| c.1);
    let value = r
        .rows_json()
        .into_iter()
        .next()
        .and_then(|mut row| row.remove("v"))
        .unwrap_or(J::Null);
    (value, ty)
}

/// The value of `print v = <expr>`.
pub(super) fn value(expr: &str) -> J {
    eval(expr).0
}
