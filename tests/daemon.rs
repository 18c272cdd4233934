//! `huntd run` as a real process: a loopback fake of Entra ID and Graph, a real SQLite file,
//! real signals.

#[path = "common/process.rs"]
mod common;

use std::fmt::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Daemon, coverage_gaps};
use huntd::jobs::template::kql_datetime;
use huntd::store::{self, HistoryFilter, RunRecord, RunStatus, Store};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers each hunt with one row naming the query's window, after `delay_ms`; the next
/// `throttle` hunts get a 429 with `Retry-After: 1` instead.
#[derive(Debug, Clone, Default)]
struct Hunts {
    delay_ms: Arc<AtomicU64>,
    throttle: Arc<AtomicU64>,
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
struct Fake {
    server: MockServer,
    hunts: Hunts,
}

impl Fake {
    async fn start() -> Self {
        let server = MockServer::start().await;
        let hunts = Hunts::default();
        Mock::given(method("POST"))
            .and(path_regex(r"^/[^/]+/oauth2/v2\.0/token$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "token_type": "Bearer", "expires_in": 3600, "access_token": "fake-token"
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1.0/security/runHuntingQuery"))
            .respond_with(hunts.clone())
            .mount(&server)
            .await;
        Self { server, hunts }
    }

    fn slow(&self, slow: bool) {
        self.delay(Duration::from_secs(if slow { 120 } else { 0 }));
    }

    fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.hunts.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The query text of every hunt call received.
    async fn hunt_queries(&self) -> Vec<String> {
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

    async fn hunt_calls(&self) -> usize {
        self.hunt_queries().await.len()
    }
}

fn job_yaml(name: &str) -> String {
    format!(
        "name: {name}\ninstance: Fake\nenvironment: M365DGraph\nschedule: '*/2 * * * * *'\n\
         query: \"{}\"\n",
        query_template(name)
    )
}

/// The KQL template of job `name`: the name is in it, so the fake can tell jobs apart.
fn query_template(name: &str) -> String {
    format!("print job = '{name}', start = datetime({{start}}), end = datetime({{end}})")
}

/// The query `name` sends for a window.
fn rendered(name: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    query_template(name)
        .replace("{start}", &kql_datetime(start))
        .replace("{end}", &kql_datetime(end))
}

/// A config directory with one job, `probe`, on a SQLite file.
fn setup(fake: &Fake) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}", dir.path().join("huntd.db").display());
    write_config(
        fake,
        dir.path(),
        &database,
        "node: test-node\n  shutdown_grace: 1s",
    );
    std::fs::write(dir.path().join("jobs/probe.yaml"), job_yaml("probe")).expect("write job");
    dir
}

/// Writes `huntd.yaml` with the fake instance and `daemon:` settings, and an empty `jobs/`.
fn write_config(fake: &Fake, dir: &Path, database: &str, daemon: &str) {
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

/// The secret the fake instance's `ClientSecret` reads from the environment.
const SECRET_ENV: (&str, &str) = ("HUNTD_TEST_SECRET", "not-a-real-secret");

/// Starts `huntd run` on the config in `dir`.
fn start_daemon(dir: &Path) -> Daemon {
    start_daemon_with(dir, &[], &[])
}

/// Starts `huntd run` on the config in `dir` with `args` and `env` added.
fn start_daemon_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
    Daemon::start(dir, args, &[&[SECRET_ENV], env].concat())
}

async fn store(dir: &Path) -> Arc<dyn Store> {
    store::open(&format!("sqlite://{}", dir.join("huntd.db").display()))
        .await
        .expect("store opens")
}

async fn runs(store: &Arc<dyn Store>, job: &str) -> Vec<RunRecord> {
    store
        .history(&HistoryFilter {
            job: Some(job.into()),
            ..HistoryFilter::default()
        })
        .await
        .unwrap_or_default()
}

/// Polls until `check` holds, for at most a minute.
async fn wait_until<F, Fut>(what: &str, daemon: &Daemon, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_until_for(what, daemon, Duration::from_secs(60), check).await;
}

/// Polls until `check` holds, for at most `limit`.
async fn wait_until_for<F, Fut>(what: &str, daemon: &Daemon, limit: Duration, mut check: F)
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
async fn ended(store: &Arc<dyn Store>, job: &str, status: RunStatus) -> usize {
    runs(store, job)
        .await
        .iter()
        .filter(|r| r.status == status)
        .count()
}

async fn succeeded(store: &Arc<dyn Store>, job: &str) -> usize {
    ended(store, job, RunStatus::Succeeded).await
}

async fn failed(store: &Arc<dyn Store>, job: &str) -> usize {
    ended(store, job, RunStatus::Failed).await
}

/// Binds `<dir>/notify.sock` for huntd's systemd notifications, reads giving up after
/// `timeout`; returns it and the `NOTIFY_SOCKET` value naming it.
fn notify_socket(dir: &Path, timeout: Duration) -> (UnixDatagram, String) {
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    socket.set_read_timeout(Some(timeout)).expect("timeout");
    (socket, path.to_str().expect("utf-8 path").to_string())
}

/// The next notification huntd sends.
fn receive(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notification from huntd");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Receives notifications until one contains `needle`, and returns that one.
fn receive_until(socket: &UnixDatagram, needle: &str) -> String {
    loop {
        let message = receive(socket);
        if message.contains(needle) {
            return message;
        }
    }
}

/// Starts a daemon on the config in `dir` and waits for `probe`'s first success.
async fn start_after_a_first_success(dir: &Path, store: &Arc<dyn Store>) -> Daemon {
    let daemon = start_daemon(dir);
    wait_until("a first success", &daemon, || async {
        succeeded(store, "probe").await >= 1
    })
    .await;
    daemon
}

/// Starts a daemon, lets `probe` succeed once, then leaves a hunt hanging in flight.
async fn start_then_hang(fake: &Fake, dir: &Path, store: &Arc<dyn Store>) -> Daemon {
    let daemon = start_after_a_first_success(dir, store).await;
    fake.slow(true);
    let calls = fake.hunt_calls().await;
    wait_until("a hunt in flight", &daemon, || async {
        fake.hunt_calls().await > calls
    })
    .await;
    daemon
}

/// After a restart with a fast API: the stopped run's window ends up inside a success, every
/// window is hunted exactly once (one finding per window) and no coverage gap remains.
async fn assert_rehunted(fake: &Fake, dir: &Path, store: &Arc<dyn Store>, stopped: &RunRecord) {
    fake.slow(false);
    let mut daemon = start_daemon(dir);
    wait_until("the stopped window hunted again", &daemon, || async {
        runs(store, "probe").await.iter().any(|r| {
            r.status == RunStatus::Succeeded
                && r.window_start <= stopped.window_start
                && r.window_end >= stopped.window_end
        })
    })
    .await;
    let before = succeeded(store, "probe").await;
    wait_until("two more successes", &daemon, || async {
        succeeded(store, "probe").await >= before + 2
    })
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());

    let all = runs(store, "probe").await;
    let wins = all
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .count();
    let findings = store.findings("probe", None).await.expect("findings");
    assert_eq!(findings.len(), wins, "one finding per succeeded window");
    assert!(
        findings.iter().all(|f| f.times_seen == 1),
        "no window was committed twice"
    );
    assert_eq!(coverage_gaps(dir).await, 0, "runs: {all:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_hunt_marks_the_run_interrupted_exits_zero_and_the_window_is_hunted_after_restart()
 {
    let fake = Fake::start().await;
    let dir = setup(&fake);
    let store = store(dir.path()).await;
    let mut daemon = start_then_hang(&fake, dir.path(), &store).await;

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
    let all = runs(&store, "probe").await;
    let interrupted: Vec<&RunRecord> = all
        .iter()
        .filter(|r| r.status == RunStatus::Interrupted)
        .collect();
    assert_eq!(interrupted.len(), 1, "runs: {all:#?}");
    assert!(all.iter().all(|r| r.status != RunStatus::Running));
    let stopped = interrupted[0].clone();

    assert_rehunted(&fake, dir.path(), &store, &stopped).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_hunt_then_restart_rehunts_the_window_without_duplicate_findings() {
    let fake = Fake::start().await;
    let dir = setup(&fake);
    let store = store(dir.path()).await;
    let mut daemon = start_then_hang(&fake, dir.path(), &store).await;

    daemon.signal("KILL");
    assert_eq!(daemon.exit_code().await, None, "killed by a signal");
    let all = runs(&store, "probe").await;
    let running: Vec<&RunRecord> = all
        .iter()
        .filter(|r| r.status == RunStatus::Running)
        .collect();
    assert_eq!(running.len(), 1, "the killed run is left running: {all:#?}");
    let stopped = running[0].clone();

    assert_rehunted(&fake, dir.path(), &store, &stopped).await;
    let rerun = runs(&store, "probe")
        .await
        .into_iter()
        .find(|r| r.id == stopped.id)
        .expect("the killed run's row remains");
    assert_eq!(rerun.status, RunStatus::Succeeded, "{rerun:#?}");
    assert_eq!(rerun.attempt, 2, "re-run as a second attempt");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_with_a_broken_job_file_keeps_the_old_jobs_running() {
    let fake = Fake::start().await;
    let dir = setup(&fake);
    let store = store(dir.path()).await;
    let mut daemon = start_after_a_first_success(dir.path(), &store).await;

    std::fs::write(
        dir.path().join("jobs/broken.yaml"),
        "name: broken\ninstance: Nowhere\nshedule: x\n",
    )
    .expect("write job");
    daemon.signal("HUP");
    wait_until("the reload rejected", &daemon, || async {
        daemon.log().contains("reload rejected")
    })
    .await;
    assert!(
        daemon.log().contains("unknown key `shedule`"),
        "{}",
        daemon.log()
    );
    let before = succeeded(&store, "probe").await;
    wait_until("the old job running on", &daemon, || async {
        succeeded(&store, "probe").await >= before + 2
    })
    .await;
    assert!(runs(&store, "broken").await.is_empty());

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_with_a_new_job_starts_it_and_keeps_the_old_one() {
    let fake = Fake::start().await;
    let dir = setup(&fake);
    let store = store(dir.path()).await;
    let mut daemon = start_after_a_first_success(dir.path(), &store).await;

    std::fs::write(dir.path().join("jobs/second.yaml"), job_yaml("second")).expect("write job");
    daemon.signal("HUP");
    wait_until("the new job's first success", &daemon, || async {
        succeeded(&store, "second").await >= 1
    })
    .await;
    let before = succeeded(&store, "probe").await;
    wait_until("the old job running on", &daemon, || async {
        succeeded(&store, "probe").await > before
    })
    .await;

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}

/// A fresh PostgreSQL database for one test, dropped at the end; `None` (with a notice) when
/// no server is configured.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("HUNTD_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("HUNTD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "HUNTD_REQUIRE_POSTGRES=1 but HUNTD_TEST_POSTGRES_URL is unset"
            );
            eprintln!("notice: HUNTD_TEST_POSTGRES_URL is unset; skipping the PostgreSQL test");
            return None;
        };
        let name = format!("huntd_test_{}", uuid::Uuid::new_v4().simple());
        Self::admin(&admin_url, &format!("create database {name}")).await;
        let root = &admin_url[..admin_url.rfind('/').expect("URL has a path")];
        let url = format!("{root}/{name}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    async fn admin(url: &str, sql: &str) {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(url)
            .await
            .expect("connect to HUNTD_TEST_POSTGRES_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut admin)
            .await
            .expect("admin statement");
    }

    async fn drop_database(self) {
        Self::admin(
            &self.admin_url,
            &format!("drop database if exists {} with (force)", self.name),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_on_postgres_run_every_slot_once_and_take_over_a_killed_nodes_runs() {
    const JOBS: usize = 50;
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let fake = Fake::start().await;
    fake.delay(Duration::from_millis(300));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes = Vec::new();
    for n in 0..3 {
        let node_dir = dir.path().join(format!("node{n}"));
        write_config(
            &fake,
            &node_dir,
            &db.url,
            &format!("node: node-{n}\n  shutdown_grace: 10s\n  max_concurrent_runs: 32"),
        );
        for j in 0..JOBS {
            let name = format!("job-{j:02}");
            std::fs::write(node_dir.join(format!("jobs/{name}.yaml")), job_yaml(&name))
                .expect("write job");
        }
        nodes.push((node_dir, None::<Daemon>));
    }
    for (node_dir, daemon) in &mut nodes {
        *daemon = Some(start_daemon_with(node_dir, &["--lease-secs", "3"], &[]));
    }
    let store = store::open(&db.url).await.expect("store opens");
    let first = nodes[0].1.as_ref().expect("started");

    // Let every node win some slots, then kill node 0 while it has hunts in flight.
    wait_until("several slots of every job", first, || async {
        succeeded_all(&store).await >= JOBS * 4
    })
    .await;
    wait_until("node-0 with a hunt in flight", first, || async {
        runs_all(&store)
            .await
            .iter()
            .any(|r| r.node == "node-0" && r.status == RunStatus::Running)
    })
    .await;
    first.signal("KILL");
    let mut killed = nodes[0].1.take().expect("started");
    assert_eq!(killed.exit_code().await, None);
    let orphans: Vec<RunRecord> = runs_all(&store)
        .await
        .into_iter()
        .filter(|r| r.node == "node-0" && r.status == RunStatus::Running)
        .collect();
    assert!(!orphans.is_empty(), "node-0 died with runs in flight");

    let survivor = nodes[1].1.as_ref().expect("started");
    wait_until(
        "the orphaned runs taken over and finished",
        survivor,
        || async {
            let all = runs_all(&store).await;
            orphans.iter().all(|o| {
                all.iter()
                    .any(|r| r.id == o.id && r.status == RunStatus::Succeeded && r.attempt >= 2)
            })
        },
    )
    .await;
    // About 30 s of slots in all: 50 jobs every 2 s make 25 slots a second.
    wait_until("the two survivors running on", survivor, || async {
        succeeded_all(&store).await >= JOBS * 15
    })
    .await;
    for (_, daemon) in &mut nodes {
        if let Some(daemon) = daemon {
            daemon.signal("TERM");
            assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
        }
    }

    let all = runs_all(&store).await;
    assert!(all.len() >= JOBS * 15, "{} runs", all.len());
    let not_succeeded: Vec<&RunRecord> = all
        .iter()
        .filter(|r| r.status != RunStatus::Succeeded)
        .collect();
    assert!(not_succeeded.is_empty(), "{not_succeeded:#?}");
    let queries = fake.hunt_queries().await;
    let mut calls: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for q in &queries {
        *calls.entry(q.as_str()).or_default() += 1;
    }
    for run in &all {
        let query = rendered(&run.job, run.window_start, run.window_end);
        let seen = calls.remove(query.as_str()).unwrap_or(0);
        let allowed = usize::try_from(run.attempt).expect("attempt is positive");
        assert!(
            (1..=allowed).contains(&seen),
            "run {} of {} (attempt {}) was hunted {seen} times",
            run.id,
            run.job,
            run.attempt
        );
        if run.attempt == 1 {
            assert_eq!(seen, 1, "slot {} of {} hunted once", run.slot_at, run.job);
        }
    }
    assert!(calls.is_empty(), "hunts no run accounts for: {calls:#?}");

    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
    let gaps: i64 = sqlx::query_scalar(r"select count(*) from hunt_coverage_gaps")
        .fetch_one(&pool)
        .await
        .expect("view answers");
    pool.close().await;
    store.close().await;
    drop(nodes);
    db.drop_database().await;
    assert_eq!(gaps, 0);
}

async fn runs_all(store: &Arc<dyn Store>) -> Vec<RunRecord> {
    store
        .history(&HistoryFilter::default())
        .await
        .unwrap_or_default()
}

async fn succeeded_all(store: &Arc<dyn Store>) -> usize {
    runs_all(store)
        .await
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_hears_ready_watchdog_and_stopping_and_metrics_and_healthz_answer() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let database = format!("sqlite://{}", dir.path().join("huntd.db").display());
    write_config(
        &fake,
        dir.path(),
        &database,
        &format!("node: test-node\n  metrics_listen: 127.0.0.1:{port}"),
    );
    std::fs::write(dir.path().join("jobs/probe.yaml"), job_yaml("probe")).expect("write job");
    let (socket, notify) = notify_socket(dir.path(), Duration::from_secs(30));
    let mut daemon = start_daemon_with(
        dir.path(),
        &[],
        &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "1000000")],
    );
    let first = receive(&socket);
    assert_eq!(
        first,
        "READY=1\nSTATUS=1 jobs, 0 running",
        "{}",
        daemon.log()
    );
    let mut seen = Vec::new();
    while !seen.iter().any(|m| m == "WATCHDOG=1") {
        seen.push(receive(&socket));
    }

    let store = store(dir.path()).await;
    wait_until("a success", &daemon, || async {
        succeeded(&store, "probe").await >= 1
    })
    .await;
    // One 429 then 200: both answers are counted, and the Retry-After sleep is a throttle wait.
    fake.hunts.throttle.store(1, Ordering::SeqCst);
    let before = succeeded(&store, "probe").await;
    wait_until("a success after a 429", &daemon, || async {
        fake.hunts.throttle.load(Ordering::SeqCst) == 0
            && succeeded(&store, "probe").await > before + 1
    })
    .await;
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(health.status().as_u16(), 200);
    let metrics = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics answers")
        .text()
        .await
        .expect("metrics text");
    for needle in [
        r#"huntd_runs_total{job="probe",status="succeeded"}"#,
        "huntd_run_duration_seconds_bucket",
        r#"huntd_coverage_lag_seconds{job="probe"}"#,
    ] {
        assert!(metrics.contains(needle), "{needle} in:\n{metrics}");
    }
    let count = |series: &str| sample(&metrics, series).parse::<u64>().unwrap_or(0);
    let runs = count(r#"huntd_runs_total{job="probe",status="succeeded"}"#);
    assert!(runs >= 2, "{metrics}");
    assert_eq!(
        count(r#"huntd_api_calls_total{instance="Fake",http_status="429"}"#),
        1,
        "one call per 429 answer:\n{metrics}"
    );
    assert!(
        count(r#"huntd_api_calls_total{instance="Fake",http_status="200"}"#) >= runs,
        "one call per 200 answer, at least one per succeeded run:\n{metrics}"
    );
    assert_eq!(
        count(r#"huntd_token_refreshes_total{instance="Fake",outcome="ok"}"#),
        1,
        "one token fetched, then served from the cache:\n{metrics}"
    );
    assert_eq!(
        count(r#"huntd_throttle_wait_seconds_count{instance="Fake",reason="retry_after"}"#),
        1,
        "{metrics}"
    );
    let waited: f64 = sample(
        &metrics,
        r#"huntd_throttle_wait_seconds_sum{instance="Fake",reason="retry_after"}"#,
    )
    .parse()
    .expect("a wait in seconds");
    assert!(
        (1.0..=2.0).contains(&waited),
        "slept at least Retry-After, at most the first backoff ceiling: {waited}"
    );

    daemon.signal("TERM");
    let mut stopping = false;
    while !stopping {
        stopping = receive(&socket) == "STOPPING=1";
    }
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}

/// The value of one series in a Prometheus text exposition; empty when it is absent.
fn sample<'a>(text: &'a str, series: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or("", str::trim)
}

/// Resident and peak memory (kB) and CPU ticks (user + system) of a process.
fn process_figures(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    (kb("VmRSS:"), kb("VmHWM:"), ticks)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

#[allow(clippy::cast_precision_loss)]
/// Benchmark: 10,000 jobs on one node (SQLite) against the fake API, all firing at one slot
/// about 30 s after start with a 5-minute splay (33 runs/s). Prints start-up time to READY,
/// idle CPU and RSS before the slot, and slot lateness (claim time minus slot plus splay)
/// p50/p99 over the first minute of runs, counting runs due but not yet claimed.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
async fn bench_ten_thousand_jobs_on_one_node() {
    const JOBS: usize = 10_000;
    let splay = Duration::from_secs(300);
    let observe = chrono::TimeDelta::seconds(60);
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}", dir.path().join("huntd.db").display());
    write_config(
        &fake,
        dir.path(),
        &database,
        "node: bench\n  splay: 5m\n  max_concurrent_runs: 64\n  shutdown_grace: 5s",
    );
    // One daily slot, 30 s from now, so the daemon is idle until then.
    let slot = Utc::now() + chrono::TimeDelta::seconds(30);
    let slot = slot - chrono::TimeDelta::nanoseconds(i64::from(slot.timestamp_subsec_nanos()));
    let cron = slot.format("%S %M %H * * *").to_string();
    let mut jobs = String::from("jobs:\n");
    let mut names = Vec::with_capacity(JOBS);
    for j in 0..JOBS {
        let name = format!("job-{j:05}");
        writeln!(
            jobs,
            "  - name: {name}\n    instance: Fake\n    environment: M365DGraph\n    \
             schedule: '{cron}'\n    query: \"{}\"",
            query_template(&name)
        )
        .expect("writing to a String cannot fail");
        names.push(name);
    }
    std::fs::write(dir.path().join("jobs/all.yaml"), jobs).expect("write jobs");
    let (socket, notify) = notify_socket(dir.path(), Duration::from_secs(60));
    let started = std::time::Instant::now();
    let mut daemon = start_daemon_with(dir.path(), &[], &[("NOTIFY_SOCKET", &notify)]);
    receive_until(&socket, "READY=1");
    let ready = started.elapsed();
    let pid = daemon.pid();
    let idle_window = Duration::from_secs(5);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, _, ticks_before) = process_figures(pid);
    tokio::time::sleep(idle_window).await;
    let (idle_rss, _, ticks_after) = process_figures(pid);
    let idle_cpu = (ticks_after - ticks_before) as f64 / 100.0 / idle_window.as_secs_f64() * 100.0;
    assert!(
        Utc::now() < slot,
        "the idle measurement ended before the slot"
    );

    let cutoff = slot + observe;
    let wait = (cutoff - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(2);
    tokio::time::sleep(wait).await;
    let (_, peak_rss, _) = process_figures(pid);
    let store = store(dir.path()).await;
    let runs = runs_all(&store).await;
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());

    let due = |job: &str| {
        slot + chrono::TimeDelta::from_std(huntd::daemon::window::splay_offset(job, splay))
            .expect("splay fits")
    };
    let mut lateness: Vec<f64> = runs
        .iter()
        .filter(|r| r.attempt == 1 && due(&r.job) <= cutoff)
        .map(|r| (r.started_at - due(&r.job)).num_milliseconds() as f64 / 1000.0)
        .collect();
    let claimed: std::collections::HashSet<&str> = runs.iter().map(|r| r.job.as_str()).collect();
    let unclaimed = names
        .iter()
        .filter(|n| due(n) <= cutoff && !claimed.contains(n.as_str()))
        .count();
    lateness.sort_by(f64::total_cmp);
    println!("bench: {JOBS} jobs, one node, SQLite, fake API on loopback");
    println!("  start-up to READY: {:.3} s", ready.as_secs_f64());
    println!(
        "  idle before the slot: CPU {idle_cpu:.1} % of one core, RSS {:.1} MB",
        idle_rss as f64 / 1024.0
    );
    println!(
        "  peak RSS (VmHWM) after {} runs: {:.1} MB",
        runs.len(),
        peak_rss as f64 / 1024.0
    );
    println!(
        "  slot lateness over the first {} s ({} runs due, {unclaimed} not yet claimed): \
         p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        observe.num_seconds(),
        lateness.len() + unclaimed,
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness.last().copied().unwrap_or(f64::NAN)
    );
}

/// Starts a daemon on `probe` and `rejected`, a job the API rejects, that notifies a socket;
/// returns once `rejected` has failed three times.
async fn start_with_a_rejected_job(
    fake: &Fake,
) -> (tempfile::TempDir, Daemon, UnixDatagram, Arc<dyn Store>) {
    let dir = setup(fake);
    std::fs::write(dir.path().join("jobs/rejected.yaml"), job_yaml("rejected")).expect("write job");
    let (socket, notify) = notify_socket(dir.path(), Duration::from_secs(30));
    let daemon = start_daemon_with(
        dir.path(),
        &["--lease-secs", "3"],
        &[("NOTIFY_SOCKET", &notify)],
    );
    let store = store(dir.path()).await;
    wait_until("three rejected runs", &daemon, || async {
        failed(&store, "rejected").await >= 3
    })
    .await;
    (dir, daemon, socket, store)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_the_api_keeps_rejecting_backs_off_says_so_in_its_status_and_others_run_on() {
    let fake = Fake::start().await;
    let (_dir, mut daemon, socket, store) = start_with_a_rejected_job(&fake).await;
    let status = receive_until(&socket, "backing off");
    assert_eq!(
        status,
        "STATUS=2 jobs, 0 running, 1 backing off after repeated failures"
    );
    let probe_before = succeeded(&store, "probe").await;
    wait_until("the other job running on", &daemon, || async {
        succeeded(&store, "probe").await >= probe_before + 2
    })
    .await;
    // The first pause is a minute: the rejected job made no further call meanwhile.
    assert_eq!(failed(&store, "rejected").await, 3, "{}", daemon.log());
    let all = runs(&store, "rejected").await;
    assert!(
        all.iter()
            .all(|r| r.error_class.as_deref() == Some("query")),
        "{all:#?}"
    );
    assert!(daemon.log().contains("job backs off"), "{}", daemon.log());

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_keeps_an_unchanged_jobs_backoff_and_restarts_a_changed_job() {
    let fake = Fake::start().await;
    let (dir, mut daemon, socket, store) = start_with_a_rejected_job(&fake).await;
    let rejected = dir.path().join("jobs/rejected.yaml");
    wait_until("the rejected job backing off", &daemon, || async {
        daemon.log().contains("job backs off")
    })
    .await;

    // A new job: the rejected job's loop is unchanged and stays paused.
    std::fs::write(dir.path().join("jobs/second.yaml"), job_yaml("second")).expect("write job");
    daemon.signal("HUP");
    wait_until("the new job's first success", &daemon, || async {
        succeeded(&store, "second").await >= 1
    })
    .await;
    let status = receive_until(&socket, "3 jobs");
    assert!(status.contains("1 backing off"), "{status}");
    assert!(
        !daemon.log().contains("job changed"),
        "no job changed: {}",
        daemon.log()
    );
    // The first pause is a minute: the kept loop made no further call.
    assert_eq!(failed(&store, "rejected").await, 3, "{}", daemon.log());

    // The operator edits the rejected job: its loop restarts without the backoff.
    std::fs::write(
        &rejected,
        format!("{}description: edited\n", job_yaml("rejected")),
    )
    .expect("write job");
    daemon.signal("HUP");
    wait_until("the edited job run again", &daemon, || async {
        failed(&store, "rejected").await >= 4
    })
    .await;
    assert!(
        daemon.log().contains("job changed: its loop restarts"),
        "{}",
        daemon.log()
    );

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}
