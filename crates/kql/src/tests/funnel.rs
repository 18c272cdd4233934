//! `evaluate funnel_sequence`: the states before and after each id's run of a sequence.

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
fn funnel_sequence_refuses_a_sequence_that_is_not_an_array_at_the_sequence() {
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
