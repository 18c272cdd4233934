//! The conditional and collecting aggregates: `sumif`, `avgif`, `minif`, `maxif`,
//! `take_anyif`, `make_set_if`, `make_list_if`, `make_list_with_nulls`, `count_distinct`,
//! `count_distinctif`, `make_bag` and `make_bag_if`.

use serde_json::{Value as J, json};

use super::support::{fails, rows_in, run_ok};
use crate::KqlType;

fn rows(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

/// Group `a` starts with a row of nulls (its `S` is 'x'); group `b` has one row whose `S` is
/// empty and whose `B` is an array, not a bag.
const T: &str = "let T = datatable (G:string, N:long, R:real, S:string, B:dynamic) [\
     'a', long(null), real(null), 'x', dynamic(null), \
     'a', 1, 2.0, 'x', dynamic({\"k\": 1}), \
     'a', 3, 4.0, 'y', dynamic({\"k\": 2, \"m\": 5}), \
     'b', 10, 10.0, '', dynamic([1])];";

#[test]
fn sumif_avgif_minif_and_maxif_read_only_rows_whose_predicate_holds_and_name_columns_like_kusto() {
    assert_eq!(
        rows(&format!(
            "{T} T | summarize sumif(N, S == 'x'), avgif(R, N > 1), minif(N, S != ''), \
             maxif(S, N < 5) by G"
        )),
        vec![
            json!({"G": "a", "sumif_N": 1, "avgif_R": 4.0, "minif_N": 1, "maxif_S": "y"}),
            json!({"G": "b", "sumif_N": 0, "avgif_R": 10.0, "minif_N": null, "maxif_S": null}),
        ]
    );
}

#[test]
fn sumif_of_an_int_is_a_long_and_of_a_real_is_a_real() {
    let result = run_ok(
        "datatable (I:int, R:real) [1, 1.5, 2, 2.5] | summarize sumif(I, I > 0), sumif(R, I > 1)",
    );
    assert_eq!(
        result.columns,
        vec![
            ("sumif_I".to_string(), KqlType::Long),
            ("sumif_R".to_string(), KqlType::Real)
        ]
    );
    assert_eq!(
        rows(
            "datatable (I:int, R:real) [1, 1.5, 2, 2.5] | summarize sumif(I, I > 0), sumif(R, I > 1)"
        ),
        vec![json!({"sumif_I": 3, "sumif_R": 2.5})]
    );
}

#[test]
fn take_anyif_passes_over_nulls_and_empty_strings_and_is_named_after_its_argument() {
    assert_eq!(
        rows(&format!(
            "{T} T | summarize take_anyif(N, S == 'x'), take_anyif(S, N > 1), \
             e = take_anyif(S, G == 'b' or N > 100) by G"
        )),
        vec![
            json!({"G": "a", "N": 1, "S": "y", "e": null}),
            json!({"G": "b", "N": null, "S": "", "e": ""}),
        ]
    );
}

#[test]
fn make_set_if_make_list_if_with_max_size_and_make_list_with_nulls_keep_what_kusto_keeps() {
    assert_eq!(
        rows(&format!(
            "{T} T | summarize make_set_if(S, G == 'a'), make_list_if(N, isnotempty(S), 1), \
             make_list_with_nulls(N), s = make_set(S, 1) by G"
        )),
        vec![
            json!({"G": "a", "set_S": ["x", "y"], "list_N": [1], "list_N1": [null, 1, 3], "s": ["x"]}),
            json!({"G": "b", "set_S": [], "list_N": [], "list_N1": [10], "s": [""]}),
        ]
    );
}

#[test]
fn take_anyif_of_an_expression_is_column1_and_its_alias_anyif_keeps_a_prefix() {
    assert_eq!(
        rows(&format!(
            "{T} T | where G == 'b' | summarize take_anyif(N + 1, true), anyif(S, true)"
        )),
        vec![json!({"Column1": 11, "anyif_S": ""})]
    );
}

#[test]
fn count_distinct_and_count_distinctif_count_non_null_values_once() {
    assert_eq!(
        rows(&format!(
            "{T} T | summarize count_distinct(S), count_distinctif(N, S == 'x') by G"
        )),
        vec![
            json!({"G": "a", "count_distinct_S": 2, "count_distinctif_N": 1}),
            json!({"G": "b", "count_distinct_S": 1, "count_distinctif_N": 0}),
        ]
    );
}

#[test]
fn make_bag_merges_bags_keeping_each_keys_first_value_skipping_non_bags_up_to_max_size() {
    assert_eq!(
        rows(&format!(
            "{T} T | summarize make_bag(B), make_bag_if(B, N > 1), make_bag(B, 1) by G"
        )),
        vec![
            json!({"G": "a", "bag_B": {"k": 1, "m": 5}, "bag_B1": {"k": 2, "m": 5}, "bag_B2": {"k": 1}}),
            json!({"G": "b", "bag_B": {}, "bag_B1": {}, "bag_B2": {}}),
        ]
    );
}

#[test]
fn conditional_aggregates_over_no_rows_give_zero_counts_and_null_values() {
    assert_eq!(
        rows(&format!(
            "{T} T | where G == 'z' | summarize sumif(N, true), minif(N, true), \
             count_distinctif(S, true), make_list_with_nulls(N), make_bag(B)"
        )),
        vec![
            json!({"sumif_N": 0, "minif_N": null, "count_distinctif_S": 0, "list_N": [], "bag_B": {}})
        ]
    );
}

#[test]
fn conditional_aggregates_work_inside_expressions_over_aggregates() {
    assert_eq!(
        rows(&format!(
            "{T} T | summarize share = 100.0 * sumif(N, S == 'y') / sum(N), n = array_length(make_list_with_nulls(N))"
        )),
        vec![json!({"share": 300.0 / 14.0, "n": 4})]
    );
}

#[test]
fn an_if_form_without_its_predicate_and_an_unknown_aggregate_are_named_errors() {
    assert!(
        fails("Proc | summarize sumif(Size)")
            .message
            .contains("'sumif' expects an expression and a predicate")
    );
    assert!(
        fails("Proc | summarize make_list_with_nulls(Size, 3)")
            .message
            .contains("'make_list_with_nulls' expects 1 to 1 arguments, got 2")
    );
    assert!(
        fails("Proc | summarize tdigest(Size)")
            .message
            .contains("'tdigest' is not a supported aggregation function")
    );
}
