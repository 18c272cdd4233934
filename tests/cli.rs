//! The `huntd` binary as a user runs it: exit codes, output formats, help.

use std::path::Path;
use std::process::{Command, Output};

/// A temporary directory with an empty `jobs/`.
fn with_jobs_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("jobs")).expect("mkdir");
    dir
}

fn huntd(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_huntd"))
        .args(args)
        .current_dir(cwd)
        .env_remove("HUNTD_CONFIG")
        .env_remove("MSTICPYCONFIG")
        .output()
        .expect("huntd runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_accepts_the_shipped_example_and_exits_zero() {
    let out = huntd(&["validate", "--config", "examples/huntd.yaml"], repo());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let summary = text.lines().last().unwrap_or_default();
    assert!(summary.starts_with("ok: 2 instances,"), "{text}");
    assert!(summary.contains("0 errors"), "{text}");
    // Its MDE jobs are warned about: the API is being retired.
    assert!(
        text.contains("warning: job `") && text.contains("began retiring in January 2026"),
        "{text}"
    );
    assert!(text.contains("ThreatHunting.Read.All"), "{text}");
}

#[test]
fn an_instance_that_noticed_the_mde_retirement_is_not_warned() {
    let dir = with_jobs_dir();
    std::fs::write(dir.path().join("secret"), "not-a-real-secret").expect("write");
    let config = |noticed: &str| {
        format!(
            "jobs: [./jobs]\ninstances:\n  Fabrikam:\n\
             \x20   TenantId: 00000000-0000-0000-0000-00000000000a\n\
             \x20   ClientId: 00000000-0000-0000-0000-00000000000b\n\
             \x20   ClientSecret: {{File: ./secret}}\n{noticed}"
        )
    };
    std::fs::write(
        dir.path().join("jobs/hunts.yaml"),
        "jobs:\n  - name: graph-one\n    instance: Fabrikam\n    environment: M365DGraph\n\
         \x20   every: 1h\n    query: DeviceInfo | take 1\n\
         \x20 - name: mdatp-one\n    instance: Fabrikam\n    environment: MDATP\n\
         \x20   every: 1h\n    query: DeviceInfo | take 1\n",
    )
    .expect("write");
    let path = dir.path().join("huntd.yaml");
    std::fs::write(&path, config("")).expect("write");
    let out = huntd(
        &["validate", "--config", path.to_str().expect("UTF-8")],
        repo(),
    );
    let text = stdout(&out);
    assert!(
        text.contains("hunts.yaml:9:5: warning: job `mdatp-one` uses the Defender for Endpoint"),
        "the second job's `environment:` line: {text}"
    );
    assert!(text.contains("environment `MDATP`"), "{text}");
    std::fs::write(&path, config("    MdeRetirementNoticed: true\n")).expect("write");
    let out = huntd(
        &["validate", "--config", path.to_str().expect("UTF-8")],
        repo(),
    );
    let text = stdout(&out);
    assert!(text.contains("0 errors, 0 warnings"), "{text}");
}

#[test]
fn validate_reports_every_problem_with_file_line_and_column_and_exits_one() {
    let dir = with_jobs_dir();
    std::fs::write(dir.path().join("huntd.yaml"), "jobs: [./jobs]\n").expect("write");
    let job = "name: encoded\ninstance: Contoso\nenvironment: M365DGraph\n\
               shedule: '*/5 * * * *'\nquery: DeviceEvents\n";
    std::fs::write(dir.path().join("jobs/a.yaml"), job).expect("write");

    let out = huntd(&["validate"], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let job_file = dir.path().join("jobs/a.yaml");
    let prefix = job_file.display().to_string();
    assert!(
        text.contains(&format!("{prefix}:2:11: error: unknown instance `Contoso`")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{prefix}:4:1: error: unknown key `shedule` in a job"
        )),
        "{text}"
    );
    assert!(text.contains("hint: did you mean `schedule`?"), "{text}");
    assert!(
        text.contains("invalid: 0 instances, 0 library queries, 0 jobs: 3 errors"),
        "{text}"
    );
}

#[test]
fn validate_without_any_config_file_says_where_it_looked_and_exits_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = huntd(&["validate"], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("huntd.yaml"), "{text}");
}

#[test]
fn unknown_command_is_a_usage_error_with_exit_two() {
    let out = huntd(&["frobnicate"], repo());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

#[test]
fn help_lists_the_commands_and_exits_zero() {
    let out = huntd(&["--help"], repo());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0));
    for command in ["validate", "jobs"] {
        assert!(
            text.contains(command),
            "{command} missing from help:\n{text}"
        );
    }
    let out = huntd(&["jobs", "--help"], repo());
    assert!(stdout(&out).contains("--format"));
}

#[test]
fn jobs_lists_every_example_job_with_three_upcoming_fire_times() {
    let out = huntd(
        &[
            "jobs",
            "--config",
            "examples/huntd.yaml",
            "--format",
            "json",
        ],
        repo(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    let rows = rows.as_array().expect("a list");
    assert!(rows.len() >= 5);
    for row in rows {
        assert_eq!(row["next"].as_array().map(Vec::len), Some(3), "{row}");
        // `encoded-powershell` says `instances: all`; the others name one instance.
        let both = serde_json::json!(["Contoso", "Fabrikam"]);
        if row["name"] == "encoded-powershell" {
            assert_eq!(row["instances"], both, "{row}");
        } else {
            assert!(
                row["instances"] == serde_json::json!(["Contoso"])
                    || row["instances"] == serde_json::json!(["Fabrikam"]),
                "{row}"
            );
        }
    }

    let table = huntd(&["jobs", "--config", "examples/huntd.yaml"], repo());
    let text = stdout(&table);
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.contains("encoded-powershell"), "{text}");
}

#[test]
fn jobs_refuses_invalid_input_with_exit_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("huntd.yaml"), "jobz: []\n").expect("write");
    let out = huntd(&["jobs"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `jobs`?"));
}
