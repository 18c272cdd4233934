//! `huntd validate` checks the KQL syntax of every job's query: the real binary on job files
//! with broken queries, each problem reported at its line and column in the file the query is
//! written in, as text and as JSON lines.

use std::path::Path;
use std::process::{Command, Output};

const CONFIG: &str = "jobs: [./jobs]\nquery_library: [./queries]\ninstances:\n  Contoso:\n\
    \x20   TenantId: 00000000-0000-0000-0000-00000000000a\n\
    \x20   ClientId: 00000000-0000-0000-0000-00000000000b\n\
    \x20   ClientSecret: {File: ./secret}\n";

/// A config folder with `jobs` (file name, text) and library files, and `huntd validate`'s
/// output on it with `args`.
fn validate(jobs: &[(&str, &str)], library: &[(&str, &str)], args: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for folder in ["jobs", "queries/lib"] {
        std::fs::create_dir_all(root.join(folder)).expect("mkdir");
    }
    std::fs::write(root.join("secret"), "not-a-real-secret").expect("write");
    std::fs::write(root.join("huntd.yaml"), CONFIG).expect("write");
    for (name, text) in jobs {
        std::fs::write(root.join("jobs").join(name), text).expect("write");
    }
    for (name, text) in library {
        std::fs::write(root.join("queries/lib").join(name), text).expect("write");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_huntd"))
        .arg("validate")
        .arg("--config")
        .arg(root.join("huntd.yaml"))
        .args(args)
        .env_remove("HUNTD_CONFIG")
        .env_remove("MSTICPYCONFIG")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("huntd runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

fn job(name: &str, query: &str) -> String {
    format!("name: {name}\ninstance: Contoso\nenvironment: M365DGraph\nevery: 15m\n{query}")
}

#[test]
fn a_dangling_and_after_a_misspelt_operator_fails_validate_at_its_line_and_column() {
    let text = job(
        "typo",
        "query: |\n  DeviceProcessEvents\n  | where Timestamp > datetime({start})\n  \
         | where ProcessCommandLine hass \"x\" and\n",
    );
    let (out, stdout) = validate(&[("typo.yaml", &text)], &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "typo.yaml:8:30: error: job `typo`: KQL syntax error: expected '|' or ';', found 'hass'"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("hint: did you mean `has`?"), "{stdout}");
    assert!(stdout.contains("invalid: "), "{stdout}");
}

#[test]
fn an_error_in_a_quoted_scalar_after_a_placeholder_points_into_the_job_file() {
    let text = job(
        "quoted",
        "query: \"DeviceProcessEvents | where Timestamp > datetime({start}) | where (FileName == 'x'\"\n",
    );
    let (out, stdout) = validate(&[("quoted.yaml", &text)], &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The end of the query is its closing quote, column 91 of line 5.
    assert!(
        stdout.contains("quoted.yaml:5:91: error: job `quoted`: KQL syntax error: expected ')', found end of query"),
        "{stdout}"
    );
}

#[test]
fn a_comment_folded_into_the_rest_of_the_query_is_reported_with_why() {
    let text = job(
        "folded",
        "query: >\n  DeviceProcessEvents\n  // only PowerShell\n  | where FileName =~ \"powershell.exe\"\n",
    );
    let (out, stdout) = validate(&[("folded.yaml", &text)], &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "folded.yaml:7:3: error: job `folded`: this `//` comment swallows the rest of the query"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "the `//` comment now runs to the end of the query because the YAML string is folded"
        ),
        "{stdout}"
    );
}

const LIBRARY: &str = "metadata:\n  data_environments: [M365DGraph]\nsources:\n  broken:\n\
    \x20   description: a query with an unclosed parenthesis\n    args:\n      query: |\n\
    \x20       DeviceProcessEvents\n        | where (FileName == \"x\"\n\
    \x20 fine:\n    description: a valid query\n    args:\n      query: DeviceInfo | take 1\n";

#[test]
fn a_query_ref_error_points_at_the_library_file_and_an_unused_one_is_a_warning() {
    let (out, stdout) = validate(&[], &[("hunts.yaml", LIBRARY)], &[]);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("hunts.yaml:9:33: warning: library query `lib/broken`: KQL syntax error"),
        "{stdout}"
    );
    let text = job("uses-broken", "query_ref: lib/broken\n");
    let (out, stdout) = validate(&[("uses.yaml", &text)], &[("hunts.yaml", LIBRARY)], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("hunts.yaml:9:33: error: job `uses-broken`: KQL syntax error"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("warning: library query `lib/broken`"),
        "{stdout}"
    );
}

#[test]
fn a_disabled_jobs_syntax_error_is_a_warning() {
    let text = job("off", "enabled: false\nquery: DeviceInfo | where\n");
    let (out, stdout) = validate(&[("off.yaml", &text)], &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("off.yaml:6:26: warning: job `off`: KQL syntax error"),
        "{stdout}"
    );
}

#[test]
fn validate_json_prints_each_problem_then_a_summary() {
    let text = job("typo", "query: DeviceInfo | where DeviceName hass \"x\"\n");
    let (out, stdout) = validate(&[("typo.yaml", &text)], &[], &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let problem = &lines[0];
    assert!(
        problem["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("typo.yaml")),
        "{problem}"
    );
    assert_eq!(problem["line"], 5);
    assert_eq!(problem["column"], 38);
    assert_eq!(problem["severity"], "error");
    assert_eq!(problem["code"], "kql-syntax");
    assert_eq!(problem["hint"], "did you mean `has`?");
    assert!(
        problem["message"]
            .as_str()
            .is_some_and(|m| m.contains("'hass'"))
    );
    let summary = &lines.last().expect("a summary")["summary"];
    assert_eq!(summary["valid"], false);
    assert_eq!(summary["errors"], 1);
    assert_eq!(summary["jobs"], 1);
}

#[test]
fn a_misspelt_column_and_an_unknown_table_fail_validate_with_a_suggestion() {
    let column = job(
        "column",
        "query: |\n  DeviceProcessEvents\n  | where ProcesCommandLine has \"-enc\"\n",
    );
    let table = job("table", "query: DeviceProcesEvents | take 10\n");
    let (out, stdout) = validate(
        &[("column.yaml", &column), ("table.yaml", &table)],
        &[],
        &["--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let problems: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .filter(|p: &serde_json::Value| p["code"].is_string())
        .collect();
    let by_code = |code: &str| {
        problems
            .iter()
            .find(|p| p["code"] == code)
            .unwrap_or_else(|| panic!("no {code} in {stdout}"))
    };
    let unknown_column = by_code("kql-unknown-column");
    assert_eq!(
        (
            unknown_column["line"].clone(),
            unknown_column["column"].clone()
        ),
        (7.into(), 11.into())
    );
    assert_eq!(unknown_column["hint"], "did you mean `ProcessCommandLine`?");
    let unknown_table = by_code("kql-unknown-table");
    assert_eq!(
        (
            unknown_table["line"].clone(),
            unknown_table["column"].clone()
        ),
        (5.into(), 8.into())
    );
    assert_eq!(unknown_table["hint"], "did you mean `DeviceProcessEvents`?");
}

#[test]
fn a_column_a_summarize_dropped_fails_validate_at_its_line_with_the_columns_it_kept() {
    let text = job(
        "summarized",
        "query: |\n  DeviceLogonEvents\n  | summarize Failures = countif(ActionType == \"LogonFailed\") by AccountName\n  \
         | where Failures > 10 and DeviceName != \"\"\n",
    );
    let (out, stdout) = validate(&[("summarized.yaml", &text)], &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "summarized.yaml:8:29: error: job `summarized`: unknown column `DeviceName`: the rows \
             at this point have no such column"
        ),
        "{stdout}"
    );
    let fixed = text.replace("DeviceName", "AccountName");
    let (out, stdout) = validate(&[("summarized.yaml", &fixed)], &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
}

#[test]
fn an_mde_job_naming_a_table_only_graph_has_is_the_wrong_api() {
    let text = "name: mail\ninstance: Contoso\nenvironment: MDE\nevery: 15m\n\
                query: EmailEvents | take 10\n";
    let (out, stdout) = validate(&[("mail.yaml", text)], &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("mail.yaml:5:8: error: job `mail`: table `EmailEvents` is not in the Defender for Endpoint API"),
        "{stdout}"
    );
}

#[test]
fn a_column_compared_with_a_literal_of_the_wrong_type_fails_validate_at_its_line() {
    let typed = job(
        "typed",
        "query: |\n  DeviceProcessEvents\n  | where Timestamp > \"2024-01-01\"\n",
    );
    let (out, stdout) = validate(&[("typed.yaml", &typed)], &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "typed.yaml:7:11: error: job `typed`: `Timestamp` is a datetime column compared with a string literal"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("hint: write the time as `datetime(2024-01-31 08:00)`"),
        "{stdout}"
    );
}

/// Queries through the operators the checks follow: a filter, a summarize, a join and a `let`.
const BENCH_QUERIES: [&str; 4] = [
    "DeviceProcessEvents\n  | where Timestamp between (datetime({start}) .. datetime({end}))\n  \
     | where ProcessCommandLine has_any (\"-enc\", \"-EncodedCommand\")\n  \
     | project Timestamp, DeviceName, AccountName, ProcessCommandLine",
    "DeviceLogonEvents\n  | where ActionType == \"LogonFailed\"\n  \
     | summarize Failures = count(), Devices = dcount(DeviceId) by AccountName\n  \
     | where Failures > 10 and Devices > 2",
    "DeviceNetworkEvents\n  | where RemotePort in (4444, 8080)\n  \
     | join kind=inner (DeviceInfo | project DeviceId, OSPlatform) on DeviceId\n  \
     | project Timestamp, DeviceName, RemoteIP, OSPlatform",
    "let Suspicious = DeviceFileEvents | where FolderPath has \"Temp\" | project SHA256;\n  \
     DeviceProcessEvents\n  | where SHA256 in (Suspicious)\n  | extend Age = now() - Timestamp",
];

/// `huntd validate` (this build's binary) over `count` jobs, one of `queries` each, under
/// `/usr/bin/time`: (seconds, peak RSS in KiB).
fn time_validate(count: usize, queries: &[&str]) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("jobs")).expect("mkdir");
    std::fs::create_dir_all(root.join("queries")).expect("mkdir");
    std::fs::write(root.join("secret"), "not-a-real-secret").expect("write");
    std::fs::write(root.join("huntd.yaml"), CONFIG).expect("write");
    for i in 0..count {
        let query = queries[i % queries.len()];
        // Hourly, so that a thousand jobs stay within the tenant's quota.
        let text = job(&format!("hunt-{i}"), &format!("query: |\n  {query}\n"))
            .replace("every: 15m", "every: 1h");
        std::fs::write(root.join(format!("jobs/hunt-{i:04}.yaml")), text).expect("write");
    }
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .arg(env!("CARGO_BIN_EXE_huntd"))
        .arg("validate")
        .arg("--config")
        .arg(root.join("huntd.yaml"))
        .env_remove("HUNTD_CONFIG")
        .env_remove("MSTICPYCONFIG")
        .output()
        .expect("/usr/bin/time runs (apt-get install time)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let figures = stderr.lines().last().unwrap_or("");
    let mut parts = figures.split_whitespace();
    let seconds = parts.next().and_then(|s| s.parse().ok());
    let kib = parts.next().and_then(|s| s.parse().ok());
    (
        seconds.unwrap_or_else(|| panic!("no time in {stderr}")),
        kib.unwrap_or_else(|| panic!("no RSS in {stderr}")),
    )
}

#[test]
#[ignore = "benchmark: cargo test --release --test validate_kql -- --ignored --nocapture"]
fn validate_over_a_thousand_jobs_prints_wall_time_and_peak_rss() {
    let (seconds, kib) = time_validate(1_000, &BENCH_QUERIES);
    let (base_seconds, base_kib) = time_validate(1_000, &["DeviceInfo | take 1"]);
    #[allow(clippy::cast_precision_loss)]
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "huntd validate, 1,000 jobs (filter, summarize, join, let): {seconds:.2} s, peak RSS \
         {:.1} MiB; baseline, 1,000 jobs of `DeviceInfo | take 1`: {base_seconds:.2} s, {:.1} MiB",
        mib(kib),
        mib(base_kib)
    );
}
