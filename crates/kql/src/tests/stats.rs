//! `stdev`, `stdevif`, `stdevp`, `variance`, `varianceif` and `variancep`.

use serde_json::{Value as J, json};

use super::support::{fails, rows_in, run_ok};
use crate::KqlType;

fn rows(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

const X: &str = "datatable (X:long) [2, 4, 4, 4, 5, 5, 7, long(null), 9]";

#[test]
fn sample_forms_divide_by_n_minus_one_and_population_forms_by_n_skipping_nulls() {
    assert_eq!(
        rows(&format!(
            "{X} | summarize stdev(X), stdevp(X), variance(X), variancep(X)"
        )),
        vec![json!({
            "stdev_X": (32.0_f64 / 7.0).sqrt(),
            "stdevp_X": 2.0,
            "variance_X": 32.0 / 7.0,
            "variancep_X": 4.0
        })]
    );
}

#[test]
fn a_single_value_has_zero_spread_and_a_group_without_values_a_null_one() {
    assert_eq!(
        rows(
            "datatable (G:string, X:real, B:bool) ['a', 3.5, true, 'a', 7.0, false, \
             'b', real(null), true] \
             | summarize stdevif(X, B), varianceif(X, B), variance(X) by G"
        ),
        vec![
            json!({"G": "a", "stdevif_X": 0.0, "varianceif_X": 0.0, "variance_X": 6.125}),
            json!({"G": "b", "stdevif_X": null, "varianceif_X": null, "variance_X": null}),
        ]
    );
}

#[test]
fn spread_of_no_rows_is_null_and_its_type_is_real() {
    let q = format!("{X} | where X > 100 | summarize stdev(X), variancep(X)");
    assert_eq!(
        rows(&q),
        vec![json!({"stdev_X": null, "variancep_X": null})]
    );
    assert_eq!(
        run_ok(&q).columns,
        vec![
            ("stdev_X".to_string(), KqlType::Real),
            ("variancep_X".to_string(), KqlType::Real)
        ]
    );
}

#[test]
fn spread_of_a_string_is_an_error_naming_the_function() {
    assert!(
        fails("Proc | summarize stdev(FileName)")
            .message
            .contains("'stdev' expects a number")
    );
}
