//! One job over many instances, end to end: a real `huntd run` against a real `huntd emulate`
//! serving two tenants, with a third instance whose secret is wrong. Each (job, instance) pair
//! is its own stream: the broken tenant's failures never hold up the others, and the commands
//! take `--instance`.

#[path = "common/process.rs"]
mod common;

use std::path::Path;
use std::time::Duration;

use common::{Daemon, Emulate, huntd, write_config_dir};
use huntd::store::{self, HistoryFilter, RunStatus};

const TENANT_A: &str = "7e57d000-0000-4000-8000-00000000aaaa";
const TENANT_B: &str = "7e57d000-0000-4000-8000-00000000bbbb";
const APP_A: &str = "7e57d000-0000-4000-8000-0000000000aa";
const APP_B: &str = "7e57d000-0000-4000-8000-0000000000bb";

/// The emulator's tenants file: one app per tenant, each with the Graph role.
fn write_tenants(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tenants.yaml");
    let tenant = |id: &str, app: &str, secret: &str| {
        format!(
            "  - id: {id}\n    apps:\n      - client_id: {app}\n        secret: {secret}\n\
             \x20       roles: [ThreatHunting.Read.All]\n"
        )
    };
    let text = format!(
        "tenants:\n{}{}",
        tenant(TENANT_A, APP_A, "secret-a"),
        tenant(TENANT_B, APP_B, "secret-b")
    );
    std::fs::write(&path, text).expect("write tenants");
    path
}

/// Contoso and Fabrikam sign in to their tenants; Broken uses Contoso's tenant with a wrong
/// secret. All three carry the `mssp` tag; the job hunts them by tag every 2 seconds.
fn write_setup(dir: &Path, base: &str) {
    let instance = |tenant: &str, app: &str, secret: &str| {
        format!(
            "    TenantId: {tenant}\n    ClientId: {app}\n    ClientSecret: {secret}\n\
             \x20   Endpoints: {{login: '{base}', graph: '{base}'}}\n    Tags: [mssp]\n\
             \x20   AllowOvercommit: true\n"
        )
    };
    let config = format!(
        "database: sqlite://{db}\njobs: [./jobs]\n\
         daemon: {{state_dir: {state}, shutdown_grace: 30s}}\n\
         instances:\n  Contoso:\n{a}  Fabrikam:\n{b}  Broken:\n{broken}",
        db = dir.join("huntd.db").display(),
        state = dir.display(),
        a = instance(TENANT_A, APP_A, "secret-a"),
        b = instance(TENANT_B, APP_B, "secret-b"),
        broken = instance(TENANT_A, APP_A, "not-the-secret"),
    );
    // Not bound to the window, so every run finds rows: each stream has findings of its own.
    let jobs = "jobs:\n  - name: logons\n    instances: {tags: [mssp]}\n    environment: M365DGraph\n\
                \x20   schedule: '*/2 * * * * *'\n    timespan: false\n\
                \x20   query: \"DeviceLogonEvents | take 5\"\n";
    write_config_dir(dir, "unused", &config, jobs);
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn each_instance_of_a_job_is_a_stream_of_its_own_and_a_broken_tenant_holds_up_no_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenants = write_tenants(dir.path());
    let tenants = tenants.to_str().expect("UTF-8 path");
    let emulate = Emulate::start(dir.path(), &["--config", tenants]).await;
    write_setup(dir.path(), &emulate.base_url);

    let check = huntd(dir.path(), &["validate"]).await;
    assert!(check.status.success(), "{}", text(&check));
    let listed = huntd(dir.path(), &["jobs", "--instance", "Fabrikam"]).await;
    let listed_text = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed_text.contains("logons") && listed_text.contains("Fabrikam"));
    assert!(!listed_text.contains("Contoso"), "{listed_text}");

    let mut daemon = Daemon::start(dir.path(), &[], &[]);
    tokio::time::sleep(Duration::from_secs(9)).await;
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
    let log = format!("{}\nemulator:\n{}", daemon.log(), emulate.log());

    let url = format!("sqlite://{}", dir.path().join("huntd.db").display());
    let store = store::open(&url).await.expect("open store");
    let runs_on = |instance: &str, status: RunStatus| {
        let store = std::sync::Arc::clone(&store);
        let filter = HistoryFilter {
            job: Some("logons".to_string()),
            instance: Some(instance.to_string()),
            status: Some(status),
            ..HistoryFilter::default()
        };
        async move { store.history(&filter).await.expect("history").len() }
    };
    // Broken's runs fail on every slot, while the two good tenants' runs succeed on theirs.
    let broken_failed = runs_on("Broken", RunStatus::Failed).await;
    assert!(broken_failed >= 2, "{log}");
    assert_eq!(runs_on("Broken", RunStatus::Succeeded).await, 0);
    for good in ["Contoso", "Fabrikam"] {
        let succeeded = runs_on(good, RunStatus::Succeeded).await;
        assert!(succeeded >= 3, "{good} succeeded {succeeded} times:\n{log}");
        assert_eq!(runs_on(good, RunStatus::Failed).await, 0, "{log}");
        let findings = store
            .findings("logons", Some(good), None)
            .await
            .expect("findings");
        assert!(!findings.is_empty(), "{good} has findings");
        assert!(findings.iter().all(|f| f.instance == good));
    }
    store.close().await;

    // `huntd status` has a row per stream, each with its own last run.
    let status = huntd(dir.path(), &["status", "--format", "json"]).await;
    assert!(status.status.success(), "{}", text(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let streams: Vec<(String, String)> = status["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            let last = j["last_run"]["status"]
                .as_str()
                .unwrap_or("none")
                .to_string();
            (j["instance"].as_str().unwrap_or_default().to_string(), last)
        })
        .collect();
    assert_eq!(
        streams,
        [
            ("Broken".to_string(), "failed".to_string()),
            ("Contoso".to_string(), "succeeded".to_string()),
            ("Fabrikam".to_string(), "succeeded".to_string()),
        ]
    );

    let history = huntd(dir.path(), &["history", "logons", "--instance", "Fabrikam"]).await;
    let history_text = String::from_utf8_lossy(&history.stdout).to_string();
    assert!(history.status.success(), "{}", text(&history));
    assert!(history_text.contains("Fabrikam"), "{history_text}");
    assert!(!history_text.contains("Contoso") && !history_text.contains("Broken"));

    once_hunts_each_instance_or_the_one_named(dir.path()).await;
}

/// `once` without `--instance` runs each instance and says how each went; with it, one.
async fn once_hunts_each_instance_or_the_one_named(dir: &Path) {
    // `once` without --instance runs each instance and says how each went.
    let once = huntd(dir, &["once", "logons", "--start", "1h"]).await;
    let once_text = text(&once);
    assert_eq!(once.status.code(), Some(3), "{once_text}");
    for instance in ["Broken", "Contoso", "Fabrikam"] {
        assert!(
            once_text.contains(&format!("== instance {instance}")),
            "{once_text}"
        );
    }
    assert!(
        once_text.contains("2 of 3 instances hunted, 1 failed"),
        "{once_text}"
    );
    let one = huntd(
        dir,
        &["once", "logons", "--start", "1h", "--instance", "Contoso"],
    )
    .await;
    assert!(one.status.success(), "{}", text(&one));
    let wrong = huntd(dir, &["once", "logons", "--instance", "Nowhere"]).await;
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("hunts Broken, Contoso, Fabrikam, not `Nowhere`"));
}
