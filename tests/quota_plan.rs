//! Quota planning: `huntd validate` adds up what the enabled jobs' schedules need per tenant and
//! warns near the quota, refuses above it unless the instance allows the overcommit, and
//! `huntd jobs --costs` prints the table.

#[path = "common/process.rs"]
mod common;

use std::path::Path;

use common::{huntd, printed};

const TENANT: &str = "00000000-0000-0000-0000-00000000000a";

/// A temporary folder with a config of instance `Contoso` (with `extra` settings) and `count`
/// jobs on `environment`, each `every` often, one file per job.
fn setup(extra: &str, environment: &str, count: usize, every: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("jobs")).expect("mkdir");
    std::fs::write(dir.join("secret"), "not-a-real-secret").expect("write");
    let config = format!(
        "jobs: [./jobs]\ninstances:\n  Contoso:\n    TenantId: {TENANT}\n\
         \x20   ClientId: 00000000-0000-0000-0000-00000000000b\n\
         \x20   ClientSecret: {{File: ./secret}}\n{extra}"
    );
    std::fs::write(dir.join("huntd.yaml"), config).expect("write");
    for n in 0..count {
        let job = format!(
            "name: hunt-{n:02}\ninstance: Contoso\nenvironment: {environment}\n\
             every: {every}\nquery: DeviceInfo | take 1\n"
        );
        std::fs::write(dir.join(format!("jobs/hunt-{n:02}.yaml")), job).expect("write");
    }
    tmp
}

/// Runs `huntd args` in `dir`, checks it exits with `code`, and returns what it printed.
async fn exits_with(dir: &Path, args: &[&str], code: i32) -> String {
    let out = huntd(dir, args).await;
    let text = printed(&out);
    assert_eq!(out.status.code(), Some(code), "{text}");
    text
}

#[tokio::test]
async fn twelve_jobs_every_two_seconds_on_one_tenant_are_an_error_at_a_schedule_line() {
    let dir = setup("", "M365DGraph", 12, "2s");
    let text = exits_with(dir.path(), &["validate"], 1).await;
    // 12 jobs at 30 calls a minute each: 360 of 45.
    assert!(text.contains("need 800% of its quota"), "{text}");
    assert!(text.contains("360.0 calls a minute of 45"), "{text}");
    assert!(text.contains("runs would fall behind for ever"), "{text}");
    assert!(text.contains("AllowOvercommit: true"), "{text}");
    assert!(text.contains("hunt-00.yaml:4:1: error"), "{text}");
}

#[tokio::test]
async fn an_instance_allowing_the_overcommit_is_warned_not_refused() {
    let dir = setup("    AllowOvercommit: true\n", "M365DGraph", 12, "2s");
    let text = exits_with(dir.path(), &["validate"], 0).await;
    assert!(text.contains("warning: the jobs on tenant"), "{text}");
}

#[tokio::test]
async fn demand_above_four_fifths_of_the_quota_is_a_warning_and_below_it_nothing() {
    // 7 jobs every 10 s: 42 calls a minute of 45.
    let dir = setup("", "M365DGraph", 7, "10s");
    let text = exits_with(dir.path(), &["validate"], 0).await;
    assert!(text.contains("need 93% of its quota"), "{text}");
    assert!(text.contains("0 errors, 1 warning"), "{text}");

    let calm = setup("", "M365DGraph", 3, "10s");
    let text = printed(&huntd(calm.path(), &["validate"]).await);
    assert!(text.contains("0 errors, 0 warnings"), "{text}");
}

#[tokio::test]
async fn mde_jobs_are_held_to_the_hourly_quota_too() {
    // 30 calls a minute (67% of 45) but 1,800 an hour of MDE's 1,500.
    let dir = setup("", "MDE", 1, "2s");
    let text = exits_with(dir.path(), &["validate"], 1).await;
    assert!(text.contains("1800 MDE calls an hour of 1500"), "{text}");
}

#[tokio::test]
async fn jobs_costs_lists_each_tenant_and_its_costliest_jobs() {
    let dir = setup("    Quota: {per_minute: 100}\n", "M365DGraph", 2, "1m");
    // A daily job whose window is hunted in 6-hour chunks: 4 calls a run.
    std::fs::write(
        dir.path().join("jobs/daily.yaml"),
        "name: daily\ninstance: Contoso\nenvironment: M365DGraph\nevery: 1d\n\
         max_window: 6h\nquery: DeviceInfo | take 1\n",
    )
    .expect("write");
    let text = exits_with(dir.path(), &["jobs", "--costs"], 0).await;
    assert!(
        text.contains(&format!("tenant {TENANT} (Contoso): 2.0 calls/min of 100")),
        "{text}"
    );
    assert!(text.contains("CALLS/RUN"), "{text}");

    let out = huntd(dir.path(), &["jobs", "--costs", "--format", "json"]).await;
    let demands: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(demands[0]["minute_quota"], 100);
    let jobs = demands[0]["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0]["calls_per_run"], 1, "costliest first: {jobs:?}");
    assert_eq!(jobs[2]["job"], "daily");
    assert_eq!(jobs[2]["calls_per_run"], 4);
}
