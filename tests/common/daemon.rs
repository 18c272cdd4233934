//! Shared pieces of the `huntd run` tests: a loopback fake of Entra ID and Graph, config
//! directories for it, daemons started on them, and polls of what they stored and notified.
// Each test binary includes this file beside `common/process.rs` (as `mod common`) and uses only
// part of it.
#![allow(dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use huntd::jobs::template::kql_datetime;
use huntd::store::{self, HistoryFilter, RunRecord, RunStatus, Store};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use crate::common::Daemon;
use graph::fake_graph;

#[path = "graph.rs"]
mod graph;

/// Answers each hunt with one row naming the query's window, after `delay_ms`; the next
/// `throttle` hunts get a 429 with `Retry-After: 1` instead.
#[derive(Debug, Clone, Default)]
pub struct Hunts {
    /// How long each answer waits.
    pub delay_ms: Arc<AtomicU64>,
    /// How many of the next hunts get a 429.
    pub throttle: Arc<AtomicU64>,
}

impl Respond for Hunts {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let throttled = self
            .throttle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if throttled {
            return ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(serde_json::json!({
                    "error": {"code": "TooManyRequests", "message": "Too many requests"}
                }));
        }
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let query = body["Query"].as_str().unwrap_or_default().to_string();
        if query.contains("'rejected") {
            return ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": {"code": "BadRequest", "message": "Query could not be parsed"}
            }));
        }
        let answer = serde_json::json!({
            "schema": [{"name": "Query", "type": "String"}],
            "results": [{"Query": query}],
        });
        ResponseTemplate::new(200)
            .set_body_json(answer)
            .set_delay(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst)))
    }
}

/// The fake Entra ID and Graph API.
pub struct Fake {
    /// The loopback server.
    pub server: MockServer,
    /// What its hunting endpoint answers.
    pub hunts: Hunts,
}

impl Fake {
    pub async fn start() -> Self {
        let hunts = Hunts::default();
        let server = fake_graph(hunts.clone()).await;
        Self { server, hunts }
    }

    /// Makes every hunt take two minutes (or none).
    pub fn slow(&self, slow: bool) {
        self.delay(Duration::from_secs(if slow { 120 } else { 0 }));
    }

    /// Makes every hunt take `delay`.
    pub fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.hunts.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The query text of every hunt call received.
    pub async fn hunt_queries(&self) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().ends_with("runHuntingQuery"))
            .map(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                body["Query"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    }

    /// How many hunt calls arrived.
    pub async fn hunt_calls(&self) -> usize {
        self.hunt_queries().await.len()
    }
}

/// Job `name` on the fake instance, every two seconds.
pub fn job_yaml(name: &str) -> String {
    format!(
        "name: {name}\ninstance: Fake\nenvironment: M365DGraph\nschedule: '*/2 * * * * *'\n\
         query: \"{}\"\n",
        query_template(name)
    )
}

/// The KQL template of job `name`: the name is in it, so the fake can tell jobs apart.
pub fn query_template(name: &str) -> String {
    format!("print job = '{name}', start = datetime({{start}}), end = datetime({{end}})")
}

/// The query `name` sends for a window.
pub fn rendered(name: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    query_template(name)
        .replace("{start}", &kql_datetime(start))
        .replace("{end}", &kql_datetime(end))
}

/// A config directory with one job, `probe`, on a SQLite file.
pub fn setup(fake: &Fake) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        fake,
        dir.path(),
        &sqlite_url(dir.path()),
        "node: test-node\n  shutdown_grace: 1s",
    );
    std::fs::write(dir.path().join("jobs/probe.yaml"), job_yaml("probe")).expect("write job");
    dir
}

/// The URL of the SQLite file the tests keep in a config directory.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("huntd.db").display())
}

/// A temporary config directory from `write_config` for a daemon on SQLite in it.
pub fn sqlite_config_dir(fake: &Fake, daemon: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(fake, dir.path(), &sqlite_url(dir.path()), daemon);
    dir
}

/// Writes `huntd.yaml` with the fake instance and `daemon:` settings, and an empty `jobs/`.
pub fn write_config(fake: &Fake, dir: &Path, database: &str, daemon: &str) {
    std::fs::create_dir_all(dir.join("jobs")).expect("mkdir");
    let base = fake.server.uri();
    let config = format!(
        "database: {database}\njobs: [./jobs]\n\
         daemon:\n  {daemon}\n\
         instances:\n  Fake:\n    TenantId: 00000000-0000-0000-0000-000000000001\n\
         \x20   ClientId: 00000000-0000-0000-0000-000000000002\n\
         \x20   ClientSecret: {{EnvironmentVar: HUNTD_TEST_SECRET}}\n\
         \x20   Endpoints: {{login: '{base}', graph: '{base}', mde: '{base}', keyvault: '{base}'}}\n\
         \x20   Quota: {{per_minute: 100000}}\n",
    );
    std::fs::write(dir.join("huntd.yaml"), config).expect("write config");
}

/// Rewrites `huntd.yaml` in `dir` through `edit`.
pub fn edit_config(dir: &Path, edit: impl FnOnce(String) -> String) {
    let path = dir.join("huntd.yaml");
    let text = std::fs::read_to_string(&path).expect("read config");
    std::fs::write(&path, edit(text)).expect("write config");
}

/// The secret the fake instance's `ClientSecret` reads from the environment.
pub const SECRET_ENV: (&str, &str) = ("HUNTD_TEST_SECRET", "not-a-real-secret");

/// Starts `huntd run` on the config in `dir`.
pub fn start_daemon(dir: &Path) -> Daemon {
    start_daemon_with(dir, &[], &[])
}

/// Starts `huntd run` on the config in `dir` with `args` and `env` added.
pub fn start_daemon_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
    Daemon::start(dir, args, &[&[SECRET_ENV], env].concat())
}

/// The store on `dir`'s SQLite file.
pub async fn store(dir: &Path) -> Arc<dyn Store> {
    store::open(&sqlite_url(dir)).await.expect("store opens")
}

/// Every run of `job`, newest first; none while the database cannot answer.
pub async fn runs(store: &Arc<dyn Store>, job: &str) -> Vec<RunRecord> {
    store
        .history(&HistoryFilter {
            job: Some(job.into()),
            ..HistoryFilter::default()
        })
        .await
        .unwrap_or_default()
}

/// Polls until `check` holds, for at most a minute.
pub async fn wait_until<F, Fut>(what: &str, daemon: &Daemon, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_until_for(what, daemon, Duration::from_secs(60), check).await;
}

/// Polls until `check` holds, for at most `limit`.
pub async fn wait_until_for<F, Fut>(what: &str, daemon: &Daemon, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..limit.as_millis() / 100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}; log:\n{}", daemon.log());
}

/// How many runs of `job` ended with `status`.
pub async fn ended(store: &Arc<dyn Store>, job: &str, status: RunStatus) -> usize {
    runs(store, job)
        .await
        .iter()
        .filter(|r| r.status == status)
        .count()
}

/// How many runs of `job` succeeded.
pub async fn succeeded(store: &Arc<dyn Store>, job: &str) -> usize {
    ended(store, job, RunStatus::Succeeded).await
}

/// How many runs of `job` failed.
pub async fn failed(store: &Arc<dyn Store>, job: &str) -> usize {
    ended(store, job, RunStatus::Failed).await
}

/// Binds `<dir>/notify.sock` for huntd's systemd notifications, reads giving up after
/// `timeout`; returns it and the `NOTIFY_SOCKET` value naming it.
pub fn notify_socket(dir: &Path, timeout: Duration) -> (UnixDatagram, String) {
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    socket.set_read_timeout(Some(timeout)).expect("timeout");
    (socket, path.to_str().expect("utf-8 path").to_string())
}

/// The next notification huntd sends.
pub fn receive(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notification from huntd");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Receives notifications until one contains `needle`, and returns that one.
pub fn receive_until(socket: &UnixDatagram, needle: &str) -> String {
    loop {
        let message = receive(socket);
        if message.contains(needle) {
            return message;
        }
    }
}

/// Receives notifications until one is exactly `message`.
pub fn receive_exactly(socket: &UnixDatagram, message: &str) {
    while receive(socket) != message {}
}

/// Every run of every job, newest first.
pub async fn runs_all(store: &Arc<dyn Store>) -> Vec<RunRecord> {
    store
        .history(&HistoryFilter::default())
        .await
        .unwrap_or_default()
}

/// How many runs of any job succeeded.
pub async fn succeeded_all(store: &Arc<dyn Store>) -> usize {
    runs_all(store)
        .await
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .count()
}
