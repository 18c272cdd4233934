//! `huntd run` as a real process: a loopback fake of Entra ID and Graph, a real SQLite file,
//! real signals.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use huntd::store::{self, HistoryFilter, RunRecord, RunStatus, Store};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers each hunt with one row naming the query's window, after `delay_ms`.
#[derive(Debug, Clone, Default)]
struct Hunts {
    delay_ms: Arc<AtomicU64>,
}

impl Respond for Hunts {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let query = body["Query"].as_str().unwrap_or_default().to_string();
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
        let ms = if slow { 120_000 } else { 0 };
        self.hunts.delay_ms.store(ms, Ordering::SeqCst);
    }

    async fn hunt_calls(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().ends_with("runHuntingQuery"))
            .count()
    }
}

fn job_yaml(name: &str) -> String {
    format!(
        "name: {name}\ninstance: Fake\nenvironment: M365DGraph\nschedule: '*/2 * * * * *'\n\
         query: \"DeviceEvents | where Timestamp between (datetime({{start}}) .. datetime({{end}}))\"\n"
    )
}

/// A config directory with one job, `probe`.
fn setup(fake: &Fake) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("jobs")).expect("mkdir");
    let base = fake.server.uri();
    let config = format!(
        "database: sqlite://{db}\njobs: [./jobs]\n\
         daemon:\n  node: test-node\n  shutdown_grace: 1s\n\
         instances:\n  Fake:\n    TenantId: 00000000-0000-0000-0000-000000000001\n\
         \x20   ClientId: 00000000-0000-0000-0000-000000000002\n\
         \x20   ClientSecret: {{EnvironmentVar: HUNTD_TEST_SECRET}}\n\
         \x20   Endpoints: {{login: '{base}', graph: '{base}', mde: '{base}', keyvault: '{base}'}}\n",
        db = dir.path().join("huntd.db").display(),
    );
    std::fs::write(dir.path().join("huntd.yaml"), config).expect("write config");
    std::fs::write(dir.path().join("jobs/probe.yaml"), job_yaml("probe")).expect("write job");
    dir
}

/// A running `huntd run`, its log going to a file in the config directory.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(dir: &Path) -> Self {
        let log = dir.join(format!(
            "huntd-{}.log",
            std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos())
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_huntd"))
            .args(["run", "--config"])
            .arg(dir.join("huntd.yaml"))
            .env("HUNTD_TEST_SECRET", "not-a-real-secret")
            .env("HUNTD_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("huntd starts");
        Self { child, log }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -s {name}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit and returns its exit code.
    async fn exit_code(&mut self) -> Option<i32> {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("huntd did not exit; log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
async fn wait_until<F, Fut>(what: &str, daemon: &Daemon, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}; log:\n{}", daemon.log());
}

async fn succeeded(store: &Arc<dyn Store>, job: &str) -> usize {
    runs(store, job)
        .await
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .count()
}

async fn coverage_gaps(dir: &Path) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("huntd.db").display()))
        .await
        .expect("sqlite opens");
    let n = sqlx::query_scalar(r"select count(*) from hunt_coverage_gaps")
        .fetch_one(&pool)
        .await
        .expect("view answers");
    pool.close().await;
    n
}

/// Starts a daemon, lets `probe` succeed once, then leaves a hunt hanging in flight.
async fn start_then_hang(fake: &Fake, dir: &Path, store: &Arc<dyn Store>) -> Daemon {
    let daemon = Daemon::start(dir);
    wait_until("a first success", &daemon, || async {
        succeeded(store, "probe").await >= 1
    })
    .await;
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
    let mut daemon = Daemon::start(dir);
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
    let mut daemon = Daemon::start(dir.path());
    wait_until("a first success", &daemon, || async {
        succeeded(&store, "probe").await >= 1
    })
    .await;

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
    let mut daemon = Daemon::start(dir.path());
    wait_until("a first success", &daemon, || async {
        succeeded(&store, "probe").await >= 1
    })
    .await;

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
