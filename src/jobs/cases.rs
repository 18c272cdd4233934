//! A job's `tests:`: named cases, each with input rows per table (inline, or a JSON Lines file
//! beside the job), an optional window and what the hunt must return, which `huntd test` runs
//! offline through the KQL engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::diagnostic::Location;
use crate::yaml::{Checker, Node};

/// One test case of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// Its name, unique within the job.
    pub name: String,
    /// Where it is written.
    pub location: Location,
    /// The rows of each table the query reads.
    pub input: BTreeMap<String, Input>,
    /// The bodies the query's `externaldata` URLs answer, by URL, as `huntd emulate` would fetch.
    pub external: BTreeMap<String, External>,
    /// The run's window; `None` ends it a second after the newest input `Timestamp`.
    pub window: Window,
    /// What the hunt must return.
    pub expect: Expect,
}

/// A table's rows in a test case.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Rows written in the job file.
    Rows(Vec<serde_json::Map<String, serde_json::Value>>),
    /// A JSON Lines file, one row per line.
    File(PathBuf),
}

/// What an `externaldata` URL answers in a test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum External {
    /// The body written in the job file.
    Text(String),
    /// A file beside the job, read as it is.
    File(PathBuf),
}

/// A test case's window: each end given, or left to the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// Its start; the end less the job's lookback when left out.
    pub start: Option<DateTime<Utc>>,
    /// Its end; a second after the newest input `Timestamp` (now without one) when left out.
    pub end: Option<DateTime<Utc>>,
}

/// What a case expects of the hunt's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// Exactly this many rows (`expect: {rows: N}`, or `{none: true}` for zero).
    pub rows: Option<usize>,
    /// Partial rows that must each match a returned row (`expect_rows:`).
    pub contains: Vec<serde_json::Map<String, serde_json::Value>>,
}

const CASE_KEYS: [&str; 6] = [
    "name",
    "input",
    "external",
    "window",
    "expect",
    "expect_rows",
];

/// Reads `tests:`, a list of cases; relative input files start at `base_dir`, the job file's
/// folder. Every problem is reported; the cases without one are returned.
pub(super) fn parse(check: &mut Checker<'_>, node: &Node, base_dir: &Path) -> Vec<TestCase> {
    let Some(items) = node.as_seq() else {
        check
            .error(node.location, format!("`tests` must be a list of cases, found {}", node.kind()))
            .hint("write `tests: [{name: fires, input: {DeviceProcessEvents: [{...}]}, expect: {rows: 1}}]`");
        return Vec::new();
    };
    let mut cases: Vec<TestCase> = Vec::new();
    for item in items {
        let Some(case) = case(check, item, base_dir) else {
            continue;
        };
        if cases.iter().any(|c| c.name == case.name) {
            check
                .error(
                    case.location,
                    format!("test case `{}` is defined twice", case.name),
                )
                .hint("give each case of a job its own name");
            continue;
        }
        cases.push(case);
    }
    cases
}

fn case(check: &mut Checker<'_>, node: &Node, base_dir: &Path) -> Option<TestCase> {
    let entries = check.map(node, "a test case")?;
    check.unknown_keys(entries, &CASE_KEYS, "a test case");
    let errors_before = check.diags.error_count();
    let Some(name) = node
        .get("name")
        .and_then(|n| check.string(n, "a test case's `name`"))
    else {
        check
            .error(node.location, "a test case has no `name`")
            .hint("add `name:`, e.g. `name: fires on an encoded command`");
        return None;
    };
    let what = format!("test case `{name}`");
    let input = match node.get("input") {
        Some(n) => input(check, n, base_dir, &what),
        None => BTreeMap::new(),
    };
    let external = match node.get("external") {
        Some(n) => external(check, n, base_dir, &what),
        None => BTreeMap::new(),
    };
    let window = node
        .get("window")
        .map_or(Some(Window::default()), |n| window(check, n, &what));
    let expect = expect(check, node, &what);
    if check.diags.error_count() > errors_before {
        return None;
    }
    Some(TestCase {
        name: name.trim().to_string(),
        location: node.location,
        input,
        external,
        window: window?,
        expect: expect?,
    })
}

/// `input: {Table: [rows], Other: {file: rows.jsonl}}`.
fn input(
    check: &mut Checker<'_>,
    node: &Node,
    base_dir: &Path,
    what: &str,
) -> BTreeMap<String, Input> {
    let mut tables = BTreeMap::new();
    let Some(entries) = check.map(node, &format!("`input` of {what}")) else {
        return tables;
    };
    for (key, value) in entries {
        let table = key.name.trim().to_string();
        if let Some(rows) = value.as_seq() {
            let mut parsed = Vec::new();
            for row in rows {
                match super::fields::to_json(row) {
                    serde_json::Value::Object(map) => parsed.push(map),
                    _ => {
                        check
                            .error(
                                row.location,
                                format!("a row of {table} in {what} is not a mapping"),
                            )
                            .hint("write each row as `{Column: value, ...}`");
                    }
                }
            }
            tables.insert(table, Input::Rows(parsed));
        } else if let Some(file) = value.get("file") {
            let named = format!("the file of {table} in {what}");
            let hint = "input files are JSON Lines (one row object per line), relative to the job file's folder";
            if let Some(path) = file_beside(check, file, base_dir, (&named, what), hint) {
                tables.insert(table, Input::File(path));
            }
        } else {
            check
                .error(
                    value.location,
                    format!("the rows of {table} in {what} are neither a list nor `{{file: ...}}`"),
                )
                .hint("write `Table: [{Column: value}]` or `Table: {file: rows.jsonl}`");
        }
    }
    tables
}

/// `external: {URL: text, URL: {file: list.csv}}`.
fn external(
    check: &mut Checker<'_>,
    node: &Node,
    base_dir: &Path,
    what: &str,
) -> BTreeMap<String, External> {
    let mut bodies = BTreeMap::new();
    let Some(entries) = check.map(node, &format!("`external` of {what}")) else {
        return bodies;
    };
    for (key, value) in entries {
        let url = key.name.trim().to_string();
        let shown = kql::redact_url(&url);
        if let Some(file) = value.get("file") {
            let named = format!("the file for {shown} in {what}");
            let hint = "the file holds what the URL answers (CSV, text, JSON lines...), relative to the job file's folder";
            if let Some(path) = file_beside(check, file, base_dir, (&named, what), hint) {
                bodies.insert(url, External::File(path));
            }
        } else if let Some(text) = check.string(value, &format!("the body of {shown} in {what}")) {
            bodies.insert(url, External::Text(text.clone()));
        }
    }
    bodies
}

/// The path a `{file: ...}` names, relative to `base_dir` (the job file's folder); `None`, with
/// an error naming it as `named` in `what` and saying `hint`, when it is not a string or no file.
fn file_beside(
    check: &mut Checker<'_>,
    file: &Node,
    base_dir: &Path,
    (named, what): (&str, &str),
    hint: &str,
) -> Option<PathBuf> {
    let text = check.string(file, named)?;
    let path = base_dir.join(text.trim());
    if !path.is_file() {
        check
            .error(
                file.location,
                format!("{what}: {} does not exist", path.display()),
            )
            .hint(hint);
        return None;
    }
    Some(path)
}

/// `window: {start: T, end: T}`, either end optional.
fn window(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<Window> {
    let entries = check.map(node, &format!("`window` of {what}"))?;
    check.unknown_keys(entries, &["start", "end"], &format!("`window` of {what}"));
    let mut window = Window::default();
    for (key, slot) in [("start", &mut window.start), ("end", &mut window.end)] {
        let Some(n) = node.get(key) else { continue };
        let text = check.string(n, &format!("the window {key} of {what}"))?;
        let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) else {
            check
                .error(
                    n.location,
                    format!("the window {key} of {what} `{text}` is not a time"),
                )
                .hint("write an RFC 3339 time, e.g. 2024-05-01T09:00:00Z");
            return None;
        };
        *slot = Some(t.with_timezone(&Utc));
    }
    if let (Some(start), Some(end)) = (window.start, window.end)
        && start >= end
    {
        check
            .error(
                node.location,
                format!("the window of {what} ends before it starts"),
            )
            .hint("`start` must be before `end`");
        return None;
    }
    Some(window)
}

/// `expect: {rows: N}` or `{none: true}`, and `expect_rows: [partial rows]`; at least one.
fn expect(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<Expect> {
    let mut expect = Expect::default();
    if let Some(n) = node.get("expect") {
        let entries = check.map(n, &format!("`expect` of {what}"))?;
        check.unknown_keys(entries, &["rows", "none"], &format!("`expect` of {what}"));
        if let Some(rows) = n.get("rows") {
            let count = check.integer(rows, &format!("`expect.rows` of {what}"), 0..=1_000_000)?;
            expect.rows = Some(usize::try_from(count).expect("0..=1000000 fits in usize"));
        }
        if let Some(none) = n.get("none")
            && check.boolean(none, &format!("`expect.none` of {what}"))?
        {
            expect.rows = Some(0);
        }
    }
    if let Some(n) = node.get("expect_rows") {
        let Some(items) = n.as_seq() else {
            check
                .error(
                    n.location,
                    format!("`expect_rows` of {what} must be a list of partial rows"),
                )
                .hint("write `expect_rows: [{DeviceName: ws-1}]`");
            return None;
        };
        for item in items {
            let serde_json::Value::Object(map) = super::fields::to_json(item) else {
                check
                    .error(
                        item.location,
                        format!("an expected row of {what} is not a mapping"),
                    )
                    .hint("write each as `{Column: value, ...}`");
                return None;
            };
            expect.contains.push(map);
        }
    }
    if expect.rows.is_none() && expect.contains.is_empty() {
        check
            .error(node.location, format!("{what} expects nothing"))
            .hint("add `expect: {rows: N}`, `expect: {none: true}` or `expect_rows: [...]`");
        return None;
    }
    Some(expect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostics;

    fn load(text: &str) -> (Vec<TestCase>, Diagnostics) {
        crate::yaml::check_text("j.yaml", text, |check, node| {
            parse(
                check,
                node.get("tests").expect("tests"),
                Path::new("/nowhere"),
            )
        })
    }

    #[test]
    fn cases_read_inline_rows_a_window_and_each_form_of_expectation() {
        let (cases, diags) = load(
            "tests:\n  - name: fires\n    input:\n      DeviceEvents:\n        - {DeviceName: ws-1, N: 2}\n    \
             window: {start: '2024-05-01T09:00:00Z', end: '2024-05-01T10:00:00Z'}\n    expect: {rows: 1}\n    \
             expect_rows: [{DeviceName: ws-1}]\n  - name: quiet\n    expect: {none: true}\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(cases.len(), 2);
        let Input::Rows(rows) = &cases[0].input["DeviceEvents"] else {
            panic!("inline rows");
        };
        assert_eq!(rows[0]["N"], 2);
        assert_eq!(cases[0].expect.rows, Some(1));
        assert_eq!(cases[0].expect.contains[0]["DeviceName"], "ws-1");
        assert!(cases[0].window.start.is_some() && cases[0].window.end.is_some());
        assert_eq!(cases[1].expect.rows, Some(0));
        assert_eq!(cases[1].location.line, 9);
    }

    #[test]
    fn external_bodies_are_read_inline_or_as_a_file_and_a_missing_file_is_named() {
        let (cases, diags) = load(
            "tests:\n  - name: listed\n    external:\n      'https://x.test/iocs.csv': \"a,1\\nb,2\\n\"\n      \
             'https://x.test/more.csv?sig=SECRET': {file: more.csv}\n    expect: {rows: 1}\n",
        );
        assert!(cases.is_empty());
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 1, "{text:?}");
        assert!(text[0].contains("more.csv does not exist"), "{text:?}");
        assert!(!text[0].contains("SECRET"), "{text:?}");
        let (cases, diags) = load(
            "tests:\n  - name: listed\n    external:\n      'https://x.test/iocs.csv': \"a,1\\nb,2\\n\"\n    \
             expect: {rows: 1}\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            cases[0].external["https://x.test/iocs.csv"],
            External::Text("a,1\nb,2\n".to_string())
        );
    }

    #[test]
    fn a_case_without_an_expectation_a_twin_name_or_a_missing_file_is_named_at_its_line() {
        let (cases, diags) = load(
            "tests:\n  - name: a\n  - name: b\n    expect: {rows: 0}\n  - name: b\n    expect: {rows: 1}\n  \
             - name: c\n    input: {T: {file: rows.jsonl}}\n    expect: {rows: 1}\n",
        );
        assert_eq!(cases.len(), 1, "{diags:?}");
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(
            text[0].contains("j.yaml:2") && text[0].contains("expects nothing"),
            "{text:?}"
        );
        assert!(
            text[1].contains("j.yaml:5") && text[1].contains("defined twice"),
            "{text:?}"
        );
        assert!(text[2].contains("rows.jsonl does not exist"), "{text:?}");
    }
}
