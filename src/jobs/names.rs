//! Tables and columns a query names, checked against the Defender schema
//! ([`crate::defender_schema`]): unknown tables (`kql-unknown-table`), columns the rows do not
//! have where they are used (`kql-unknown-column`), tables the MDE API does not have
//! (`kql-wrong-api`), each with a "did you mean" when a name is close, and comparisons Kusto
//! refuses for their types (`kql-type`).
//!
//! Only what can be proved is reported. Columns are followed two ways: by events of the syntax
//! checker from a schema table through the operators that keep its columns (`where`, `extend`,
//! ...) up to the first `project`, `summarize` or `distinct`, where each unknown name and type
//! mismatch is found; and by the KQL engine running the query over the schema's tables, empty,
//! which follows columns through every operator it evaluates and finds the first unknown one.
//! Names the query binds (`let`, parameters) are never reported.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use kql::{Cause, Event, Literal, Syntax};

use super::Environment;
use crate::defender_schema::{self, Table};
use crate::diagnostic::did_you_mean;
use crate::emulator::schema;

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
    /// `kql-unknown-table`, `kql-unknown-column`, `kql-wrong-api` or `kql-type`.
    pub code: &'static str,
    /// The table or column name it is about (empty for operand types the engine refuses).
    pub name: String,
    /// Byte offset of the name in the query.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// A "did you mean", when a name is close.
    pub hint: Option<String>,
}

/// The name problems of `query`, whose syntax is `syntax`; `environment` is the job's API
/// (`None` for a library query, whose API is not known).
pub fn problems(query: &str, syntax: &Syntax, environment: Option<Environment>) -> Vec<Problem> {
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
                name: name.to_string(),
                offset: table.span.start,
                message: format!("unknown table `{name}`"),
                hint: did_you_mean(name, defender_schema::table_names())
                    .map(|t| format!("did you mean `{t}`?")),
            }),
            Some(t) if environment == Some(Environment::Mde) && !t.mde => found.push(Problem {
                code: WRONG_API,
                name: name.to_string(),
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
    // The engine stops at the first problem, which the events may have found already.
    if let Some(problem) = engine_problem(query, syntax)
        && !found
            .iter()
            .any(|p| p.code == problem.code && (p.code == TYPE || p.name == problem.name))
    {
        found.push(problem);
    }
    found
}

/// Every schema table, empty: what the engine runs a query over to follow its columns.
static EMPTY_TABLES: LazyLock<kql::Database> = LazyLock::new(|| {
    let mut db = kql::Database::new();
    for name in schema::sample_table_names() {
        let columns = schema::sample_schema(name).unwrap_or_default();
        db.insert(kql::Table::new(name, columns));
    }
    db
});

/// The problem that stops the KQL engine running the query over the schema's tables, empty, if
/// `validate` reports it: the first column the rows lack where it is used, or operands of types
/// Kusto refuses to compare or combine (`FileSize > Timestamp`, `AccountName + 1`). So columns
/// and their types are followed through every operator the engine evaluates (`project`,
/// `summarize`, `join` with its `1` suffixes, `union`, `mv-expand`, `parse`, `let`s and
/// functions), which the events above follow only up to the first `project` or `summarize`.
///
/// Not when the query uses `evaluate`: a plugin such as `bag_unpack` makes columns from the
/// rows' values, which empty tables do not have, so a name after it proves nothing.
fn engine_problem(query: &str, syntax: &Syntax) -> Option<Problem> {
    if syntax.constructs.iter().any(|c| c.name == "evaluate") {
        return None;
    }
    let error = kql::dry_run(&EMPTY_TABLES, query)?;
    Some(match *error.cause? {
        Cause::Unresolved(unresolved) => {
            let name = unresolved.name;
            Problem {
                code: UNKNOWN_COLUMN,
                offset: unresolved.offset,
                message: format!(
                    "unknown column `{name}`: the rows at this point have no such column"
                ),
                hint: did_you_mean(&name, unresolved.columns.iter().map(String::as_str))
                    .map(|c| format!("did you mean `{c}`?")),
                name,
            }
        }
        Cause::Types(offset) => Problem {
            code: TYPE,
            name: String::new(),
            offset,
            message: format!("{}: Kusto refuses these operand types", error.message),
            hint: Some(
                "convert one side to the other's type (`tolong()`, `toreal()`, `todatetime()`, \
                 `totimespan()`, `tostring()`)"
                    .to_string(),
            ),
        },
    })
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
                        name: n.to_string(),
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
                        name: n.to_string(),
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
        problems(query, &syntax, environment)
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
        assert!(
            codes(
                "let T = DeviceInfo | take 1; T | where OSPlatform == 'x'",
                None
            )
            .is_empty()
        );
        // Through the `let`, `Foo` is a column `DeviceInfo` lacks, and `T` no table.
        let found = codes("let T = DeviceInfo | take 1; T | where Foo == 1", None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, UNKNOWN_COLUMN, "{found:?}");
    }

    #[test]
    fn columns_added_by_extend_join_and_summarize_are_known() {
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
    fn columns_are_followed_through_project_summarize_join_and_lets() {
        let first = |query: &str| {
            let found = codes(query, None);
            assert_eq!(found.len(), 1, "{query}: {found:?}");
            assert_eq!(found[0].0, UNKNOWN_COLUMN, "{found:?}");
            found[0].1.clone()
        };
        let after_project = first("DeviceProcessEvents | project DeviceName | where FileSize > 1");
        assert!(after_project.contains("`FileSize`"), "{after_project}");
        let after_summarize = first(
            "DeviceLogonEvents | summarize Logons = count() by AccountName \
             | where Logon > 5",
        );
        assert!(
            after_summarize.contains("did you mean `Logons`"),
            "{after_summarize}"
        );
        let after_join = first(
            "DeviceInfo | join kind=inner (DeviceNetworkInfo) on DeviceId \
             | project DeviceId1, MacAdress",
        );
        assert!(
            after_join.contains("did you mean `MacAddress`"),
            "{after_join}"
        );
        let in_a_let = first(
            "let Recent = DeviceFileEvents | project FileName, SHA256; \
             Recent | where SHA1 == 'x'",
        );
        assert!(in_a_let.contains("`SHA1`"), "{in_a_let}");
        assert!(
            codes(
                "DeviceProcessEvents | mv-expand Arg = split(ProcessCommandLine, ' ') \
                 | parse Arg with Key '=' Value | union (DeviceInfo | project OSPlatform) \
                 | where Key == 'x' or OSPlatform == 'y' | project-away Arg*",
                None,
            )
            .is_empty()
        );
    }

    #[test]
    fn nothing_is_reported_after_an_evaluate_plugin_whose_columns_come_from_the_rows() {
        assert!(
            codes(
                "DeviceProcessEvents | project AdditionalFields \
                 | evaluate bag_unpack(AdditionalFields) | where Anything == 1",
                None,
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
    fn operand_types_kusto_refuses_are_found_through_the_pipeline() {
        for query in [
            "DeviceLogonEvents | where LogonId > Timestamp",
            "DeviceLogonEvents | extend Label = AccountName + 1",
            "DeviceLogonEvents | summarize Seen = count() by AccountName | where Seen > ago(1d)",
            "DeviceFileEvents | project Size = FileSize | where Size > '100'",
        ] {
            let found = codes(query, None);
            assert_eq!(found.len(), 1, "{query}: {found:?}");
            assert_eq!(found[0].0, TYPE, "{query}: {found:?}");
        }
        assert!(
            codes(
                "DeviceLogonEvents | extend Age = now() - Timestamp | where Age > 1d \
                 | summarize Seen = count() by AccountName | where Seen > 5",
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
