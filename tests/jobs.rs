//! Job files end to end: every validation error kind with its message, file and line, the
//! example jobs in `jobs/`, and the `huntd jobs` listing.

#[path = "common/memory.rs"]
mod memory;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use huntd::diagnostic::{Diagnostic, Diagnostics, Severity};
use huntd::jobs::{self, CatchUp, Environment, InstanceTags, Job, Library};

/// A temporary folder with `jobs/` and `queries/lib/`, loaded like `huntd validate` does.
struct Fixture {
    dir: tempfile::TempDir,
}

/// A library file whose only query serves MDE, not Graph.
const LIBRARY: &str = r#"metadata:
  data_environments: [MDE, MDATP]
defaults:
  parameters:
    add_query_items:
      type: str
      default: ""
sources:
  host_processes:
    description: Processes on one host
    args:
      query: '
        DeviceProcessEvents
        | where Timestamp between (datetime({start}) .. datetime({end}))
        | where DeviceName =~ "{host_name}"
        {add_query_items}'
    parameters:
      host_name:
        description: Name of the host
        type: str
"#;

impl Fixture {
    fn new() -> Self {
        let fixture = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        fixture.write("queries/lib/process.yaml", LIBRARY);
        fixture
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write fixture");
        path
    }

    fn load(&self) -> (Vec<Job>, Diagnostics) {
        let mut diags = Diagnostics::new();
        let library = Library::load(&[self.path("queries")], &mut diags);
        assert!(diags.is_empty(), "library: {:?}", diags.sorted());
        let jobs = jobs::load(&[self.path("jobs")], &library, &instances(), &mut diags);
        (jobs, diags)
    }
}

/// Contoso (tagged `mssp` and `eu`) and Fabrikam (tagged `mssp`).
fn instances() -> InstanceTags {
    InstanceTags::from([
        (
            "Contoso".to_string(),
            vec!["mssp".to_string(), "eu".to_string()],
        ),
        ("Fabrikam".to_string(), vec!["mssp".to_string()]),
    ])
}

/// A valid job, one key per line: name 1, instance 2, environment 3, every 4, query 5.
fn job(name: &str) -> String {
    format!(
        "name: {name}\ninstance: Contoso\nenvironment: MDE\nevery: 15m\n\
         query: \"T | where Timestamp between (datetime({{start}}) .. datetime({{end}}))\"\n"
    )
}

/// `job` with the line starting with `key:` replaced by `line` (or `line` appended).
fn job_with(name: &str, key: &str, line: &str) -> String {
    let base = job(name);
    let prefix = format!("{key}:");
    if base.lines().any(|l| l.starts_with(&prefix)) {
        base.lines()
            .map(|l| if l.starts_with(&prefix) { line } else { l })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    } else {
        base + line + "\n"
    }
}

/// The one diagnostic of the load, which must be of `severity`.
fn single(diags: &Diagnostics, severity: Severity) -> Diagnostic {
    let all = diags.sorted();
    assert_eq!(all.len(), 1, "expected one diagnostic, got {all:#?}");
    assert_eq!(all[0].severity, severity, "{}", all[0]);
    all[0].clone()
}

/// Loads `text` as the only job file: the jobs and its only diagnostic, of `severity` at `line`.
fn one_diagnostic(text: &str, severity: Severity, line: u32) -> (Vec<Job>, Diagnostic) {
    let f = Fixture::new();
    let file = f.write("jobs/a.yaml", text);
    let (jobs, diags) = f.load();
    let d = single(&diags, severity);
    assert_at(&d, &file, line);
    (jobs, d)
}

/// Loads `text` as the only job file and returns its only diagnostic, an error at `line`.
fn error_in_job(text: &str, line: u32) -> Diagnostic {
    one_diagnostic(text, Severity::Error, line).1
}

fn assert_at(d: &Diagnostic, file: &Path, line: u32) {
    assert_eq!(d.file, file, "{d}");
    assert_eq!(d.location.line, line, "{d}");
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid test time")
        .with_timezone(&Utc)
}

#[test]
fn a_valid_job_loads_with_defaults() {
    let f = Fixture::new();
    f.write("jobs/a.yaml", &job("a"));
    let (jobs, diags) = f.load();
    assert!(diags.is_empty(), "{:?}", diags.sorted());
    let [job] = jobs.as_slice() else {
        panic!("one job expected, got {jobs:?}")
    };
    assert_eq!(job.environment, Environment::Mde);
    assert_eq!(job.lookback, std::time::Duration::from_secs(900));
    assert_eq!(job.delay, std::time::Duration::ZERO);
    assert_eq!(job.timeout, std::time::Duration::from_secs(600));
    assert_eq!(job.retention, std::time::Duration::from_secs(90 * 86_400));
    assert_eq!(job.max_window, std::time::Duration::from_secs(86_400));
    assert_eq!(job.catch_up, CatchUp::All);
    assert!(job.enabled && job.timespan);
    assert_eq!(job.splay, None);
    assert_eq!(job.dedup_columns, None);
    assert_eq!(job.definition["every"], serde_json::json!("15m"));
}

#[test]
fn duplicate_names_across_files_name_both_files() {
    let f = Fixture::new();
    let first = f.write("jobs/a.yaml", &job("same"));
    let second = f.write("jobs/b.yaml", &job("same"));
    let (jobs, diags) = f.load();
    let d = single(&diags, Severity::Error);
    assert_at(&d, &second, 1);
    assert_eq!(
        d.message,
        format!(
            "duplicate job name `same`: also defined at {}:1",
            first.display()
        )
    );
    assert_eq!(jobs.len(), 1);
}

#[test]
fn duplicate_names_within_a_jobs_list_are_caught() {
    let f = Fixture::new();
    let text = format!(
        "jobs:\n  - {}\n  - {}",
        job("twin").trim_end().replace('\n', "\n    "),
        job("twin").trim_end().replace('\n', "\n    ")
    );
    let file = f.write("jobs/list.yml", &text);
    let (jobs, diags) = f.load();
    let d = single(&diags, Severity::Error);
    assert_at(&d, &file, 7);
    assert!(d.message.starts_with("duplicate job name `twin`"), "{d}");
    assert_eq!(jobs.len(), 1);
}

#[test]
fn bad_name_is_an_error() {
    let (jobs, d) = one_diagnostic(&job("Encoded_PowerShell"), Severity::Error, 1);
    assert_eq!(d.message, "invalid job name `Encoded_PowerShell`");
    assert!(jobs.is_empty());
}

#[test]
fn unknown_instance_lists_known_ones_with_a_suggestion() {
    let d = error_in_job(&job_with("a", "instance", "instance: Contosso"), 2);
    assert_eq!(d.message, "unknown instance `Contosso`");
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean `Contoso`? known instances: Contoso, Fabrikam")
    );
}

#[test]
fn instances_may_be_a_list_a_tag_selection_or_all() {
    let f = Fixture::new();
    f.write(
        "jobs/a.yaml",
        &job_with("listed", "instance", "instances: [Fabrikam, Contoso]"),
    );
    f.write(
        "jobs/b.yaml",
        &job_with("tagged", "instance", "instances: {tags: [eu]}"),
    );
    f.write(
        "jobs/c.yaml",
        &job_with("everywhere", "instance", "instances: all"),
    );
    let (jobs, diags) = f.load();
    assert!(diags.is_empty(), "{:?}", diags.sorted());
    let of = |name: &str| {
        jobs.iter()
            .find(|j| j.name == name)
            .map(|j| j.instances.clone())
            .expect("job loaded")
    };
    assert_eq!(of("listed"), ["Fabrikam", "Contoso"]);
    assert_eq!(of("tagged"), ["Contoso"]);
    assert_eq!(of("everywhere"), ["Contoso", "Fabrikam"]);
}

#[test]
fn a_bad_instance_selection_names_its_line_and_what_to_write() {
    let cases = [
        (
            "instances: [Contoso, Fabrkam]",
            "unknown instance `Fabrkam`",
            "did you mean `Fabrikam`? known instances: Contoso, Fabrikam",
        ),
        (
            "instances: [Contoso, Contoso]",
            "instance `Contoso` is listed twice",
            "list each instance once",
        ),
        (
            "instances: {tags: [apac]}",
            "no instance has the tag apac",
            "tags in use: eu, mssp",
        ),
        (
            "instances: every",
            "`instances: every` is not a selection",
            "write `instances: all`, a list `[Contoso, Fabrikam]` or `{tags: [mssp]}`",
        ),
        (
            "instances: []",
            "`instances` lists no instance",
            "name at least one, e.g. `instances: [Contoso]`",
        ),
    ];
    for (line, message, hint) in cases {
        let f = Fixture::new();
        let file = f.write("jobs/a.yaml", &job_with("a", "instance", line));
        let (jobs, diags) = f.load();
        assert!(jobs.is_empty(), "{line}");
        let d = single(&diags, Severity::Error);
        assert_at(&d, &file, 2);
        assert_eq!(d.message, message, "{line}");
        assert_eq!(d.hint.as_deref(), Some(hint), "{line}");
    }
    let f = Fixture::new();
    let both = job("a") + "instances: [Fabrikam]\n";
    let file = f.write("jobs/a.yaml", &both);
    let (_, diags) = f.load();
    let d = single(&diags, Severity::Error);
    assert_at(&d, &file, 6);
    assert_eq!(d.message, "a job has both `instance` and `instances`");
}

#[test]
fn unknown_environment_is_an_error() {
    let d = error_in_job(
        &job_with("a", "environment", "environment: LogAnalytics"),
        3,
    );
    assert_eq!(d.message, "unknown environment `LogAnalytics`");
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("M365DGraph, MDE, MDATP, M365D")),
        "{d}"
    );
}

#[test]
fn m365d_environment_warns_and_runs_as_mde() {
    let (jobs, d) = one_diagnostic(
        &job_with("a", "environment", "environment: M365D"),
        Severity::Warning,
        3,
    );
    assert_eq!(
        d.message,
        "environment `M365D` is deprecated; it runs as MDE"
    );
    assert_eq!(jobs[0].environment, Environment::Mde);
    assert_eq!(jobs[0].environment_name, "M365D");
}

#[test]
fn schedule_and_every_together_are_an_error() {
    let d = error_in_job(&job_with("a", "schedule", "schedule: \"*/15 * * * *\""), 4);
    assert_eq!(d.message, "job has both `schedule` and `every`: use one");
}

#[test]
fn neither_schedule_nor_every_is_an_error() {
    let text = job("a").replace("every: 15m\n", "");
    let d = error_in_job(&text, 1);
    assert_eq!(d.message, "job has neither `schedule` nor `every`");
}

#[test]
fn invalid_cron_is_an_error() {
    let d = error_in_job(&job_with("a", "every", "schedule: \"*/15 * * *\""), 4);
    assert!(
        d.message
            .starts_with("invalid cron expression `*/15 * * *`:"),
        "{d}"
    );
}

#[test]
fn a_cron_step_beyond_the_field_range_is_an_error_at_the_schedule_line() {
    let (jobs, d) = one_diagnostic(
        &job_with("a", "every", "schedule: \"*/61 * * * *\""),
        Severity::Error,
        4,
    );
    assert_eq!(
        d.message,
        "invalid cron expression `*/61 * * * *`: step 61 in the minute field is beyond its \
         range 0-59: use a step of 1 to 59"
    );
    assert!(jobs.is_empty(), "the job must not load");
}

#[test]
fn lookback_on_a_query_the_window_cannot_bound_is_a_warning_at_the_lookback_line() {
    let f = Fixture::new();
    let text =
        job_with("a", "query", "query: \"DeviceProcessEvents | take 100000\"") + "lookback: 1h\n";
    let file = f.write("jobs/a.yaml", &text);
    let (jobs, diags) = f.load();
    let d = single(&diags, Severity::Warning);
    assert_at(&d, &file, 6);
    assert!(
        d.message.starts_with(
            "`lookback` is set but the run's window cannot bound this query: it does not use \
             both `{start}` and `{end}` (MDE sends no time span)"
        ),
        "{d}"
    );
    assert_eq!(jobs.len(), 1, "a warning, not an error");
    assert!(!jobs[0].window_bounds_query());
}

#[test]
fn invalid_timezone_suggests_the_closest_name() {
    let d = error_in_job(&job_with("a", "timezone", "timezone: Europe/Amsterdm"), 6);
    assert_eq!(d.message, "unknown time zone `Europe/Amsterdm`");
    assert_eq!(d.hint.as_deref(), Some("did you mean `Europe/Amsterdam`?"));
}

#[test]
fn lookback_shorter_than_the_interval_warns() {
    let (jobs, d) = one_diagnostic(
        &job_with("a", "lookback", "lookback: 5m"),
        Severity::Warning,
        6,
    );
    assert_eq!(
        d.message,
        "`lookback` 5m is shorter than the schedule interval 15m: windows would have gaps"
    );
    assert_eq!(jobs.len(), 1, "a warning keeps the job");
}

#[test]
fn delay_longer_than_lookback_is_an_error() {
    let (jobs, d) = one_diagnostic(&job_with("a", "delay", "delay: 1h"), Severity::Error, 6);
    assert_eq!(d.message, "`delay` 1h is longer than `lookback` 15m");
    assert!(jobs.is_empty());
}

#[test]
fn unresolved_placeholder_is_named() {
    let d = error_in_job(
        &job_with(
            "a",
            "query",
            "query: \"T | where Timestamp > datetime({start}) and DeviceName == '{host}'\"",
        ),
        5,
    );
    assert_eq!(d.message, "no value for placeholder `host`");
}

#[test]
fn broken_braces_in_a_query_are_an_error() {
    let d = error_in_job(
        &job_with("a", "query", "query: \"print dynamic({\\\"a\\\": 1})\""),
        5,
    );
    assert!(d.message.starts_with("query template syntax"), "{d}");
}

#[test]
fn unknown_query_ref_suggests_the_closest_query() {
    let d = error_in_job(&job_with("a", "query", "query_ref: lib/host_proceses"), 5);
    assert_eq!(d.message, "unknown query_ref `lib/host_proceses`");
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean `lib/host_processes`?")
    );
}

#[test]
fn query_ref_for_another_environment_is_an_error() {
    let text = job_with("a", "query", "query_ref: lib/host_processes")
        .replace("environment: MDE", "environment: M365DGraph")
        + "params: {host_name: ws-0042}\n";
    let d = error_in_job(&text, 5);
    assert_eq!(
        d.message,
        "query `lib/host_processes` does not support environment M365DGraph: \
         its data_environments are MDE, MDATP"
    );
}

#[test]
fn missing_required_param_is_named() {
    let d = error_in_job(&job_with("a", "query", "query_ref: lib/host_processes"), 5);
    assert_eq!(
        d.message,
        "query `lib/host_processes` needs parameter `host_name`"
    );
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("host_name: <str>   # Name of the host")),
        "{d}"
    );
}

#[test]
fn query_ref_params_fill_the_library_query() {
    let f = Fixture::new();
    let text = job_with("a", "query", "query_ref: lib/host_processes")
        + "params:\n  host_name: 'ws\"42'\n";
    f.write("jobs/a.yaml", &text);
    let (jobs, diags) = f.load();
    assert!(diags.is_empty(), "{:?}", diags.sorted());
    let kql = jobs[0]
        .render(utc("2024-02-01T08:00:00Z"), utc("2024-02-01T08:15:00Z"))
        .expect("renders");
    assert_eq!(
        kql,
        "DeviceProcessEvents | where Timestamp between (datetime(2024-02-01T08:00:00.0000000Z) \
         .. datetime(2024-02-01T08:15:00.0000000Z)) | where DeviceName =~ \"ws\\\"42\" "
    );
}

#[test]
fn missing_query_file_is_an_error() {
    let d = error_in_job(&job_with("a", "query", "query_file: missing.kql"), 5);
    let expected = format!(
        "cannot read query file `{}`:",
        d.file.with_file_name("missing.kql").display()
    );
    assert!(d.message.starts_with(&expected), "{d}");
}

#[test]
fn query_file_is_read_relative_to_the_job_file() {
    let f = Fixture::new();
    f.write(
        "jobs/kql/q.kql",
        "T | where Timestamp between (datetime({start}) .. datetime({end}))\n",
    );
    f.write(
        "jobs/a.yaml",
        &job_with("a", "query", "query_file: kql/q.kql"),
    );
    let (jobs, diags) = f.load();
    assert!(diags.is_empty(), "{:?}", diags.sorted());
    assert!(jobs[0].query.text.starts_with("T | where"));
}

#[test]
fn unknown_key_suggests_the_closest_key() {
    let d = error_in_job(&job_with("a", "lokback", "lokback: 1h"), 6);
    assert_eq!(d.message, "unknown key `lokback` in a job");
    assert_eq!(d.hint.as_deref(), Some("did you mean `lookback`?"));
}

#[test]
fn wrong_type_is_an_error() {
    let d = error_in_job(&job_with("a", "enabled", "enabled: \"no\""), 6);
    assert_eq!(d.message, "`enabled` must be true or false, found a string");
}

#[test]
fn invalid_duration_is_an_error() {
    let d = error_in_job(&job_with("a", "timeout", "timeout: 10 minutes"), 6);
    assert!(
        d.message
            .starts_with("`timeout`: `10 minutes` is not a duration"),
        "{d}"
    );
}

#[test]
fn unknown_catch_up_policy_is_an_error() {
    let d = error_in_job(&job_with("a", "catch_up", "catch_up: newest"), 6);
    assert_eq!(d.message, "unknown `catch_up` policy `newest`");
}

#[test]
fn yaml_syntax_error_is_reported_with_its_line() {
    let f = Fixture::new();
    let file = f.write(
        "jobs/a.yaml",
        "name: a\ntags: [unclosed\ninstance: Contoso\n",
    );
    let (_, diags) = f.load();
    let d = single(&diags, Severity::Error);
    assert_eq!(d.file, file);
    assert!(d.message.starts_with("invalid YAML"), "{d}");
    assert!(d.location.line >= 2, "{d}");
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let f = Fixture::new();
    f.write(
        "jobs/a.yaml",
        "name: a\ninstance: Nope\nenvironment: X\nevery: 0s\nquery: T\nshedule: x\n",
    );
    let (jobs, diags) = f.load();
    assert!(jobs.is_empty());
    let lines: Vec<u32> = diags.sorted().iter().map(|d| d.location.line).collect();
    assert_eq!(lines, [2, 3, 4, 6], "{:#?}", diags.sorted());
}

#[test]
fn job_options_are_read() {
    let f = Fixture::new();
    let text = job("a")
        + "timezone: Europe/Amsterdam\nlookback: 1h\ndelay: 5m\ntimeout: 2m\ncatch_up: skip\n\
           dedup: {columns: [DeviceId, ReportId]}\nretention: 30d\nenabled: false\n\
           tags: [x, y]\ntimespan: false\nmax_window: 6h\nsplay: 30s\ndescription: d\n";
    f.write("jobs/a.yaml", &text);
    let (jobs, diags) = f.load();
    assert!(diags.is_empty(), "{:?}", diags.sorted());
    let job = &jobs[0];
    assert_eq!(job.schedule.timezone, chrono_tz::Europe::Amsterdam);
    assert_eq!(job.lookback.as_secs(), 3600);
    assert_eq!(job.delay.as_secs(), 300);
    assert_eq!(job.timeout.as_secs(), 120);
    assert_eq!(job.catch_up, CatchUp::Skip);
    assert_eq!(
        job.dedup_columns.as_deref(),
        Some(&["DeviceId".to_string(), "ReportId".to_string()][..])
    );
    assert_eq!(job.retention.as_secs(), 30 * 86_400);
    assert!(!job.enabled && !job.timespan);
    assert_eq!(job.tags, ["x", "y"]);
    assert_eq!(job.max_window.as_secs(), 6 * 3600);
    assert_eq!(job.splay.map(|s| s.as_secs()), Some(30));
    assert_eq!(job.description, "d");
    assert_eq!(
        job.definition["dedup"],
        serde_json::json!({"columns": ["DeviceId", "ReportId"]})
    );
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example_jobs() -> (Vec<Job>, Diagnostics) {
    let mut diags = Diagnostics::new();
    let library = Library::load(&[repo().join("queries")], &mut diags);
    let jobs = jobs::load(&[repo().join("jobs")], &library, &instances(), &mut diags);
    (jobs, diags)
}

#[test]
fn example_jobs_validate_without_any_diagnostic() {
    let (jobs, diags) = example_jobs();
    assert!(diags.is_empty(), "{:#?}", diags.sorted());
    assert!(jobs.len() >= 5, "{} jobs", jobs.len());
    let envs: BTreeSet<&str> = jobs.iter().map(|j| j.environment.name()).collect();
    assert_eq!(envs, ["M365DGraph", "MDE"].into());
    let start = utc("2024-02-01T08:00:00Z");
    let end = utc("2024-02-01T09:00:00Z");
    for job in &jobs {
        let kql = job.render(start, end).expect("every example renders");
        assert!(
            kql.contains("datetime(2024-02-01T08:00:00.0000000Z)")
                && kql.contains("datetime(2024-02-01T09:00:00.0000000Z)"),
            "{} has no explicit window filter:\n{kql}",
            job.name
        );
    }
}

#[test]
fn listing_shows_next_three_fire_times_and_renders_an_aligned_table() {
    let (jobs, _) = example_jobs();
    let now = utc("2024-02-01T08:07:00Z");
    let rows = jobs::listing(&jobs, now);
    let row = rows
        .iter()
        .find(|r| r.name == "encoded-powershell")
        .expect("example job listed");
    assert_eq!(row.schedule, "*/15 * * * *");
    assert_eq!(row.timezone, "Europe/Amsterdam");
    assert_eq!(
        row.next,
        [
            utc("2024-02-01T08:15:00Z"),
            utc("2024-02-01T08:30:00Z"),
            utc("2024-02-01T08:45:00Z")
        ]
    );
    let table = huntd::cli::jobs_table(&rows);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), rows.len() + 1);
    assert!(lines[0].starts_with("NAME"), "{table}");
    let column = lines[0].find("INSTANCE").expect("header");
    for line in &lines[1..] {
        let cell = &line[column..];
        assert!(
            cell.starts_with("Contoso") || cell.starts_with("Fabrikam"),
            "misaligned:\n{table}"
        );
    }
    assert!(table.contains("2024-02-01 08:15:00, 2024-02-01 08:30:00, 2024-02-01 08:45:00"));
    let json = serde_json::to_value(row).expect("serializes");
    assert_eq!(json["next"][0], "2024-02-01T08:15:00Z");
}

#[test]
fn disabled_jobs_list_no_fire_times() {
    let f = Fixture::new();
    f.write("jobs/a.yaml", &(job("a") + "enabled: false\n"));
    let (jobs, _) = f.load();
    let rows = jobs::listing(&jobs, utc("2024-02-01T08:07:00Z"));
    assert!(rows[0].next.is_empty());
    let table = huntd::cli::jobs_table(&rows);
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!(row[row.len() - 2..], ["-", "no"], "{table}");
}

#[test]
fn msticpy_library_queries_serve_the_environments_they_declare() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/msticpy-queries");
    if !root.is_dir() {
        eprintln!("skipped: {} not found", root.display());
        return;
    }
    let mut diags = Diagnostics::new();
    let library = Library::load(std::slice::from_ref(&root), &mut diags);
    assert!(diags.is_empty(), "{:?}", diags.sorted());
    assert_eq!(library.len(), 99);
    let f = Fixture::new();
    f.write(
        "jobs/a.yaml",
        "jobs:\n  - name: graph-alerts\n    instance: Contoso\n    environment: M365DGraph\n    \
         every: 1h\n    query_ref: m365d/list_alerts\n  - name: graph-mde-query\n    \
         instance: Contoso\n    environment: M365DGraph\n    every: 1h\n    \
         query_ref: mde/list_alerts\n",
    );
    let jobs = jobs::load(&[f.path("jobs")], &library, &instances(), &mut diags);
    assert_eq!(jobs.len(), 1);
    let d = single(&diags, Severity::Error);
    assert_eq!(d.location.line, 11);
    assert!(
        d.message
            .contains("does not support environment M365DGraph"),
        "{d}"
    );
}

#[test]
fn empty_and_binary_job_files_are_clear_errors() {
    let f = Fixture::new();
    let empty = f.write("jobs/empty.yaml", "");
    let binary = f.path("jobs/binary.yaml");
    std::fs::write(&binary, b"name: a\n\x00\x01\x02").expect("write fixture");
    let (jobs, diags) = f.load();
    assert!(jobs.is_empty());
    let all = diags.sorted();
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(all[0].file, binary);
    assert!(all[0].message.contains("binary"), "{}", all[0]);
    assert_eq!(all[1].file, empty);
    assert_eq!(all[1].message, "file is empty");
}

/// Prints how fast job files load and queries render; run with
/// `cargo test --release --test jobs -- --ignored --nocapture bench_`.
#[test]
#[ignore = "benchmark: prints figures"]
fn bench_load_validate_and_render() {
    const JOBS: u32 = 2_000;
    const RENDERS: u32 = 200_000;
    let f = Fixture::new();
    for i in 0..JOBS {
        let text = if i % 2 == 0 {
            job(&format!("job-{i}")) + "timezone: Europe/Amsterdam\nlookback: 1h\n"
        } else {
            format!(
                "name: job-{i}\ninstance: Fabrikam\nenvironment: MDE\nschedule: \"*/5 * * * *\"\n\
                 query_ref: lib/host_processes\nparams: {{host_name: \"ws-{i}\"}}\n"
            )
        };
        f.write(&format!("jobs/j{i:05}.yaml"), &text);
    }
    let started = std::time::Instant::now();
    let (jobs, diags) = f.load();
    let load = started.elapsed();
    assert!(diags.is_empty(), "{:?}", diags.sorted().first());
    assert_eq!(jobs.len(), JOBS as usize);

    let start = utc("2024-02-01T08:00:00Z");
    let end = utc("2024-02-01T09:00:00Z");
    let started = std::time::Instant::now();
    let mut bytes = 0;
    for i in 0..RENDERS {
        bytes += jobs[(i % JOBS) as usize]
            .render(start, end)
            .expect("renders")
            .len();
    }
    let render = started.elapsed();

    // Baseline: plain text substitution of the window, no parsing or escaping.
    let start_text = huntd::jobs::template::kql_datetime(start);
    let end_text = huntd::jobs::template::kql_datetime(end);
    let started = std::time::Instant::now();
    let mut baseline_bytes = 0;
    for i in 0..RENDERS {
        let text = &jobs[(i % JOBS) as usize].query.text;
        baseline_bytes += text
            .replace("{start}", &start_text)
            .replace("{end}", &end_text)
            .len();
    }
    let baseline = started.elapsed();
    assert!(baseline_bytes > 0);

    let started = std::time::Instant::now();
    let rows = jobs::listing(&jobs, start);
    let table = huntd::cli::jobs_table(&rows);
    let listing = started.elapsed();

    println!(
        "load+validate: {JOBS} job files in {:.1} ms = {:.0} jobs/s",
        load.as_secs_f64() * 1e3,
        f64::from(JOBS) / load.as_secs_f64()
    );
    println!(
        "render: {RENDERS} queries ({bytes} bytes) in {:.1} ms = {:.0} renders/s",
        render.as_secs_f64() * 1e3,
        f64::from(RENDERS) / render.as_secs_f64()
    );
    println!(
        "baseline str::replace of start/end: {:.1} ms; render costs {:.2}x the baseline",
        baseline.as_secs_f64() * 1e3,
        render.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "listing: {JOBS} jobs x 3 fire times + table ({} bytes) in {:.1} ms",
        table.len(),
        listing.as_secs_f64() * 1e3
    );
    println!(
        "peak RSS (VmHWM): {} KiB",
        memory::status_kib("self", "VmHWM:")
    );
}
