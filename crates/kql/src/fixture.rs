//! Small in-memory tables for tests.

use chrono::{DateTime, TimeZone, Utc};

use crate::{Database, KqlType, Table, Value};

/// Builds a table row by row.
pub struct TableBuilder(Table);

/// Starts a table with `(name, type)` columns.
pub fn table(name: &str, columns: &[(&str, KqlType)]) -> TableBuilder {
    TableBuilder(Table::new(
        name,
        columns
            .iter()
            .map(|(n, t)| ((*n).to_string(), *t))
            .collect(),
    ))
}

impl TableBuilder {
    /// Adds a row.
    pub fn row(mut self, cells: Vec<Value>) -> TableBuilder {
        self.0
            .push(cells)
            .expect("fixture rows match their columns");
        self
    }

    /// The finished table.
    pub fn build(self) -> Table {
        self.0
    }
}

/// A database holding the given tables.
pub fn db(tables: Vec<Table>) -> Database {
    let mut db = Database::new();
    for t in tables {
        db.insert(t);
    }
    db
}

/// A string cell.
pub fn s(text: &str) -> Value {
    Value::str(text)
}

/// A long cell.
pub fn l(n: i64) -> Value {
    Value::Long(n)
}

/// A datetime cell from RFC 3339 text.
pub fn dt(text: &str) -> Value {
    Value::DateTime(utc(text))
}

/// A UTC time from RFC 3339 text.
pub fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("fixture datetimes are valid")
}

/// A dynamic cell.
pub fn j(json: serde_json::Value) -> Value {
    Value::dynamic(json)
}

/// The fixed "now" of the tests.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 2, 10, 12, 0, 0)
        .single()
        .expect("valid fixed time")
}
