//! `huntd demo`, the README's first command: emulator, daemon and SQLite end to end.

use std::process::Command;

#[test]
fn demo_runs_every_example_job_against_the_emulator_and_finds_the_planted_activity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = dir.path().join("demo.db");
    let out = Command::new(env!("CARGO_BIN_EXE_huntd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--every", "2s", "--run-for", "9s", "--database"])
        .arg(&database)
        .env_remove("HUNTD_CONFIG")
        .output()
        .expect("huntd demo runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let summary = text.split("runs by job:").nth(1).expect("a summary table");
    let jobs: Vec<&str> = summary
        .lines()
        .skip(2)
        .take_while(|line| !line.trim().is_empty())
        .collect();
    assert!(jobs.len() >= 5, "{text}");
    for line in jobs {
        // JOB RUNS SUCCEEDED ROWS NEW AVG_MS
        let fields: Vec<&str> = line.split_whitespace().collect();
        let number = |i: usize| fields[i].parse::<u64>().expect("a number");
        assert!(
            number(1) >= 2,
            "every job runs more than once: {line}\n{text}"
        );
        assert_eq!(number(1), number(2), "every run succeeds: {line}\n{text}");
        assert!(
            number(3) > 0,
            "every job finds its planted rows: {line}\n{text}"
        );
        assert_eq!(
            number(3),
            number(4),
            "nothing is counted as new twice: {line}\n{text}"
        );
    }
    assert!(text.contains("two findings:\n  ["), "{text}");
    assert!(text.contains("sqlite3 -header -column"), "{text}");
    assert!(database.is_file());
}
