//! The `evaluate` plugins that compare windows of a timeline (`activity_metrics`) and follow
//! each id's sessions over them (`session_count`).

use serde_json::{Value as J, json};

use super::support::{assert_fails_at, fails, names, rows_in};

fn rows(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

fn day(d: u32) -> String {
    format!("2024-01-{d:02}T00:00:00.0000000Z")
}

/// Users 1, 2 and 5 on day 1; 1 and 3 on day 2 (and 1 at site y); 3 and a null id on day 3;
/// nobody on day 4; 1 on day 5; a visit after `End` that is left out.
const VISITS: &str = "datatable (User:long, Day:datetime, Site:string) [\
     1, datetime(2024-01-01), 'x', 2, datetime(2024-01-01), 'x', 5, datetime(2024-01-01), 'x', \
     1, datetime(2024-01-02), 'x', 3, datetime(2024-01-02), 'x', 3, datetime(2024-01-03), 'x', \
     long(null), datetime(2024-01-03), 'x', 1, datetime(2024-01-05), 'x', \
     9, datetime(2024-01-09), 'x', 1, datetime(2024-01-02), 'y']";

const METRICS: &str = "evaluate activity_metrics(User, Day, datetime(2024-01-01), \
     datetime(2024-01-05), 1d, Site)";

/// A row of `METRICS`; a NaN rate is answered as the text `NaN`, as JSON has no NaN.
fn metrics(d: u32, site: &str, dcounts: (i64, i64), rates: (f64, f64)) -> J {
    let rate = |r: f64| if r.is_nan() { json!("NaN") } else { json!(r) };
    json!({"Day": day(d), "dcount_values": dcounts.0, "dcount_newvalues": dcounts.1,
        "retention_rate": rate(rates.0), "churn_rate": rate(rates.1), "Site": site})
}

#[test]
fn activity_metrics_compares_each_window_with_the_one_just_before_it() {
    let nan = (f64::NAN, f64::NAN);
    assert_eq!(
        rows(&format!("{VISITS} | {METRICS}")),
        vec![
            metrics(1, "x", (3, 3), nan),
            metrics(2, "x", (2, 1), (1.0 / 3.0, 2.0 / 3.0)),
            metrics(2, "y", (1, 1), nan),
            metrics(3, "x", (1, 0), (0.5, 0.5)),
            metrics(5, "x", (1, 1), nan),
        ]
    );
}

#[test]
fn activity_metrics_puts_the_rates_before_the_dimensions_and_answers_no_rows_for_no_input() {
    let empty = format!("{VISITS} | where Site == 'none' | {METRICS}");
    assert_eq!(rows(&empty), Vec::<J>::new());
    let want = [
        "Day",
        "dcount_values",
        "dcount_newvalues",
        "retention_rate",
        "churn_rate",
        "Site",
    ];
    assert_eq!(names(&empty), want);
}

#[test]
fn activity_metrics_refuses_a_zero_step_and_an_unknown_column_where_they_are_written() {
    let query = "Proc | evaluate activity_metrics(DeviceName, Timestamp, datetime(2024-01-01), \
                 datetime(2024-02-01), 0d)";
    let at = query.find("0d)").expect("the step") + 1;
    assert_fails_at(
        query,
        "activity_metrics: Start, End and the step must be of one kind, the step positive",
        (1, at),
    );
    let unknown = "Proc | evaluate activity_metrics(DeviceName, Timestamp, datetime(2024-01-01), \
                   datetime(2024-02-01), 1d, Nope)";
    let at = unknown.find("Nope").expect("the dimension") + 1;
    assert_fails_at(unknown, "activity_metrics: no column named 'Nope'", (1, at));
}

/// Ids over a numeric timeline from 0, in windows of 10 with a lookback of 5: id 1 at 1, 4, 8
/// (one session), 15 (a new one), 30 and 31 (a third); id 2 at 2 and 7 (a gap of exactly the
/// lookback continues it), 13 and 14 (a new one); id 3 at 20 and 27 (two sessions in one
/// window); id 4 at 18 and 21 (one session across two windows, at site y); a null id at 35;
/// rows before `Start` and after `End` left out.
const SESSIONS: &str = "datatable (Id:long, T:long, Site:string) [\
     1, 1, 'x', 2, 2, 'x', 1, 4, 'x', 2, 7, 'x', 1, 8, 'x', 2, 13, 'x', 2, 14, 'x', 1, 15, 'x', \
     4, 18, 'y', 3, 20, 'x', 4, 21, 'y', 3, 27, 'x', 1, 30, 'x', 1, 31, 'x', \
     long(null), 35, 'x', 1, 45, 'x', 2, -1, 'x']";

#[test]
fn session_count_counts_each_session_once_per_window_a_gap_past_the_lookback_starting_one() {
    assert_eq!(
        rows(&format!(
            "{SESSIONS} | evaluate session_count(Id, T, 0, 39, 10, 5)"
        )),
        vec![
            json!({"T": 0, "count_sessions": 2}),
            json!({"T": 10, "count_sessions": 3}),
            json!({"T": 20, "count_sessions": 3}),
            json!({"T": 30, "count_sessions": 1}),
        ]
    );
}

#[test]
fn session_count_follows_sessions_within_each_combination_of_the_dimensions() {
    let query = format!("{SESSIONS} | evaluate session_count(Id, T, 0, 39, 10, 5, Site)");
    assert_eq!(
        rows(&query),
        vec![
            json!({"T": 0, "Site": "x", "count_sessions": 2}),
            json!({"T": 10, "Site": "x", "count_sessions": 2}),
            json!({"T": 10, "Site": "y", "count_sessions": 1}),
            json!({"T": 20, "Site": "x", "count_sessions": 2}),
            json!({"T": 20, "Site": "y", "count_sessions": 1}),
            json!({"T": 30, "Site": "x", "count_sessions": 1}),
        ]
    );
    assert_eq!(
        rows(&query.replace("evaluate", "where T > 100 | evaluate")),
        Vec::<J>::new()
    );
}

#[test]
fn session_count_refuses_a_negative_lookback_where_it_is_written_and_too_few_arguments() {
    let query = "Proc | evaluate session_count(DeviceName, Timestamp, datetime(2024-01-01), \
                 datetime(2024-02-01), 1d, -1h)";
    let at = query.find("-1h").expect("the lookback") + 1;
    assert_fails_at(
        query,
        "session_count: LookBackWindow must be of the step's kind and not negative",
        (1, at),
    );
    assert!(
        fails("Proc | evaluate session_count(DeviceName, Timestamp, datetime(2024-01-01), 1d)")
            .message
            .starts_with("session_count: expected the id and timeline columns, then 4 values")
    );
}
