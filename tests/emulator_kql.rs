//! The emulator answers valid KQL it does not evaluate with a 400 that names what it does not
//! support, and only invalid KQL with a syntax error.

#[path = "common/hunt.rs"]
mod common;
#[path = "common/emulator.rs"]
mod emu;

use emu::*;
use huntd::emulator::{DEMO_APP, DEMO_SECRET};

async fn message(query: &str) -> String {
    let e = start(options()).await;
    let token = token(&e.base_url, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    let (status, _, body) = call(&e.base_url, MDE, &token, query).await;
    assert_eq!(status, 400, "{query}: {body}");
    assert_eq!(body["error"]["code"], "BadRequest");
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn valid_kql_the_emulator_does_not_run_is_a_400_naming_it_not_a_syntax_error() {
    let named = message(
        "DeviceInfo | evaluate sequence_detect(Timestamp, 1h, 1d, OSPlatform == 'a', OSPlatform == 'b', DeviceName)",
    )
    .await;
    assert!(
        named.starts_with("evaluate plugin 'sequence_detect' is not supported by huntd emulate"),
        "{named}"
    );
    let method = message("DeviceInfo | extend x=DeviceName.length()").await;
    assert!(
        method.starts_with(
            "'x=DeviceName.length()' is valid KQL that huntd emulate does not support"
        ),
        "{method}"
    );
    let invalid = message("DeviceInfo | where DeviceName hass 'x'").await;
    assert!(invalid.starts_with("Syntax error"), "{invalid}");
}

/// Constructs hunters write, each answered 200 over HTTP by the emulator.
const RUNS: [&str; 20] = [
    "DeviceProcessEvents | take 5 | parse ProcessCommandLine with Exe ' ' Rest | project Exe",
    "print a = 1, b = datetime_add('day', 1, now()), c = datetime_diff('hour', now(), ago(1d))",
    "let shout = (s:string) { toupper(s) }; DeviceInfo | take 3 | project n = shout(DeviceName)",
    "let recent = (since:timespan) { DeviceInfo | where Timestamp > ago(since) }; recent(30d) | count",
    "let v = view () { DeviceInfo | take 2 }; v",
    "DeviceInfo | take 3 | project x = replace_string(DeviceName, '.', '-'), p = pack('id', DeviceId)",
    "DeviceInfo | take 2 | extend t = pack_array(1, 2) | mvexpand t",
    "let Known = datatable (Name:string) ['cmd.exe', 'powershell.exe']; DeviceProcessEvents | where FileName in~ (Known) | take 3",
    "DeviceInfo | take 2 | project-reorder DeviceName",
    "DeviceProcessEvents | take 5 | join kind=inner (DeviceInfo | take 50) on $left.DeviceId == $right.DeviceId | take 1",
    "DeviceProcessEvents | summarize avg_size = round(avg(FileSize), 2), cmd_share = 100.0 * countif(FileName =~ 'cmd.exe') / count() by DeviceName",
    "DeviceProcessEvents | take 5 | lookup (DeviceInfo | summarize arg_max(Timestamp, OSPlatform) by DeviceId) on DeviceId",
    "DeviceProcessEvents | summarize c = count() by bin(Timestamp, 1d) | render timechart",
    "DeviceProcessEvents | where ProcessCommandLine has_any ('-enc', 'bypass') | summarize make_set(FileName), dcount(DeviceId)",
    "DeviceLogonEvents | summarize Admin = max(IsLocalAdmin) by AccountName | where Admin == 0",
    "DeviceEvents | take 5 | evaluate bag_unpack(parse_json(AdditionalFields), 'af_')",
    "DeviceProcessEvents | take 3 | parse-where kind=regex ProcessCommandLine with @'^' Exe @'\\s' *",
    "DeviceInfo | evaluate basket()",
    "DeviceProcessEvents | evaluate autocluster()",
    "DeviceProcessEvents | reduce by ProcessCommandLine",
];

#[tokio::test]
async fn constructs_hunters_write_are_answered_by_the_emulator() {
    let e = start(options()).await;
    let token = token(&e.base_url, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    for query in RUNS {
        let (status, _, body) = call(&e.base_url, MDE, &token, query).await;
        assert_eq!(status, 200, "{query}: {body}");
    }
    for (query, named) in [
        (
            "DeviceInfo | evaluate new_activity_metrics(DeviceId, Timestamp, ago(7d), now(), 1d)",
            "evaluate plugin 'new_activity_metrics'",
        ),
        ("DeviceInfo | where DeviceName like 'x%'", "'like'"),
    ] {
        let (status, _, body) = call(&e.base_url, MDE, &token, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{query}: {message}");
    }
}

/// Small tables written in the queries, so that each answer's rows are known.
const S: &str = "let S = datatable (R:string, A:long) ['x', 1, 'y', 5, 'y', 1];";
const T: &str = "let T = datatable (Timestamp:datetime, Host:string) [datetime(2024-01-01T01:00:00Z), 'a', datetime(2024-01-01T02:00:00Z), 'a', datetime(2024-01-03T00:00:00Z), 'a'];";
const AB: &str = "let A = datatable (Name:string, N:long) ['alpha', 1, 'beta', 2]; let B = datatable (Name:string) ['alpha x'];";

#[tokio::test]
async fn series_nesting_search_and_branching_operators_answer_their_rows_over_http() {
    let days = |d: &[&str]| -> Vec<String> {
        d.iter()
            .map(|d| format!("2024-01-{d}T00:00:00.0000000Z"))
            .collect()
    };
    let cases = [
        (
            format!(
                "{T} T | make-series n = count() on Timestamp from datetime(2024-01-01) to datetime(2024-01-04) step 1d by Host"
            ),
            serde_json::json!([{"Host": "a", "n": [2, 0, 1], "Timestamp": days(&["01", "02", "03"])}]),
        ),
        (
            format!(
                "{T} T | make-series n = count() on Timestamp from datetime(2024-01-01) to datetime(2024-01-04) step 1d | project sq = series_multiply(n, n)"
            ),
            serde_json::json!([{"sq": [4, 0, 1]}]),
        ),
        (
            format!("{S} S | top-nested 1 of R with others = 'rest' by sum(A)"),
            serde_json::json!([{"R": "y", "aggregated_R": 6}, {"R": "rest", "aggregated_R": 1}]),
        ),
        (
            format!("{AB} find in (A, B) where Name has 'alpha' project Name"),
            serde_json::json!([{"source_": "A", "Name": "alpha"}, {"source_": "B", "Name": "alpha x"}]),
        ),
        (
            format!("{AB} search in (A, B) 'beta'"),
            serde_json::json!([{"$table": "A", "Name": "beta", "N": 2}]),
        ),
        (
            format!("{S} S | fork (where A > 1) (take 1)"),
            serde_json::json!([{"R": "y", "A": 5}]),
        ),
        (
            format!("{S} S | facet by R"),
            serde_json::json!([{"R": "x", "count_R": 1}, {"R": "y", "count_R": 2}]),
        ),
        (
            format!("{S} S | getschema | project ColumnName, ColumnType"),
            serde_json::json!([{"ColumnName": "R", "ColumnType": "string"}, {"ColumnName": "A", "ColumnType": "long"}]),
        ),
        (
            format!("{S} S | sample 2 | count"),
            serde_json::json!([{"Count": 2}]),
        ),
        (
            format!("let f = (Rows:(*), min:long) {{ Rows | where A > min }}; {S} f(S, 1)"),
            serde_json::json!([{"R": "y", "A": 5}]),
        ),
        (
            "let f = (Rows:(*)) { Rows | take 2 | count }; f(DeviceProcessEvents)".to_string(),
            serde_json::json!([{"Count": 2}]),
        ),
        (
            "let f = (Rows:(*)) { Rows | count }; f((DeviceInfo | take 3))".to_string(),
            serde_json::json!([{"Count": 3}]),
        ),
        (
            "search in (DeviceInfo) DeviceName has 'no-such-device' | count".to_string(),
            serde_json::json!([{"Count": 0}]),
        ),
    ];
    answers_over_http(cases).await;
}

#[tokio::test]
async fn apply_binding_partition_pivot_scan_and_parse_kv_answer_their_rows_over_http() {
    let cases = [
        (
            format!(
                "{S} S | summarize As = make_list(A) by R | mv-apply with_itemindex = i a = As to typeof(long) on (top 1 by a) | project R, a, i"
            ),
            serde_json::json!([{"R": "x", "a": 1, "i": 0}, {"R": "y", "a": 5, "i": 0}]),
        ),
        (
            "let twice = (T:(*)) { T | union T }; range x from 1 to 3 step 1 | as R | union (R | where x > 2) | invoke twice() | top-hitters 2 of x".to_string(),
            serde_json::json!([{"x": 3, "approximate_count_x": 4}, {"x": 1, "approximate_count_x": 2}]),
        ),
        (
            format!("{S} S | partition hint.strategy=native by R (top 1 by A) | project R, A"),
            serde_json::json!([{"R": "x", "A": 1}, {"R": "y", "A": 5}]),
        ),
        (
            format!("{S} S | evaluate pivot(R, sum(A))"),
            serde_json::json!([{"x": 1, "y": 6}]),
        ),
        (
            "range x from 1 to 4 step 1 | scan with_match_id = m declare (total:long = 0) with (step s1: x % 2 == 1 => total = x; step s2: x % 2 == 0 => total = s1.total + x;)".to_string(),
            serde_json::json!([
                {"x": 1, "total": 1, "m": 0}, {"x": 2, "total": 3, "m": 0},
                {"x": 3, "total": 3, "m": 1}, {"x": 4, "total": 7, "m": 1},
            ]),
        ),
        (
            "range x from 1 to 3 step 1 | sample-distinct 2 of x".to_string(),
            serde_json::json!([{"x": 1}, {"x": 2}]),
        ),
        (
            "print s = 'user=alice;port=22' | parse-kv s as (port:long, user:string) with (pair_delimiter=';', kv_delimiter='=') | project user, port".to_string(),
            serde_json::json!([{"user": "alice", "port": 22}]),
        ),
    ];
    answers_over_http(cases).await;
}

#[tokio::test]
async fn reduce_consume_lookups_patterns_activity_counts_and_case_sensitive_affixes_answer_their_rows_over_http()
 {
    let ranges =
        "let R = datatable (Net:string, Site:string) ['10.0.0.0/8', 'corp', 'fe80::/10', 'link'];";
    let storms = "datatable (State:string, Event:string) ['TX', 'Hail', 'TX', 'Hail', 'TX', 'Hail', 'KS', 'Wind']";
    let cases = [
        (
            "datatable (T:string) ['disk full', 'login failed for bob', 'login failed for amy'] | reduce by T".to_string(),
            serde_json::json!([
                {"Pattern": "login failed for *", "Count": 2, "Representative": "login failed for bob"},
                {"Pattern": "disk full", "Count": 1, "Representative": "disk full"},
            ]),
        ),
        ("DeviceInfo | consume".to_string(), serde_json::json!([])),
        (
            format!("{ranges} print Ip = '10.2.3.4' | evaluate ipv4_lookup(R, Ip, Net)"),
            serde_json::json!([{"Ip": "10.2.3.4", "Net": "10.0.0.0/8", "Site": "corp"}]),
        ),
        (
            format!("{ranges} print Ip = 'fe80::7' | evaluate ipv6_lookup(R, Ip, Net)"),
            serde_json::json!([{"Ip": "fe80::7", "Net": "fe80::/10", "Site": "link"}]),
        ),
        (
            format!("{storms} | evaluate basket(0.5)"),
            serde_json::json!([
                {"SegmentId": 0, "Count": 3, "Percent": 75.0, "State": "TX", "Event": "Hail"},
            ]),
        ),
        (
            format!("{storms} | evaluate autocluster()"),
            serde_json::json!([
                {"SegmentId": 0, "Count": 3, "Percent": 75.0, "State": "TX", "Event": "Hail"},
                {"SegmentId": 1, "Count": 1, "Percent": 25.0, "State": "KS", "Event": "Wind"},
            ]),
        ),
        (
            "datatable (U:string, T:datetime) ['a', datetime(2024-01-01), 'b', datetime(2024-01-02)] | evaluate sliding_window_counts(U, T, datetime(2024-01-01), datetime(2024-01-02), 2d, 1d)".to_string(),
            serde_json::json!([
                {"T": "2024-01-01T00:00:00.0000000Z", "count": 1, "dcount": 1},
                {"T": "2024-01-02T00:00:00.0000000Z", "count": 2, "dcount": 2},
            ]),
        ),
        (
            "datatable (U:string, T:datetime) ['a', datetime(2024-01-01), 'a', datetime(2024-01-02)] | evaluate activity_counts_metrics(U, T, datetime(2024-01-01), datetime(2024-01-02), 1d)".to_string(),
            serde_json::json!([
                {"T": "2024-01-01T00:00:00.0000000Z", "count": 1, "dcount": 1, "new_dcount": 1, "aggregated_dcount": 1},
                {"T": "2024-01-02T00:00:00.0000000Z", "count": 1, "dcount": 1, "new_dcount": 0, "aggregated_dcount": 1},
            ]),
        ),
        (
            "print s = 'user=Jo Doe id=7' | parse-kv s as (user:string, id:long) with (pair_delimiter=' ', kv_delimiter='=', greedy=true) | project user, id".to_string(),
            serde_json::json!([{"user": "Jo Doe", "id": 7}]),
        ),
        (
            "print s = 'user: bob, id: 7' | parse-kv s as (user:string, id:long) | project user, id".to_string(),
            serde_json::json!([{"user": "bob", "id": 7}]),
        ),
        (
            "datatable (R:string, Host:string) ['bad', 'h1', 'bad', 'h1', 'good', 'h2', 'good', 'h1'] | evaluate diffpatterns(R, 'bad', 'good', '~', 0.5)".to_string(),
            serde_json::json!([
                {"SegmentId": 0, "CountA": 2, "CountB": 1, "PercentA": 100.0, "PercentB": 50.0, "PercentDiffAB": 50.0, "Host": "h1"},
                {"SegmentId": 1, "CountA": 0, "CountB": 1, "PercentA": 0.0, "PercentB": 50.0, "PercentDiffAB": 50.0, "Host": "h2"},
            ]),
        ),
        (
            "print s = 'Invoke-Expression' | where s hasprefix_cs 'Invoke' and s !hassuffix_cs 'EXPRESSION' and s notcontains 'x y'".to_string(),
            serde_json::json!([{"s": "Invoke-Expression"}]),
        ),
    ];
    answers_over_http(cases).await;
}

#[tokio::test]
async fn activity_metrics_session_count_rolling_percentile_and_funnels_answer_their_rows_over_http()
{
    let visits = "datatable (U:string, T:datetime, V:long) ['a', datetime(2024-01-01), 3, \
        'b', datetime(2024-01-01 12:00), 5, 'a', datetime(2024-01-02), 4]";
    let states = "datatable (U:string, T:datetime, S:string) ['a', datetime(2024-01-01 01:00), \
        'login', 'a', datetime(2024-01-01 01:05), 'sudo', 'a', datetime(2024-01-01 01:06), 'logout']";
    let day = |d: u32| format!("2024-01-0{d}T00:00:00.0000000Z");
    let cases = [
        (
            format!(
                "{visits} | evaluate activity_metrics(U, T, datetime(2024-01-01), datetime(2024-01-02), 1d)"
            ),
            serde_json::json!([
                {"T": day(1), "dcount_values": 2, "dcount_newvalues": 2, "retention_rate": "NaN", "churn_rate": "NaN"},
                {"T": day(2), "dcount_values": 1, "dcount_newvalues": 0, "retention_rate": 0.5, "churn_rate": 0.5},
            ]),
        ),
        (
            format!(
                "{visits} | evaluate session_count(U, T, datetime(2024-01-01), datetime(2024-01-02), 1d, 6h)"
            ),
            serde_json::json!([
                {"T": day(1), "count_sessions": 2},
                {"T": day(2), "count_sessions": 1},
            ]),
        ),
        (
            format!("{visits} | evaluate rolling_percentile(V, 50, T, 1d, 2)"),
            serde_json::json!([
                {"T": day(1), "rolling_2_percentile_V_50": 3},
                {"T": day(2), "rolling_2_percentile_V_50": 4},
            ]),
        ),
        (
            format!(
                "{states} | evaluate funnel_sequence(U, T, datetime(2024-01-01), datetime(2024-01-02), 10m, 1d, S, dynamic(['sudo']))"
            ),
            serde_json::json!([
                {"T": day(1), "prev": "login", "next": "logout", "dcount": 1, "samples": ["a"]},
            ]),
        ),
        (
            format!(
                "{states} | evaluate funnel_sequence_completion(U, T, datetime(2024-01-01), datetime(2024-01-02), 1d, S, dynamic(['login', 'sudo']), dynamic([10m]))"
            ),
            serde_json::json!([
                {"T": day(1), "S": "login", "Period": "00:10:00", "dcount": 1},
                {"T": day(1), "S": "sudo", "Period": "00:10:00", "dcount": 1},
            ]),
        ),
    ];
    answers_over_http(cases).await;
}

#[tokio::test]
async fn conditional_spread_percentile_bag_and_hll_aggregates_answer_their_rows_over_http() {
    let logons = "datatable (U:string, Ms:long, Ok:bool, Tags:dynamic) [\
        'a', 10, true, dynamic({\"mfa\": true}), 'a', 30, false, dynamic({\"mfa\": false, \"ip\": \"x\"}), \
        'a', 20, true, dynamic(null), 'b', 5, false, dynamic({\"ip\": \"y\"})]";
    let cases = [
        (
            format!(
                "{logons} | summarize sumif(Ms, Ok), failed = countif(not(Ok)), stdev(Ms), \
                 variancep(Ms), percentiles(Ms, 50, 100), make_bag(Tags), \
                 make_list_if(Ms, Ok), h = hll(Ms) by U | extend n = dcount_hll(h) | project-away h"
            ),
            serde_json::json!([
                {"U": "a", "sumif_Ms": 30, "failed": 1, "stdev_Ms": 10.0,
                 "variancep_Ms": 200.0 / 3.0, "percentile_Ms_50": 20, "percentile_Ms_100": 30,
                 "bag_Tags": {"mfa": true, "ip": "x"}, "list_Ms": [10, 20], "n": 3},
                {"U": "b", "sumif_Ms": 0, "failed": 1, "stdev_Ms": 0.0,
                 "variancep_Ms": 0.0, "percentile_Ms_50": 5, "percentile_Ms_100": 5,
                 "bag_Tags": {"ip": "y"}, "list_Ms": [], "n": 1},
            ]),
        ),
        (
            format!(
                "{logons} | summarize all = hll(U), ok = hll_if(U, Ok), slow = hll_if(U, Ms > 15) \
                 | evaluate dcount_intersect(all, ok, slow)"
            ),
            serde_json::json!([{"s0": 2, "s1": 1, "s2": 1}]),
        ),
    ];
    answers_over_http(cases).await;
}

#[tokio::test]
async fn string_ip_dynamic_and_datetime_functions_answer_their_values_over_http() {
    let cases = [
        (
            "print t = trim(@'[\\s\\-]+', ' -x- '), n = countof('aaaa', 'aa'), \
             all = extract_all(@'(\\d+)', 'a1b22'), h = hash_sha256('World'), \
             b = base64_decode_tostring(base64_encode_tostring('Kusto1')), \
             g = toguid('{0697405B-B2A9-4F6B-A3B3-0A7B1A7E0D5E}')"
                .to_string(),
            serde_json::json!([{
                "t": "x", "n": 3, "all": ["1", "22"],
                "h": "78ae647dc5544d227130a0682a51e30bc7777fbb6d8a8f17007463a3ecd1d524",
                "b": "Kusto1", "g": "0697405b-b2a9-4f6b-a3b3-0a7b1a7e0d5e",
            }]),
        ),
        (
            "print p = ipv4_is_private('10.1.2.3'), r = ipv4_is_in_range('192.168.1.6', '192.168.1.0/24'), \
             c = ipv4_compare('192.168.1.1', '192.168.1.255', 24), v = parse_ipv4('127.0.0.1'), \
             m = ipv6_is_match('::ffff:7f00:1', '127.0.0.1')"
                .to_string(),
            serde_json::json!([{"p": true, "r": true, "c": 0, "v": 2_130_706_433, "m": true}]),
        ),
        (
            "print k = bag_keys(bag_merge(dynamic({'a': 1}), dynamic({'b': 2, 'a': 3}))), \
             s = array_sort_asc(set_union(dynamic([3, 1]), dynamic([2, 1]))), \
             z = zip(dynamic([1, 2]), dynamic(['x'])), sum = array_sum(dynamic([1, 2.5]))"
                .to_string(),
            serde_json::json!([{
                "k": ["a", "b"], "s": [1, 2, 3], "z": [[1, "x"], [2, null]], "sum": 3.5,
            }]),
        ),
        (
            "print d = make_datetime(2024, 2, 29), w = weekofyear(datetime(2021-01-04)), \
             u = unixtime_seconds_todatetime(1546300800), e = endofmonth(datetime(2024-02-10)), \
             f = format_timespan(time(1.02:03:04), 'd.hh:mm'), l = log10(1000), ty = gettype(dynamic([1]))"
                .to_string(),
            serde_json::json!([{
                "d": "2024-02-29T00:00:00.0000000Z", "w": 1, "u": "2019-01-01T00:00:00.0000000Z",
                "e": "2024-02-29T23:59:59.9999999Z", "f": "1.02:03", "l": 3.0, "ty": "array",
            }]),
        ),
    ];
    answers_over_http(cases).await;
}

/// Sends each query to a fresh emulator and checks it answers 200 with exactly those rows.
async fn answers_over_http(cases: impl IntoIterator<Item = (String, serde_json::Value)>) {
    let e = start(options()).await;
    let token = token(&e.base_url, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    for (query, want) in cases {
        let (status, _, body) = call(&e.base_url, MDE, &token, &query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["Results"], want, "{query}");
    }
}

#[tokio::test]
async fn every_schema_table_answers_with_exactly_its_documented_columns_and_types() {
    // Two calls per table: more than the default quota allows in a minute.
    let e = start(huntd::emulator::EmulatorOptions {
        per_minute: u32::MAX,
        mde_per_hour: u32::MAX,
        ..options()
    })
    .await;
    let graph = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    let mde = token(&e.base_url, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    let names: Vec<&str> = huntd::defender_schema::table_names().collect();
    assert!(names.len() >= 60, "{} tables", names.len());
    for name in names {
        let table = huntd::defender_schema::table(name).expect("a listed table");
        assert!(table.has_columns(), "{name} lists its columns");
        let want: Vec<serde_json::Value> = table
            .columns
            .iter()
            .map(|(column, ty)| {
                let ty = kql::KqlType::from_kql_name(ty).expect("a KQL type");
                serde_json::json!({"name": column, "type": ty.defender_name()})
            })
            .collect();
        let query = format!("{name} | take 1");
        let (status, _, body) = call(&e.base_url, GRAPH, &graph, &query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["schema"], serde_json::Value::Array(want), "{name}");
        assert_eq!(body["results"].as_array().map(Vec::len), Some(1), "{name}");
        if table.mde {
            let (status, _, body) = call(&e.base_url, MDE, &mde, &query).await;
            assert_eq!(status, 200, "{query} over MDE: {body}");
            assert_eq!(body["Results"].as_array().map(Vec::len), Some(1), "{name}");
        }
    }
}
