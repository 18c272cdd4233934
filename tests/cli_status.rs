//! `huntd status` as a user runs it, against a real SQLite file holding runs: the table and
//! the JSON, a job only the database knows, and a job file that does not load.

#[path = "common/process.rs"]
mod common;
// Only the record builders are used here, not the backend matrix.
#[allow(unused_macros, unused_imports)]
#[path = "common/store.rs"]
mod stored;

use std::path::Path;

use chrono::{TimeDelta, Utc};
use huntd::store::{self, Claim, JobRecord, RunCost};
use serde_json::Value;

use common::{huntd, printed, write_config_dir};

/// A config with one instance and one hourly job, `hourly-hunt`, on SQLite in `dir`.
fn write_setup(dir: &Path) {
    let config = format!(
        "database: sqlite://{db}\njobs: [./jobs]\ndaemon: {{state_dir: {state}}}\n\
         instances:\n  Contoso:\n    TenantId: 00000000-0000-0000-0000-000000000001\n\
         \x20   ClientId: 00000000-0000-0000-0000-000000000002\n\
         \x20   ClientSecret: {{File: ./secret}}\n",
        db = dir.join("huntd.db").display(),
        state = dir.display(),
    );
    let jobs = r#"jobs:
  - name: hourly-hunt
    instance: Contoso
    environment: M365DGraph
    every: 1h
    query: "DeviceProcessEvents | take 5"
"#;
    write_config_dir(dir, "not-a-real-secret", &config, jobs);
}

/// Records in `dir`'s database: `hourly-hunt` succeeding with two findings then failing on its
/// query, and `retired-hunt`, a job no job file has any more, succeeding once.
async fn record_runs(dir: &Path) {
    let url = format!("sqlite://{}", dir.join("huntd.db").display());
    let store = store::open(&url).await.expect("store opens");
    let now = Utc::now();
    for name in ["hourly-hunt", "retired-hunt"] {
        store
            .upsert_job(&JobRecord {
                instance: "Contoso".into(),
                ..stored::job_record(name, None, "q1")
            })
            .await
            .expect("job");
    }
    let claim = |job: &str, slot| {
        let mut request = stored::claim(job, slot, TimeDelta::hours(1), "node-a");
        request.instance = "Contoso".into();
        request
    };
    let won = |claim| match claim {
        Claim::Won(lease) => lease,
        other => panic!("claim not won: {other:?}"),
    };
    let columns = stored::device_cols();
    let rows = stored::run_rows(&stored::device_rows(&["d1", "d2"]));
    for job in ["hourly-hunt", "retired-hunt"] {
        let slot = now - TimeDelta::minutes(50);
        let lease = won(store.claim_slot(&claim(job, slot)).await.expect("claim"));
        let mut success = stored::success(slot, &columns, &rows);
        success.cost = RunCost {
            api_calls: 2,
            throttle_wait: std::time::Duration::from_millis(1500),
        };
        store.finish_run(&lease, &success).await.expect("finish");
    }
    let slot = now - TimeDelta::minutes(10);
    let lease = won(store
        .claim_slot(&claim("hourly-hunt", slot))
        .await
        .expect("claim"));
    let failure = stored::api_failure("query", "Failed to resolve table 'Nope'", 400, slot);
    store.fail_run(&lease, &failure).await.expect("fail");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_prints_each_job_its_instance_use_and_recent_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_setup(dir.path());
    record_runs(dir.path()).await;

    let out = huntd(dir.path(), &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "hourly-hunt",
        "failed (query)",
        "1 in a row",
        "retired-hunt",
        "not loaded",
        "Contoso",
        "45/min (default)",
        "recent failures (1 in the last 7 days)",
        "Failed to resolve table 'Nope'",
        "delivery backlog: none (huntd has no outputs yet)",
    ] {
        assert!(text.contains(expected), "`{expected}` missing:\n{text}");
    }
    assert!(!text.contains("not-a-real-secret"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_json_has_every_field_for_scripts() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_setup(dir.path());
    record_runs(dir.path()).await;

    let out = huntd(dir.path(), &["status", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let status: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let job = &status["jobs"][0];
    assert_eq!(job["name"], "hourly-hunt");
    assert_eq!(job["loaded"], true);
    assert_eq!(job["last_run"]["status"], "failed");
    assert_eq!(job["last_24h"]["runs"], 2);
    assert_eq!(job["last_24h"]["rows"], 2);
    assert_eq!(job["last_24h"]["new_findings"], 2);
    assert_eq!(job["backoff"]["failures_in_a_row"], 1);
    assert!(job["next_fire"].is_string(), "{job}");
    assert!(
        job["timeline"]
            .as_array()
            .is_some_and(|t| t.iter().any(|s| s["kind"] == "covered")),
        "{job}"
    );
    assert_eq!(status["jobs"][1]["name"], "retired-hunt");
    assert_eq!(status["jobs"][1]["loaded"], false);
    let instance = &status["instances"][0];
    assert_eq!(instance["name"], "Contoso");
    assert_eq!(instance["api_calls"], 5);
    assert_eq!(instance["throttle_wait_ms"], 3000);
    assert_eq!(instance["quota"]["per_minute"], 45);
    assert_eq!(status["failures"][0]["error_class"], "query");
    assert_eq!(status["delivery"], "no_outputs");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_still_reads_the_database_when_a_job_file_is_broken() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_setup(dir.path());
    record_runs(dir.path()).await;
    std::fs::write(dir.path().join("jobs/broken.yaml"), "jobs: [{name: 1}]\n").expect("write");

    let out = huntd(dir.path(), &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.yaml"), "{stderr}");
    assert!(
        stderr.contains("next fire times and quotas come from the jobs that loaded"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hourly-hunt"));
}
