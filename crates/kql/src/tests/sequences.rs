//! The `scan` operator's steps, state and output kinds.

use serde_json::{Value as J, json};

use super::support::rows_in;

fn rows(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

const EVENTS: &str = "datatable (Ts:timespan, Event:string) [0m, 'A', 1m, 'Start', 2m, 'B', \
     3m, 'Stop', 4m, 'C', 8m, 'Start', 11m, 'E', 12m, 'Stop']";

#[test]
fn scan_follows_each_sequence_through_its_steps_numbering_the_matches() {
    let q = format!(
        "{EVENTS} | scan with_match_id = m with (\
         step s1: Event == 'Start'; \
         step s2: Event != 'Start' and Event != 'Stop' and Ts - s1.Ts <= 5m; \
         step s3: Event == 'Stop' and Ts - s1.Ts <= 5m;) | project Event, m"
    );
    assert_eq!(
        rows(&q),
        vec![
            json!({"Event": "Start", "m": 0}),
            json!({"Event": "B", "m": 0}),
            json!({"Event": "Stop", "m": 0}),
            json!({"Event": "Start", "m": 1}),
            json!({"Event": "E", "m": 1}),
            json!({"Event": "Stop", "m": 1}),
        ]
    );
}

#[test]
fn scan_declared_columns_start_at_their_default_and_carry_state_forward() {
    assert_eq!(
        rows(
            "range x from 1 to 4 step 1 | scan declare (total:long = 0) with \
             (step s1: true => total = x + s1.total;)"
        ),
        vec![
            json!({"x": 1, "total": 1}),
            json!({"x": 2, "total": 3}),
            json!({"x": 3, "total": 6}),
            json!({"x": 4, "total": 10}),
        ]
    );
}

#[test]
fn scan_output_last_keeps_only_the_last_of_repeated_matches_and_none_keeps_none() {
    let q = "datatable (Ts:long, Event:string) [1, 'Start', 2, 'Start', 3, 'B', 4, 'B'] \
             | scan with (step s1 output=last: Event == 'Start'; step s2: Event == 'B';) \
             | project Ts";
    assert_eq!(
        rows(q),
        vec![json!({"Ts": 2}), json!({"Ts": 3}), json!({"Ts": 4})]
    );
    let q = "datatable (Ts:long, Event:string) [1, 'Start', 2, 'B'] \
             | scan with (step s1 output=none: Event == 'Start'; step s2: Event == 'B' => Ts = s1.Ts;)";
    assert_eq!(rows(q), vec![json!({"Ts": 1, "Event": "B"})]);
}
