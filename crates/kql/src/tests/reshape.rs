//! `evaluate pivot(...)` and `evaluate narrow()`.

use serde_json::{Value as J, json};

use super::support::rows_in;
use crate::fixture::{l, s, table};
use crate::{KqlType, Table};

fn logons() -> Table {
    table(
        "Logons",
        &[
            ("Device", KqlType::String),
            ("Kind", KqlType::String),
            ("Tries", KqlType::Long),
        ],
    )
    .row(vec![s("ws1"), s("remote"), l(3)])
    .row(vec![s("ws1"), s("local"), l(1)])
    .row(vec![s("ws2"), s("remote"), l(2)])
    .row(vec![s("ws1"), s("remote"), l(4)])
    .build()
}

fn rows(query: &str) -> Vec<J> {
    rows_in(vec![logons()], query)
}

#[test]
fn pivot_makes_a_column_per_value_counting_rows_per_group_by_default() {
    assert_eq!(
        rows("Logons | project Device, Kind | evaluate pivot(Kind)"),
        vec![
            json!({"Device": "ws1", "local": 1, "remote": 2}),
            json!({"Device": "ws2", "local": 0, "remote": 1}),
        ]
    );
}

#[test]
fn pivot_aggregates_each_cell_and_groups_by_the_columns_named() {
    // The aggregate's column is left out of the default groups; an empty cell is the
    // aggregate over no rows (0 for a sum, null for a max).
    assert_eq!(
        rows("Logons | evaluate pivot(Kind, sum(Tries))"),
        vec![
            json!({"Device": "ws1", "local": 1, "remote": 7}),
            json!({"Device": "ws2", "local": 0, "remote": 2}),
        ]
    );
    assert_eq!(
        rows("Logons | evaluate pivot(Device, max(Tries), Kind)"),
        vec![
            json!({"Kind": "remote", "ws1": 4, "ws2": 2}),
            json!({"Kind": "local", "ws1": 1, "ws2": null}),
        ]
    );
}

#[test]
fn narrow_gives_a_row_per_cell_with_its_rows_position_column_and_text() {
    assert_eq!(
        rows("Logons | take 1 | evaluate narrow()"),
        vec![
            json!({"Row": 0, "Column": "Device", "Value": "ws1"}),
            json!({"Row": 0, "Column": "Kind", "Value": "remote"}),
            json!({"Row": 0, "Column": "Tries", "Value": "3"}),
        ]
    );
}
