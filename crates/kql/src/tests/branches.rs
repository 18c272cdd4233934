//! `fork`, `facet`, `sample`, `getschema` and tabular parameters of user-defined functions.

use serde_json::{Value as J, json};

use super::support::rows_in;
use crate::fixture::{db, l, now, s, table};
use crate::{KqlType, Table, run};

fn events() -> Table {
    table(
        "Events",
        &[
            ("Device", KqlType::String),
            ("Action", KqlType::String),
            ("Size", KqlType::Long),
        ],
    )
    .row(vec![s("ws1"), s("logon"), l(10)])
    .row(vec![s("ws2"), s("logon"), l(20)])
    .row(vec![s("ws1"), s("exec"), l(30)])
    .build()
}

fn rows(query: &str) -> Vec<J> {
    rows_in(vec![events()], query)
}

#[test]
fn fork_answers_its_first_branch() {
    assert_eq!(
        rows("Events | fork (where Size > 15 | count) (take 1)"),
        vec![json!({"Count": 2})]
    );
    assert_eq!(
        rows("Events | fork big = (where Size > 25 | project Device)"),
        vec![json!({"Device": "ws1"})]
    );
}

#[test]
fn facet_answers_the_with_table_else_the_first_columns_values_and_counts() {
    assert_eq!(
        rows("Events | facet by Device, Action"),
        vec![
            json!({"Device": "ws1", "count_Device": 2}),
            json!({"Device": "ws2", "count_Device": 1}),
        ]
    );
    assert_eq!(
        rows("Events | facet by Device with (where Action == 'exec' | project Size)"),
        vec![json!({"Size": 30})]
    );
}

#[test]
fn sample_gives_as_many_rows_as_asked_and_getschema_a_row_per_column() {
    assert_eq!(rows("Events | sample 2").len(), 2);
    assert_eq!(rows("Events | sample 10").len(), 3);
    assert_eq!(
        rows("Events | project Device, Size | getschema"),
        vec![
            json!({"ColumnName": "Device", "ColumnOrdinal": 0, "DataType": "System.String", "ColumnType": "string"}),
            json!({"ColumnName": "Size", "ColumnOrdinal": 1, "DataType": "System.Int64", "ColumnType": "long"}),
        ]
    );
}

#[test]
fn a_tabular_parameter_takes_a_table_a_tabular_let_or_a_parenthesized_tabular_expression() {
    let f = "let big = (T:(*), min:long = 15) { T | where Size > min | project Device, Size };";
    assert_eq!(
        rows(&format!("{f} big(Events, 25)")),
        vec![json!({"Device": "ws1", "Size": 30})]
    );
    assert_eq!(
        rows(&format!(
            "{f} let Logons = Events | where Action == 'logon'; big(Logons)"
        )),
        vec![json!({"Device": "ws2", "Size": 20})]
    );
    assert_eq!(
        rows(&format!(
            "{f} big((Events | where Action == 'exec'), (1 + 1))"
        )),
        vec![json!({"Device": "ws1", "Size": 30})]
    );
    assert_eq!(
        rows("let g = (n:long) { Events | take n }; g((1 + 1)) | count"),
        vec![json!({"Count": 2})]
    );
    assert_eq!(
        rows("let f = (Events:(Device:string)) { Events | count }; f(Events)"),
        vec![json!({"Count": 3})]
    );
}

#[test]
fn a_tabular_parameter_given_a_scalar_is_an_error_naming_it() {
    let e = run(
        &db(vec![events()]),
        "let f = (T:(*)) { T | count }; f(1)",
        now(),
        None,
    )
    .expect_err("a scalar for a table");
    assert!(
        e.message.contains("parameter 'T' takes a table"),
        "{}",
        e.message
    );
}
