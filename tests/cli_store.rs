//! The database commands as a user runs them: `migrate`, `history`, `findings`, `prune`.

use std::path::Path;
use std::process::{Command, Output};

fn huntd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_huntd"))
        .arg("--config")
        .arg(dir.join("huntd.yaml"))
        .args(args)
        .env_remove("HUNTD_CONFIG")
        .env_remove("MSTICPYCONFIG")
        .output()
        .expect("huntd runs")
}

/// Checks `out` is of a command that exited 0, showing its stderr otherwise.
fn assert_succeeded(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("jobs")).expect("mkdir");
    let config = format!(
        "database: sqlite://{}\njobs: [./jobs]\n",
        dir.path().join("huntd.db").display()
    );
    std::fs::write(dir.path().join("huntd.yaml"), config).expect("write");
    dir
}

#[test]
fn migrate_creates_the_sqlite_database_and_says_so() {
    let dir = setup();
    let out = huntd(dir.path(), &["migrate"]);
    assert_succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("schema up to date"));
    assert!(dir.path().join("huntd.db").is_file());
    // A second run finds nothing to do and still succeeds.
    assert_eq!(huntd(dir.path(), &["migrate"]).status.code(), Some(0));
}

#[test]
fn history_of_a_new_database_is_an_empty_json_list() {
    let dir = setup();
    let out = huntd(
        dir.path(),
        &["history", "--format", "json", "--since", "24h"],
    );
    assert_succeeded(&out);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(runs, serde_json::json!([]));
}

#[test]
fn history_rejects_an_unknown_status_as_a_usage_error() {
    let dir = setup();
    let out = huntd(dir.path(), &["history", "--status", "done"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a run status"));
}

#[test]
fn prune_reports_what_it_deleted() {
    let dir = setup();
    let out = huntd(dir.path(), &["prune", "--batch-size", "100"]);
    assert_succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pruned 0 results"));
}

#[test]
fn an_unreachable_database_is_a_runtime_failure_with_exit_three() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 9 (discard) on loopback has no PostgreSQL; the password must not be printed.
    std::fs::write(
        dir.path().join("huntd.yaml"),
        "database: postgres://huntd:hunter2@127.0.0.1:9/huntd\njobs: []\n",
    )
    .expect("write");
    let out = huntd(dir.path(), &["history"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("127.0.0.1:9"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
