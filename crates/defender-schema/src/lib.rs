//! The Microsoft Defender advanced hunting schema: its tables, which API has each, and their
//! columns with types, read from `defender_schema.txt` (facts from Microsoft's public schema
//! reference, named in that file): the table and column checks of `huntd validate` and the
//! emulator's sample tables both take their column lists from here.

use std::collections::BTreeMap;
use std::sync::LazyLock;

/// One table of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The name, as queries must spell it.
    pub name: &'static str,
    /// Whether the Defender for Endpoint advanced queries API has it (Graph has every table).
    pub mde: bool,
    /// `(column, type)` pairs; empty for a table whose columns the data file does not list.
    pub columns: Vec<(&'static str, &'static str)>,
}

impl Table {
    /// Whether the data file lists the table's columns (only then are columns checked).
    pub fn has_columns(&self) -> bool {
        !self.columns.is_empty()
    }

    /// Whether `column` is one of its columns.
    pub fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|(c, _)| *c == column)
    }
}

const DATA: &str = include_str!("defender_schema.txt");

static TABLES: LazyLock<BTreeMap<&'static str, Table>> = LazyLock::new(|| {
    DATA.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(parse_line)
        .map(|table| (table.name, table))
        .collect()
});

/// `Name apis Column:type ...`; a line without a name is skipped (the data file's unit test
/// proves there is none).
fn parse_line(line: &'static str) -> Option<Table> {
    let mut fields = line.split_whitespace();
    let name = fields.next()?;
    let apis = fields.next()?;
    let columns = fields.filter_map(|f| f.split_once(':')).collect();
    Some(Table {
        name,
        mde: apis.split(',').any(|a| a == "mde"),
        columns,
    })
}

/// The table called `name` (exact spelling).
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.get(name)
}

/// Every table name, in name order.
pub fn table_names() -> impl Iterator<Item = &'static str> {
    TABLES.keys().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPES: [&str; 9] = [
        "string", "long", "int", "datetime", "bool", "dynamic", "real", "guid", "timespan",
    ];

    #[test]
    fn every_line_of_the_data_file_is_a_table_with_typed_unique_columns() {
        let lines = DATA
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(
            TABLES.len(),
            lines,
            "a line did not parse, or a name repeats"
        );
        for table in TABLES.values() {
            let mut seen = std::collections::BTreeSet::new();
            for (column, ty) in &table.columns {
                assert!(TYPES.contains(ty), "{}.{column}: type {ty}", table.name);
                assert!(seen.insert(column), "{}.{column} twice", table.name);
            }
        }
        assert!(TABLES.len() >= 60, "{} tables", TABLES.len());
    }

    #[test]
    fn device_tables_are_on_both_apis_and_the_others_on_graph_only() {
        let process = table("DeviceProcessEvents").expect("a core table");
        assert!(process.mde && process.has("ProcessCommandLine"));
        let email = table("EmailEvents").expect("a core table");
        assert!(!email.mde && email.has("NetworkMessageId"));
        assert!(table("DeviceAlertEvents").is_none(), "retired");
    }
}
