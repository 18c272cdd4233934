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

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, TimeDelta, Utc};
use huntd::diagnostic::Diagnostics;
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
    let mut child = Command::new("node")
        .arg(oracle_dir().join("oracle.js"))
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
    let answers: Vec<Vec<String>> = BufReader::new(stdout)
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
                .map(|d| format!("{} at {}: {}", d["code"], d["start"], d["message"]))
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

#[test]
fn the_repos_jobs_and_query_library_parse_as_the_oracle_parses_them() {
    if !oracle_ready() {
        return;
    }
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
