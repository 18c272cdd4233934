//! `mv-apply` and `parse-kv`.

use serde_json::{Value as J, json};

use super::support::{fails_in, rows_in};
use crate::fixture::{db, j, s, table};
use crate::{KqlType, Table};

fn hosts() -> Table {
    table(
        "Hosts",
        &[
            ("Host", KqlType::String),
            ("Ports", KqlType::Dynamic),
            ("Line", KqlType::String),
        ],
    )
    .row(vec![
        s("a"),
        j(json!([443, 22, 8080])),
        s("user=alice; port=22; msg=\"a; b\""),
    ])
    .row(vec![s("b"), j(json!([80])), s("user = bob ;port=x")])
    .row(vec![s("c"), j(json!([])), s("")])
    .build()
}

fn rows(query: &str) -> Vec<J> {
    rows_in(vec![hosts()], query)
}

#[test]
fn mv_apply_runs_its_subquery_per_row_and_keeps_the_rows_other_columns() {
    assert_eq!(
        rows("Hosts | mv-apply P = Ports to typeof(long) on (top 1 by P) | project Host, P"),
        vec![
            json!({"Host": "a", "P": 8080}),
            json!({"Host": "b", "P": 80})
        ]
    );
    // A summarize's result lacks the row's columns: they are added back in front.
    assert_eq!(
        rows(
            "Hosts | project Host, Ports | mv-apply Ports to typeof(long) on \
             (summarize n = count(), high = max(Ports))"
        ),
        vec![
            json!({"Host": "a", "n": 3, "high": 8080}),
            json!({"Host": "b", "n": 1, "high": 80}),
            json!({"Host": "c", "n": 0, "high": null}),
        ]
    );
    // An unnamed column is expanded under its own name.
    assert_eq!(
        rows("Hosts | where Host == 'b' | mv-apply Ports on (project Ports) | project Ports"),
        vec![json!({"Ports": 80})]
    );
}

#[test]
fn mv_apply_with_itemindex_numbers_each_items_position_and_limit_caps_them() {
    assert_eq!(
        rows(
            "Hosts | where Host == 'a' | mv-apply with_itemindex = i P = Ports to typeof(long) \
             limit 2 on (where i >= 0 | extend Twice = P * 2) | project i, P, Twice"
        ),
        vec![
            json!({"i": 0, "P": 443, "Twice": 886}),
            json!({"i": 1, "P": 22, "Twice": 44}),
        ]
    );
}

#[test]
fn parse_kv_takes_the_listed_keys_first_value_typed_quotes_keeping_delimiters() {
    assert_eq!(
        rows(
            "Hosts | parse-kv Line as (user:string, port:long, msg:string, gone:string) \
             with (pair_delimiter=';', kv_delimiter='=', quote='\"') | project Host, user, port, msg, gone"
        ),
        vec![
            json!({"Host": "a", "user": "alice", "port": 22, "msg": "a; b", "gone": ""}),
            json!({"Host": "b", "user": "bob", "port": null, "msg": "", "gone": ""}),
            json!({"Host": "c", "user": "", "port": null, "msg": "", "gone": ""}),
        ]
    );
}

#[test]
fn parse_kv_regex_reads_each_matchs_key_and_value_groups() {
    assert_eq!(
        rows(
            "Hosts | where Host == 'a' | parse-kv Line as (user:string, port:long) \
             with (regex=@'(\\w+)=(\\w+)') | project user, port"
        ),
        vec![json!({"user": "alice", "port": 22})]
    );
}

#[test]
fn parse_kv_refuses_incomplete_or_unknown_options_by_name() {
    let fails = |q: &str| fails_in(&db(vec![hosts()]), q).message;
    assert!(
        fails("Hosts | parse-kv Line as (a:string) with (pair_delimiter=',')")
            .contains("write both pair_delimiter and kv_delimiter")
    );
    assert!(
        fails("Hosts | parse-kv Line as (a:string) with (greedy=true)")
            .contains("greedy needs them")
    );
    assert!(
        fails("Hosts | parse-kv Line as (a:string) with (regex='(a)')")
            .contains("exactly two capturing groups")
    );
}

#[test]
fn parse_kv_greedy_values_run_to_the_pair_delimiter_before_the_next_key() {
    assert_eq!(
        rows_in(
            Vec::new(),
            "print s = 'name=Jo Doe phone=555 5555 note=a=b city=New York' \
             | parse-kv s as (name:string, phone:string, note:string, city:string) \
             with (pair_delimiter=' ', kv_delimiter='=', greedy=true) | project-away s"
        ),
        vec![json!({"name": "Jo Doe", "phone": "555 5555", "note": "a=b", "city": "New York"})]
    );
}

#[test]
fn parse_kv_without_delimiters_reads_a_word_or_a_quoted_value_after_each_key() {
    assert_eq!(
        rows_in(
            Vec::new(),
            "print s = \"10:00 [INFO] ThreadId:4587, Machine:Node001, Text: 'The service is up'\" \
             | parse-kv s as (Text:string, ThreadId:long, Machine:string, Missing:long) \
             with (quote=\"'\") | project-away s"
        ),
        vec![
            json!({"Text": "The service is up", "ThreadId": 4587, "Machine": "Node001", "Missing": null})
        ]
    );
    assert_eq!(
        rows_in(
            Vec::new(),
            "print s = 'user=bob; id=7' | parse-kv s as (user:string, id:long) | project-away s"
        ),
        vec![json!({"user": "bob", "id": 7})]
    );
}
