//! Scalar operators and the built-in functions.

use serde_json::json;

use super::support::{assert_counts, fails, rows, run_ok};

// ---- scalar operators ----

#[test]
fn equality_is_case_sensitive_and_tilde_is_not() {
    assert_counts(&[
        ("Proc | where FileName == 'powershell.exe'", 1),
        ("Proc | where FileName =~ 'powershell.exe'", 2),
        ("Proc | where FileName !~ 'powershell.exe'", 2),
        ("Proc | where FileName != 'powershell.exe'", 3),
    ]);
}

#[test]
fn comparisons_with_nulls_are_false() {
    assert_counts(&[
        ("Proc | where Size < 100", 3),
        ("Proc | where Size != 10", 2),
        ("Proc | where not(Size > 5)", 1),
        ("Proc | where Size >= 10 and Size <= 20", 2),
    ]);
}

#[test]
fn has_family_respects_term_boundaries_and_case() {
    assert_eq!(
        rows("Proc | where CommandLine has 'powershell.exe'").len(),
        2
    );
    assert_counts(&[
        ("Proc | where CommandLine has '-enc'", 1),
        ("Proc | where CommandLine has 'power'", 0),
        ("Proc | where CommandLine !has 'whoami'", 3),
    ]);
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
    assert_counts(&[
        ("Proc | where FileName contains 'SHELL'", 2),
        ("Proc | where FileName !contains 'shell'", 2),
        ("Proc | where FileName contains_cs 'Shell'", 1),
        ("Proc | where FileName startswith 'POWER'", 2),
        ("Proc | where FileName startswith_cs 'Power'", 1),
        ("Proc | where FileName endswith '.EXE'", 4),
        ("Proc | where FileName endswith_cs '.EXE'", 1),
        ("Proc | where FileName !startswith 'p'", 2),
    ]);
    assert_eq!(
        rows("Proc | where FileName matches regex @'^[a-z]+\\.exe$'").len(),
        3
    );
}

#[test]
fn in_operators_with_literal_lists_and_case() {
    assert_counts(&[
        ("Proc | where DeviceName in ('ws1', 'ws2')", 2),
        ("Proc | where DeviceName in~ ('ws1', 'ws2')", 3),
        ("Proc | where DeviceName !in ('ws1')", 2),
        ("Proc | where DeviceName !in~ ('WS1', 'ws2')", 1),
        ("Proc | where Size in (10, 5)", 2),
    ]);
    assert_eq!(
        rows("Proc | where Size !in (10)").len(),
        2,
        "null Size is neither in nor !in"
    );
}

#[test]
fn between_on_numbers_and_datetimes() {
    assert_counts(&[
        ("Proc | where Size between (5 .. 10)", 2),
        ("Proc | where Size !between (5 .. 10)", 1),
    ]);
    assert_eq!(
        rows("Proc | where Timestamp between (datetime(2024-02-09) .. datetime(2024-02-10 09:00))")
            .len(),
        2
    );
}

#[test]
fn and_or_precedence_and_parentheses() {
    assert_counts(&[
        (
            "Proc | where DeviceName == 'srv1' or DeviceName == 'ws1' and Size > 15",
            2,
        ),
        (
            "Proc | where (DeviceName == 'srv1' or DeviceName == 'ws1') and Size > 15",
            1,
        ),
    ]);
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
    assert_counts(&[
        ("Proc | where isempty(CommandLine)", 1),
        ("Proc | where isnotempty(CommandLine)", 3),
        ("Proc | where isnull(Size)", 1),
        ("Proc | where isnotnull(Size)", 3),
        ("Proc | where isempty(Extra)", 1),
    ]);
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

#[test]
fn a_timespan_inside_a_dynamic_literal_is_its_text_as_in_kusto() {
    assert_eq!(
        super::support::rows("print d = dynamic([1h, 2d])"),
        vec![serde_json::json!({"d": ["01:00:00", "2.00:00:00"]})]
    );
}
