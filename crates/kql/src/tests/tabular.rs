//! The tabular operators and `let` statements.

use serde_json::{Value as J, json};

use super::support::{assert_counts, assert_fails_at, col, fails, names, rows, run_ok};

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
    assert_fails_at(
        "Proc\n| project Nope",
        "'project' operator: Failed to resolve scalar expression named 'Nope'",
        (2, 11),
    );
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
        fails("Dev | summarize tdigest(Size)")
            .message
            .contains("'tdigest' is not a supported aggregation function")
    );
}

#[test]
fn take_and_limit() {
    assert_counts(&[
        ("Proc | take 2", 2),
        ("Proc | limit 0", 0),
        ("Empty | take 5", 0),
    ]);
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
    assert_counts(&[
        ("Dev | distinct DeviceName", 2),
        ("union Dev, Dev | distinct *", 3),
    ]);
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
    assert_counts(&[
        ("Proc | where Extra.Parent == 'explorer.exe'", 2),
        ("Proc | where Extra.Parent has 'winword'", 1),
    ]);
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
