//! Kusto's documented semantics where hunts depend on them: nulls, `dynamic` access, `bin`,
//! datetime arithmetic, `arg_max`, `make_set`, `dcount`, term-based `has` and the `_cs`
//! operators, and bools compared with numbers. Each expectation is what the Kusto reference
//! documents for the same expression.

use serde_json::json;

use super::support::{assert_counts, col, rows};

#[test]
fn nulls_propagate_through_arithmetic_and_aggregates_skip_them() {
    // Proc's third row has a null Size.
    assert_eq!(
        col("Proc | extend S = Size + 1 | project S", "S"),
        [json!(11), json!(21), json!(null), json!(6)]
    );
    assert_eq!(
        rows(
            "Proc | summarize n = count(), s = sum(Size), m = max(Size), k = countif(isnull(Size))"
        ),
        [json!({"n": 4, "s": 35, "m": 20, "k": 1})]
    );
    assert_counts(&[
        ("Proc | where Size == Size", 3),
        ("Proc | where isnotnull(Size)", 3),
        // A comparison with null is null, and so is its negation: the row is left out.
        ("Proc | where not(Size == 10)", 2),
    ]);
}

#[test]
fn dynamic_members_and_indexes_read_null_when_missing() {
    assert_eq!(
        col(
            "Proc | project p = tostring(Extra.Parent), t = tostring(Extra.Tags[0]), q = Extra['Parent']",
            "t"
        ),
        [json!("a"), json!(""), json!(""), json!("c")]
    );
    assert_counts(&[
        ("Proc | where isnull(Extra.Missing)", 4),
        ("Proc | where array_length(Extra.Tags) == 2", 1),
        (
            "Proc | where tostring(Extra['Parent']) == 'explorer.exe'",
            2,
        ),
    ]);
}

#[test]
fn bin_rounds_down_to_a_multiple_of_its_size() {
    assert_eq!(
        rows(
            "print a = bin(7, 5), b = bin(4.5, 1), c = bin(datetime(2024-02-10 08:47:13), 1h), d = bin(95m, 1h)"
        ),
        [json!({"a": 5, "b": 4.0, "c": "2024-02-10T08:00:00.0000000Z", "d": "01:00:00"})]
    );
    assert_eq!(
        rows("Proc | summarize n = count() by bin(Timestamp, 1d) | order by Timestamp asc"),
        [
            json!({"Timestamp": "2024-01-01T00:00:00.0000000Z", "n": 1}),
            json!({"Timestamp": "2024-02-09T00:00:00.0000000Z", "n": 1}),
            json!({"Timestamp": "2024-02-10T00:00:00.0000000Z", "n": 2}),
        ]
    );
}

#[test]
fn datetimes_subtract_to_timespans_and_timespans_divide_to_reals() {
    assert_eq!(
        rows(
            "print d = datetime(2024-02-10 09:30) - datetime(2024-02-10 08:00), \
             h = (datetime(2024-02-10 09:30) - datetime(2024-02-10 08:00)) / 1h, \
             later = datetime(2024-02-10) + 36h, \
             diff = datetime_diff('hour', datetime(2024-02-10 09:30), datetime(2024-02-10 08:00))"
        ),
        [json!({"d": "01:30:00", "h": 1.5, "later": "2024-02-11T12:00:00.0000000Z", "diff": 1})]
    );
}

#[test]
fn arg_max_keeps_the_whole_row_of_the_latest_value_per_group() {
    assert_eq!(
        rows(
            "Proc | summarize arg_max(Timestamp, FileName, Size) by DeviceName \
             | order by DeviceName asc"
        ),
        [
            json!({"DeviceName": "WS2", "Timestamp": "2024-02-09T10:00:00.0000000Z", "FileName": "PowerShell.EXE", "Size": null}),
            json!({"DeviceName": "srv1", "Timestamp": "2024-01-01T00:00:00.0000000Z", "FileName": "notepad.exe", "Size": 5}),
            json!({"DeviceName": "ws1", "Timestamp": "2024-02-10T09:30:00.0000000Z", "FileName": "cmd.exe", "Size": 20}),
        ]
    );
}

#[test]
fn make_set_keeps_each_value_once_and_dcount_counts_them() {
    assert_eq!(
        rows(
            "Proc | summarize s = make_set(tolower(FileName)), n = dcount(tolower(FileName)), \
             c = dcount(DeviceName)"
        ),
        [json!({"s": ["powershell.exe", "cmd.exe", "notepad.exe"], "n": 3, "c": 3})]
    );
    assert_eq!(
        rows("Proc | summarize s = make_set(Size)"),
        [json!({"s": [10, 20, 5]})],
        "nulls are left out of a set"
    );
}

#[test]
fn has_matches_whole_terms_and_cs_operators_match_case() {
    assert_counts(&[
        ("Proc | where CommandLine has 'whoami'", 1),
        ("Proc | where CommandLine has 'who'", 0),
        ("Proc | where CommandLine has 'EXE'", 3),
        ("Proc | where CommandLine has_cs 'EXE'", 1),
        ("Proc | where CommandLine contains_cs 'Power'", 1),
        ("Proc | where CommandLine contains 'power'", 2),
        ("Proc | where CommandLine hasprefix 'power'", 2),
        ("Proc | where CommandLine has_any ('whoami', 'x.ps1')", 2),
        ("Proc | where FileName in~ ('POWERSHELL.EXE')", 2),
        ("Proc | where FileName in ('powershell.exe')", 1),
    ]);
}

#[test]
fn bools_compare_with_numbers_as_zero_and_one() {
    assert_eq!(
        rows(
            "Proc | extend IsShell = FileName =~ 'powershell.exe' \
             | summarize Shell = max(IsShell) by DeviceName | where Shell == 0"
        ),
        [json!({"DeviceName": "srv1", "Shell": false})]
    );
    assert_counts(&[("Proc | where (Size > 5) == 1", 2)]);
}

#[test]
fn text_and_number_functions_hunts_use_answer_as_kusto_does() {
    assert_eq!(
        rows(
            r"print a = replace_string('a.b.c', '.', '-'), b = replace_regex('cmd /c x', @'(\w+) /c', @'\1 -c'), c = replace(@'\d', 'N', 'a1b22'), d = round(2.345, 2), e = round(-2.5), f = indexof('powershell', 'shell'), g = min_of(3, 1, 2), h = max_of(datetime(2024-01-01), datetime(2024-02-01)), i = pack('k', 1, 'v', 'x'), j = abs(-3)"
        ),
        [
            json!({"a": "a-b-c", "b": "cmd -c x", "c": "aNbNN", "d": 2.35, "e": -3.0, "f": 5, "g": 1,
                "h": "2024-02-01T00:00:00.0000000Z", "i": {"k": 1, "v": "x"}, "j": 3})
        ]
    );
}

#[test]
fn calendar_functions_count_boundaries_and_start_weeks_on_sunday() {
    assert_eq!(
        rows(
            "print w = startofweek(datetime(2024-02-14 13:00)), m = startofmonth(datetime(2024-02-14)), \
             e = endofday(datetime(2024-02-14 13:00)), d = dayofweek(datetime(2024-02-14)), \
             h = hourofday(datetime(2024-02-14 13:45)), \
             add = datetime_add('month', 1, datetime(2024-01-31)), \
             diff = datetime_diff('day', datetime(2017-10-29 00:00), datetime(2017-09-30 23:59))"
        ),
        [
            json!({"w": "2024-02-11T00:00:00.0000000Z", "m": "2024-02-01T00:00:00.0000000Z",
                "e": "2024-02-14T23:59:59.9999999Z", "d": "3.00:00:00", "h": 13,
                "add": "2024-02-29T00:00:00.0000000Z", "diff": 29})
        ]
    );
}

#[test]
fn expressions_over_aggregates_are_computed_per_group_in_their_place() {
    assert_eq!(
        rows(
            "Proc | summarize n = count(), share = round(100.0 * countif(Size > 5) / count(), 1), \
             span = max(Timestamp) - min(Timestamp) by DeviceName | order by DeviceName asc"
        ),
        [
            json!({"DeviceName": "WS2", "n": 1, "share": 0.0, "span": "00:00:00"}),
            json!({"DeviceName": "srv1", "n": 1, "share": 0.0, "span": "00:00:00"}),
            json!({"DeviceName": "ws1", "n": 2, "share": 100.0, "span": "01:30:00"}),
        ]
    );
    assert_eq!(
        rows("Proc | summarize round(avg(Size), 2)"),
        [json!({"Column1": 11.67})]
    );
}

#[test]
fn render_and_serialize_leave_the_rows_as_they_are() {
    assert_counts(&[
        ("Proc | render timechart with (title = 'x')", 4),
        ("Proc | serialize | where Size > 5", 2),
        ("Proc | serialize n = Size * 2 | where n > 10", 2),
        ("Proc | extend t = pack_array(1, 2) | mvexpand t", 8),
    ]);
}

#[test]
fn lookup_adds_the_dimension_columns_without_repeating_its_keys() {
    assert_eq!(
        super::support::names("Proc | lookup (Dev | project DeviceName, OS) on DeviceName"),
        [
            "Timestamp",
            "DeviceName",
            "FileName",
            "CommandLine",
            "Size",
            "Extra",
            "OS"
        ]
    );
    // leftouter by default: every Proc row stays, srv1 matches twice.
    assert_counts(&[
        (
            "Proc | lookup (Dev | project DeviceName, OS) on DeviceName",
            5,
        ),
        (
            "Proc | lookup kind=inner (Dev | project DeviceName, OS) on DeviceName",
            4,
        ),
        (
            "Proc | lookup (Dev | project Host = DeviceName, OS) on $left.DeviceName == $right.Host",
            5,
        ),
    ]);
    assert_eq!(
        col(
            "Proc | where FileName == 'cmd.exe' | lookup (Dev | project DeviceName, OS) on DeviceName",
            "OS"
        ),
        [json!("Windows11")]
    );
}

#[test]
fn datatable_rows_are_typed_by_their_schema_also_in_a_let() {
    assert_eq!(
        rows(
            "let Allowed = datatable (Name:string, Score:real, Seen:datetime) \
             ['cmd.exe', 1, datetime(2024-02-10), 'notepad.exe', 2.5, datetime(2024-01-01)]; \
             Allowed | where Score > 1"
        ),
        [json!({"Name": "notepad.exe", "Score": 2.5, "Seen": "2024-01-01T00:00:00.0000000Z"})]
    );
    assert_counts(&[(
        "let Known = datatable (FileName:string) ['cmd.exe', 'notepad.exe']; \
         Proc | where FileName in (Known)",
        2,
    )]);
}

#[test]
fn parse_extracts_typed_columns_and_parse_where_keeps_only_matches() {
    assert_eq!(
        rows(
            "Proc | where FileName == 'cmd.exe' \
             | parse CommandLine with Exe \" /c \" Verb | project Exe, Verb"
        ),
        [json!({"Exe": "cmd.exe", "Verb": "whoami"})]
    );
    assert_eq!(
        rows(
            "print t = 'user=alice id=42 rest' \
             | parse t with * 'user=' User ' id=' Id:long * | project User, Id"
        ),
        [json!({"User": "alice", "Id": 42})]
    );
    // A row that does not match keeps null columns under parse, and is left out by
    // parse-where; kind=regex reads the literals as regular expressions.
    assert_counts(&[
        (
            "Proc | parse CommandLine with Exe ' -enc ' Payload | where isnull(Payload)",
            3,
        ),
        (
            "Proc | parse-where CommandLine with Exe ' -enc ' Payload",
            1,
        ),
        (
            r"Proc | parse-where kind=regex CommandLine with Exe @'\s+-\w+\s+' Arg",
            2,
        ),
    ]);
}

#[test]
fn user_defined_functions_expand_per_row_and_tabular_ones_are_sources() {
    assert_eq!(
        col(
            "let shout = (s:string, mark:string = '!') { strcat(toupper(s), mark) }; \
             Proc | where FileName == 'cmd.exe' | project x = shout(FileName), y = shout(DeviceName, '?')",
            "x"
        ),
        [json!("CMD.EXE!")]
    );
    assert_counts(&[
        (
            "let bigger = (n:long) { Proc | where Size > n }; bigger(9) | where DeviceName == 'ws1'",
            2,
        ),
        ("let all = () { Proc }; all()", 4),
        ("let v = view () { Proc | take 1 }; v", 1),
    ]);
    assert!(
        super::support::fails("let f = (n:long) { f(n) + 1 }; print f(1)")
            .message
            .contains("recursion is not allowed")
    );
}

#[test]
fn prev_and_next_read_the_neighbouring_rows_in_order() {
    assert_eq!(
        rows(
            "Proc | sort by Timestamp asc | serialize \
             | extend Gap = Timestamp - prev(Timestamp), After = next(FileName, 1, 'none') \
             | project Gap, After"
        ),
        [
            json!({"Gap": null, "After": "PowerShell.EXE"}),
            json!({"Gap": "39.10:00:00", "After": "powershell.exe"}),
            json!({"Gap": "22:00:00", "After": "cmd.exe"}),
            json!({"Gap": "01:30:00", "After": "none"}),
        ]
    );
}

#[test]
fn bag_unpack_makes_a_typed_column_of_each_key_of_a_bag() {
    assert_eq!(
        rows(
            "Proc | take 2 | evaluate bag_unpack(Extra) | project-away Timestamp, CommandLine, Size"
        ),
        [
            json!({"DeviceName": "ws1", "FileName": "powershell.exe", "Parent": "explorer.exe", "Tags": ["a", "b"]}),
            json!({"DeviceName": "ws1", "FileName": "cmd.exe", "Parent": "winword.exe", "Tags": []}),
        ]
    );
    assert_eq!(
        super::support::names(
            "print b = '{\"n\": 1, \"s\": \"x\"}' | evaluate bag_unpack(b, 'af_')"
        ),
        ["af_n", "af_s"]
    );
    assert!(
        super::support::fails("Proc | evaluate active_users_count(DeviceName, Timestamp, datetime(2024-01-01), datetime(2024-02-01), 8d, 1d, 3, 7d)")
            .message
            .contains("evaluate plugin 'active_users_count' is not supported")
    );
}
