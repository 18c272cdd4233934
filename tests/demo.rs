//! `huntd demo`, the README's first command: emulator, daemon and SQLite end to end, from any
//! folder, with findings that keep appearing while it runs.

use std::collections::BTreeMap;
use std::process::Command;

#[test]
fn demo_runs_the_built_in_jobs_from_an_empty_folder_notifies_their_findings_and_later_runs_find_new_rows()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_huntd"))
        .current_dir(dir.path())
        .args(["demo", "--every", "2s", "--run-for", "12s"])
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
    assert!(text.contains("from the built-in examples"), "{text}");

    let summary = text
        .split("runs by job and instance:")
        .nth(1)
        .expect("a summary table");
    let streams: Vec<&str> = summary
        .lines()
        .skip(2)
        .take_while(|line| !line.trim().is_empty())
        .collect();
    assert!(streams.len() >= 6, "{text}");
    // `encoded-powershell` says `instances: all`: a stream on each of the demo's two instances.
    for instance in ["Contoso", "Fabrikam"] {
        assert!(
            streams
                .iter()
                .any(|line| line.trim_start().starts_with("encoded-powershell")
                    && line.split_whitespace().nth(1) == Some(instance)),
            "encoded-powershell runs on {instance}: {text}"
        );
    }
    for line in streams {
        // JOB INSTANCE RUNS SUCCEEDED ROWS NEW AVG_MS
        let fields: Vec<&str> = line.split_whitespace().collect();
        let number = |i: usize| fields[i + 1].parse::<u64>().expect("a number");
        assert!(
            number(1) >= 2,
            "every stream runs more than once: {line}\n{text}"
        );
        assert_eq!(number(1), number(2), "every run succeeds: {line}\n{text}");
        assert!(
            number(3) > 0,
            "every stream finds its planted rows: {line}\n{text}"
        );
        assert!(
            number(4) <= number(3),
            "a row seen again is not new again: {line}\n{text}"
        );
    }

    // Run lines: "  JOB INSTANCE STATUS N rows N new  window ..."; a stream's later runs hunt
    // only the seconds since its last, so new rows there came from the emulator's live feed.
    let mut runs: BTreeMap<(&str, &str), Vec<u64>> = BTreeMap::new();
    for line in text.lines().filter(|line| line.contains(" new  window ")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let new = fields[5].parse::<u64>().expect("new rows");
        runs.entry((fields[0], fields[1])).or_default().push(new);
    }
    let finding_later: Vec<&(&str, &str)> = runs
        .iter()
        .filter(|(_, news)| news.iter().skip(1).any(|&n| n > 0))
        .map(|(job, _)| job)
        .collect();
    assert!(
        finding_later.len() >= 2,
        "at least two streams find new rows after their first run: {finding_later:?}\n{text}"
    );
    // Every job notifies the emulator's webhook, which checks the signature before it says so.
    let notified = text
        .lines()
        .filter(|line| {
            line.trim_start().starts_with("-> webhook: ") && line.contains(" new finding")
        })
        .count();
    assert!(
        notified >= 5,
        "each job's first findings are notified: {text}"
    );
    assert!(text.contains("two findings:\n  ["), "{text}");
    assert!(
        text.contains("sqlite3 -header -column huntd-demo.db"),
        "{text}"
    );
    assert!(dir.path().join("huntd-demo.db").is_file());
}

#[test]
fn demo_with_a_missing_jobs_directory_says_so_and_exits_two() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_huntd"))
        .current_dir(dir.path())
        .args(["demo", "--jobs", "no-such-dir"])
        .output()
        .expect("huntd demo runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--jobs no-such-dir: no such directory"),
        "{err}"
    );
}
