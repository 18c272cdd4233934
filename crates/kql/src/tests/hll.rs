//! `hll`, `hll_if`, `hll_merge` and `dcount_hll`: hll values hold the exact distinct values.

use serde_json::{Value as J, json};

use super::support::rows_in;

fn rows(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

const T: &str = "datatable (G:string, N:long, S:string) ['a', long(null), 'x', 'a', 1, 'x', \
     'a', 3, 'y', 'b', 10, '', 'b', 11, string(null)]";

#[test]
fn hll_and_hll_if_hold_each_distinct_value_once_and_dcount_hll_counts_them() {
    assert_eq!(
        rows(&format!(
            "{T} | summarize hll(S), hll_if(S, N > 1) by G \
             | extend d = dcount_hll(hll_S), di = dcount_hll(hll_if_S)"
        )),
        vec![
            json!({"G": "a", "hll_S": ["x", "y"], "hll_if_S": ["y"], "d": 2, "di": 1}),
            json!({"G": "b", "hll_S": [""], "hll_if_S": [""], "d": 1, "di": 1}),
        ]
    );
}

#[test]
fn hll_merge_unions_the_groups_hll_values_into_one_distinct_count() {
    assert_eq!(
        rows(&format!(
            "{T} | summarize h = hll(S) by G | summarize hll_merge(h) \
             | extend n = dcount_hll(hll_merge_h)"
        )),
        vec![json!({"hll_merge_h": ["x", "y", ""], "n": 3})]
    );
}

#[test]
fn dcount_hll_of_a_value_that_is_not_an_hll_is_null() {
    assert_eq!(
        rows("print a = dcount_hll('x'), b = dcount_hll(dynamic(null))"),
        vec![json!({"a": null, "b": null})]
    );
}

#[test]
fn hll_of_no_rows_is_an_empty_hll_counting_zero() {
    assert_eq!(
        rows(&format!(
            "{T} | where G == 'z' | summarize h = hll(N) | extend n = dcount_hll(h)"
        )),
        vec![json!({"h": [], "n": 0})]
    );
}
