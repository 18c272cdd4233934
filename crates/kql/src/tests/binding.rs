//! The `range` source, `as`, `invoke`, `sample-distinct` and `top-hitters`.

use serde_json::{Value as J, json};

use super::support::{fails_in, rows_in};
use crate::fixture::{db, l, s, table};
use crate::{KqlType, Table};

fn events() -> Table {
    table(
        "Events",
        &[("Device", KqlType::String), ("Size", KqlType::Long)],
    )
    .row(vec![s("ws1"), l(10)])
    .row(vec![s("ws2"), l(50)])
    .row(vec![s("ws1"), l(5)])
    .row(vec![s("ws3"), l(1)])
    .row(vec![s("ws1"), l(1)])
    .build()
}

fn rows(query: &str) -> Vec<J> {
    rows_in(vec![events()], query)
}

fn error(query: &str) -> String {
    fails_in(&db(vec![events()]), query).message
}

#[test]
fn range_counts_from_its_start_to_its_stop_included_by_its_step() {
    assert_eq!(
        rows("range x from 1 to 7 step 3"),
        vec![json!({"x": 1}), json!({"x": 4}), json!({"x": 7})]
    );
    assert_eq!(
        rows("range t from datetime(2024-01-01) to datetime(2024-01-02) step 12h"),
        vec![
            json!({"t": "2024-01-01T00:00:00.0000000Z"}),
            json!({"t": "2024-01-01T12:00:00.0000000Z"}),
            json!({"t": "2024-01-02T00:00:00.0000000Z"}),
        ]
    );
    assert_eq!(
        rows("range d from 1h to 3h step 1h | count"),
        vec![json!({"Count": 3})]
    );
    assert!(rows("range x from 5 to 1 step 1").is_empty());
    assert_eq!(
        rows("let R = range n from 1 to 2 step 1; R | count"),
        vec![json!({"Count": 2})]
    );
    assert!(error("range x from 1 to 5 step 0").contains("'range' operator"));
    assert!(error("range x from 1 to 100000000 step 1").contains("use a larger 'step'"));
}

#[test]
fn as_names_the_rows_for_a_later_union_or_join_and_passes_them_on() {
    assert_eq!(
        rows("Events | where Size > 5 | as Big | union (Big | project Device) | count"),
        vec![json!({"Count": 4})]
    );
    assert_eq!(
        rows(
            "Events | summarize n = count() by Device | as hint.materialized=true Counts \
             | where n > 1 | join kind=inner (Counts) on Device | project Device, n1"
        ),
        vec![json!({"Device": "ws1", "n1": 3})]
    );
}

#[test]
fn invoke_passes_the_rows_as_the_functions_first_argument() {
    assert_eq!(
        rows(
            "let atleast = (T:(Device:string, Size:long), min:long) { T | where Size >= min }; \
             Events | invoke atleast(10) | project Device"
        ),
        vec![json!({"Device": "ws1"}), json!({"Device": "ws2"})]
    );
    assert!(
        error("let f = (x:long) { Events }; Events | invoke f(1)")
            .contains("whose first parameter is a table")
    );
}

#[test]
fn sample_distinct_gives_up_to_n_distinct_values() {
    assert_eq!(
        rows("Events | sample-distinct 2 of Device"),
        vec![json!({"Device": "ws1"}), json!({"Device": "ws2"})]
    );
    assert_eq!(rows("Events | sample-distinct 10 of Device").len(), 3);
}

#[test]
fn top_hitters_ranks_values_by_exact_count_or_summed_weight() {
    assert_eq!(
        rows("Events | top-hitters 2 of Device"),
        vec![
            json!({"Device": "ws1", "approximate_count_Device": 3}),
            json!({"Device": "ws2", "approximate_count_Device": 1}),
        ]
    );
    assert_eq!(
        rows("Events | top-hitters 1 of Device by Size"),
        vec![json!({"Device": "ws2", "approximate_sum_Size": 50})]
    );
}

#[test]
fn partition_runs_its_subquery_per_key_value_and_unions_the_results() {
    assert_eq!(
        rows(
            "Events | partition hint.strategy=native by Device (top 1 by Size) | project Device, Size"
        ),
        vec![
            json!({"Device": "ws1", "Size": 10}),
            json!({"Device": "ws2", "Size": 50}),
            json!({"Device": "ws3", "Size": 1}),
        ]
    );
    assert_eq!(
        rows(
            "Events | partition by Device { Events | where Device == toscalar(Device) \
             | summarize n = count(), total = sum(Size) by Device }"
        ),
        vec![
            json!({"Device": "ws1", "n": 3, "total": 16}),
            json!({"Device": "ws2", "n": 1, "total": 50}),
            json!({"Device": "ws3", "n": 1, "total": 1}),
        ]
    );
    assert!(rows("Events | where Size > 100 | partition by Device (count)").is_empty());
    assert!(error("Events | partition by Nope (take 1)").contains("no column named 'Nope'"));
}
