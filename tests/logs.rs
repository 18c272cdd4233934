//! Log lines as people and machines read them: colour only on a terminal.

use std::process::{Command, Stdio};
use std::time::Duration;

/// Starts `huntd run` with no jobs and stderr in a file, waits until it logs that it runs, and
/// returns everything it logged.
fn daemon_log(format: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("stderr.log");
    let config = dir.path().join("huntd.yaml");
    std::fs::write(
        &config,
        format!(
            "database: sqlite://{}\njobs: []\ndaemon: {{state_dir: '{}'}}\n",
            dir.path().join("huntd.db").display(),
            dir.path().display()
        ),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_huntd"))
        .args(["--log-format", format, "run", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("NO_COLOR")
        .env_remove("HUNTD_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("huntd run starts");
    let mut text = String::new();
    for _ in 0..600 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("huntd running") {
            break;
        }
        if let Some(status) = child.try_wait().expect("wait works") {
            panic!("huntd run exited with {status}:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("huntd running"), "no log line:\n{text}");
    text
}

#[test]
fn text_logs_written_to_a_file_have_no_colour_codes_even_without_no_color() {
    let text = daemon_log("text");
    assert!(text.contains("INFO"), "{text}");
    assert!(!text.contains('\u{1b}'), "escape codes in a file: {text:?}");
}

#[test]
fn json_logs_written_to_a_file_are_plain_json_lines() {
    let text = daemon_log("json");
    assert!(!text.contains('\u{1b}'), "escape codes in a file: {text:?}");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
    }
}
