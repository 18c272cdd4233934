//! The `evaluate` plugins that look up addresses (`ipv4_lookup`, `ipv6_lookup`) and find
//! patterns (`basket`, `autocluster`).

use serde_json::{Value as J, json};

use super::support::{fails, rows_in};

fn rows(query: &str) -> Vec<J> {
    rows_in(Vec::new(), query)
}

const RANGES: &str = "let R = datatable (Net:string, Site:string) ['10.0.0.0/8', 'corp', \
     '10.1.0.0/16', 'lab', '192.168.1.1', 'gw'];";
const IPS: &str = "datatable (Ip:string, N:long) ['10.1.2.3', 1, '10.9.9.9', 2, '8.8.8.8', 3, \
     '192.168.1.1', 4]";

#[test]
fn ipv4_lookup_joins_each_row_with_the_ranges_holding_its_address_most_specific_first() {
    assert_eq!(
        rows(&format!(
            "{RANGES} {IPS} | evaluate ipv4_lookup(R, Ip, Net)"
        )),
        vec![
            json!({"Ip": "10.1.2.3", "N": 1, "Net": "10.1.0.0/16", "Site": "lab"}),
            json!({"Ip": "10.1.2.3", "N": 1, "Net": "10.0.0.0/8", "Site": "corp"}),
            json!({"Ip": "10.9.9.9", "N": 2, "Net": "10.0.0.0/8", "Site": "corp"}),
            json!({"Ip": "192.168.1.1", "N": 4, "Net": "192.168.1.1", "Site": "gw"}),
        ]
    );
}

#[test]
fn ipv4_lookup_keeps_unmatched_rows_when_asked_and_matches_extra_keys() {
    assert_eq!(
        rows(&format!(
            "{RANGES} {IPS} | where N > 1 | evaluate ipv4_lookup((R | where Site != 'gw'), Ip, Net, true)"
        )),
        vec![
            json!({"Ip": "10.9.9.9", "N": 2, "Net": "10.0.0.0/8", "Site": "corp"}),
            json!({"Ip": "8.8.8.8", "N": 3, "Net": null, "Site": null}),
            json!({"Ip": "192.168.1.1", "N": 4, "Net": null, "Site": null}),
        ]
    );
    let by_region = "let L = datatable (Net:string, Region:string, Owner:string) \
        ['10.0.0.0/8', 'eu', 'ops', '10.0.0.0/8', 'us', 'dev']; \
        datatable (Ip:string, Region:string) ['10.2.3.4', 'us', '10.2.3.5', 'apac'] \
        | evaluate ipv4_lookup(L, Ip, Net, Region)";
    assert_eq!(
        rows(by_region),
        vec![json!({"Ip": "10.2.3.4", "Region": "us", "Net": "10.0.0.0/8", "Owner": "dev"})]
    );
}

#[test]
fn ipv6_lookup_matches_prefixes_and_reads_ipv4_as_mapped_addresses() {
    let query = "let R = datatable (Net:string, Site:string) ['fe80::/10', 'link', \
        '2001:db8::/32', 'doc', '10.0.0.0/8', 'corp']; \
        datatable (Ip:string) ['fe80::1', '2001:db8::5', '::1', '10.1.1.1'] \
        | evaluate ipv6_lookup(R, Ip, Net)";
    assert_eq!(
        rows(query),
        vec![
            json!({"Ip": "fe80::1", "Net": "fe80::/10", "Site": "link"}),
            json!({"Ip": "2001:db8::5", "Net": "2001:db8::/32", "Site": "doc"}),
            json!({"Ip": "10.1.1.1", "Net": "10.0.0.0/8", "Site": "corp"}),
        ]
    );
}

const STORMS: &str = "datatable (State:string, Event:string, Damage:string) ['TX', 'Hail', 'NO', \
     'TX', 'Hail', 'NO', 'TX', 'Wind', 'YES', 'KS', 'Hail', 'NO', 'KS', 'Wind', 'NO']";

#[test]
fn basket_answers_every_closed_pattern_above_the_threshold_largest_first() {
    assert_eq!(
        rows(&format!("{STORMS} | evaluate basket(0.4)")),
        vec![
            json!({"SegmentId": 0, "Count": 4, "Percent": 80.0, "State": "", "Event": "", "Damage": "NO"}),
            json!({"SegmentId": 1, "Count": 3, "Percent": 60.0, "State": "TX", "Event": "", "Damage": ""}),
            json!({"SegmentId": 2, "Count": 3, "Percent": 60.0, "State": "", "Event": "Hail", "Damage": "NO"}),
            json!({"SegmentId": 3, "Count": 2, "Percent": 40.0, "State": "TX", "Event": "Hail", "Damage": "NO"}),
            json!({"SegmentId": 4, "Count": 2, "Percent": 40.0, "State": "KS", "Event": "", "Damage": "NO"}),
            json!({"SegmentId": 5, "Count": 2, "Percent": 40.0, "State": "", "Event": "Wind", "Damage": ""}),
        ]
    );
}

#[test]
fn basket_takes_a_weight_column_max_dimensions_and_custom_wildcards() {
    let weighted = "datatable (Host:string, User:string, N:long) ['a', 'x', 9, 'b', 'x', 1] \
        | evaluate basket(0.5, N, '~', '*')";
    assert_eq!(
        rows(weighted),
        vec![
            json!({"SegmentId": 0, "Count": 10, "Percent": 100.0, "Host": "*", "User": "x"}),
            json!({"SegmentId": 1, "Count": 9, "Percent": 90.0, "Host": "a", "User": "x"}),
        ]
    );
    // One value per pattern, and those that follow from it: no State with Event and Damage.
    let one = rows(&format!("{STORMS} | evaluate basket(0.4, '~', 1)"));
    assert_eq!(one.len(), 5, "{one:?}");
    assert!(
        !one.iter()
            .any(|r| r["State"] == "TX" && r["Event"] == "Hail"),
        "{one:?}"
    );
}

#[test]
fn autocluster_picks_a_few_patterns_greedily_over_the_rows_not_yet_covered() {
    assert_eq!(
        rows(&format!("{STORMS} | evaluate autocluster(0.6)")),
        vec![
            json!({"SegmentId": 0, "Count": 3, "Percent": 60.0, "State": "", "Event": "Hail", "Damage": "NO"}),
            json!({"SegmentId": 1, "Count": 1, "Percent": 20.0, "State": "TX", "Event": "Wind", "Damage": "YES"}),
            json!({"SegmentId": 2, "Count": 1, "Percent": 20.0, "State": "KS", "Event": "Wind", "Damage": "NO"}),
        ]
    );
}

#[test]
fn plugins_the_emulator_does_not_evaluate_are_named() {
    assert_eq!(
        fails("Proc | evaluate sequence_detect(Timestamp, 1h, 1d, FileName == 'a', FileName == 'b', DeviceName)").message,
        "evaluate plugin 'sequence_detect' is not supported by huntd emulate"
    );
    assert!(
        fails("Proc | evaluate basket(2.0)")
            .message
            .starts_with("basket: Threshold must be between 0.015 and 1")
    );
}

const VISITS: &str = "datatable (User:string, Day:datetime) ['a', datetime(2024-01-01), \
     'b', datetime(2024-01-01), 'a', datetime(2024-01-02), 'c', datetime(2024-01-03), \
     'a', datetime(2024-01-05), 'z', datetime(2024-02-01)]";

fn day(d: u32) -> String {
    format!("2024-01-0{d}T00:00:00.0000000Z")
}

#[test]
fn sliding_window_counts_counts_rows_and_ids_over_each_windows_lookback() {
    assert_eq!(
        rows(&format!(
            "{VISITS} | evaluate sliding_window_counts(User, Day, datetime(2024-01-01), \
             datetime(2024-01-05), 2d, 1d)"
        )),
        vec![
            json!({"Day": day(1), "count": 2, "dcount": 2}),
            json!({"Day": day(2), "count": 3, "dcount": 2}),
            json!({"Day": day(3), "count": 2, "dcount": 2}),
            json!({"Day": day(4), "count": 1, "dcount": 1}),
            json!({"Day": day(5), "count": 1, "dcount": 1}),
        ]
    );
}

#[test]
fn activity_counts_metrics_compares_each_window_with_every_earlier_one() {
    assert_eq!(
        rows(&format!(
            "{VISITS} | extend Site = 'x' | evaluate activity_counts_metrics(User, Day, \
             datetime(2024-01-01), datetime(2024-01-05), 1d, Site)"
        )),
        vec![
            json!({"Day": day(1), "Site": "x", "count": 2, "dcount": 2, "new_dcount": 2, "aggregated_dcount": 2}),
            json!({"Day": day(2), "Site": "x", "count": 1, "dcount": 1, "new_dcount": 0, "aggregated_dcount": 2}),
            json!({"Day": day(3), "Site": "x", "count": 1, "dcount": 1, "new_dcount": 1, "aggregated_dcount": 3}),
            json!({"Day": day(5), "Site": "x", "count": 1, "dcount": 1, "new_dcount": 0, "aggregated_dcount": 3}),
        ]
    );
    assert!(
        fails("Proc | evaluate activity_counts_metrics(DeviceName, Timestamp, datetime(2024-01-01), datetime(2024-02-01), 'week')")
            .message
            .starts_with("activity_counts_metrics: a calendar step")
    );
}

#[test]
fn a_zero_step_is_an_error_of_the_activity_plugins_not_a_panic() {
    for plugin in ["activity_counts_metrics", "sliding_window_counts"] {
        let lookback = if plugin == "sliding_window_counts" {
            "1d, "
        } else {
            ""
        };
        let query = format!(
            "Proc | evaluate {plugin}(DeviceName, Timestamp, datetime(2024-01-01), \
             datetime(2024-02-01), {lookback}0d)"
        );
        assert_eq!(
            fails(&query).message,
            format!("{plugin}: Start, End and the step must be of one kind, the step positive")
        );
    }
}

const OUTCOMES: &str = "datatable (Result:string, Host:string, App:string) ['fail', 'h1', 'web', \
     'fail', 'h1', 'web', 'fail', 'h2', 'db', 'fail', 'h2', 'web', 'ok', 'h2', 'web', \
     'ok', 'h2', 'db', 'ok', 'h3', 'web', 'ok', 'h3', 'db', 'other', 'h9', 'web']";

#[test]
fn diffpatterns_answers_the_patterns_whose_shares_of_the_two_sets_differ_most_first() {
    let row = |id: i64, counts: (i64, i64), percents: (f64, f64), host: &str, app: &str| {
        json!({"SegmentId": id, "CountA": counts.0, "CountB": counts.1,
            "PercentA": percents.0, "PercentB": percents.1,
            "PercentDiffAB": (percents.0 - percents.1).abs(), "Host": host, "App": app})
    };
    assert_eq!(
        rows(&format!(
            "{OUTCOMES} | evaluate diffpatterns(Result, 'fail', 'ok')"
        )),
        vec![
            row(0, (2, 0), (50.0, 0.0), "h1", "web"),
            row(1, (0, 2), (0.0, 50.0), "h3", ""),
            row(2, (0, 1), (0.0, 25.0), "h3", "web"),
            row(3, (0, 1), (0.0, 25.0), "h3", "db"),
            row(4, (3, 2), (75.0, 50.0), "", "web"),
            row(5, (1, 2), (25.0, 50.0), "", "db"),
        ]
    );
    assert_eq!(
        rows(&format!(
            "{OUTCOMES} | evaluate diffpatterns(Result, 'fail', 'ok', '~', 0.3, '~', '*')"
        )),
        vec![
            row(0, (2, 0), (50.0, 0.0), "h1", "web"),
            row(1, (0, 2), (0.0, 50.0), "h3", "*"),
        ]
    );
}
