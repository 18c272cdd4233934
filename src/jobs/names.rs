//! Tables and columns a query names, checked against the Defender schema
//! ([`crate::defender_schema`]): unknown tables (`kql-unknown-table`), columns a table does not
//! have (`kql-unknown-column`), and tables the MDE API does not have (`kql-wrong-api`), each
//! with a "did you mean" when a name is close.
//!
//! Only what can be proved is reported: columns are followed from a schema table through the
//! operators that keep or add to its columns (`where`, `extend`, `sort`, `take`, ...) and up to
//! the first `project`, `summarize` or `distinct`; after any other operator (`join`, `parse`,
//! `mv-expand`, ...) nothing more is checked. Names the query binds (`let`, parameters) are never
//! reported.

use std::collections::BTreeSet;

use kql::{Event, Literal, Syntax};

use super::Environment;
use crate::defender_schema::{self, Table};
use crate::diagnostic::did_you_mean;

/// The diagnostic code of an unknown table.
pub const UNKNOWN_TABLE: &str = "kql-unknown-table";
/// The diagnostic code of a column its table does not have.
pub const UNKNOWN_COLUMN: &str = "kql-unknown-column";
/// The diagnostic code of a table the job's API does not have.
pub const WRONG_API: &str = "kql-wrong-api";
/// The diagnostic code of a comparison Kusto refuses for its types (`FileSize > "100"`).
pub const TYPE: &str = "kql-type";

/// Operators after which a table's columns are all still there (some maybe added).
const KEEPING: [&str; 9] = [
    "where", "filter", "extend", "take", "limit", "sort", "order", "top", "sample",
];
/// Operators whose own names are checked but after which the columns are new.
const LAST_CHECKED: [&str; 3] = ["project", "summarize", "distinct"];

/// One problem with a name: its code, byte offset in the query, message and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `kql-unknown-table`, `kql-unknown-column` or `kql-wrong-api`.
    pub code: &'static str,
    /// Byte offset of the name in the query.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// A "did you mean", when a name is close.
    pub hint: Option<String>,
}

/// The name problems of a checked query; `environment` is the job's API (`None` for a library
/// query, whose API is not known).
pub fn problems(syntax: &Syntax, environment: Option<Environment>) -> Vec<Problem> {
    let bound: BTreeSet<&str> = syntax.bound.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for table in &syntax.tables {
        let name = table.name.as_str();
        if bound.contains(name) {
            continue;
        }
        match defender_schema::table(name) {
            None => found.push(Problem {
                code: UNKNOWN_TABLE,
                offset: table.span.start,
                message: format!("unknown table `{name}`"),
                hint: did_you_mean(name, defender_schema::table_names())
                    .map(|t| format!("did you mean `{t}`?")),
            }),
            Some(t) if environment == Some(Environment::Mde) && !t.mde => found.push(Problem {
                code: WRONG_API,
                offset: table.span.start,
                message: format!("table `{name}` is not in the Defender for Endpoint API"),
                hint: Some("use `environment: M365DGraph`: Microsoft Graph has every table".into()),
            }),
            Some(_) => {}
        }
    }
    for pipe in &syntax.pipes {
        let Some(source) = &pipe.source else { continue };
        if bound.contains(source.name.as_str()) {
            continue;
        }
        if let Some(table) = defender_schema::table(&source.name).filter(|t| t.has_columns()) {
            columns(table, &pipe.events, &bound, &mut found);
        }
    }
    found
}

/// Follows `table`'s columns through `events` as far as they can be known.
fn columns(table: &Table, events: &[Event], bound: &BTreeSet<&str>, found: &mut Vec<Problem>) {
    let mut added: BTreeSet<&str> = BTreeSet::new();
    let mut started = false;
    let mut last = false;
    for event in events {
        match event {
            Event::Operator(op) => {
                if last || !(KEEPING.contains(&op.as_str()) || LAST_CHECKED.contains(&op.as_str()))
                {
                    return;
                }
                started = true;
                last = LAST_CHECKED.contains(&op.as_str());
            }
            Event::Defines(name) => {
                added.insert(name);
            }
            Event::Uses(name) if started => {
                let n = name.name.as_str();
                if !table.has(n) && !added.contains(n) && !bound.contains(n) {
                    let known = table
                        .columns
                        .iter()
                        .map(|(c, _)| *c)
                        .chain(added.iter().copied());
                    found.push(Problem {
                        code: UNKNOWN_COLUMN,
                        offset: name.span.start,
                        message: format!("`{}` has no column `{n}`", table.name),
                        hint: did_you_mean(n, known).map(|c| format!("did you mean `{c}`?")),
                    });
                }
            }
            Event::Compares(name, literal) if started => {
                let n = name.name.as_str();
                if added.contains(n) || bound.contains(n) {
                    continue;
                }
                let Some((_, ty)) = table.columns.iter().find(|(c, _)| *c == n) else {
                    continue;
                };
                if let Some(hint) = mismatch(ty, *literal) {
                    found.push(Problem {
                        code: TYPE,
                        offset: name.span.start,
                        message: format!(
                            "`{n}` is a {ty} column compared with a {}: Kusto refuses to compare \
                             values of types {ty} and {}",
                            literal_name(*literal),
                            literal_type(*literal)
                        ),
                        hint: Some(hint.to_string()),
                    });
                }
            }
            Event::Uses(_) | Event::Compares(..) => {}
        }
    }
}

/// What to write instead when a column of type `ty` is compared with `literal`, if Kusto
/// refuses that comparison (a bool compares with numbers, and numbers with each other).
fn mismatch(ty: &str, literal: Literal) -> Option<&'static str> {
    match (ty, literal) {
        ("datetime", Literal::String | Literal::Number) => {
            Some("write the time as `datetime(2024-01-31 08:00)`, or as `ago(1d)`")
        }
        ("long" | "int" | "real" | "double", Literal::String) => {
            Some("write the number without quotes")
        }
        ("string", Literal::Number | Literal::Bool) => Some("put the value in quotes"),
        ("bool", Literal::String) => Some("write `true` or `false` without quotes"),
        _ => None,
    }
}

fn literal_name(literal: Literal) -> &'static str {
    match literal {
        Literal::String => "string literal",
        Literal::Number => "number",
        Literal::Bool => "bool literal",
    }
}

fn literal_type(literal: Literal) -> &'static str {
    match literal {
        Literal::String => "string",
        Literal::Number => "long",
        Literal::Bool => "bool",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(query: &str, environment: Option<Environment>) -> Vec<(&'static str, String)> {
        let syntax = kql::check_syntax(query);
        assert!(syntax.is_valid(), "{query}: {:?}", syntax.errors);
        problems(&syntax, environment)
            .into_iter()
            .map(|p| (p.code, format!("{} / {:?}", p.message, p.hint)))
            .collect()
    }

    #[test]
    fn a_misspelt_column_after_a_schema_table_is_found_with_a_suggestion() {
        let found = codes(
            "DeviceProcessEvents | where ProcesCommandLine has 'x' | project DeviceId",
            None,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, UNKNOWN_COLUMN);
        assert!(
            found[0].1.contains("did you mean `ProcessCommandLine`"),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_and_retired_tables_are_found_and_bound_names_are_not() {
        let found = codes("DeviceAlertEvents | take 1", None);
        assert_eq!(found[0].0, UNKNOWN_TABLE, "{found:?}");
        let found = codes("DeviceProcesEvents | take 1", None);
        assert!(
            found[0].1.contains("did you mean `DeviceProcessEvents`"),
            "{found:?}"
        );
        assert!(codes("let T = DeviceInfo | take 1; T | where Foo == 1", None).is_empty());
    }

    #[test]
    fn columns_added_by_extend_are_known_and_nothing_is_checked_after_a_join() {
        assert!(
            codes(
                "DeviceInfo | extend Os = OSPlatform | where Os has 'Windows' \
                 | join (DeviceNetworkInfo) on DeviceId | where MacAddress != ''",
                None
            )
            .is_empty()
        );
        assert!(
            codes(
                "DeviceInfo | summarize n = count() by DeviceId | where n > 1",
                None
            )
            .is_empty()
        );
    }

    #[test]
    fn comparisons_kusto_refuses_for_their_types_are_found_and_others_are_not() {
        let found = codes(
            "DeviceProcessEvents | where Timestamp > '2024-01-01' and FileSize > \"100\" \
             | where DeviceName == 7",
            None,
        );
        let kinds: Vec<_> = found.iter().map(|(code, _)| *code).collect();
        assert_eq!(kinds, [TYPE, TYPE, TYPE], "{found:?}");
        assert!(
            found[0].1.contains("datetime(2024-01-31 08:00)"),
            "{found:?}"
        );
        assert!(
            codes(
                "DeviceLogonEvents | where Timestamp > ago(1d) and IsLocalAdmin == 0 \
                 and RemotePort > 1024 and AccountName == 'x' and 5 < RemotePort \
                 | extend Stamp = 'x' | where Stamp == 'y'",
                None
            )
            .is_empty()
        );
    }

    #[test]
    fn an_mde_job_naming_a_graph_only_table_is_the_wrong_api() {
        let found = codes("EmailEvents | take 1", Some(Environment::Mde));
        assert_eq!(found[0].0, WRONG_API, "{found:?}");
        assert!(codes("EmailEvents | take 1", Some(Environment::Graph)).is_empty());
    }
}
