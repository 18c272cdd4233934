//! `reduce` (patterns of similar strings) and `consume` (no rows).

use serde_json::{Value as J, json};

use super::support::{rows, rows_in, run_ok};

const LOG: &str = "datatable (Text:string) ['login failed for alice', 'login failed for bob', \
     'disk full', 'login failed for carol', 'disk full', 'service x stopped at 10:01']";

fn reduced(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

#[test]
fn reduce_groups_values_of_one_shape_with_a_star_where_their_terms_differ() {
    assert_eq!(
        reduced(&format!("{LOG} | reduce by Text")),
        vec![
            json!({"Pattern": "login failed for *", "Count": 3, "Representative": "login failed for alice"}),
            json!({"Pattern": "disk full", "Count": 2, "Representative": "disk full"}),
            json!({"Pattern": "service x stopped at 10:01", "Count": 1, "Representative": "service x stopped at 10:01"}),
        ]
    );
}

#[test]
fn reduce_folds_patterns_below_the_threshold_into_others() {
    assert_eq!(
        reduced(&format!("{LOG} | reduce by Text with threshold=0.2")),
        vec![
            json!({"Pattern": "login failed for *", "Count": 3, "Representative": "login failed for alice"}),
            json!({"Pattern": "disk full", "Count": 2, "Representative": "disk full"}),
            json!({"Pattern": "others", "Count": 1, "Representative": "service x stopped at 10:01"}),
        ]
    );
}

#[test]
fn reduce_splits_terms_on_the_characters_given_and_kind_source_keeps_the_rows() {
    let data = "datatable (T:string, N:long) ['MachineLearningX4', 1, 'MachineLearningX7', 2, \
                'Other', 3]";
    assert_eq!(
        reduced(&format!(
            "{data} | reduce by T with threshold=0.001, characters='X'"
        )),
        vec![
            json!({"Pattern": "MachineLearningX*", "Count": 2, "Representative": "MachineLearningX4"}),
            json!({"Pattern": "Other", "Count": 1, "Representative": "Other"}),
        ]
    );
    assert_eq!(
        reduced(&format!(
            "{data} | reduce kind=source by T with threshold=0.5, characters='X'"
        )),
        vec![
            json!({"T": "MachineLearningX4", "N": 1, "Pattern": "MachineLearningX*"}),
            json!({"T": "MachineLearningX7", "N": 2, "Pattern": "MachineLearningX*"}),
            json!({"T": "Other", "N": 3, "Pattern": "others"}),
        ]
    );
}

#[test]
fn consume_reads_the_rows_and_answers_an_empty_table() {
    let answer = run_ok("Proc | consume");
    assert!(answer.columns.is_empty() && answer.rows.is_empty());
    assert_eq!(
        rows("Proc | consume decodeblocks = true | count"),
        vec![json!({"Count": 0})]
    );
}
