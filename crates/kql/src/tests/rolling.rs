//! `evaluate rolling_percentile`: a percentile over a rolling window of bins.

use serde_json::{Value as J, json};

use super::support::{assert_fails_at, names, rows_in};

fn rows(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

fn day(d: u32) -> String {
    format!("2024-01-{d:02}T00:00:00.0000000Z")
}

/// Group a: 10, 30 and 20 on day 1, 40 and a null on day 2, none on day 3, 5 on day 4; group b:
/// 7 on day 1; group c: only a null, on day 1. Times within a day fall into its bin.
const SAMPLES: &str = "datatable (Day:datetime, V:long, G:string) [\
     datetime(2024-01-01 01:00), 10, 'a', datetime(2024-01-01 05:00), 30, 'a', \
     datetime(2024-01-01), 20, 'a', datetime(2024-01-01), 7, 'b', \
     datetime(2024-01-02 23:00), 40, 'a', datetime(2024-01-02), long(null), 'a', \
     datetime(2024-01-01), long(null), 'c', datetime(2024-01-04), 5, 'a', \
     datetime(null), 99, 'a']";

#[test]
fn rolling_percentile_takes_the_nearest_rank_over_each_bins_window_per_combination() {
    let row =
        |d: u32, g: &str, v: J| json!({"Day": day(d), "G": g, "rolling_2_percentile_V_50": v});
    assert_eq!(
        rows(&format!(
            "{SAMPLES} | evaluate rolling_percentile(V, 50, Day, 1d, 2, G)"
        )),
        vec![
            row(1, "a", json!(20)),
            row(2, "a", json!(20)),
            row(4, "a", json!(5)),
            row(1, "b", json!(7)),
            row(1, "c", J::Null),
        ]
    );
}

#[test]
fn rolling_percentile_without_dimensions_names_a_fractional_percentile_with_an_underscore() {
    let query = format!("{SAMPLES} | evaluate rolling_percentile(V, 99.5, Day, 1d, 3)");
    assert_eq!(names(&query), ["Day", "rolling_3_percentile_V_99_5"]);
    let row = |d: u32, v: i64| json!({"Day": day(d), "rolling_3_percentile_V_99_5": v});
    assert_eq!(rows(&query), vec![row(1, 30), row(2, 40), row(4, 40)]);
    assert_eq!(
        rows(&format!(
            "{SAMPLES} | where G == 'none' | evaluate rolling_percentile(V, 50, Day, 1d, 3)"
        )),
        Vec::<J>::new()
    );
}

#[test]
fn rolling_percentile_refuses_bad_arguments_where_they_are_written() {
    let cases = [
        (
            "Proc | evaluate rolling_percentile(Size, 101, Timestamp, 1d, 3)",
            "101",
            "rolling_percentile: Percentile must be a number from 0 to 100",
        ),
        (
            "Proc | evaluate rolling_percentile(Size, 50, Timestamp, 1d, 0)",
            "0)",
            "rolling_percentile: BinsPerWindow must be a whole number from 1 to 1048576",
        ),
        (
            "Proc | evaluate rolling_percentile(Size, 50, Timestamp, 0d, 3)",
            "0d",
            "rolling_percentile: BinSize must be a positive number or timespan",
        ),
        (
            "Proc | evaluate rolling_percentile(Size, 50, Timestamp, 7, 3)",
            "7,",
            "rolling_percentile: BinSize must be of the index column's kind",
        ),
        (
            "Proc | evaluate rolling_percentile(FileName, 50, Timestamp, 1d, 3)",
            "FileName",
            "rolling_percentile: the value column must be a number, a datetime or a timespan",
        ),
        (
            "Proc | evaluate rolling_percentile(Size, 50, 1d, Timestamp, 3)",
            "1d",
            "rolling_percentile: expected a column name",
        ),
    ];
    for (query, at, message) in cases {
        let column = query.find(at).expect("the argument") + 1;
        assert_fails_at(query, message, (1, column));
    }
}
