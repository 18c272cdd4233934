//! `percentile`, `percentiles`, `percentiles_array`, `percentilew` and `percentilesw`: exact
//! nearest-rank values.

use serde_json::{Value as J, json};

use super::support::{fails, rows_in, run_ok};
use crate::KqlType;

fn rows(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

/// Group `a` holds 1 to 10 out of order; group `b` a null and 7.
const T: &str = "datatable (G:string, X:long) ['a', 7, 'a', 2, 'a', 10, 'a', 4, 'a', 1, \
     'a', 9, 'a', 3, 'a', 6, 'a', 5, 'a', 8, 'b', long(null), 'b', 7]";

#[test]
fn percentile_is_the_value_at_nearest_rank_per_group() {
    assert_eq!(
        rows(&format!("{T} | summarize percentile(X, 50) by G")),
        vec![
            json!({"G": "a", "percentile_X_50": 5}),
            json!({"G": "b", "percentile_X_50": 7}),
        ]
    );
}

#[test]
fn percentiles_gives_a_column_per_percent_named_with_dots_as_underscores() {
    assert_eq!(
        rows(&format!(
            "{T} | where G == 'a' | summarize percentiles(X, 0, 25, 99.9)"
        )),
        vec![json!({"percentile_X_0": 1, "percentile_X_25": 3, "percentile_X_99_9": 10})]
    );
}

#[test]
fn named_percentiles_take_their_names_in_order_and_keep_the_values_type() {
    let q = format!("{T} | summarize (lo, hi) = percentiles(X, 5, 95) by G");
    assert_eq!(
        rows(&q),
        vec![
            json!({"G": "a", "lo": 1, "hi": 10}),
            json!({"G": "b", "lo": 7, "hi": 7}),
        ]
    );
    assert_eq!(run_ok(&q).columns[1], ("lo".to_string(), KqlType::Long));
}

#[test]
fn percentiles_array_returns_one_array_from_arguments_or_a_dynamic_list() {
    assert_eq!(
        rows(&format!(
            "{T} | where G == 'a' | summarize percentiles_array(X, 10, 90), \
             percentiles_array(X, dynamic([50, 100]))"
        )),
        vec![json!({"percentiles_X": [1, 9], "percentiles_X1": [5, 10]})]
    );
}

#[test]
fn weighted_percentiles_rank_by_running_weight() {
    assert_eq!(
        rows(
            "datatable (X:long, W:long) [3, 8, 1, 1, 2, 1, 9, 0] \
             | summarize percentilew(X, W, 50), percentilesw(X, W, 10, 20)"
        ),
        vec![json!({"percentile_X_50": 3, "percentile_X_10": 1, "percentile_X_20": 2})]
    );
}

#[test]
fn percentiles_of_datetimes_are_datetimes_and_of_no_rows_null() {
    assert_eq!(
        rows(
            "datatable (T:datetime) [datetime(2024-01-03), datetime(2024-01-01), \
             datetime(2024-01-02)] | summarize percentile(T, 50)"
        ),
        vec![json!({"percentile_T_50": "2024-01-02T00:00:00.0000000Z"})]
    );
    assert_eq!(
        rows(&format!(
            "{T} | where G == 'z' | summarize percentile(X, 50)"
        )),
        vec![json!({"percentile_X_50": null})]
    );
}

#[test]
fn percentile_of_an_int_is_a_long_and_of_an_expression_has_an_empty_stem() {
    let q = "datatable (I:int) [4, 8] | summarize percentile(I, 50), percentile(I * 2, 100)";
    assert_eq!(
        rows(q),
        vec![json!({"percentile_I_50": 4, "percentile__100": 16})]
    );
    assert_eq!(
        run_ok(q).columns,
        vec![
            ("percentile_I_50".to_string(), KqlType::Long),
            ("percentile__100".to_string(), KqlType::Long)
        ]
    );
}

#[test]
fn a_percent_outside_0_to_100_or_not_constant_is_an_error() {
    assert!(
        fails("Proc | summarize percentile(Size, 101)")
            .message
            .contains("'percentile': a percentile must be a constant number from 0 to 100")
    );
    assert!(
        fails("Proc | summarize percentiles(Size, Size)")
            .message
            .contains("a percentile must be a constant number")
    );
    assert!(
        fails("Proc | top-nested 2 of DeviceName by percentiles(Size, 5, 50)")
            .message
            .contains("an aggregate of one column is needed here")
    );
}
