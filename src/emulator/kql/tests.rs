use serde_json::{Value as J, json};

use super::fixture::{db, dt, j, l, now, s, table};
use super::*;

fn procs() -> Table {
    table(
        "Proc",
        &[
            ("Timestamp", KqlType::DateTime),
            ("DeviceName", KqlType::String),
            ("FileName", KqlType::String),
            ("CommandLine", KqlType::String),
            ("Size", KqlType::Long),
            ("Extra", KqlType::Dynamic),
        ],
    )
    .row(vec![
        dt("2024-02-10T08:00:00Z"),
        s("ws1"),
        s("powershell.exe"),
        s("powershell.exe -enc SQBFAFgA"),
        l(10),
        j(json!({"Parent": "explorer.exe", "Tags": ["a", "b"]})),
    ])
    .row(vec![
        dt("2024-02-10T09:30:00Z"),
        s("ws1"),
        s("cmd.exe"),
        s("cmd.exe /c whoami"),
        l(20),
        j(json!({"Parent": "winword.exe", "Tags": []})),
    ])
    .row(vec![
        dt("2024-02-09T10:00:00Z"),
        s("WS2"),
        s("PowerShell.EXE"),
        s("PowerShell.EXE -File x.ps1"),
        Value::Null,
        Value::Null,
    ])
    .row(vec![
        dt("2024-01-01T00:00:00Z"),
        s("srv1"),
        s("notepad.exe"),
        s(""),
        l(5),
        j(json!({"Parent": "explorer.exe", "Tags": ["c"]})),
    ])
    .build()
}

fn devices() -> Table {
    table(
        "Dev",
        &[
            ("DeviceName", KqlType::String),
            ("OS", KqlType::String),
            ("Size", KqlType::Long),
        ],
    )
    .row(vec![s("ws1"), s("Windows11"), l(1)])
    .row(vec![s("srv1"), s("WindowsServer"), l(2)])
    .row(vec![s("srv1"), s("WindowsServer2"), l(3)])
    .build()
}

fn test_db() -> Database {
    db(vec![
        procs(),
        devices(),
        table("Empty", &[("A", KqlType::String), ("N", KqlType::Long)]).build(),
    ])
}

fn run_ok(query: &str) -> QueryResult {
    match run(&test_db(), query, now(), None) {
        Ok(r) => r,
        Err(e) => panic!("query failed: {e}\n{query}"),
    }
}

fn rows(query: &str) -> Vec<J> {
    run_ok(query)
        .rows_json()
        .into_iter()
        .map(J::Object)
        .collect()
}

/// The values of one column, as JSON.
fn col(query: &str, name: &str) -> Vec<J> {
    rows(query).into_iter().map(|r| r[name].clone()).collect()
}

fn names(query: &str) -> Vec<String> {
    run_ok(query).columns.into_iter().map(|(n, _)| n).collect()
}

fn fails(query: &str) -> KqlError {
    match run(&test_db(), query, now(), None) {
        Ok(r) => panic!("query should fail but gave {} rows: {query}", r.rows.len()),
        Err(e) => e,
    }
}

// ---- tabular operators ----

#[test]
fn where_filters_rows_and_keeps_schema() {
    let r = run_ok("Proc | where Size > 5");
    assert_eq!(r.rows.len(), 2);
    assert_eq!(r.schema()[0], ("Timestamp".to_string(), "DateTime"));
    assert_eq!(r.schema()[4], ("Size".to_string(), "Int64"));
    assert_eq!(r.schema()[5], ("Extra".to_string(), "Dynamic"));
}

#[test]
fn where_on_empty_table_gives_empty_result_with_schema() {
    let r = run_ok("Empty | where A == 'x'");
    assert!(r.rows.is_empty());
    assert_eq!(
        r.schema(),
        vec![("A".to_string(), "String"), ("N".to_string(), "Int64")]
    );
}

#[test]
fn filter_is_an_alias_of_where() {
    assert_eq!(rows("Proc | filter DeviceName == 'ws1'").len(), 2);
}

#[test]
fn project_selects_renames_and_computes() {
    let r = run_ok(
        "Proc | take 1 | project DeviceName, Big = Size * 2, Extra.Parent, tolower(FileName)",
    );
    assert_eq!(
        r.schema(),
        vec![
            ("DeviceName".to_string(), "String"),
            ("Big".to_string(), "Int64"),
            ("Extra_Parent".to_string(), "Dynamic"),
            ("Column1".to_string(), "String"),
        ]
    );
    assert_eq!(r.rows_json()[0]["Big"], json!(20));
    assert_eq!(r.rows_json()[0]["Extra_Parent"], json!("explorer.exe"));
}

#[test]
fn project_unknown_column_names_the_column_and_operator() {
    let e = fails("Proc\n| project Nope");
    assert_eq!(
        e.message,
        "'project' operator: Failed to resolve scalar expression named 'Nope'"
    );
    assert_eq!((e.line, e.column), (2, 11));
}

#[test]
fn project_away_supports_wildcards() {
    assert_eq!(
        names("Proc | project-away *Name, Extra"),
        vec!["Timestamp", "CommandLine", "Size"]
    );
    assert_eq!(
        names("Proc | join kind=inner (Dev) on DeviceName | project-away *1"),
        vec![
            "Timestamp",
            "DeviceName",
            "FileName",
            "CommandLine",
            "Size",
            "Extra",
            "OS"
        ]
    );
}

#[test]
fn project_away_unknown_plain_column_is_an_error() {
    assert!(fails("Proc | project-away Nope").message.contains("'Nope'"));
}

#[test]
fn project_keep_and_reorder() {
    assert_eq!(
        names("Proc | project-keep Device*, Size"),
        vec!["DeviceName", "Size"]
    );
    assert_eq!(
        names("Dev | project-reorder OS"),
        vec!["OS", "DeviceName", "Size"]
    );
}

#[test]
fn project_rename_keeps_values() {
    let r = rows("Dev | project-rename Host = DeviceName | take 1");
    assert_eq!(r[0]["Host"], json!("ws1"));
}

#[test]
fn extend_adds_and_replaces_columns() {
    let r = run_ok("Dev | extend Size = Size + 100, Upper = toupper(OS)");
    assert_eq!(r.columns.len(), 4);
    assert_eq!(r.rows_json()[0]["Size"], json!(101));
    assert_eq!(r.rows_json()[0]["Upper"], json!("WINDOWS11"));
    let chained = rows("Dev | take 1 | extend a = Size * 2, b = a + 1 | project a, b");
    assert_eq!(chained, vec![json!({"a": 2, "b": 3})]);
    assert!(
        fails("Dev | project a = Size, b = a")
            .message
            .contains("named 'a'")
    );
}

#[test]
fn summarize_default_names_and_values() {
    let r = run_ok(
        "Proc | summarize count(), countif(Size > 5), dcount(FileName), sum(Size), avg(Size), min(Size), max(Size), \
         make_set(DeviceName), make_list(Size), any(DeviceName)",
    );
    assert_eq!(
        r.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        vec![
            "count_",
            "countif_",
            "dcount_FileName",
            "sum_Size",
            "avg_Size",
            "min_Size",
            "max_Size",
            "set_DeviceName",
            "list_Size",
            "any_DeviceName"
        ]
    );
    let row = &r.rows_json()[0];
    assert_eq!(row["count_"], json!(4));
    assert_eq!(row["countif_"], json!(2));
    assert_eq!(row["dcount_FileName"], json!(4));
    assert_eq!(row["sum_Size"], json!(35));
    assert_eq!(row["min_Size"], json!(5));
    assert_eq!(row["max_Size"], json!(20));
    assert_eq!(row["set_DeviceName"], json!(["ws1", "WS2", "srv1"]));
    assert_eq!(row["list_Size"], json!([10, 20, 5]));
    assert_eq!(row["any_DeviceName"], json!("ws1"));
    let avg = row["avg_Size"].as_f64().expect("fixture value");
    assert!(
        (avg - 35.0 / 3.0).abs() < 1e-9,
        "nulls are skipped by avg: {avg}"
    );
    assert_eq!(r.schema()[4].1, "Double");
}

#[test]
fn summarize_named_aggregates_by_keys() {
    let r = rows(
        "Proc | summarize n = count(), total = sum(Size) by DeviceName | sort by DeviceName asc",
    );
    assert_eq!(r.len(), 3);
    assert_eq!(r[0], json!({"DeviceName": "WS2", "n": 1, "total": 0}));
    assert_eq!(r[2], json!({"DeviceName": "ws1", "n": 2, "total": 30}));
}

#[test]
fn summarize_with_no_rows() {
    assert_eq!(
        rows("Empty | summarize count()"),
        vec![json!({"count_": 0})]
    );
    assert!(rows("Empty | summarize count() by A").is_empty());
    assert_eq!(
        rows("Empty | summarize make_set(A), max(N)"),
        vec![json!({"set_A": [], "max_N": null})]
    );
}

#[test]
fn summarize_by_bin_of_datetimes() {
    let r = run_ok("Proc | summarize c = count() by bin(Timestamp, 1d) | sort by Timestamp asc");
    assert_eq!(r.schema()[0], ("Timestamp".to_string(), "DateTime"));
    let rs = r.rows_json();
    assert_eq!(rs.len(), 3);
    assert_eq!(rs[2]["Timestamp"], json!("2024-02-10T00:00:00.0000000Z"));
    assert_eq!(rs[2]["c"], json!(2));
}

#[test]
fn summarize_distinct_keys_without_aggregates() {
    assert_eq!(rows("Dev | summarize by DeviceName").len(), 2);
}

#[test]
fn arg_max_with_star_returns_whole_rows() {
    let r = run_ok("Dev | summarize arg_max(Size, *) by DeviceName | sort by DeviceName asc");
    assert_eq!(
        r.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        vec!["DeviceName", "Size", "OS"]
    );
    assert_eq!(
        r.rows_json()[0],
        serde_json::from_value::<serde_json::Map<String, J>>(
            json!({"DeviceName": "srv1", "Size": 3, "OS": "WindowsServer2"})
        )
        .expect("fixture value")
    );
}

#[test]
fn arg_min_with_column_list() {
    let r = rows("Dev | summarize arg_min(Size, OS) by DeviceName | where DeviceName == 'srv1'");
    assert_eq!(
        r,
        vec![json!({"DeviceName": "srv1", "Size": 2, "OS": "WindowsServer"})]
    );
}

#[test]
fn tuple_names_rename_arg_max_outputs() {
    let r = rows(
        "Dev | summarize (Biggest, System) = arg_max(Size, OS) by DeviceName | where DeviceName == 'srv1'",
    );
    assert_eq!(
        r,
        vec![json!({"DeviceName": "srv1", "Biggest": 3, "System": "WindowsServer2"})]
    );
}

#[test]
fn old_aggregate_names_are_accepted() {
    let r = rows("Dev | summarize makeset(OS), argmax(Size, OS), dcountif(OS, Size > 1)");
    assert_eq!(
        r[0]["set_OS"],
        json!(["Windows11", "WindowsServer", "WindowsServer2"])
    );
    assert_eq!(r[0]["dcountif_OS"], json!(2));
}

#[test]
fn aggregate_outside_summarize_is_rejected() {
    assert!(
        fails("Dev | extend c = count()")
            .message
            .contains("aggregation function")
    );
    assert!(
        fails("Dev | summarize stdev(Size)")
            .message
            .contains("'stdev' is not a supported aggregation function")
    );
}

#[test]
fn take_and_limit() {
    assert_eq!(rows("Proc | take 2").len(), 2);
    assert_eq!(rows("Proc | limit 0").len(), 0);
    assert_eq!(rows("Empty | take 5").len(), 0);
}

#[test]
fn top_sorts_descending_by_default() {
    assert_eq!(
        col("Proc | top 2 by Size", "Size"),
        vec![json!(20), json!(10)]
    );
    assert_eq!(
        col("Proc | top 2 by Size asc", "Size"),
        vec![json!(null), json!(5)]
    );
}

#[test]
fn sort_by_several_keys_with_directions_and_nulls() {
    assert_eq!(
        col("Proc | sort by Size", "Size"),
        vec![json!(20), json!(10), json!(5), json!(null)]
    );
    assert_eq!(
        col("Proc | order by Size asc", "Size"),
        vec![json!(null), json!(5), json!(10), json!(20)]
    );
    assert_eq!(
        col("Proc | order by Size asc nulls last", "Size"),
        vec![json!(5), json!(10), json!(20), json!(null)]
    );
    assert_eq!(
        col("Dev | sort by DeviceName asc, Size desc", "Size"),
        vec![json!(3), json!(2), json!(1)]
    );
}

#[test]
fn distinct_on_columns_and_star() {
    assert_eq!(rows("Dev | distinct DeviceName").len(), 2);
    assert_eq!(rows("union Dev, Dev | distinct *").len(), 3);
}

#[test]
fn count_operator_gives_one_long_row() {
    let r = run_ok("Proc | where Size > 5 | count");
    assert_eq!(r.schema(), vec![("Count".to_string(), "Int64")]);
    assert_eq!(r.rows_json()[0]["Count"], json!(2));
    assert_eq!(rows("Empty | count")[0]["Count"], json!(0));
}

#[test]
fn union_of_tables_and_subqueries_fills_missing_columns_with_null() {
    let r = run_ok("union Dev, (Proc | project DeviceName, FileName)");
    assert_eq!(
        r.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        vec!["DeviceName", "OS", "Size", "FileName"]
    );
    assert_eq!(r.rows.len(), 7);
    assert_eq!(r.rows_json()[6]["OS"], J::Null);
    assert_eq!(rows("Dev | union Empty").len(), 3);
}

#[test]
fn inner_join_renames_clashing_right_columns() {
    let r = run_ok("Proc | join kind=inner (Dev) on DeviceName");
    assert_eq!(
        r.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        vec![
            "Timestamp",
            "DeviceName",
            "FileName",
            "CommandLine",
            "Size",
            "Extra",
            "DeviceName1",
            "OS",
            "Size1"
        ]
    );
    assert_eq!(r.rows.len(), 4, "ws1 twice x1, srv1 once x2");
}

#[test]
fn default_join_deduplicates_the_left_side() {
    assert_eq!(rows("Proc | join (Dev) on DeviceName").len(), 3);
}

#[test]
fn leftouter_join_keeps_unmatched_rows_with_nulls() {
    let r = rows(
        "Proc | join kind=leftouter (Dev | where Size == 1) on DeviceName | sort by Timestamp asc",
    );
    assert_eq!(r.len(), 4);
    assert_eq!(r[0]["OS"], J::Null);
    assert_eq!(r[3]["OS"], json!("Windows11"));
}

#[test]
fn leftanti_and_leftsemi_joins() {
    assert_eq!(
        col(
            "Proc | join kind=leftanti (Dev) on DeviceName",
            "DeviceName"
        ),
        vec![json!("WS2")]
    );
    assert_eq!(
        rows("Proc | join kind=leftsemi (Dev) on DeviceName").len(),
        3
    );
    assert_eq!(
        names("Proc | join kind=leftanti (Dev) on DeviceName").len(),
        6
    );
}

#[test]
fn join_with_no_matches_is_empty_but_typed() {
    let r = run_ok("Proc | join kind=inner (Dev | where OS == 'none') on DeviceName");
    assert!(r.rows.is_empty());
    assert_eq!(r.columns.len(), 9);
    assert!(
        run_ok("Empty | join kind=inner (Dev) on $left.A == $right.DeviceName")
            .rows
            .is_empty()
    );
}

#[test]
fn join_on_differently_named_columns() {
    let r = rows(
        "Dev | project Host = DeviceName | join kind=inner (Dev) on $left.Host == $right.DeviceName",
    );
    assert_eq!(r.len(), 5);
}

#[test]
fn join_on_unknown_column_is_an_error() {
    assert!(
        fails("Proc | join (Dev) on Nope")
            .message
            .contains("'Nope'")
    );
}

#[test]
fn mv_expand_arrays_drops_empty_and_keeps_null() {
    let r = rows("Proc | mv-expand Tag = Extra.Tags | project DeviceName, Tag");
    assert_eq!(
        r,
        vec![
            json!({"DeviceName": "ws1", "Tag": "a"}),
            json!({"DeviceName": "ws1", "Tag": "b"}),
            json!({"DeviceName": "WS2", "Tag": null}),
            json!({"DeviceName": "srv1", "Tag": "c"}),
        ]
    );
}

#[test]
fn mv_expand_with_type_and_limit() {
    let r = run_ok("Proc | take 1 | mv-expand Tag = Extra.Tags to typeof(string) limit 1");
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.schema().last().expect("fixture value").1, "String");
}

#[test]
fn dynamic_access_by_field_bracket_and_index() {
    let r = rows(
        "Proc | take 1 | project a = Extra.Parent, b = Extra['Parent'], c = Extra.Tags[0], d = Extra.Tags[-1], e = Extra.Missing, \
         f = parse_json('{\"x\": {\"y\": 5}}').x.y, g = todynamic('[1,2]')[1]",
    );
    assert_eq!(
        r[0],
        json!({"a": "explorer.exe", "b": "explorer.exe", "c": "a", "d": "b", "e": null, "f": 5, "g": 2})
    );
}

#[test]
fn dynamic_values_compare_with_scalars() {
    assert_eq!(rows("Proc | where Extra.Parent == 'explorer.exe'").len(), 2);
    assert_eq!(rows("Proc | where Extra.Parent has 'winword'").len(), 1);
}

// ---- let statements ----

#[test]
fn let_scalars_tables_and_dynamic_lists() {
    let q = "let min = 6;\nlet names = dynamic(['ws1', 'srv1']);\nlet big = Proc | where Size >= min;\nbig | where DeviceName in (names) | count";
    assert_eq!(rows(q)[0]["Count"], json!(2));
}

#[test]
fn let_bound_table_alias_and_single_column_subquery_in_in() {
    let q = "let d = Dev;\nlet hosts = d | where OS startswith 'WindowsServer' | project DeviceName;\nProc | where DeviceName in (hosts)";
    assert_eq!(col(q, "DeviceName"), vec![json!("srv1")]);
    assert_eq!(
        rows("Proc | where DeviceName !in (Dev | project DeviceName)").len(),
        1
    );
}

#[test]
fn let_bound_timespan_and_toscalar() {
    let q = "let lookback = 1d; let biggest = toscalar(Dev | summarize max(Size)); Proc | where Timestamp > ago(lookback) | extend m = biggest";
    let r = rows(q);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["m"], json!(3));
}

// ---- scalar operators ----

#[test]
fn equality_is_case_sensitive_and_tilde_is_not() {
    assert_eq!(rows("Proc | where FileName == 'powershell.exe'").len(), 1);
    assert_eq!(rows("Proc | where FileName =~ 'powershell.exe'").len(), 2);
    assert_eq!(rows("Proc | where FileName !~ 'powershell.exe'").len(), 2);
    assert_eq!(rows("Proc | where FileName != 'powershell.exe'").len(), 3);
}

#[test]
fn comparisons_with_nulls_are_false() {
    assert_eq!(rows("Proc | where Size < 100").len(), 3);
    assert_eq!(rows("Proc | where Size != 10").len(), 2);
    assert_eq!(rows("Proc | where not(Size > 5)").len(), 1);
    assert_eq!(rows("Proc | where Size >= 10 and Size <= 20").len(), 2);
}

#[test]
fn has_family_respects_term_boundaries_and_case() {
    assert_eq!(
        rows("Proc | where CommandLine has 'powershell.exe'").len(),
        2
    );
    assert_eq!(rows("Proc | where CommandLine has '-enc'").len(), 1);
    assert_eq!(rows("Proc | where CommandLine has 'power'").len(), 0);
    assert_eq!(rows("Proc | where CommandLine !has 'whoami'").len(), 3);
    assert_eq!(
        rows("Proc | where CommandLine has_cs 'PowerShell'").len(),
        1
    );
    assert_eq!(
        rows("Proc | where CommandLine has_any ('whoami', 'x.ps1')").len(),
        2
    );
    assert_eq!(
        rows("Proc | where CommandLine has_all ('powershell.exe', 'enc')").len(),
        1
    );
    assert_eq!(
        rows("let terms = dynamic(['WHOAMI']); Proc | where CommandLine has_any (terms)").len(),
        1
    );
    assert_eq!(rows("Proc | where CommandLine hasprefix 'who'").len(), 1);
}

#[test]
fn contains_startswith_endswith_and_cs_variants() {
    assert_eq!(rows("Proc | where FileName contains 'SHELL'").len(), 2);
    assert_eq!(rows("Proc | where FileName !contains 'shell'").len(), 2);
    assert_eq!(rows("Proc | where FileName contains_cs 'Shell'").len(), 1);
    assert_eq!(rows("Proc | where FileName startswith 'POWER'").len(), 2);
    assert_eq!(rows("Proc | where FileName startswith_cs 'Power'").len(), 1);
    assert_eq!(rows("Proc | where FileName endswith '.EXE'").len(), 4);
    assert_eq!(rows("Proc | where FileName endswith_cs '.EXE'").len(), 1);
    assert_eq!(rows("Proc | where FileName !startswith 'p'").len(), 2);
    assert_eq!(
        rows("Proc | where FileName matches regex @'^[a-z]+\\.exe$'").len(),
        3
    );
}

#[test]
fn in_operators_with_literal_lists_and_case() {
    assert_eq!(rows("Proc | where DeviceName in ('ws1', 'ws2')").len(), 2);
    assert_eq!(rows("Proc | where DeviceName in~ ('ws1', 'ws2')").len(), 3);
    assert_eq!(rows("Proc | where DeviceName !in ('ws1')").len(), 2);
    assert_eq!(rows("Proc | where DeviceName !in~ ('WS1', 'ws2')").len(), 1);
    assert_eq!(rows("Proc | where Size in (10, 5)").len(), 2);
    assert_eq!(
        rows("Proc | where Size !in (10)").len(),
        2,
        "null Size is neither in nor !in"
    );
}

#[test]
fn between_on_numbers_and_datetimes() {
    assert_eq!(rows("Proc | where Size between (5 .. 10)").len(), 2);
    assert_eq!(rows("Proc | where Size !between (5 .. 10)").len(), 1);
    assert_eq!(
        rows("Proc | where Timestamp between (datetime(2024-02-09) .. datetime(2024-02-10 09:00))")
            .len(),
        2
    );
}

#[test]
fn and_or_precedence_and_parentheses() {
    assert_eq!(
        rows("Proc | where DeviceName == 'srv1' or DeviceName == 'ws1' and Size > 15").len(),
        2
    );
    assert_eq!(
        rows("Proc | where (DeviceName == 'srv1' or DeviceName == 'ws1') and Size > 15").len(),
        1
    );
}

#[test]
fn datetime_and_timespan_arithmetic_in_extend() {
    let r = rows(
        "Proc | take 1 | project a = Timestamp + 1h, b = Timestamp - datetime(2024-02-10), c = 1d / 1h, d = 7 % 3, \
         e = 1.5 * 2, f = -Size, k = -(1h + 1h), g = 30m * 2, h = 10s + 1ms, i = time(1.02:00:00), j = 10 / 4",
    );
    assert_eq!(
        r[0],
        json!({"a": "2024-02-10T09:00:00.0000000Z", "b": "08:00:00", "c": 24.0, "d": 1, "e": 3.0, "f": -10,
               "g": "01:00:00", "h": "00:00:10.0010000", "i": "1.02:00:00", "j": 2, "k": "-02:00:00"})
    );
}

#[test]
fn mismatched_comparisons_and_non_bool_predicates_are_rejected() {
    assert_eq!(
        fails("Proc | where Timestamp > 'yesterday'").message,
        "Cannot compare values of types datetime and string"
    );
    assert!(
        fails("Proc | where Size =~ 10")
            .message
            .starts_with("Cannot compare")
    );
    assert!(
        fails("Proc | where Size")
            .message
            .contains("must be a bool")
    );
    assert_eq!(
        rows("Proc | where Extra.Parent == 'explorer.exe' and Size == 10.0").len(),
        1
    );
    assert!(
        fails("union kind=inner Dev, Proc")
            .message
            .contains("kind=outer")
    );
    assert_eq!(rows("union kind=outer Dev, Dev").len(), 6);
}

#[test]
fn mismatched_arithmetic_is_rejected_not_guessed() {
    assert!(
        fails("Proc | extend x = FileName + 1")
            .message
            .contains("Cannot apply '+'")
    );
}

// ---- functions ----

#[test]
fn ago_and_now_use_the_given_clock() {
    assert_eq!(rows("Proc | where Timestamp > ago(1d)").len(), 2);
    assert_eq!(
        rows("Proc | take 1 | project n = now(), m = now(-1h)")[0],
        json!({"n": "2024-02-10T12:00:00.0000000Z", "m": "2024-02-10T11:00:00.0000000Z"})
    );
}

#[test]
fn bin_and_startofday() {
    let r = rows(
        "Proc | take 1 | project a = bin(Timestamp, 1h), b = startofday(Timestamp), c = bin(Size, 3), d = bin(7.5, 2.0)",
    );
    assert_eq!(
        r[0],
        json!({"a": "2024-02-10T08:00:00.0000000Z", "b": "2024-02-10T00:00:00.0000000Z", "c": 9, "d": 6.0})
    );
}

#[test]
fn string_functions() {
    let r = rows(
        "Proc | take 1 | project a = tolower('AbC'), b = toupper('abc'), c = strcat('a', 1, 'b'), d = split('a,b,c', ','), \
         e = split('a,b,c', ',', 1), f = substring('abcdef', 2, 3), g = substring('abc', 1), h = strlen('héllo'), \
         i = substring('abc', 5)",
    );
    assert_eq!(
        r[0],
        json!({"a": "abc", "b": "ABC", "c": "a1b", "d": ["a", "b", "c"], "e": ["b"], "f": "cde", "g": "bc", "h": 5, "i": ""})
    );
}

#[test]
fn emptiness_and_null_tests() {
    assert_eq!(rows("Proc | where isempty(CommandLine)").len(), 1);
    assert_eq!(rows("Proc | where isnotempty(CommandLine)").len(), 3);
    assert_eq!(rows("Proc | where isnull(Size)").len(), 1);
    assert_eq!(rows("Proc | where isnotnull(Size)").len(), 3);
    assert_eq!(rows("Proc | where isempty(Extra)").len(), 1);
    assert_eq!(
        rows("Proc | where isnull(CommandLine)").len(),
        0,
        "empty strings are not null"
    );
}

#[test]
fn iff_iif_case_and_coalesce() {
    let r = rows(
        "Proc | project a = iff(Size > 10, 'big', 'small'), b = iif(isnull(Size), -1, Size), \
         c = case(Size > 15, 'L', Size > 7, 'M', 'S'), d = coalesce(Size, 0)",
    );
    assert_eq!(r[1], json!({"a": "big", "b": 20, "c": "L", "d": 20}));
    assert_eq!(r[2], json!({"a": "small", "b": -1, "c": "S", "d": 0}));
    assert!(
        fails("Proc | extend x = case(Size > 1, 'a')")
            .message
            .contains("'case'")
    );
}

#[test]
fn conversions() {
    let r = rows(
        "Proc | take 1 | project a = tostring(Size), b = toint('42'), c = tolong('7'), d = todouble('1.5'), \
         e = todatetime('2024-01-01'), f = toint('x'), g = tostring(Extra.Tags), h = tolong(2.9), i = tostring(datetime(2024-01-01))",
    );
    assert_eq!(
        r[0],
        json!({"a": "10", "b": 42, "c": 7, "d": 1.5, "e": "2024-01-01T00:00:00.0000000Z", "f": null,
               "g": "[\"a\",\"b\"]", "h": 2, "i": "2024-01-01T00:00:00.0000000Z"})
    );
    let types = run_ok(
        "Dev | project a = toint(Size), b = todouble(Size), c = tostring(Size), d = Size > 1",
    );
    assert_eq!(
        types.schema().iter().map(|c| c.1).collect::<Vec<_>>(),
        vec!["Int32", "Double", "String", "Boolean"]
    );
}

#[test]
fn extract_with_groups_and_no_match() {
    let r = rows(
        "Proc | take 2 | project x = extract(@'-enc\\s+(\\S+)', 1, CommandLine), y = extract(@'(\\w+)\\.exe', 0, CommandLine)",
    );
    assert_eq!(r[0], json!({"x": "SQBFAFgA", "y": "powershell.exe"}));
    assert_eq!(r[1]["x"], json!(""));
    assert!(
        fails("Proc | extend x = extract('(', 1, CommandLine)")
            .message
            .contains("invalid regular expression")
    );
}

#[test]
fn format_datetime_parse_json_array_length() {
    let r = rows(
        "Proc | take 1 | project a = format_datetime(Timestamp, 'yyyy-MM-dd HH:mm'), b = array_length(Extra.Tags), \
         c = array_length(parse_json('[1,2,3]')), d = parse_json('not json'), e = array_length(Extra)",
    );
    assert_eq!(
        r[0],
        json!({"a": "2024-02-10 08:00", "b": 2, "c": 3, "d": "not json", "e": null})
    );
}

#[test]
fn literals_of_every_kind() {
    let r = rows(
        "Proc | take 1 | project a = datetime(2024-02-01T08:00:00.1234567Z), b = 7d, c = 1ms, d = dynamic({\"k\": [1, 'x']}), \
         e = @'C:\\a', f = \"q\\\"\", g = 1.5e3, h = true, i = long(null), j = timespan(2h)",
    );
    assert_eq!(
        r[0],
        json!({"a": "2024-02-01T08:00:00.1234567Z", "b": "7.00:00:00", "c": "00:00:00.0010000", "d": {"k": [1, "x"]},
               "e": "C:\\a", "f": "q\"", "g": 1500.0, "h": true, "i": null, "j": "02:00:00"})
    );
}

#[test]
fn extractjson_parse_url_and_url_decode() {
    let r = rows(
        "Proc | take 1 | project a = extractjson('$.Parent', tostring(Extra)), b = extractjson('$.Tags[1]', Extra), \
         c = extractjson('$.n', '{\"n\": \"42\"}', typeof(long)), d = extractjson('$.missing', '{}'), \
         e = parse_url('https://u:p@example.com:8443/a/b?x=1&url=http%3A%2F%2Fevil#top').Host, \
         f = url_decode(tostring(parse_url('https://h/p?url=http%3A%2F%2Fevil%2Fx')['Query Parameters']['url'])), \
         g = parse_url('not a url')",
    );
    assert_eq!(
        r[0],
        json!({"a": "explorer.exe", "b": "b", "c": 42, "d": null, "e": "example.com", "f": "http://evil/x", "g": {}})
    );
    let p =
        rows("Proc | take 1 | project p = parse_url('https://u:p@example.com:8443/a/b?x=1#top')");
    assert_eq!(
        p[0]["p"],
        json!({"Scheme": "https", "Host": "example.com", "Port": "8443", "Path": "/a/b", "Username": "u",
               "Password": "p", "Query Parameters": {"x": "1"}, "Fragment": "top"})
    );
    assert_eq!(
        run_ok("Proc | project c = extractjson('$.n', '{}', typeof(long))").schema()[0].1,
        "Int64"
    );
    assert!(
        fails("Proc | project c = extractjson('$.n', '{}', 5)")
            .message
            .contains("typeof")
    );
}

// ---- window ----

#[test]
fn window_restricts_every_table_with_a_timestamp() {
    let start = "2024-02-10T00:00:00Z".parse().expect("fixture value");
    let end = "2024-02-10T09:00:00Z".parse().expect("fixture value");
    let r = run(&test_db(), "Proc | union Dev", now(), Some((start, end))).expect("fixture value");
    assert_eq!(
        r.rows.len(),
        1 + 3,
        "Dev has no Timestamp and is not restricted"
    );
}

// ---- the single-pass table scan ----

#[test]
fn a_table_scanned_with_its_filters_and_summarize_gives_what_operator_by_operator_gives() {
    // `(Proc)` makes the table a relation first and runs each operator on it in turn: the
    // general path, which the single pass over `Proc | where ... | summarize` must agree with.
    let window = (
        "2024-02-09T00:00:00Z".parse().expect("fixture value"),
        "2024-02-10T09:00:00Z".parse().expect("fixture value"),
    );
    for query in [
        "| where Size > 5 | summarize n = count(), d = dcount(DeviceName), t = sum(Size) by FileName",
        "| where Size != 10 and DeviceName == 'ws1'",
        "| where Extra.Parent == 'explorer.exe' | where Size >= 5 | summarize count() by DeviceName",
        "| where isnull(Size) or Size < 20 | summarize arg_max(Timestamp, *) by DeviceName",
        "| where Size == 20 or FileName =~ 'POWERSHELL.EXE' | summarize make_set(FileName)",
        "| summarize count(), dcount(Extra) by bin(Timestamp, 1d)",
        "| where Timestamp > datetime(2024-02-09T12:00:00Z) | project DeviceName, Size",
        "| where DeviceName != 'ws1' | sort by Size desc",
        "",
    ] {
        for window in [None, Some(window)] {
            let fused =
                run(&test_db(), &format!("Proc {query}"), now(), window).expect("the query runs");
            let general =
                run(&test_db(), &format!("(Proc) {query}"), now(), window).expect("the query runs");
            assert_eq!(fused.columns, general.columns, "{query}");
            assert_eq!(fused.rows_json(), general.rows_json(), "{query}");
        }
    }
}

// ---- errors ----

#[test]
fn unsupported_operator_is_named_with_position() {
    let e = fails("Proc\n| where Size > 1\n| evaluate bag_unpack(Extra)");
    assert_eq!(e.message, "'evaluate' operator is not supported");
    assert_eq!((e.line, e.column), (3, 3));
    assert_eq!(
        fails("Proc | make-series count() on Timestamp step 1d").message,
        "'make-series' operator is not supported"
    );
}

#[test]
fn unsupported_function_is_named_with_position() {
    let e = fails("Proc | extend h = hash_sha256(FileName)");
    assert_eq!(e.message, "'hash_sha256' function is not supported");
    assert_eq!((e.line, e.column), (1, 19));
}

#[test]
fn unsupported_string_operator_is_named() {
    assert_eq!(
        fails("Proc | where FileName hasprefix_cs 'p'").message,
        "'hasprefix_cs' operator is not supported"
    );
    assert_eq!(
        fails("Proc | where FileName !has_any ('p')").message,
        "'!has_any' operator is not supported"
    );
}

#[test]
fn unknown_table_is_reported() {
    let e = fails("Nope | take 1");
    assert_eq!(
        e.message,
        "Failed to resolve table or column expression named 'Nope'"
    );
    assert_eq!((e.line, e.column), (1, 1));
}

#[test]
fn syntax_errors_carry_positions() {
    let e = fails("Proc\n| where (Size > 1");
    assert!(
        e.message.starts_with("Syntax error: expected ')'"),
        "{}",
        e.message
    );
    assert_eq!((e.line, e.column), (2, 18));
    let e = fails("Proc | frobnicate");
    assert_eq!(
        e.message,
        "Syntax error: unknown tabular operator 'frobnicate'"
    );
    assert_eq!(e.column, 8);
    let e = fails("Proc | where Size > 1 |");
    assert!(e.message.starts_with("Syntax error"));
    let e = fails("let x = ;\nProc");
    assert!(e.message.starts_with("Syntax error"));
    assert_eq!(e.column, 9);
}

#[test]
fn unknown_scalar_name_is_reported_like_the_service() {
    let e = fails("Proc | where x == 1");
    assert_eq!(
        e.message,
        "'where' operator: Failed to resolve scalar expression named 'x'"
    );
    assert_eq!(e.column, 14);
}

#[test]
fn error_display_includes_line_and_column() {
    assert_eq!(
        fails("Nope").to_string(),
        "Failed to resolve table or column expression named 'Nope' (line 1, column 1)"
    );
}

#[test]
fn long_or_chains_and_deep_parentheses_evaluate() {
    let chain = format!("Proc | where {}", vec!["Size == 10"; 900].join(" or "));
    assert_eq!(rows(&chain).len(), 1);
    let nested = format!(
        "Proc | where {}Size == 10{}",
        "(".repeat(90),
        ")".repeat(90)
    );
    assert_eq!(rows(&nested).len(), 1);
    let sum = format!("Proc | where Size == {}", vec!["1"; 90].join(" + "));
    assert_eq!(rows(&sum).len(), 0);
    let nested = format!(
        "Proc | where not(isnull(Size) or {}Size == 10{})",
        "(".repeat(90),
        ")".repeat(90)
    );
    assert_eq!(rows(&nested).len(), 2);
}

#[test]
fn comments_are_ignored() {
    assert_eq!(
        rows("// leading comment\nProc // trailing\n| where Size > 5 // why\n// end").len(),
        2
    );
}

#[test]
fn schema_json_uses_defender_names() {
    let r = run_ok("Dev | project DeviceName, Size | take 0");
    assert_eq!(
        r.schema_json(),
        json!([{"Name": "DeviceName", "Type": "String"}, {"Name": "Size", "Type": "Int64"}])
    );
}

#[test]
fn malformed_rows_pushed_directly_are_an_error_not_a_panic() {
    let mut t = devices();
    t.rows.push(Row::from(vec![s("short")]));
    let e = run(&db(vec![t]), "Dev | project OS", now(), None).expect_err("malformed table");
    assert!(e.message.contains("do not match its columns"));
}

#[test]
fn table_rejects_rows_of_the_wrong_width() {
    let mut t = Table::new("T", vec![("A".to_string(), KqlType::String)]);
    assert!(t.push(vec![]).is_err());
    assert!(t.push(vec![s("x")]).is_ok());
}

#[test]
fn every_prefix_of_valid_queries_answers_without_panicking() {
    let queries = [
        "let n = dynamic(['ws1', \"srv1\"]);\nProc | where DeviceName in~ (n) and CommandLine has_any ('a', 'b') | extend x = Extra.Tags[0], y = bin(Timestamp, 1h) | summarize (m, o) = arg_max(Size, FileName), c = countif(Size between (1 .. 20)) by y | top 3 by c asc nulls last",
        "union Dev, (Proc | project-away *Name | mv-expand t = Extra.Tags to typeof(string) limit 2) | join kind=leftouter (Dev) on $left.OS == $right.OS | sort by Size desc, OS asc | project-rename Z = OS | distinct *",
        "Proc | where not(isempty(CommandLine)) or FileName matches regex @'^c' | project a = iff(Size > 1, strcat('x', tostring(Size)), 'y'), b = case(Size == 1, 1.5, -2.5), c = time(1.02:03:04) * 2 - 30m, d = datetime(2024-01-01) + 1d | take 10 // done",
    ];
    let d = test_db();
    for q in queries {
        assert!(run(&d, q, now(), None).is_ok(), "{q}");
        for (i, _) in q.char_indices() {
            let _ = run(&d, &q[..i], now(), None);
            let _ = run(&d, &format!("{}){}", &q[..i], &q[i..]), now(), None);
        }
    }
}

/// Builds a DeviceProcessEvents-like table of `n` rows with realistic value pools.
fn big_table(n: usize) -> Table {
    use std::sync::Arc;
    let devices: Vec<Value> = (0..500)
        .map(|i| Value::String(Arc::from(format!("device-{i:04}.contoso.com"))))
        .collect();
    let files: Vec<Value> = [
        "powershell.exe",
        "cmd.exe",
        "svchost.exe",
        "chrome.exe",
        "explorer.exe",
        "rundll32.exe",
        "winword.exe",
        "teams.exe",
    ]
    .iter()
    .map(|f| Value::str(f))
    .collect();
    let cmds: Vec<Value> = (0..200)
        .map(|i| match i % 5 {
            0 => Value::str(&format!("powershell.exe -NoProfile -enc SQBFAFgA{i}")),
            1 => Value::str(&format!("cmd.exe /c echo {i} > out.txt")),
            2 => Value::str(&format!("C:\\Windows\\System32\\svchost.exe -k netsvcs -p -s Svc{i}")),
            3 => Value::str(&format!("\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer --id={i}")),
            _ => Value::str(&format!("rundll32.exe shell32.dll,Control_RunDLL {i}")),
        })
        .collect();
    let accounts: Vec<Value> = (0..300).map(|i| Value::str(&format!("user{i}"))).collect();
    let base = now() - chrono::TimeDelta::days(30);
    let mut t = Table::new(
        "DeviceProcessEvents",
        vec![
            ("Timestamp".to_string(), KqlType::DateTime),
            ("DeviceName".to_string(), KqlType::String),
            ("FileName".to_string(), KqlType::String),
            ("ProcessCommandLine".to_string(), KqlType::String),
            ("AccountName".to_string(), KqlType::String),
            ("InitiatingProcessFileName".to_string(), KqlType::String),
        ],
    );
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        usize::try_from(x % 1_000_000_007).expect("fixture value")
    };
    for i in 0..n {
        let ts = base + chrono::TimeDelta::seconds(i64::try_from(i).expect("fixture value") * 2);
        t.rows.push(Row::from(vec![
            Value::DateTime(ts),
            devices[next() % devices.len()].clone(),
            files[next() % files.len()].clone(),
            cmds[next() % cmds.len()].clone(),
            accounts[next() % accounts.len()].clone(),
            files[next() % files.len()].clone(),
        ]));
    }
    t
}

#[test]
fn big_table_query_counts_match_a_direct_scan() {
    let t = big_table(5_000);
    let expected = t
        .rows
        .iter()
        .filter(|r| matches!(&r[3], Value::String(c) if c.to_lowercase().contains("-enc")))
        .count();
    let d = db(vec![t]);
    let r = run(
        &d,
        "DeviceProcessEvents | where ProcessCommandLine contains '-enc' | summarize n = count()",
        now(),
        None,
    )
    .expect("fixture value");
    assert_eq!(r.rows_json()[0]["n"], json!(expected));
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_where_summarize_over_a_million_rows() {
    let n = 1_000_000;
    let build = std::time::Instant::now();
    let d = db(vec![big_table(n)]);
    println!("built {n} rows in {:?}", build.elapsed());
    let queries = [
        "DeviceProcessEvents | where Timestamp > ago(7d) and FileName =~ 'powershell.exe' and ProcessCommandLine has '-enc' | summarize count() by DeviceName",
        "DeviceProcessEvents | where ProcessCommandLine contains 'svchost' | summarize count() by DeviceName",
        "DeviceProcessEvents | where InitiatingProcessFileName in~ ('winword.exe', 'teams.exe') and FileName == 'cmd.exe' | summarize count() by DeviceName",
    ];
    for q in queries {
        let mut best = f64::MAX;
        let mut groups = 0;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let r = run(&d, q, now(), None).expect("fixture value");
            best = best.min(start.elapsed().as_secs_f64());
            groups = r.rows.len();
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = n as f64 / best;
        println!(
            "{q}\n  {groups} groups, best of 3: {:.1} ms, {:.1} million rows scanned/s",
            best * 1000.0,
            rate / 1e6
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!("peak RSS: {}", line.trim_start_matches("VmHWM:").trim());
    }
}
