//! huntd's KQL syntax checker (`kql::check_syntax`) against Microsoft's own parser, the
//! oracle in `tests/kql-oracle` (Kusto.Language from `@kusto/language-service-next`, run by
//! node): accept for accept and reject for reject, on the repo's jobs and query library, on
//! msticpy's query library when `../shared/reference/msticpy-queries` exists, and on queries
//! from a grammar-based generator.
//!
//! Without the oracle installed (`npm ci --prefix tests/kql-oracle`) or without node, each test
//! prints a notice and skips, unless `HUNTD_REQUIRE_KQL_ORACLE=1` (set by `.ci/run`) makes that
//! a failure.

mod kql_gen;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, TimeDelta, Utc};
use huntd::defender_schema;
use huntd::diagnostic::Diagnostics;
use huntd::jobs::names::{self, UNKNOWN_COLUMN, UNKNOWN_TABLE};
use huntd::jobs::{self, Library, LibraryQuery, QueryTemplate};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn oracle_dir() -> PathBuf {
    repo().join("tests/kql-oracle")
}

/// Whether the oracle can run here; when it cannot, says why, and fails under
/// `HUNTD_REQUIRE_KQL_ORACLE`.
fn oracle_ready() -> bool {
    let installed = oracle_dir()
        .join("node_modules/@kusto/language-service-next")
        .is_dir();
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if installed && node {
        return true;
    }
    let why = if node {
        "the oracle is not installed (npm ci --prefix tests/kql-oracle)"
    } else {
        "node is missing (apt-get install nodejs npm)"
    };
    assert!(
        std::env::var_os("HUNTD_REQUIRE_KQL_ORACLE").is_none(),
        "HUNTD_REQUIRE_KQL_ORACLE is set but {why}"
    );
    eprintln!("notice: {why}; test skipped");
    false
}

/// The oracle's syntax errors for each query, in order (empty: it accepts the query).
fn oracle(queries: &[String]) -> Vec<Vec<String>> {
    oracle_errors(queries, None)
        .into_iter()
        .map(|errors| {
            errors
                .iter()
                .map(|d| format!("{} at {}: {}", d["code"], d["start"], d["message"]))
                .collect()
        })
        .collect()
}

/// The oracle's errors for each query, as its JSON diagnostics: syntax only, or with `schema`
/// (the file `--schema` reads) also what analysing the query against those tables finds.
fn oracle_errors(queries: &[String], schema: Option<&Path>) -> Vec<Vec<serde_json::Value>> {
    let mut command = Command::new("node");
    command.arg(oracle_dir().join("oracle.js"));
    if let Some(schema) = schema {
        command.arg("--schema").arg(schema);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let lines: Vec<String> = queries
        .iter()
        .map(|q| serde_json::to_string(q).expect("a string serializes"))
        .collect();
    let writer = std::thread::spawn(move || {
        for line in lines {
            writeln!(stdin, "{line}").expect("the oracle reads its input");
        }
    });
    let stdout = child.stdout.take().expect("piped stdout");
    let answers: Vec<Vec<serde_json::Value>> = BufReader::new(stdout)
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(&line.expect("the oracle answers")).expect("JSON line");
            let diagnostics = value["diagnostics"]
                .as_array()
                .unwrap_or_else(|| panic!("the oracle failed: {value}"));
            diagnostics
                .iter()
                .filter(|d| d["severity"] == "Error")
                .cloned()
                .collect()
        })
        .collect();
    writer.join().expect("writer thread");
    assert!(child.wait().expect("node exits").success());
    assert_eq!(answers.len(), queries.len(), "one answer per query");
    answers
}

/// How many of `queries` huntd and the oracle judge alike; prints each disagreement.
fn agreement(label: &str, queries: &[String]) -> usize {
    let verdicts = oracle(queries);
    let mut agree = 0;
    for (query, oracle_errors) in queries.iter().zip(&verdicts) {
        let ours = std::panic::catch_unwind(|| kql::check_syntax(query))
            .unwrap_or_else(|_| panic!("the checker panicked on {query:?}"));
        if ours.is_valid() == oracle_errors.is_empty() {
            agree += 1;
            continue;
        }
        let huntd = match ours.errors.first() {
            None => "accepts".to_string(),
            Some(e) => format!("rejects ({} at {})", e.message, e.span.start),
        };
        let theirs = if oracle_errors.is_empty() {
            "accepts".to_string()
        } else {
            format!("rejects ({})", oracle_errors.join("; "))
        };
        println!("{label} disagreement: {query:?}\n  huntd {huntd}\n  oracle {theirs}");
    }
    println!("{label}: {agree} of {} agree", queries.len());
    agree
}

/// A library query with each parameter set to its default or a sample of its type, rendered
/// for a window as the daemon renders it.
fn render_with_samples(
    query: &LibraryQuery,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<String> {
    let params = query.sample_parameters(start);
    QueryTemplate::new(query.query.clone(), params)
        .render(start, end)
        .ok()
}

fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    let end = DateTime::parse_from_rfc3339("2024-02-01T09:00:00Z")
        .expect("fixture time")
        .with_timezone(&Utc);
    (end - TimeDelta::days(1), end)
}

fn library_queries(dir: &Path) -> Vec<String> {
    let mut diags = Diagnostics::new();
    let library = Library::load(&[dir.to_path_buf()], &mut diags);
    let (start, end) = window();
    library
        .iter()
        .filter_map(|q| render_with_samples(q, start, end))
        .collect()
}

/// The repo's example jobs and query library, rendered for `window()`.
fn repo_queries() -> Vec<String> {
    let mut diags = Diagnostics::new();
    let library = Library::load(&[repo().join("queries")], &mut diags);
    let instances = ["Contoso", "Fabrikam"]
        .map(|name| (name.to_string(), Vec::new()))
        .into();
    let found = jobs::load(&[repo().join("jobs")], &library, &instances, &mut diags);
    let (start, end) = window();
    let mut queries: Vec<String> = found
        .iter()
        .map(|job| job.render(start, end).expect("every example renders"))
        .collect();
    queries.extend(library_queries(&repo().join("queries")));
    queries
}

#[test]
fn the_repos_jobs_and_query_library_parse_as_the_oracle_parses_them() {
    if !oracle_ready() {
        return;
    }
    let queries = repo_queries();
    assert!(queries.len() >= 8, "{} queries", queries.len());
    assert_eq!(agreement("repo", &queries), queries.len());
}

#[test]
fn msticpys_query_library_parses_as_the_oracle_parses_it() {
    let dir = repo().join("../shared/reference/msticpy-queries");
    if !dir.is_dir() {
        eprintln!("notice: {} is missing; test skipped", dir.display());
        return;
    }
    if !oracle_ready() {
        return;
    }
    let queries = library_queries(&dir);
    assert!(queries.len() >= 90, "{} msticpy queries", queries.len());
    assert_eq!(agreement("msticpy", &queries), queries.len());
}

/// Generated queries from `seeds`, their agreement printed; returns (agreeing, total).
fn generated_agreement(seeds: std::ops::Range<u64>, per_seed: usize) -> (usize, usize) {
    let queries: Vec<String> = seeds
        .flat_map(|seed| kql_gen::queries(seed, per_seed))
        .collect();
    (agreement("generated", &queries), queries.len())
}

#[test]
fn ten_thousand_generated_queries_parse_as_the_oracle_parses_them() {
    if !oracle_ready() {
        return;
    }
    let (agree, total) = generated_agreement(0..10, 1000);
    assert_eq!(total, 10_000);
    // At least 99.9% agreement: the classes left over are listed in docs/kql.md.
    assert!(
        agree * 1000 >= total * 999,
        "{agree} of {total} generated queries agree"
    );
}

#[test]
#[ignore = "many seeds: run by hand, prints the agreement"]
fn many_generated_queries_agreement_figure() {
    if !oracle_ready() {
        return;
    }
    let (agree, total) = generated_agreement(1000..1100, 2000);
    #[allow(clippy::cast_precision_loss)]
    let percent = agree as f64 * 100.0 / total as f64;
    println!("generated agreement: {agree} of {total} ({percent:.3}%)");
}

/// The Defender schema as the oracle's `--schema` reads it (table name to "(Column:type, ...)"),
/// written to a file of its own for `label`.
fn schema_file(label: &str) -> PathBuf {
    let tables: serde_json::Map<String, serde_json::Value> = defender_schema::table_names()
        .filter_map(defender_schema::table)
        .map(|table| {
            let columns: Vec<String> = table
                .columns
                .iter()
                .map(|(name, ty)| format!("{name}:{ty}"))
                .collect();
            (
                table.name.to_string(),
                format!("({})", columns.join(", ")).into(),
            )
        })
        .collect();
    let path = std::env::temp_dir().join(format!(
        "huntd-oracle-schema-{label}-{}.json",
        std::process::id()
    ));
    std::fs::write(&path, serde_json::Value::Object(tables).to_string()).expect("temp file");
    path
}

/// What a query uses that nothing defines: unknown tables and unknown columns; and whether it
/// combines operands of types Kusto refuses.
#[derive(Debug, Default, PartialEq)]
struct Unknown {
    tables: BTreeSet<String>,
    columns: BTreeSet<String>,
    types: bool,
}

/// The name in quotes in the oracle's "The name 'X' does not refer to ..." messages.
fn quoted_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("The name '")?;
    Some(rest[..rest.find('\'')?].to_string())
}

/// What the oracle, analysing `errors`' query against the schema, calls unknown; `None` when it
/// also reports something else (a Defender-only function such as `FileProfile`, a type error),
/// which leaves names it could not follow.
fn oracle_unknown(errors: &[serde_json::Value]) -> Option<Unknown> {
    let mut unknown = Unknown::default();
    for error in errors {
        let name = quoted_name(error["message"].as_str().unwrap_or(""));
        match (error["code"].as_str(), name) {
            (Some("KS204"), Some(name)) => unknown.tables.insert(name),
            (Some("KS142"), Some(name)) => unknown.columns.insert(name),
            (Some("KS106"), _) => {
                unknown.types = true;
                true
            }
            _ => return None,
        };
    }
    Some(unknown)
}

/// How many of `queries` whose names the oracle resolves huntd's `validate` checks judge alike:
/// the same unknown tables, and an unknown column exactly when the oracle finds one, among those
/// it finds (huntd's engine stops at the first). Returns how many agree, how many were compared
/// and how many of those the oracle finds unknown names in; prints each disagreement.
fn names_agreement(label: &str, queries: &[String]) -> (usize, usize, usize) {
    let schema = schema_file(label);
    let verdicts = oracle_errors(queries, Some(&schema));
    let _ = std::fs::remove_file(&schema);
    let (mut agree, mut compared, mut flagged) = (0, 0, 0);
    for (query, errors) in queries.iter().zip(&verdicts) {
        let Some(theirs) = oracle_unknown(errors) else {
            continue;
        };
        compared += 1;
        flagged += usize::from(theirs != Unknown::default());
        let syntax = kql::check_syntax(query);
        let mut ours = Unknown::default();
        for problem in names::problems(query, &syntax, None) {
            match problem.code {
                UNKNOWN_TABLE => ours.tables.insert(problem.name),
                UNKNOWN_COLUMN => ours.columns.insert(problem.name),
                names::TYPE => {
                    ours.types = true;
                    true
                }
                _ => false,
            };
        }
        let alike = ours.tables == theirs.tables
            && ours.types == theirs.types
            && ours.columns.is_empty() == theirs.columns.is_empty()
            && ours.columns.is_subset(&theirs.columns);
        if alike {
            agree += 1;
        } else {
            println!(
                "{label} names disagreement: {query:?}\n  huntd {ours:?}\n  oracle {theirs:?}"
            );
        }
    }
    println!(
        "{label} names: {agree} of {compared} agree, {flagged} with unknown names ({} left \
         out: the oracle reports more than names)",
        queries.len() - compared
    );
    (agree, compared, flagged)
}

/// `query` with its first use of a schema column, outside string literals and comments and
/// after the first `|`, misspelt (an `x` appended): a mistake both checkers must find.
fn misspelt(query: &str) -> Option<String> {
    let columns: BTreeSet<&str> = defender_schema::table_names()
        .filter_map(defender_schema::table)
        .flat_map(|t| t.columns.iter().map(|(c, _)| *c))
        .collect();
    let bytes = query.as_bytes();
    let (mut quote, mut piped) = (None, false);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if query[i..].starts_with("//") => {
                i = query[i..].find('\n').map_or(query.len(), |n| i + n);
                continue;
            }
            None if c == b'|' => piped = true,
            None if c.is_ascii_alphabetic()
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) =>
            {
                let end = query[i..]
                    .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .map_or(query.len(), |n| i + n);
                if piped && columns.contains(&query[i..end]) {
                    return Some(format!("{}x{}", &query[..end], &query[end..]));
                }
                i = end;
                continue;
            }
            Some(_) | None => {}
        }
        i += 1;
    }
    None
}

/// Hand-written queries over the schema, names and operand types right and wrong, through each
/// operator that changes a pipe's columns.
const NAME_QUERIES: [&str; 20] = [
    "DeviceProcessEvents | where ProcesCommandLine has 'x'",
    "DeviceProcessEvents | project DeviceName | where FileSize > 1",
    "DeviceProcessEvents | project-away FileSize | where FileSize > 1",
    "DeviceLogonEvents | summarize Logons = count() by AccountName | where Logon > 5",
    "DeviceLogonEvents | summarize count() by AccountName | where count_ > 5",
    "DeviceInfo | join kind=inner (DeviceNetworkInfo) on DeviceId | project DeviceId1, MacAddress",
    "DeviceInfo | join kind=inner (DeviceNetworkInfo) on DeviceId | project DeviceId2",
    "let Recent = DeviceFileEvents | project FileName, SHA256; Recent | where SHA1 == 'x'",
    "DeviceProcessEvents | mv-expand Arg = split(ProcessCommandLine, ' ') | where Arg has 'x'",
    "DeviceProcessEvents | parse ProcessCommandLine with Key '=' Rest | project Key, Rest, Ky",
    "union DeviceInfo, DeviceNetworkInfo | project OSPlatform, MacAddress, OSPlatfrm",
    "DeviceEvents | extend Size = FileSize * 2 | summarize max(Size) by DeviceId | project max_Size",
    "DeviceEvents | project-rename Name = DeviceName | project DeviceName",
    "DeviceAlertEvents | take 1",
    "DeviceLogonEvents | where LogonId > Timestamp",
    "DeviceLogonEvents | extend Label = AccountName + 1",
    "DeviceLogonEvents | summarize Seen = count() by AccountName | where Seen > ago(1d)",
    "DeviceFileEvents | project Size = FileSize | where Size > '100'",
    "DeviceLogonEvents | where Timestamp - LogonId > 1d",
    "DeviceLogonEvents | where Timestamp > ago(1d) and LogonId > 0 | extend Age = now() - Timestamp",
];

#[test]
fn unknown_tables_and_columns_are_found_as_the_oracle_finds_them_with_the_schema_loaded() {
    if !oracle_ready() {
        return;
    }
    let mut corpora: Vec<(&str, Vec<String>)> = vec![
        ("hand-written", NAME_QUERIES.map(String::from).to_vec()),
        ("repo", repo_queries()),
    ];
    let msticpy = repo().join("../shared/reference/msticpy-queries");
    if msticpy.is_dir() {
        let queries = library_queries(&msticpy);
        let mutated = queries.iter().filter_map(|q| misspelt(q)).collect();
        corpora.push(("msticpy", queries));
        corpora.push(("msticpy, one column misspelt", mutated));
    }
    for (label, queries) in corpora {
        let (agree, compared, flagged) = names_agreement(label, &queries);
        if label.contains("misspelt") {
            assert_eq!(flagged, compared, "{label}: a misspelling not found");
        }
        assert!(
            compared * 2 >= queries.len(),
            "{label}: only {compared} compared"
        );
        assert_eq!(agree, compared, "{label}: names judged differently");
    }
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_syntax_check_throughput_against_the_oracle_on_msticpy() {
    let dir = repo().join("../shared/reference/msticpy-queries");
    if !dir.is_dir() || !oracle_ready() {
        eprintln!("notice: needs the msticpy queries and the oracle; benchmark skipped");
        return;
    }
    let corpus = library_queries(&dir);
    let rounds = 50;
    let queries: Vec<String> = (0..rounds).flat_map(|_| corpus.clone()).collect();
    let started = std::time::Instant::now();
    let valid = queries
        .iter()
        .filter(|q| kql::check_syntax(q).is_valid())
        .count();
    let ours = started.elapsed().as_secs_f64();
    // The oracle's time less that of a run with one query: node's start and the parser's load.
    let started = std::time::Instant::now();
    oracle(&queries[..1]);
    let startup = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    oracle(&queries);
    let theirs = (started.elapsed().as_secs_f64() - startup).max(f64::EPSILON);
    #[allow(clippy::cast_precision_loss)]
    let n = queries.len() as f64;
    println!(
        "{} queries ({} msticpy queries x {rounds}), {valid} valid: huntd {:.0} queries/s, \
         oracle {:.0} queries/s (after {startup:.2}s start-up): huntd {:.1}x faster",
        queries.len(),
        corpus.len(),
        n / ours,
        n / theirs,
        theirs / ours
    );
}
