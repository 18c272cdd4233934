//! `evaluate funnel_sequence` (the states before and after each id's run of a sequence) and
//! `funnel_sequence_completion` (how many ids reach each step of a sequence in time).

use serde_json::{Value as J, json};

use super::support::{assert_fails_at, names, rows_in};

fn rows(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

/// On day 1: users 1 and 3 go A, B, C, D an hour apart; user 2 goes B, C, then X eight hours
/// later; user 4 goes B, then C four hours later (too late for the sequence). On day 2: user 1
/// goes B, C, B. A row after `End` and a null id are left out.
const STATES: &str = "datatable (User:long, T:datetime, S:string) [\
     1, datetime(2024-01-01 01:00), 'A', 1, datetime(2024-01-01 02:00), 'B', \
     1, datetime(2024-01-01 03:00), 'C', 1, datetime(2024-01-01 04:00), 'D', \
     2, datetime(2024-01-01 01:00), 'B', 2, datetime(2024-01-01 02:00), 'C', \
     2, datetime(2024-01-01 10:00), 'X', 3, datetime(2024-01-01 04:00), 'D', \
     3, datetime(2024-01-01 03:00), 'C', 3, datetime(2024-01-01 02:00), 'B', \
     3, datetime(2024-01-01 01:00), 'A', 4, datetime(2024-01-01 01:00), 'B', \
     4, datetime(2024-01-01 05:00), 'C', long(null), datetime(2024-01-01 02:00), 'B', \
     1, datetime(2024-01-02 01:00), 'B', 1, datetime(2024-01-02 02:00), 'C', \
     1, datetime(2024-01-02 03:00), 'B', 5, datetime(2024-01-05 01:00), 'B']";

const FUNNEL: &str = "evaluate funnel_sequence(User, T, datetime(2024-01-01), \
     datetime(2024-01-03), 2h, 1d, S, dynamic(['B', 'C']))";

#[test]
fn funnel_sequence_counts_ids_by_the_states_just_before_and_after_the_sequence() {
    let row = |d: u32, prev: &str, next: &str, samples: J| {
        json!({"T": format!("2024-01-0{d}T00:00:00.0000000Z"), "prev": prev, "next": next,
            "dcount": samples.as_array().map_or(0, Vec::len), "samples": samples})
    };
    assert_eq!(
        rows(&format!("{STATES} | {FUNNEL}")),
        vec![
            row(1, "A", "D", json!([1, 3])),
            row(1, "", "", json!([2])),
            row(2, "", "B", json!([1])),
        ]
    );
}

#[test]
fn funnel_sequence_answers_its_first_table_and_no_rows_for_no_input() {
    let empty = format!("{STATES} | where S == 'none' | {FUNNEL}");
    assert_eq!(rows(&empty), Vec::<J>::new());
    assert_eq!(names(&empty), ["T", "prev", "next", "dcount", "samples"]);
}

#[test]
fn funnel_sequence_refuses_a_sequence_that_is_not_an_array_and_dimensions_where_written() {
    let query = "Proc | evaluate funnel_sequence(DeviceName, Timestamp, datetime(2024-01-01), \
                 datetime(2024-02-01), 1h, 1d, FileName, 'cmd.exe')";
    let at = query.find("'cmd.exe'").expect("the sequence") + 1;
    assert_fails_at(
        query,
        "funnel_sequence: Sequence must be a non-empty dynamic array of states",
        (1, at),
    );
    let extra = "Proc | evaluate funnel_sequence(DeviceName, Timestamp, datetime(2024-01-01), \
                 datetime(2024-02-01), 1h, 1d, FileName, dynamic(['a']), Size)";
    let at = extra.find("Size").expect("the extra column") + 1;
    assert_fails_at(
        extra,
        "funnel_sequence: takes no dimension columns",
        (1, at),
    );
}

/// Day 1: user 1 goes A, X, B, C an hour apart from A to B and B to C; user 2 goes A, B, C
/// within 40 minutes; user 3 goes B, C without A; user 4 goes A, then A and B four hours later.
/// Day 2: user 1 has only C.
const FUNNEL_STEPS: &str = "datatable (User:long, T:datetime, S:string) [\
     1, datetime(2024-01-01 01:00), 'A', 1, datetime(2024-01-01 01:30), 'X', \
     1, datetime(2024-01-01 02:00), 'B', 1, datetime(2024-01-01 03:00), 'C', \
     2, datetime(2024-01-01 01:00), 'A', 2, datetime(2024-01-01 01:20), 'B', \
     2, datetime(2024-01-01 01:40), 'C', 3, datetime(2024-01-01 01:00), 'B', \
     3, datetime(2024-01-01 02:00), 'C', 4, datetime(2024-01-01 05:00), 'A', \
     4, datetime(2024-01-01 09:00), 'A', 4, datetime(2024-01-01 09:30), 'B', \
     1, datetime(2024-01-02 01:00), 'C']";

#[test]
fn funnel_sequence_completion_counts_the_ids_reaching_each_step_within_each_period() {
    let query = format!(
        "{FUNNEL_STEPS} | evaluate funnel_sequence_completion(User, T, datetime(2024-01-01), \
         datetime(2024-01-02), 1d, S, dynamic(['A', 'B', 'C']), dynamic([1h, 3h]))"
    );
    let mut want = Vec::new();
    for (d, counts) in [(1, [3, 3, 1, 3, 3, 2]), (2, [0; 6])] {
        let steps = ["A", "B", "C"].iter().cycle();
        let periods = ["01:00:00"; 3].iter().chain(["03:00:00"; 3].iter());
        for ((state, period), n) in steps.zip(periods).zip(counts) {
            want.push(
                json!({"T": format!("2024-01-0{d}T00:00:00.0000000Z"), "S": state,
                "Period": period, "dcount": n}),
            );
        }
    }
    assert_eq!(rows(&query), want);
    assert_eq!(names(&query), ["T", "S", "Period", "dcount"]);
}

#[test]
fn funnel_sequence_completion_refuses_periods_that_are_not_spans_at_the_periods() {
    let query = "Proc | evaluate funnel_sequence_completion(DeviceName, Timestamp, \
                 datetime(2024-01-01), datetime(2024-02-01), 1d, FileName, dynamic(['a']), \
                 dynamic(['soon']))";
    let at = query.find("dynamic(['soon'])").expect("the periods") + 1;
    assert_fails_at(
        query,
        "funnel_sequence_completion: MaxSequenceStepWindows must be a non-empty dynamic array \
         of spans of the step's kind, none negative",
        (1, at),
    );
}
