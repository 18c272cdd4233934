//! A store that stops taking writes mid-run (issue 13): a SQLite file on a full disk, a
//! PostgreSQL server that drops off the network. A run whose commit fails is recorded
//! `failed` (class `store`) once the database takes writes again, and the next runs succeed.

#[path = "common/hunt.rs"]
mod common;
#[path = "common/graph.rs"]
mod graph;
#[path = "common/postgres.rs"]
mod scratch;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use graph::fake_graph;
use huntd::daemon::Outcome;
use huntd::daemon::context::{Context, JobSpec};
use huntd::daemon::window::PlannedRun;
use huntd::daemon::worker;
use huntd::diagnostic::Diagnostics;
use huntd::hunt::Hunter;
use huntd::store::{self, HistoryFilter, JobRecord, RunRecord, RunStatus, Store};

/// How long any one step may take; a store stuck on a lock waits 30 s, so this fails first.
const STEP: Duration = Duration::from_secs(15);

/// Answers each hunt with `rows` rows of about a kilobyte each, after `delay`.
#[derive(Clone, Default)]
struct Answers {
    rows: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicUsize>,
}

impl Respond for Answers {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let query = body["Query"].as_str().unwrap_or_default().to_string();
        let filler = "x".repeat(1000);
        let results: Vec<serde_json::Value> = (0..self.rows.load(Ordering::SeqCst).max(1))
            .map(|n| serde_json::json!({"Query": query, "N": n, "Filler": filler}))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({
                "schema": [
                    {"name": "Query", "type": "String"},
                    {"name": "N", "type": "Int32"},
                    {"name": "Filler", "type": "String"},
                ],
                "results": results,
            }))
            .set_delay(Duration::from_millis(
                self.delay_ms.load(Ordering::SeqCst) as u64
            ))
    }
}

/// A fake Graph API and one job, `probe`, registered in `store`, with a context to run it.
struct Harness {
    _server: MockServer,
    answers: Answers,
    ctx: Arc<Context>,
    specs: Vec<Arc<JobSpec>>,
    records: Vec<JobRecord>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A harness hunting `jobs` jobs; a job runs one window at a time, so runs meant to be in
    /// flight together belong to different jobs.
    async fn new(store: Arc<dyn Store>, jobs: usize) -> Self {
        let answers = Answers::default();
        let server = fake_graph(answers.clone()).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let instance = Arc::new(common::instance("Fake", &server.uri()));
        let mut specs = Vec::new();
        let mut records = Vec::new();
        for n in 0..jobs {
            let file = dir.path().join(format!("probe{n}.yaml"));
            std::fs::write(
                &file,
                format!(
                    "name: probe{n}\ninstance: Fake\nenvironment: M365DGraph\nevery: 1m\n\
                     query: \"print start = datetime({{start}}), end = datetime({{end}})\"\n"
                ),
            )
            .expect("write job");
            let mut diags = Diagnostics::new();
            let instances = huntd::jobs::InstanceTags::from([("Fake".to_string(), Vec::new())]);
            let job = huntd::jobs::load(
                &[file],
                &huntd::jobs::Library::default(),
                &instances,
                &mut diags,
            )
            .pop()
            .expect("one job");
            assert!(!diags.has_errors(), "{diags:?}");
            let (spec, record) = JobSpec::new(job, Arc::clone(&instance), Duration::ZERO);
            store.upsert_job(&record).await.expect("register the job");
            specs.push(Arc::new(spec));
            records.push(record);
        }
        let hunter = Hunter::new(
            Arc::new(common::FakeTokens::default()),
            common::fast_options(),
        );
        let ctx = Context::new(
            store,
            hunter,
            "outage-node".into(),
            8,
            Duration::from_secs(60),
            CancellationToken::new(),
        );
        Self {
            _server: server,
            answers,
            ctx: Arc::new(ctx),
            specs,
            records,
            _dir: dir,
        }
    }

    /// Runs the `n`th minute-long window of job `n` modulo the jobs to its end, in the
    /// background.
    fn run(&self, n: i64) -> JoinHandle<Outcome> {
        let base = DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
            .expect("test time parses")
            .with_timezone(&Utc);
        let start = base + TimeDelta::minutes(n);
        let planned = PlannedRun {
            slot_at: start + TimeDelta::minutes(1),
            start,
            end: start + TimeDelta::minutes(1),
        };
        let ctx = Arc::clone(&self.ctx);
        let index = usize::try_from(n).expect("a small run number") % self.specs.len();
        let spec = Arc::clone(&self.specs[index]);
        tokio::spawn(async move {
            worker::claim_and_run(&ctx, &spec, planned, &CancellationToken::new()).await
        })
    }

    async fn runs(&self) -> Vec<RunRecord> {
        self.ctx
            .store
            .history(&HistoryFilter::default())
            .await
            .expect("history reads")
    }
}

async fn finish(run: JoinHandle<Outcome>) -> Outcome {
    tokio::time::timeout(STEP, run)
        .await
        .expect("the run ends in time")
        .expect("the run does not panic")
}

fn failed_outcome() -> Outcome {
    Outcome::Failed {
        non_retryable: false,
    }
}

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, or `None` (after a notice) where mounting is not permitted outside CI.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        if status.is_ok_and(|s| s.success()) {
            return Some(Self { dir });
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot mount a tmpfs under CI; the full-disk test needs root"
        );
        eprintln!("notice: cannot mount a tmpfs (not root?); skipping the full-disk test");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the filesystem under `dir` with a ballast file until it is full.
fn fill(dir: &Path) -> PathBuf {
    let ballast = dir.join("ballast");
    let mut file = std::fs::File::create(&ballast).expect("create ballast");
    for chunk in [64 * 1024, 4096, 512, 1] {
        let bytes = vec![0u8; chunk];
        while file.write_all(&bytes).and_then(|()| file.flush()).is_ok() {}
    }
    ballast
}

/// Each run's status and error class, for assertion messages.
fn statuses(runs: &[RunRecord]) -> Vec<(RunStatus, Option<&str>)> {
    runs.iter()
        .map(|r| (r.status, r.error_class.as_deref()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_run_as_store_and_the_next_runs_succeed_once_space_is_free() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let url = format!("sqlite://{}", disk.path().join("huntd.db").display());
    let store = store::open(&url).await.expect("open the store");
    let harness = Harness::new(store, 1).await;
    assert_eq!(finish(harness.run(0)).await, Outcome::Succeeded);

    // The disk fills while the run hunts: its claim is written, its commit is not.
    harness.answers.rows.store(1500, Ordering::SeqCst);
    harness.answers.delay_ms.store(1000, Ordering::SeqCst);
    let failing = harness.run(1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ballast = fill(disk.path());
    tokio::time::sleep(Duration::from_secs(3)).await;
    std::fs::remove_file(&ballast).expect("free the disk");
    assert_eq!(finish(failing).await, failed_outcome());

    harness.answers.rows.store(1, Ordering::SeqCst);
    harness.answers.delay_ms.store(0, Ordering::SeqCst);
    for n in 2..5 {
        assert_eq!(finish(harness.run(n)).await, Outcome::Succeeded, "run {n}");
    }
    // A reload registers the jobs again, in a transaction of its own on any connection.
    for _ in 0..8 {
        let registered =
            tokio::time::timeout(STEP, harness.ctx.store.upsert_job(&harness.records[0]));
        registered
            .await
            .expect("registering ends in time")
            .expect("the job registers again after the outage");
    }
    let runs = harness.runs().await;
    let statuses = statuses(&runs);
    assert_eq!(runs.len(), 5, "{statuses:?}");
    assert!(
        runs.iter().all(|r| r.status != RunStatus::Running),
        "{statuses:?}"
    );
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{statuses:?}");
    assert_eq!(failed[0].error_class.as_deref(), Some("store"));
    harness.ctx.store.close().await;
}

/// A loopback proxy to PostgreSQL the test can cut (every connection closed, new ones
/// refused) and restore.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let cut = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let cut = Arc::clone(&cut);
            let links = Arc::clone(&links);
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().expect("not poisoned").push(link);
                }
            }
        });
        Self {
            port,
            cut,
            links,
            accept,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().expect("not poisoned").drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// The `host:port` of `base`, and the URL of database `name` through a proxy on a port.
fn through_proxy(base: &str, name: &str) -> (String, impl Fn(u16) -> String) {
    let (scheme, rest) = base.split_once("://").expect("a URL");
    let (rest, query) = rest.split_once('?').map_or((rest, ""), |(r, q)| (r, q));
    let (authority, _database) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(u, h)| (u, h));
    let upstream = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    };
    let prefix = if user.is_empty() {
        format!("{scheme}://")
    } else {
        format!("{scheme}://{user}@")
    };
    let suffix = if query.is_empty() {
        format!("/{name}")
    } else {
        format!("/{name}?{query}")
    };
    (upstream, move |port| {
        format!("{prefix}127.0.0.1:{port}{suffix}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_mid_run_leaves_no_run_running_once_it_is_back() {
    let Some(db) = scratch::create("huntd_outage").await else {
        return;
    };
    let (base, name) = (db.base.clone(), db.name.clone());
    let (upstream, via) = through_proxy(&base, &name);
    let proxy = Proxy::start(upstream).await;
    let via = via(proxy.port);
    let outcome = tokio::spawn(async move {
        let store = store::open(&via).await.expect("open the store");
        let harness = Harness::new(store, 5).await;
        harness.answers.delay_ms.store(1000, Ordering::SeqCst);
        let in_flight: Vec<_> = (0..4).map(|n| harness.run(n)).collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_secs(4)).await;
        proxy.restore();
        for run in in_flight {
            assert_eq!(finish(run).await, failed_outcome());
        }
        harness.answers.delay_ms.store(0, Ordering::SeqCst);
        assert_eq!(finish(harness.run(4)).await, Outcome::Succeeded);
        let runs = harness.runs().await;
        let statuses = statuses(&runs);
        assert_eq!(runs.len(), 5, "{statuses:?}");
        assert!(
            runs.iter()
                .all(|r| r.status == RunStatus::Succeeded
                    || r.error_class.as_deref() == Some("store")),
            "{statuses:?}"
        );
        assert!(
            runs.iter().all(|r| r.status != RunStatus::Running),
            "{statuses:?}"
        );
        harness.ctx.store.close().await;
    })
    .await;
    db.finish(outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_on_a_full_disk_is_never_won_without_its_run_and_wins_once_space_is_free() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let url = format!("sqlite://{}", disk.path().join("huntd.db").display());
    let store = store::open(&url).await.expect("open the store");
    let harness = Harness::new(store, 1).await;
    let job = &harness.records[0];
    let now = Utc::now();
    let request = |n: i64| store::ClaimRequest {
        job: job.name.clone(),
        instance: job.instance.clone(),
        slot_at: now + TimeDelta::seconds(n),
        window_start: now + TimeDelta::seconds(n - 1),
        window_end: now + TimeDelta::seconds(n),
        node: "full-disk".to_string(),
        lease_until: now + TimeDelta::minutes(5),
        now,
        query_sha256: job.query_sha256.clone(),
        trigger: store::Trigger::Schedule,
    };
    let ballast = fill(disk.path());
    let ended = huntd::daemon::failure::interrupted(Utc::now(), "ended by the test");
    // Many claims, so some write reaches a page the full disk cannot give.
    let mut refused = 0;
    let mut won = Vec::new();
    for n in 1..40 {
        match harness.ctx.store.claim_slot(&request(n)).await {
            Ok(store::Claim::Won(lease)) => {
                let runs = harness.runs().await;
                assert!(
                    runs.iter().any(|r| r.id == lease.run_id),
                    "claim {n} was won but its run {} is not stored",
                    lease.run_id
                );
                // Ended so the next claim is not `Busy`; on a full disk that may fail too.
                harness.ctx.store.fail_run(&lease, &ended).await.ok();
                won.push(lease);
            }
            Ok(store::Claim::Busy { .. }) => {}
            Ok(other) => panic!("claim {n}: {other:?}"),
            Err(_) => refused += 1,
        }
    }
    eprintln!(
        "{refused} of 39 claims refused and {} won while the disk was full",
        won.len()
    );
    assert!(
        refused > 0,
        "the disk never refused a claim: the test proves nothing"
    );
    std::fs::remove_file(&ballast).expect("free the disk");
    for lease in &won {
        harness.ctx.store.fail_run(lease, &ended).await.ok();
    }
    let claim = harness.ctx.store.claim_slot(&request(100)).await;
    assert!(
        matches!(claim, Ok(store::Claim::Won(_))),
        "after freeing space: {claim:?} ({refused} claims were refused while full)"
    );
    harness.ctx.store.close().await;
}
