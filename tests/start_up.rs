//! `huntd run` and `huntd migrate` when the database is not there yet: the database is named
//! with its cause, every retry is logged, no password is shown, and a SIGTERM during the wait
//! is a clean stop.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// A loopback port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback port");
    listener
        .local_addr()
        .expect("bound socket has an address")
        .port()
}

/// A config with no jobs whose database is PostgreSQL on `port`, with a password in the URL.
fn write_config(dir: &Path, port: u16) {
    std::fs::create_dir_all(dir.join("jobs")).expect("mkdir jobs");
    std::fs::write(
        dir.join("huntd.yaml"),
        format!("database: postgres://postgres:s3cret-pw@127.0.0.1:{port}/test\njobs: [./jobs]\n"),
    )
    .expect("write config");
}

/// `huntd --config <dir>/huntd.yaml <args>`, not yet started.
fn huntd(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_huntd"));
    command
        .arg("--config")
        .arg(dir.join("huntd.yaml"))
        .args(args);
    command.env("NO_COLOR", "1").stdin(Stdio::null());
    command
}

#[test]
fn a_database_down_at_start_is_retried_with_a_log_line_each_time_then_named_with_its_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    write_config(dir.path(), port);
    let out = huntd(dir.path(), &["migrate"])
        .output()
        .expect("huntd runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let target = format!("PostgreSQL at 127.0.0.1:{port}, database `test` as `postgres`");
    assert!(err.contains(&format!("cannot reach {target}")), "{err}");
    assert!(
        err.contains("Connection refused"),
        "the OS cause is shown: {err}"
    );
    let retries = err.matches("cannot reach the database").count();
    assert!(retries >= 3, "each retry is logged ({retries}): {err}");
    assert!(!err.contains("s3cret-pw"), "no password: {err}");
    assert!(!err.contains("pool timed out"), "{err}");
}

#[test]
fn sigterm_while_the_database_is_unreachable_is_a_clean_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), closed_port());
    let mut child = huntd(dir.path(), &["run"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("huntd starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    // The first retry line means the daemon is waiting for the database.
    let waiting = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("cannot reach the database"));
    assert!(waiting, "the daemon logs that it waits for the database");
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().expect("huntd exits");
    assert_eq!(exit.code(), Some(0), "a graceful stop, not 143: {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("stopped before the database could be reached")),
        "{rest:?}"
    );
}
