//! Tables and the database a query reads.

use std::collections::HashMap;
use std::sync::Arc;

use crate::value::{KqlType, Value};

/// One row: cells in column order, shared between a table and every result that keeps it.
pub type Row = Arc<[Value]>;

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
