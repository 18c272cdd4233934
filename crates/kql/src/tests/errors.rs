//! Errors worded and placed like the service's, and inputs that must not panic.

use serde_json::json;

use super::support::{assert_counts, assert_fails_at, devices, fails, rows, run_ok, test_db};
use crate::fixture::{db, now, s};
use crate::{KqlType, Row, Table, run};

// ---- errors ----

#[test]
fn unsupported_plugin_is_named_with_position() {
    assert_fails_at(
        "Proc\n| where Size > 1\n| evaluate sequence_detect(Timestamp, 1h, 1d, Size == 1, Size == 2, DeviceName)",
        "evaluate plugin 'sequence_detect' is not supported by huntd emulate",
        (3, 12),
    );
}

#[test]
fn unsupported_function_is_named_with_position() {
    assert_fails_at(
        "Proc | extend h = hash_xxhash64(FileName)",
        "'hash_xxhash64' function is not supported",
        (1, 19),
    );
}

#[test]
fn unsupported_string_operator_is_named() {
    assert_eq!(
        fails("Proc | where FileName like 'p%'").message,
        "'like' operator is not supported"
    );
    assert_eq!(
        fails("Proc | where FileName has_any_cs ('p')").message,
        "'has_any_cs' operator is not supported"
    );
    assert_eq!(
        fails("Proc | where FileName !has_any ('p')").message,
        "'!has_any' operator is not supported"
    );
}

#[test]
fn valid_kql_the_engine_does_not_run_is_named_not_called_a_syntax_error() {
    let e = fails("Proc | project-smart");
    assert!(e.message.starts_with("Syntax error"), "{}", e.message);
    assert_eq!(
        fails("Proc | where FileName has \"a\" | extend x=FileName.length()").message,
        "'x=FileName.length()' is valid KQL that huntd emulate does not support"
    );
}

#[test]
fn a_query_of_only_let_statements_says_a_comment_may_have_eaten_the_rest() {
    let e = fails("let a = 1; let b = Proc; // then b | where Size > a");
    assert!(
        e.message
            .starts_with("the query has no tabular expression to run after its `let` statements"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_table_is_reported() {
    assert_fails_at(
        "Nope | take 1",
        "Failed to resolve table or column expression named 'Nope'",
        (1, 1),
    );
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
    // 90 levels of parentheses around `inner`.
    let nest = |inner: &str| format!("{}{inner}{}", "(".repeat(90), ")".repeat(90));
    let chain = format!("Proc | where {}", vec!["Size == 10"; 900].join(" or "));
    let sum = format!("Proc | where Size == {}", vec!["1"; 90].join(" + "));
    assert_counts(&[
        (&chain, 1),
        (&format!("Proc | where {}", nest("Size == 10")), 1),
        (&sum, 0),
        (
            &format!("Proc | where not(isnull(Size) or {})", nest("Size == 10")),
            2,
        ),
    ]);
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

#[test]
fn every_prefix_of_queries_with_the_newer_operators_answers_without_panicking() {
    let queries = [
        "Proc | make-series kind=nonempty n = count() default = 0, avg(Size) on Timestamp in range(datetime(2024-01-01), datetime(2024-02-10), 7d) by DeviceName | mv-expand n to typeof(long) | top-nested 2 of DeviceName with others = 'x' by sum(n) asc, top-nested of n by count()",
        "let f = (T:(*), k:long = 1) { T | fork (search 'exe' | take k) (count) }; find withsource=S in (Proc, Dev) where DeviceName has 'ws1' or 'cmd*' project DeviceName, Size:string, pack_all() | facet by S with (getschema | sample 3)",
        "search kind=case_sensitive in (Proc, Dev) '*exe*' and not('a*b') or * has 'ws1' | make-series sum(Size) on Size from 0 to 30 step 2.5 | extend r = range(1, 9, 4)",
        "Proc | extend a = trim(@'[^\\w]+', FileName), b = countof(CommandLine, 'e', 'regex'), c = extract_all(@'(\\w)(\\w)', dynamic([2]), FileName), d = strcat_delim('-', FileName, Size), e = strrep(FileName, 2, ','), f = base64_decode_tostring(base64_encode_tostring(FileName)), g = hash_sha256(FileName), h = tohex(Size, 4), i = toguid(FileName), k = parse_path(FileName), m = url_encode_component(strcat_array(dynamic(['a', 1]), ' '))",
        "Dev | extend a = ipv4_is_private(OS), b = ipv4_is_in_any_range('10.1.1.1', dynamic(['10.0.0.0/8']), '1.2.3.4/33'), c = ipv4_compare('1.1.1.1/24', '1.1.1.9', 24), d = parse_ipv4_mask('10.2.3.4', 8), e = ipv6_is_match('::1', '127.0.0.1', 120), f = bag_merge(dynamic({'a': 1}), pack('b', OS)), g = bag_remove_keys(dynamic({'a': {'b': 1}}), dynamic(['$.a.b'])), h = array_slice(array_sort_desc(set_union(dynamic([3, 1]), dynamic([2]))), -2, 5), i = array_index_of(zip(dynamic([1]), dynamic([2, 3])), 1, -9, 2, 1), k = array_sum(array_concat(dynamic([1]), dynamic([2.5])))",
        "Proc | extend a = make_datetime(2024, Size, 31, 1, 2, 3.5), b = make_timespan(1, Size, 2, 0.5), c = datetime_part('week_of_year', Timestamp), d = unixtime_milliseconds_todatetime(Size * 1000000000000), e = format_timespan(Timestamp - ago(1d), 'dd.hh:mm:ss.FFF'), f = bin_at(Timestamp, 1d, datetime(2024-01-01 12:00)), g = endofmonth(Timestamp), h = pow(log10(Size), sqrt(-1)), i = gettype(Extra.Tags), k = column_ifexists('Nope', FileName), m = sign(ceiling(exp2(Size)))",
        "Proc | sort by Timestamp asc | scan with_match_id = m declare (n:long = 0, first:string) with (step s1 output=last: Size > 1 => n = s1.n + 1, first = FileName; step s2: Size < s1.Size; step s3 output=none: true => n = s2.n;)",
        "Proc | project DeviceName, FileName, Size | evaluate pivot(FileName, sum(Size), DeviceName) | evaluate narrow()",
        "Proc | partition hint.strategy=native by DeviceName (top 1 by Size) | partition by FileName { Proc | where FileName == toscalar(FileName) | count }",
        "let f = (T:(*), n:long) { T | take n }; range x from 1 to 9 step 2 | as R | union (R | as hint.materialized=true Q) | invoke f(3) | sample-distinct 2 of x | top-hitters 1 of x by x",
        "let R = datatable (Net:string, Site:string) ['10.0.0.0/8', 'a', 'fe80::/10', 'b']; Proc | extend Ip = '10.1.2.3' | evaluate ipv4_lookup(R, Ip, Net, true) | evaluate ipv6_lookup((R | where Site != 'x'), Ip, Net) | reduce kind=source by CommandLine with threshold=0.5, characters=' .'",
        "Proc | project DeviceName, FileName, Size | evaluate basket(0.2, Size, 3, '*', -1) | extend R = iff(Count > 1, 'a', 'b') | evaluate diffpatterns(R, 'a', 'b', Count, 0.1, 2, '*') | union (Proc | project DeviceName, FileName | evaluate autocluster(0.6, '~', 10)) | reduce by DeviceName | consume decodeblocks = false",
        "Proc | evaluate sliding_window_counts(DeviceName, Timestamp, datetime(2024-01-01), datetime(2024-03-01), 7d, 1d, FileName) | union (Proc | evaluate activity_counts_metrics(DeviceName, Timestamp, datetime(2024-01-01), datetime(2024-03-01), 7d))",
        "Proc | evaluate activity_metrics(DeviceName, Timestamp, datetime(2024-01-01), datetime(2024-03-01), 7d, FileName) | union (Proc | evaluate session_count(DeviceName, Timestamp, datetime(2024-01-01), datetime(2024-03-01), 1d, 2h, FileName)) | union (Proc | evaluate rolling_percentile(Size, 99.5, Timestamp, 1d, 3, DeviceName))",
        "Proc | evaluate funnel_sequence(DeviceName, Timestamp, datetime(2024-01-01), datetime(2024-03-01), 1h, 7d, FileName, dynamic(['cmd.exe', 'powershell.exe'])) | extend n = array_length(samples)",
        "Proc | evaluate funnel_sequence_completion(DeviceName, Timestamp, datetime(2024-01-01), datetime(2024-03-01), 7d, FileName, dynamic(['cmd.exe', 'powershell.exe']), dynamic([1h, 4h, 1d]))",
        "Proc | parse-kv CommandLine as (a:string, b:long) with (pair_delimiter=' ', kv_delimiter='=', greedy=true) | parse-kv CommandLine as (c:string) with (quote='\"', escape='\\\\') | parse-kv FileName as (d:string) with () | parse-kv DeviceName as (e:long)",
        "Proc | where CommandLine hasprefix_cs 'Pow' and FileName !hassuffix_cs 'EXE' or FileName notcontains 'x' or FileName containscs 'y' | search kind=case_sensitive 'Pow*'",
        "Proc | summarize sumif(Size, Size > 1), (p50, p95) = percentiles(Size, 50, 95), percentiles_array(Size, dynamic([10, 90])), stdev(Size), variancep(Size), make_bag_if(Extra, Size > 2, 3), make_list_with_nulls(FileName), take_anyif(FileName, Size < 9), count_distinctif(FileName, Size > 0), h = hll_if(FileName, Size > 1) by DeviceName | summarize hll_merge(h), percentilew(p50, 2, 90) | extend d = dcount_hll(hll_merge_h)",
        "Proc | summarize a = hll(Size), b = hll_if(FileName, Size > 1), v = varianceif(Size, Size < 5) by DeviceName | evaluate dcount_intersect(a, b, a)",
        "Proc | mv-apply with_itemindex = i t = Extra.Tags to typeof(string) limit 3 on (where i < 2 | summarize n = count(), m = make_set(t)) | parse-kv m as (user:string, k:long) with (pair_delimiter=' ', kv_delimiter='=', quote='\"', escape='\\\\') | parse-kv user as (a:string, b:long) with (regex=@'(\\w+):(\\d+)')",
    ];
    let d = test_db();
    for q in queries {
        assert!(run(&d, q, now(), None).is_ok(), "{q}");
        for (i, _) in q.char_indices() {
            let _ = run(&d, &q[..i], now(), None);
        }
    }
}
