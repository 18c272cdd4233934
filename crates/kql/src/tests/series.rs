//! `make-series` and `top-nested`, over tables built in each test.

use serde_json::{Value as J, json};

use super::support::{fails_in, rows_in};
use crate::fixture::{db, dt, l, s, table};
use crate::{KqlType, Table};

fn logons() -> Table {
    table(
        "Logons",
        &[
            ("Timestamp", KqlType::DateTime),
            ("Account", KqlType::String),
            ("Size", KqlType::Long),
        ],
    )
    .row(vec![dt("2024-02-01T00:10:00Z"), s("alice"), l(1)])
    .row(vec![dt("2024-02-01T05:00:00Z"), s("alice"), l(2)])
    .row(vec![dt("2024-02-03T01:00:00Z"), s("alice"), l(5)])
    .row(vec![dt("2024-02-02T12:00:00Z"), s("bob"), l(7)])
    .row(vec![dt("2024-02-05T00:00:00Z"), s("bob"), l(9)])
    .build()
}

fn sales() -> Table {
    table(
        "Sales",
        &[
            ("Region", KqlType::String),
            ("Seller", KqlType::String),
            ("Amount", KqlType::Long),
        ],
    )
    .row(vec![s("East"), s("a"), l(10)])
    .row(vec![s("East"), s("b"), l(5)])
    .row(vec![s("East"), s("b"), l(20)])
    .row(vec![s("West"), s("c"), l(7)])
    .row(vec![s("West"), s("d"), l(1)])
    .row(vec![s("North"), s("e"), l(3)])
    .build()
}

fn rows(query: &str) -> Vec<J> {
    rows_in(vec![logons(), sales()], query)
}

fn error(query: &str) -> String {
    fails_in(&db(vec![logons(), sales()]), query).message
}

fn days(dates: &[&str]) -> J {
    dates
        .iter()
        .map(|d| json!(format!("2024-02-{d}T00:00:00.0000000Z")))
        .collect()
}

#[test]
fn make_series_fills_each_bin_from_to_by_step_per_group_with_the_default_elsewhere() {
    assert_eq!(
        rows(
            "Logons | make-series n = count() default = 0, sum(Size) on Timestamp \
             from datetime(2024-02-01) to datetime(2024-02-04) step 1d by Account"
        ),
        vec![
            json!({"Account": "alice", "n": [2, 0, 1], "sum_Size": [3, 0, 5],
                   "Timestamp": days(&["01", "02", "03"])}),
            json!({"Account": "bob", "n": [0, 1, 0], "sum_Size": [0, 7, 0],
                   "Timestamp": days(&["01", "02", "03"])}),
        ]
    );
}

#[test]
fn make_series_without_from_and_to_spans_the_bins_of_the_first_and_last_rows() {
    assert_eq!(
        rows(
            "Logons | where Account == 'alice' | make-series c = count() default = -1 on Timestamp step 1d"
        ),
        vec![json!({"c": [2, -1, 1], "Timestamp": days(&["01", "02", "03"])})]
    );
}

#[test]
fn make_series_in_range_includes_the_stop_bin() {
    assert_eq!(
        rows(
            "Logons | make-series c = count() on Timestamp \
             in range(datetime(2024-02-02), datetime(2024-02-05), 1d)"
        ),
        vec![json!({"c": [1, 1, 0, 1], "Timestamp": days(&["02", "03", "04", "05"])})]
    );
}

#[test]
fn make_series_arrays_expand_back_into_typed_rows() {
    assert_eq!(
        rows(
            "Logons | make-series c = count() on Timestamp from datetime(2024-02-01) \
             to datetime(2024-02-05) step 1d \
             | mv-expand c to typeof(long), Timestamp to typeof(datetime) | where c == 0"
        ),
        vec![json!({"c": 0, "Timestamp": "2024-02-04T00:00:00.0000000Z"})]
    );
}

#[test]
fn make_series_over_no_rows_is_empty_unless_kind_nonempty() {
    let q = "Logons | where Size > 100 | make-series KIND c = count() on Timestamp \
             from datetime(2024-02-01) to datetime(2024-02-03) step 1d";
    assert_eq!(rows(&q.replace("KIND ", "")), Vec::<J>::new());
    assert_eq!(
        rows(&q.replace("KIND", "kind=nonempty")),
        vec![json!({"c": [0, 0], "Timestamp": days(&["01", "02"])})]
    );
}

#[test]
fn make_series_refuses_a_non_positive_step_and_a_non_numeric_aggregate_by_name() {
    assert!(
        error("Logons | make-series count() on Timestamp step 0d").contains("'step'"),
        "step"
    );
    assert!(
        error("Logons | make-series make_set(Account) on Timestamp step 1d")
            .contains("numeric result"),
        "aggregate"
    );
}

#[test]
fn top_nested_keeps_the_top_values_of_each_level_within_the_level_above() {
    assert_eq!(
        rows(
            "Sales | top-nested 2 of Region by sum(Amount), top-nested 1 of Seller by sum(Amount)"
        ),
        vec![
            json!({"Region": "East", "aggregated_Region": 35, "Seller": "b", "aggregated_Seller": 25}),
            json!({"Region": "West", "aggregated_Region": 8, "Seller": "c", "aggregated_Seller": 7}),
        ]
    );
}

#[test]
fn top_nested_with_others_aggregates_the_values_left_out() {
    assert_eq!(
        rows("Sales | top-nested 1 of Region with others = 'Other' by Total = sum(Amount)"),
        vec![
            json!({"Region": "East", "Total": 35}),
            json!({"Region": "Other", "Total": 11}),
        ]
    );
}

#[test]
fn top_nested_ranks_ascending_and_without_a_count_keeps_every_value() {
    assert_eq!(
        rows("Sales | top-nested 1 of R = Region by n = count() asc"),
        vec![json!({"R": "North", "n": 1})]
    );
    assert_eq!(
        rows("Sales | top-nested of Region by count()")
            .iter()
            .map(|r| r["Region"].clone())
            .collect::<Vec<_>>(),
        vec![json!("East"), json!("West"), json!("North")]
    );
}

#[test]
fn range_counts_from_start_to_stop_inclusive_by_step_an_hour_by_default_for_times() {
    assert_eq!(
        rows("print a = range(1, 8, 3), b = range(5, 1, -2), c = range(1, 3), z = range(1, 3, 0)"),
        vec![json!({"a": [1, 4, 7], "b": [5, 3, 1], "c": [1, 2, 3], "z": null})]
    );
    assert_eq!(
        rows("print t = range(datetime(2024-02-01), datetime(2024-02-01T02:00:00Z))"),
        vec![json!({"t": [
            "2024-02-01T00:00:00.0000000Z",
            "2024-02-01T01:00:00.0000000Z",
            "2024-02-01T02:00:00.0000000Z"
        ]})]
    );
}

#[test]
fn series_arithmetic_works_element_by_element_with_null_where_an_element_is_missing() {
    assert_eq!(
        rows(
            "print a = series_add(dynamic([1, 2, 3]), dynamic([10, 20])), \
             d = series_divide(dynamic([1, 4]), dynamic([4, 2])), \
             m = series_multiply(dynamic([2, 'x']), dynamic([3, 3])), \
             s = series_subtract(dynamic([5]), dynamic([1.5]))"
        ),
        vec![json!({"a": [11, 22, null], "d": [0.25, 2.0], "m": [6, null], "s": [3.5]})]
    );
}

#[test]
fn series_fill_const_replaces_nulls_or_the_given_missing_value() {
    assert_eq!(
        rows(
            "print f = series_fill_const(dynamic([1, null, 3]), 0), \
             g = series_fill_const(dynamic([1, -1, 3]), 0, -1)"
        ),
        vec![json!({"f": [1, 0, 3], "g": [1, 0, 3]})]
    );
}
