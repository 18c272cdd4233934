//! `hll`, `hll_if`, `hll_merge` and `dcount_hll`: hll values hold the exact distinct values.

use serde_json::{Value as J, json};

use super::support::{fails, rows_in};

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

#[test]
fn dcount_intersect_counts_the_first_set_then_each_running_intersection() {
    assert_eq!(
        rows(
            "range x from 1 to 12 step 1 \
             | summarize a = hll(iff(x % 2 == 0, x, long(null))), b = hll_if(x, x % 3 == 0), \
             c = hll_if(x, x % 4 == 0) \
             | evaluate dcount_intersect(a, b, c)"
        ),
        vec![json!({"s0": 6, "s1": 2, "s2": 1})]
    );
}

#[test]
fn dcount_intersect_merges_each_arguments_hll_values_over_all_rows_first() {
    assert_eq!(
        rows(
            "datatable (G:string, X:long) ['a', 1, 'a', 2, 'b', 2, 'b', 3] \
             | summarize a = hll(X), b = hll_if(X, X > 1) by G \
             | evaluate dcount_intersect(a, b)"
        ),
        vec![json!({"s0": 3, "s1": 2})]
    );
}

#[test]
fn dcount_intersect_of_one_set_is_an_error_at_the_operator() {
    let e = fails("Proc | summarize a = hll(Size) | evaluate dcount_intersect(a)");
    assert!(
        e.message
            .contains("dcount_intersect: expects 2 to 16 hll values, got 1"),
        "{e}"
    );
}

#[test]
fn an_hll_past_its_bound_is_an_error_naming_the_function() {
    // `range` stops short of the bound, so two halves of it are merged past it.
    let e = fails(
        "range x from 1 to 600000 step 1 | summarize a = hll(x), b = hll(-x) \
         | project h = pack_array(a, b) | mv-expand h | summarize hll_merge(h)",
    );
    assert!(
        e.message
            .starts_with("'hll_merge': more than 1048576 distinct values in one group"),
        "{e}"
    );
}
