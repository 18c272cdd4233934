//! `externaldata`: each data format's rows from a fetched body, column types, options, the URLs
//! a query lists, and errors that never show a URL's secret.

use serde_json::{Value as J, json};

use super::support::test_db;
use crate::fixture::now;
use crate::{ExternalBodies, KqlError, external_urls, redact_url, run_with_external};

const URL: &str = "https://iocs.example/list";

fn bodies(pairs: &[(&str, &str)]) -> ExternalBodies {
    pairs
        .iter()
        .map(|(url, body)| ((*url).to_string(), body.as_bytes().to_vec()))
        .collect()
}

fn answer(query: &str, pairs: &[(&str, &str)]) -> Result<Vec<J>, KqlError> {
    let result = run_with_external(&test_db(), query, now(), None, &bodies(pairs))?;
    Ok(result.rows_json().into_iter().map(J::Object).collect())
}

/// The rows `query` answers when its one URL, `URL`, serves `body`.
fn rows_of(query: &str, body: &str) -> Vec<J> {
    answer(query, &[(URL, body)]).unwrap_or_else(|e| panic!("{e}\n{query}"))
}

fn error_of(query: &str, pairs: &[(&str, &str)]) -> String {
    match answer(query, pairs) {
        Ok(rows) => panic!("{query} should fail, gave {rows:?}"),
        Err(e) => e.message,
    }
}

#[test]
fn csv_reads_quoted_commas_line_breaks_and_doubled_quotes_as_one_field_each() {
    let body = "Sha256,Note,Score\r\n\
                abc,\"evil, very\",9\r\n\
                def,\"two\nlines\",7\n\
                \n\
                ghi,\"say \"\"hi\"\"\",\n";
    let query = format!(
        "externaldata (Sha256:string, Note:string, Score:long) [h'{URL}'] \
         with (format='csv', ignoreFirstRecord=true)"
    );
    assert_eq!(
        rows_of(&query, body),
        [
            json!({"Sha256": "abc", "Note": "evil, very", "Score": 9}),
            json!({"Sha256": "def", "Note": "two\nlines", "Score": 7}),
            json!({"Sha256": "ghi", "Note": "say \"hi\"", "Score": null}),
        ]
    );
}

#[test]
fn csv_is_the_default_and_short_or_long_records_fill_the_columns_in_order() {
    let query = format!("externaldata (A:string, B:string, N:long) [@\"{URL}\"]");
    assert_eq!(
        rows_of(&query, "x\ny,z,3,extra\n"),
        [
            json!({"A": "x", "B": "", "N": null}),
            json!({"A": "y", "B": "z", "N": 3}),
        ]
    );
}

#[test]
fn tsv_scsv_psv_and_sohsv_split_on_their_own_separator() {
    for (format, body) in [
        ("tsv", "a,1\t\"b\tc\"\n"),
        ("scsv", "a,1;\"b;c\"\n"),
        ("psv", "a,1|\"b|c\"\n"),
        ("sohsv", "a,1\u{1}\"b\u{1}c\"\n"),
    ] {
        let query = format!("externaldata (A:string, B:string) ['{URL}'] with (format = {format})");
        let separator = body.chars().nth(3).unwrap_or_default();
        assert_eq!(
            rows_of(&query, body),
            [json!({"A": "a,1", "B": format!("b{separator}c")})],
            "{format}"
        );
    }
}

#[test]
fn txt_is_a_row_per_non_empty_line_and_raw_the_whole_body_in_one_row() {
    let body = "10.0.0.1\r\n\r\nevil.example, with comma\n\n";
    let txt = format!("externaldata (Line:string, Other:long) ['{URL}'] with (format='txt')");
    assert_eq!(
        rows_of(&txt, body),
        [
            json!({"Line": "10.0.0.1", "Other": null}),
            json!({"Line": "evil.example, with comma", "Other": null}),
        ]
    );
    let raw = format!("externaldata (Body:string) ['{URL}'] with (format='raw')");
    assert_eq!(rows_of(&raw, body), [json!({"Body": body})]);
}

#[test]
fn json_lines_and_multijson_map_properties_to_columns_by_name() {
    let columns = "(Ip:string, Hits:long, Tags:dynamic, Seen:datetime)";
    let json_lines = "{\"Ip\": \"1.2.3.4\", \"Hits\": 3, \"Tags\": [\"c2\"], \"Other\": 1}\n\
                      \n\
                      {\"Ip\": \"5.6.7.8\", \"Seen\": \"2024-02-10T08:00:00Z\", \"Hits\": \"4\"}\n";
    let want = [
        json!({"Ip": "1.2.3.4", "Hits": 3, "Tags": ["c2"], "Seen": null}),
        json!({"Ip": "5.6.7.8", "Hits": 4, "Tags": null,
               "Seen": "2024-02-10T08:00:00.0000000Z"}),
    ];
    let query = format!("externaldata {columns} ['{URL}'] with (format='json')");
    assert_eq!(rows_of(&query, json_lines), want);

    let spread = "[{\"Ip\": \"1.2.3.4\",\n \"Hits\": 3, \"Tags\": [\"c2\"]}]\n\
                  {\"Ip\": \"5.6.7.8\",\n\"Seen\": \"2024-02-10T08:00:00Z\",\n\"Hits\": 4}";
    let query = format!("externaldata {columns} ['{URL}'] with (format='multijson')");
    assert_eq!(rows_of(&query, spread), want);
}

#[test]
fn an_ingestion_mapping_reads_json_by_path_and_separated_fields_by_ordinal() {
    let feed = "[{\"indicator\": {\"ip\": \"203.0.113.7\"}, \"tags\": [\"c2\", \"x\"]},\n\
                {\"indicator\": {}, \"Ip\": \"by name\"}]";
    let paths = r#"[{"Column": "Ip", "Properties": {"Path": "$.indicator.ip"}}, {"column": "Tag", "Path": "$.tags[0]"}]"#;
    let by_path = format!(
        "externaldata (Ip:string, Tag:string, Rest:long) ['{URL}'] \
         with (format='multijson', ingestionMapping='{paths}')"
    );
    assert_eq!(
        rows_of(&by_path, feed),
        [
            json!({"Ip": "203.0.113.7", "Tag": "c2", "Rest": null}),
            json!({"Ip": "", "Tag": "", "Rest": null}),
        ],
        "mapped columns read only their path; an unmapped one stays empty"
    );
    let ordinals = r#"[{"Column": "B", "Properties": {"Ordinal": "2"}}, {"Column": "A", "Properties": {"Ordinal": 0}}]"#;
    let by_ordinal = format!(
        "externaldata (A:string, B:long) ['{URL}'] with (format='psv', ingestionMapping='{ordinals}')"
    );
    assert_eq!(
        rows_of(&by_ordinal, "a|skipped|7\nb\n"),
        [json!({"A": "a", "B": 7}), json!({"A": "b", "B": null})]
    );
    let mismatched = format!(
        r#"externaldata (A:string) ['{URL}'] with (ingestionMapping='[{{"Column": "A", "Properties": {{"Path": "$.a"}}}}]')"#
    );
    assert_eq!(
        error_of(&mismatched, &[(URL, "a\n")]),
        format!(
            "'externaldata' {URL}: its ingestionMapping does not fit its csv format: JSON \
             formats map by Path, separated ones by Ordinal, txt and raw take none"
        )
    );
}

#[test]
fn a_cell_that_does_not_convert_to_its_column_type_is_null() {
    let query = format!(
        "externaldata (N:long, I:int, R:real, B:bool, T:datetime, S:timespan, G:guid, D:dynamic) \
         ['{URL}']"
    );
    let body = "12,7,1.5,true,2024-01-02,01:00:00,\
                {0A1B2C3D-0000-4000-8000-00000000ABCD},\"{\"\"k\"\":1}\"\n\
                1.5,3000000000,x,yes,soon,later,not-a-guid,plain text\n";
    assert_eq!(
        rows_of(&query, body),
        [
            json!({"N": 12, "I": 7, "R": 1.5, "B": true, "T": "2024-01-02T00:00:00.0000000Z",
                   "S": "01:00:00", "G": "0a1b2c3d-0000-4000-8000-00000000abcd", "D": {"k": 1}}),
            json!({"N": null, "I": null, "R": null, "B": null, "T": null, "S": null, "G": null,
                   "D": "plain text"}),
        ]
    );
}

#[test]
fn urls_are_read_in_order_each_without_its_first_record_and_the_format_from_the_extension() {
    let first = "https://lists.example/a.txt?sv=1&sig=SECRET";
    let second = "https://lists.example/b.csv";
    let query = format!(
        "externaldata (Name:string) [@'{first}', h'{second}'] with (ignoreFirstRecord=true)"
    );
    let rows = answer(
        &query,
        &[(first, "header\nx, y\nz\n"), (second, "h\nw,v\n")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rows,
        [
            json!({"Name": "x, y"}),
            json!({"Name": "z"}),
            json!({"Name": "w"})
        ],
        "the .txt list keeps its commas, the .csv one splits on them"
    );
}

#[test]
fn an_ioc_list_joined_to_a_table_finds_the_rows_it_names() {
    let query = format!(
        "let Iocs = externaldata (FileName:string, Severity:string) ['{URL}'] \
         with (ignoreFirstRecord=true);\n\
         Proc | join kind=inner Iocs on FileName | project DeviceName, FileName, Severity \
         | order by DeviceName asc"
    );
    let body = "FileName,Severity\ncmd.exe,high\nnotepad.exe,low\nmimikatz.exe,high\n";
    assert_eq!(
        rows_of(&query, body),
        [
            json!({"DeviceName": "srv1", "FileName": "notepad.exe", "Severity": "low"}),
            json!({"DeviceName": "ws1", "FileName": "cmd.exe", "Severity": "high"}),
        ]
    );
    let inside_in = format!(
        "Proc | where FileName in~ ((externaldata (F:string) ['{URL}'])) | project FileName"
    );
    assert_eq!(
        rows_of(&inside_in, "POWERSHELL.exe\n"),
        [
            json!({"FileName": "powershell.exe"}),
            json!({"FileName": "PowerShell.EXE"})
        ]
    );
}

#[test]
fn a_query_lists_each_external_url_once_in_order_with_adjacent_literals_joined() {
    let query = "let A = externaldata (x:string) [@'https://a.example/1.csv' h@'?sig=S'];\n\
                 let B = (externaldata (x:string) ['https://b.example/2.txt']);\n\
                 union A, B, (externaldata (x:string) [@'https://a.example/1.csv' h@'?sig=S'])";
    assert_eq!(
        external_urls(query),
        Ok(vec![
            "https://a.example/1.csv?sig=S".to_string(),
            "https://b.example/2.txt".to_string()
        ])
    );
    assert_eq!(external_urls("Proc | take 1"), Ok(Vec::new()));
}

#[test]
fn errors_name_the_url_without_its_secret() {
    let url = "https://store.example/c/iocs.csv?sv=2024&sig=SECRET";
    let query = format!("externaldata (x:string) [h@'{url}']");
    let unfetched = error_of(&query, &[]);
    assert_eq!(
        unfetched,
        "'externaldata' https://store.example/c/iocs.csv?[redacted]: not fetched: only huntd \
         emulate reads external storage, before it runs the query"
    );
    let bad_json = format!("externaldata (x:string) [h@'{url}'] with (format='json')");
    let message = error_of(&bad_json, &[(url, "{\"x\": 1}\nnot json\n")]);
    assert!(
        message.ends_with("?[redacted]: line 2 is not a JSON object"),
        "{message}"
    );
    let gzip = ExternalBodies::from([(url.to_string(), vec![0x1f, 0x8b, 8, 0])]);
    let message = run_with_external(&test_db(), &query, now(), None, &gzip)
        .map(|r| r.rows.len())
        .expect_err("a gzip body is refused")
        .message;
    assert!(
        message.ends_with(
            "?[redacted]: the body is gzip-compressed, which huntd emulate does not read"
        ),
        "{message}"
    );
}

#[test]
fn options_it_cannot_honour_are_refused_by_name() {
    for (with, message) in [
        (
            "format='parquet'",
            "'externaldata': format 'parquet' is not one huntd emulate reads (csv, tsv, scsv, \
             psv, sohsv, txt, raw, json, multijson)",
        ),
        (
            r#"ingestionMapping='[{"Column": "x", "Properties": {"Path": "$.a", "Transform": "DateTimeFromUnixSeconds"}}]'"#,
            "'externaldata': ingestionMapping's transforms and constant values ('x') are not \
             supported by huntd emulate",
        ),
        (
            r#"ingestionMapping='[{"Column": "y", "Properties": {"Ordinal": "0"}}]'"#,
            "'externaldata': ingestionMapping maps 'y', a column not in the schema",
        ),
        (
            r#"ingestionMapping='[{"Column": "x", "Properties": {"Path": "a"}}]'"#,
            "'externaldata': ingestionMapping gives 'x' neither a Path starting with '$' nor an \
             Ordinal",
        ),
        (
            "zipPattern='*.csv'",
            "'externaldata': property 'zipPattern' is not supported by huntd emulate",
        ),
        (
            "ignoreFirstRecord='maybe'",
            "'externaldata': ignoreFirstRecord is true or false",
        ),
    ] {
        let query = format!("externaldata (x:string) ['{URL}'] with ({with})");
        assert_eq!(error_of(&query, &[(URL, "a\n")]), message, "{with}");
    }
    assert_eq!(
        error_of("externaldata (x:string) []", &[]),
        "'externaldata' needs at least one storage connection string"
    );
}

#[test]
fn redacted_urls_keep_scheme_host_and_path_only() {
    assert_eq!(
        redact_url("https://a.example/p/f.csv?sig=S#frag"),
        "https://a.example/p/f.csv?[redacted]"
    );
    assert_eq!(
        redact_url("https://acct.example/c/f.csv;ACCOUNTKEY"),
        "https://acct.example/c/f.csv;[redacted]"
    );
    assert_eq!(
        redact_url("https://user:pass@a.example/f.csv"),
        "https://[redacted]@a.example/f.csv"
    );
    assert_eq!(
        redact_url("https://a.example/f.txt"),
        "https://a.example/f.txt"
    );
}
