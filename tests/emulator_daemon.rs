//! End to end: a real `huntd run` against a real `huntd emulate` whose tokens expire every few
//! seconds, with a Graph job and an MDE job on 2-second cron schedules into SQLite.

#[path = "common/process.rs"]
mod common;

use std::path::Path;
use std::time::Duration;

use common::{Daemon, Emulate, WINDOW_LOGONS, coverage_gaps, two_second_jobs, write_config_dir};
use huntd::emulator::{DEMO_APP, DEMO_SECRET, DEMO_TENANT};
use huntd::store::{self, HistoryFilter, RunStatus};
use serde_json::Value;

/// Token lifetime the emulator hands out, in seconds: several expire during the test.
const TOKEN_TTL: &str = "3";

/// How long the daemon runs before SIGTERM.
const RUN_FOR: Duration = Duration::from_secs(15);

/// Two instances signing in to the emulator with the demo app, like `huntd demo` writes them:
/// Contoso for the Graph job, Fabrikam (an `eu` cloud instance) for the MDE job. A job every
/// 2 s needs more MDE calls an hour than the quota allows; the test runs for seconds, so
/// the instances allow the overcommit.
fn write_setup(dir: &Path, base: &str) {
    let instance = |cloud: &str| {
        format!(
            "    TenantId: {DEMO_TENANT}\n    ClientId: {DEMO_APP}\n    ClientSecret: {{File: ./secret}}\n\
             \x20   Cloud: {cloud}\n    Endpoints: {{login: '{base}', graph: '{base}', mde: '{base}'}}\n\
             \x20   AllowOvercommit: true\n"
        )
    };
    let config = format!(
        "database: sqlite://{db}\njobs: [./jobs]\n\
         daemon: {{state_dir: {state}, shutdown_grace: 30s}}\n\
         instances:\n  Contoso:\n{graph}  Fabrikam:\n{mde}",
        db = dir.join("huntd.db").display(),
        state = dir.display(),
        graph = instance("global"),
        mde = instance("eu"),
    );
    let jobs = two_second_jobs(&[
        ("graph-logons", "Contoso", "M365DGraph", WINDOW_LOGONS),
        (
            "mde-processes",
            "Fabrikam",
            "MDE",
            "DeviceProcessEvents | where Timestamp between (datetime({start}) .. datetime({end})) \
             | take 5",
        ),
    ]);
    write_config_dir(dir, DEMO_SECRET, &config, &jobs);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_hunts_both_apis_through_expiring_tokens_with_every_run_succeeding_and_no_gaps()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let requests = dir.path().join("requests.jsonl");
    let emulate = Emulate::start(
        dir.path(),
        &[
            "--token-ttl",
            TOKEN_TTL,
            "--rows-per-table",
            "500",
            "--request-log",
            requests.to_str().expect("UTF-8 path"),
        ],
    )
    .await;
    write_setup(dir.path(), &emulate.base_url);

    let mut daemon = Daemon::start(dir.path(), &[], &[]);
    tokio::time::sleep(RUN_FOR).await;
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
    let log = format!(
        "daemon log:\n{}\nemulator log:\n{}",
        daemon.log(),
        emulate.log()
    );

    let store = store::open(&format!(
        "sqlite://{}",
        dir.path().join("huntd.db").display()
    ))
    .await
    .expect("store opens");
    for job in ["graph-logons", "mde-processes"] {
        let runs = store
            .history(&HistoryFilter {
                job: Some(job.into()),
                ..HistoryFilter::default()
            })
            .await
            .expect("history");
        assert!(runs.len() >= 3, "{job} ran a few times: {runs:#?}\n{log}");
        assert!(
            runs.iter().all(|r| r.status == RunStatus::Succeeded),
            "every {job} run succeeded: {runs:#?}\n{log}"
        );
    }
    store.close().await;
    assert_eq!(coverage_gaps(dir.path()).await, 0, "{log}");

    let entries: Vec<Value> = std::fs::read_to_string(&requests)
        .expect("request log")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect();
    let path = |e: &Value| e["path"].as_str().unwrap_or_default().to_owned();
    let status = |e: &Value| e["status"].as_u64().unwrap_or_default();
    let tokens = entries
        .iter()
        .filter(|e| path(e).ends_with("/oauth2/v2.0/token") && status(e) == 200)
        .count();
    assert!(
        tokens >= 4,
        "tokens were fetched again as they expired: {tokens} token answers\n{log}"
    );
    for (i, entry) in entries.iter().enumerate() {
        if path(entry).ends_with("/oauth2/v2.0/token") {
            assert_eq!(status(entry), 200, "{entry}\n{log}");
            continue;
        }
        match status(entry) {
            200 => {}
            401 => assert!(
                entries[i + 1..]
                    .iter()
                    .any(|later| path(later) == path(entry) && status(later) == 200),
                "a 401 on {} was followed by a success: {entry}\n{log}",
                path(entry)
            ),
            other => panic!("unexpected status {other}: {entry}\n{log}"),
        }
    }
    let api_calls = entries
        .iter()
        .filter(|e| !path(e).ends_with("/oauth2/v2.0/token"))
        .count();
    eprintln!(
        "{api_calls} API calls, {tokens} token answers, {} requests in all",
        entries.len()
    );
}
