//! The string, encoding and digest functions hunting queries use, held to Kusto's documented
//! examples.

use serde_json::json;

use super::support::{col, eval, fails, value};
use crate::KqlType;

#[test]
fn trim_removes_repeated_leading_and_trailing_regex_matches() {
    assert_eq!(
        value(r#"trim("--", "--https://x.com--")"#),
        json!("https://x.com")
    );
    assert_eq!(value(r#"trim(@"[^\w]+", "-  Te st1//$")"#), json!("Te st1"));
    assert_eq!(
        value(r#"trim_start(@"[^\w]+", "-  Te st1//$")"#),
        json!("Te st1//$")
    );
    assert_eq!(
        value(r#"trim_end(@"[^\w]+", "-  Te st1//$")"#),
        json!("-  Te st1")
    );
    assert_eq!(value(r#"trim(" ", "  a b  ")"#), json!("a b"));
    assert_eq!(value(r#"trim("x", "")"#), json!(""));
}

#[test]
fn a_literal_invalid_regex_is_refused_when_the_query_compiles() {
    assert!(
        fails(r#"print trim("(", "a")"#)
            .message
            .starts_with("invalid regular expression")
    );
    assert!(
        fails(r#"print extract_all("[", "a")"#)
            .message
            .starts_with("invalid regular expression")
    );
}

#[test]
fn countof_counts_overlapping_plain_matches_and_separate_regex_matches() {
    assert_eq!(value(r#"countof("aaa", "a")"#), json!(3));
    assert_eq!(value(r#"countof("aaaa", "aa")"#), json!(3));
    assert_eq!(value(r#"countof("ababa", "ab", "normal")"#), json!(2));
    assert_eq!(value(r#"countof("ababa", "aba", "regex")"#), json!(1));
    assert_eq!(value(r#"countof("abcabc", "a.c", "regex")"#), json!(2));
    assert_eq!(value(r#"countof("abc", "")"#), json!(0));
    assert_eq!(value(r#"countof("abc", "a", "other")"#), json!(null));
    assert_eq!(eval(r#"countof("a", "a")"#).1, KqlType::Long);
}

#[test]
fn extract_all_gives_one_dimension_for_one_group_and_two_for_more() {
    assert_eq!(
        value(r#"extract_all(@"(\d+)", "numbers: 123, 567 and 789")"#),
        json!(["123", "567", "789"])
    );
    assert_eq!(
        value(r#"extract_all(@"(\w)(\w+)(\w)", "82b8be2d-dfa7")"#),
        json!([["8", "2b8be2", "d"], ["d", "fa", "7"]])
    );
    assert_eq!(
        value(r#"extract_all(@"(\w)(\w+)(\w)", dynamic([1, 3]), "82b8be2d-dfa7")"#),
        json!([["8", "d"], ["d", "7"]])
    );
    assert_eq!(
        value(r#"extract_all(@"(?P<first>\w)(\w+)", dynamic(['first']), "ab cd")"#),
        json!(["a", "c"])
    );
}

#[test]
fn extract_all_is_null_without_a_match_a_group_or_a_valid_group_choice() {
    assert_eq!(value(r#"extract_all(@"(\d+)", "none")"#), json!(null));
    assert_eq!(value(r#"extract_all(@"\d+", "123")"#), json!(null));
    assert_eq!(
        value(r#"extract_all(@"(\d+)", dynamic([2]), "123")"#),
        json!(null)
    );
    assert_eq!(value(r#"extract_all(@"(\d+)", "x", "123")"#), json!(null));
}

#[test]
fn strcat_delim_and_strcat_array_join_with_the_delimiter() {
    assert_eq!(
        value(r#"strcat_delim("-", "a", 1, true)"#),
        json!("a-1-true")
    );
    assert_eq!(
        value(r#"strcat_array(dynamic([1, "b", null]), "->")"#),
        json!("1->b->")
    );
    assert_eq!(value(r#"strcat_array("not an array", ",")"#), json!(""));
}

#[test]
fn reverse_strrep_string_size_and_isascii_read_the_text() {
    assert_eq!(value(r#"reverse("abc€")"#), json!("€cba"));
    assert_eq!(value("reverse(123)"), json!("321"));
    assert_eq!(value(r#"strrep("ab", 3)"#), json!("ababab"));
    assert_eq!(value(r#"strrep("ab", 3, ",")"#), json!("ab,ab,ab"));
    assert_eq!(value(r#"strlen(strrep("a", 5000))"#), json!(1024));
    assert_eq!(value(r#"strrep("ab", 0)"#), json!(null));
    assert_eq!(value(r#"string_size("abc€")"#), json!(6));
    assert_eq!(value(r#"isascii("abc")"#), json!(true));
    assert_eq!(value(r#"isascii("abc€")"#), json!(false));
}

#[test]
fn base64_round_trips_utf8_and_bad_input_decodes_to_null() {
    assert_eq!(
        value(r#"base64_encode_tostring("Kusto1")"#),
        json!("S3VzdG8x")
    );
    assert_eq!(
        value(r#"base64_decode_tostring("S3VzdG8x")"#),
        json!("Kusto1")
    );
    assert_eq!(
        value(r#"base64_decode_tostring("not base64!")"#),
        json!(null)
    );
    // 0xff 0xfe is not UTF-8.
    assert_eq!(value(r#"base64_decode_tostring("//4=")"#), json!(null));
}

#[test]
fn url_encode_writes_spaces_as_plus_and_url_encode_component_as_percent_20() {
    assert_eq!(
        value(r#"url_encode("https://www.bing.com/hello world")"#),
        json!("https%3a%2f%2fwww.bing.com%2fhello+world")
    );
    assert_eq!(
        value(r#"url_encode_component("https://www.bing.com/hello world")"#),
        json!("https%3a%2f%2fwww.bing.com%2fhello%20world")
    );
    assert_eq!(
        value(r#"url_decode(url_encode_component("é & ü"))"#),
        json!("é & ü")
    );
}

#[test]
fn hashes_are_lowercase_hex_of_the_utf8_text_and_null_for_null() {
    assert_eq!(
        value(r#"hash_sha256("World")"#),
        json!("78ae647dc5544d227130a0682a51e30bc7777fbb6d8a8f17007463a3ecd1d524")
    );
    assert_eq!(
        value(r#"hash_md5("World")"#),
        json!("f5a7924e621e84c9280a9a27e1bcb7f6")
    );
    assert_eq!(
        value(r#"hash_sha1("World")"#),
        json!("70c07ec18ef89c5309bbb0937f3a6342411e1fdd")
    );
    assert_eq!(value("hash_sha256(int(null))"), json!(null));
}

#[test]
fn tohex_writes_twos_complement_padded_to_the_minimum_length() {
    assert_eq!(value("tohex(256)"), json!("100"));
    assert_eq!(value("tohex(-546)"), json!("fffffffffffffdde"));
    assert_eq!(value("tohex(48879, 8)"), json!("0000beef"));
    assert_eq!(value("tohex(1.5)"), json!(null));
}

#[test]
fn toguid_reads_the_dotnet_forms_and_refuses_the_rest() {
    let (v, ty) = eval(r#"toguid("{0697405B-B2A9-4F6B-A3B3-0A7B1A7E0D5E}")"#);
    assert_eq!(v, json!("0697405b-b2a9-4f6b-a3b3-0a7b1a7e0d5e"));
    assert_eq!(ty, KqlType::Guid);
    assert_eq!(
        value(r#"toguid("0697405bb2a94f6ba3b30a7b1a7e0d5e")"#),
        json!("0697405b-b2a9-4f6b-a3b3-0a7b1a7e0d5e")
    );
    assert_eq!(value(r#"toguid("0697405b-b2a9-4f6b-a3b3")"#), json!(null));
    assert_eq!(
        value(r#"toguid("z697405bb2a94f6ba3b30a7b1a7e0d5e")"#),
        json!(null)
    );
}

#[test]
fn totimespan_reads_timespans_and_their_text() {
    let (v, ty) = eval(r#"totimespan("1.02:03:04")"#);
    assert_eq!(v, json!("1.02:03:04"));
    assert_eq!(ty, KqlType::TimeSpan);
    assert_eq!(value("totimespan(1h)"), json!("01:00:00"));
    assert_eq!(value(r#"totimespan("soon")"#), json!(null));
}

#[test]
fn parse_path_splits_windows_unc_unix_and_url_paths() {
    assert_eq!(
        value(r#"parse_path(@"C:\temp\file.txt")"#),
        json!({"Scheme": "", "RootPath": "C:", "DirectoryPath": "C:\\temp", "DirectoryName": "temp",
               "Filename": "file.txt", "Extension": "txt", "AlternateDataStreamName": ""})
    );
    assert_eq!(
        value(r#"parse_path(@"\\shared\users\file.txt.gz")"#)["DirectoryPath"],
        json!("\\\\shared\\users")
    );
    assert_eq!(
        value(r#"parse_path("/usr/lib/file.txt")"#)["DirectoryName"],
        json!("lib")
    );
    assert_eq!(
        value(r#"parse_path(@"C:\temp\file.txt:some_stream")"#)["AlternateDataStreamName"],
        json!("some_stream")
    );
    let url = value(r#"parse_path("https://storage.blob.core.windows.net/box/my.txt")"#);
    assert_eq!(url["Scheme"], json!("https"));
    assert_eq!(url["RootPath"], json!("storage.blob.core.windows.net"));
    assert_eq!(url["DirectoryName"], json!("box"));
    assert_eq!(url["Extension"], json!("txt"));
}

#[test]
fn a_regex_computed_per_row_is_compiled_for_each_rows_own_pattern() {
    assert_eq!(
        col(
            "Proc | project t = trim_start(substring(FileName, 0, 1), FileName)",
            "t"
        ),
        vec![
            json!("owershell.exe"),
            json!("md.exe"),
            json!("owerShell.EXE"),
            json!("otepad.exe")
        ]
    );
    assert_eq!(
        col(
            "Proc | project n = countof(FileName, substring(FileName, 1, 1), 'regex')",
            "n"
        ),
        vec![json!(1), json!(1), json!(1), json!(1)]
    );
}
