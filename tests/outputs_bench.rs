//! Benchmarks of findings delivery (issue 15's figures), printed, never asserted:
//! - the run commit path with outputs on against off, interleaved in one run, on SQLite (and
//!   PostgreSQL when `HUNTD_TEST_POSTGRES_URL` is set); then deliveries per second from that
//!   outbox to a loopback webhook, in `digest` and in `each` mode;
//! - commit-to-delivered lag p50 and p99 with 1,000 jobs making findings under `huntd run`.
//!
//! Run: `cargo test --release --test outputs_bench -- --ignored --nocapture --test-threads 1`.

// Counts and durations here are far below 2^52, and only printed.
#![allow(clippy::cast_precision_loss)]

#[path = "common/process.rs"]
mod common;
#[path = "common/daemon.rs"]
mod daemon_support;
// Only the row and claim helpers are used here, not the backend matrix's macro.
#[allow(unused_macros, unused_imports)]
#[path = "common/store.rs"]
mod store_support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use chrono::{TimeDelta, Utc};
use huntd::auth::Tokens;
use huntd::config::EnvVars;
use huntd::daemon::delivery::{self, SinksCell};
use huntd::diagnostic::Diagnostics;
use huntd::outputs::Sinks;
use huntd::store::{self, DeliveryRoute, Store};
use tokio_util::sync::CancellationToken;

use daemon_support::{Fake, sqlite_url, write_config};
use store_support::{at, claim, cols, job_record, rows, run_rows, scratch, success};

/// Jobs the commits are spread over: deliveries of one output and job go out one at a time.
const JOBS: usize = 50;
/// Rows (all new) in every committed run.
const ROWS_PER_RUN: usize = 20;
/// Interleaved rounds of the commit comparison, and runs committed per round and setting.
const ROUNDS: usize = 10;
const RUNS_PER_ROUND: usize = 100;

/// A loopback webhook answering 200 at once; counts what it took and keeps each body's
/// `committed_at` with the time it arrived.
#[derive(Clone, Default)]
struct Hook {
    taken: Arc<AtomicUsize>,
    lags: Arc<Mutex<Vec<f64>>>,
}

async fn take(State(hook): State<Hook>, body: Bytes) -> &'static str {
    let arrived = Utc::now();
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(committed) = body["committed_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        let lag = (arrived - committed.with_timezone(&Utc)).num_milliseconds();
        hook.lags.lock().expect("lock").push(lag as f64 / 1000.0);
    }
    hook.taken.fetch_add(1, Ordering::SeqCst);
    "ok"
}

async fn start_hook() -> (Hook, SocketAddr) {
    let hook = Hook::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().fallback(take).with_state(hook.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (hook, addr)
}

/// The databases one backend's comparison uses: `off`, `digest` and `each`.
async fn databases(backend: &str, dir: &Path) -> Vec<(String, Option<scratch::Scratch>)> {
    let mut out = Vec::new();
    for name in ["off", "digest", "each"] {
        if backend == "sqlite" {
            out.push((
                format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
                None,
            ));
        } else {
            let db = scratch::create(&format!("huntd_bench_{name}"))
                .await
                .expect("PostgreSQL");
            out.push((db.url(), Some(db)));
        }
    }
    out
}

/// Commits `RUNS_PER_ROUND` runs to `store`, spread over the jobs, starting at run `first`:
/// every `fresh_every`-th run returns new rows, the others their job's usual rows again;
/// returns the time spent in `finish_run`.
async fn commit_round(
    store: &dyn Store,
    first: usize,
    routes: &[DeliveryRoute],
    fresh_every: usize,
) -> Duration {
    let columns = cols(&[("DeviceId", "String"), ("Seq", "Long")]);
    let mut spent = Duration::ZERO;
    for n in first..first + RUNS_PER_ROUND {
        let job = format!("j{}", n % JOBS);
        let minute = i64::try_from(n / JOBS).expect("a small count");
        let slot = at("2024-05-01T00:00:00Z") + TimeDelta::minutes(minute + 1);
        let texts: Vec<String> = (0..ROWS_PER_RUN)
            .map(|i| {
                if n % fresh_every == 0 {
                    format!(r#"{{"DeviceId":"d{n}-{i}","Seq":{i}}}"#)
                } else {
                    format!(r#"{{"DeviceId":"{job}-usual-{i}","Seq":{i}}}"#)
                }
            })
            .collect();
        let rows = run_rows(&rows(&texts));
        let lease = match store
            .claim_slot(&claim(&job, slot, TimeDelta::minutes(1), "bench"))
            .await
            .expect("claim")
        {
            store::Claim::Won(lease) => lease,
            other => panic!("claim of {job} at {slot}: {other:?}"),
        };
        let mut run = success(slot, &columns, &rows);
        run.notify = routes;
        let started = Instant::now();
        store.finish_run(&lease, &run).await.expect("commit");
        spent += started.elapsed();
    }
    spent
}

fn route(mode: &'static str) -> Vec<DeliveryRoute> {
    vec![DeliveryRoute {
        output: "hook".into(),
        mode,
        min_new: 1,
        suppress: None,
    }]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Sends `store`'s outbox to the hook with the daemon's delivery loop until `expected` arrived;
/// returns deliveries per second.
async fn drain(store: Arc<dyn Store>, hook: &Hook, addr: SocketAddr, expected: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huntd.yaml");
    std::fs::create_dir(dir.path().join("jobs")).expect("jobs");
    std::fs::write(dir.path().join("hook-secret"), "k").expect("secret");
    std::fs::write(
        &path,
        format!(
            "jobs: [jobs]\noutputs:\n  hook: {{type: webhook, url: 'http://{addr}/hook', secret: {{File: hook-secret}}}}\n"
        ),
    )
    .expect("config");
    let mut diags = Diagnostics::new();
    let no_env = EnvVars::from_vars::<&str, &str>([]);
    let config = huntd::config::load_in(&path, &no_env, &mut diags).expect("config loads");
    let sinks = Sinks::new(&config, "bench", Arc::new(Tokens::new(dir.path()))).expect("sinks");
    let before = hook.taken.load(Ordering::SeqCst);
    let stop = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn(delivery::run(
        store,
        Arc::new(SinksCell::new(sinks)),
        delivery::Loop {
            node: "bench".into(),
            claim: Duration::from_secs(60),
            committed: Arc::new(tokio::sync::Notify::new()),
        },
        stop.clone(),
    ));
    while hook.taken.load(Ordering::SeqCst) - before < expected {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    running.await.expect("delivery loop");
    expected as f64 / seconds
}

/// Commits `ROUNDS` rounds from run `first` with outputs off (`stores[0]`) and on (`stores[1]`,
/// a digest route), interleaved, and `stores[2]` (an `each` route) beside; prints the medians
/// and returns on / off.
async fn interleaved(
    stores: &[Arc<dyn Store>],
    first: usize,
    fresh_every: usize,
    backend: &str,
    what: &str,
) -> f64 {
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let start = first + round * RUNS_PER_ROUND;
        // Alternate which goes first, so neither always meets a warmer cache.
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let routes = if which == 0 {
                Vec::new()
            } else {
                route("digest")
            };
            let spent = commit_round(stores[which].as_ref(), start, &routes, fresh_every).await;
            let per_run = spent.as_secs_f64() * 1000.0 / RUNS_PER_ROUND as f64;
            if which == 0 {
                off.push(per_run);
            } else {
                on.push(per_run);
            }
        }
        commit_round(stores[2].as_ref(), start, &route("each"), fresh_every).await;
    }
    let (off, on) = (median(off), median(on));
    println!(
        "{backend}: commit of a {ROWS_PER_RUN}-row run ({what}), median of {ROUNDS} interleaved rounds of {RUNS_PER_ROUND}: outputs off {off:.3} ms, on (digest) {on:.3} ms, ratio {:.3}",
        on / off
    );
    on / off
}

async fn compare(backend: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dbs = databases(backend, dir.path()).await;
    let mut stores = Vec::new();
    for (url, _) in &dbs {
        let store = store::open(url).await.expect("open");
        for j in 0..JOBS {
            store
                .upsert_job(&job_record(&format!("j{j}"), None, "q1"))
                .await
                .expect("job");
        }
        stores.push(store);
    }
    let ratio = interleaved(&stores, 0, 1, backend, "every run finds new rows").await;
    let (hook, addr) = start_hook().await;
    let runs = ROUNDS * RUNS_PER_ROUND;
    let digest = drain(Arc::clone(&stores[1]), &hook, addr, runs).await;
    let each = drain(Arc::clone(&stores[2]), &hook, addr, runs * ROWS_PER_RUN).await;
    println!(
        "{backend}: deliveries to a loopback webhook over {JOBS} jobs: digest {digest:.0}/s ({ROWS_PER_RUN} findings each), each {each:.0}/s"
    );
    let typical = interleaved(&stores, runs, 10, backend, "one run in ten finds new rows").await;
    println!(
        "{backend}: outputs on against off: {ratio:.3} when every run notifies, {typical:.3} when one in ten does (goal <= 1.10)"
    );
    for store in stores {
        store.close().await;
    }
    for (_, db) in dbs {
        if let Some(db) = db {
            db.finish(Ok(())).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run in release, on a quiet machine"]
async fn commit_path_with_outputs_on_against_off_and_deliveries_per_second() {
    compare("sqlite").await;
    if scratch::server_url().is_some() {
        compare("postgres").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run in release, on a quiet machine"]
async fn commit_to_delivered_lag_with_a_thousand_jobs_making_findings() {
    const JOBS_LAG: usize = 1000;
    const MEASURE: Duration = Duration::from_secs(75);
    let fake = Fake::start().await;
    let (hook, addr) = start_hook().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        &fake,
        dir.path(),
        &sqlite_url(dir.path()),
        "node: bench\n  max_concurrent_runs: 32\n  notify: {to: [hook]}",
    );
    daemon_support::edit_config(dir.path(), |text| {
        text + &format!(
            "outputs:\n  hook: {{type: webhook, url: 'http://{addr}/hook', secret: {{EnvironmentVar: HOOK}}}}\n"
        )
    });
    for j in 0..JOBS_LAG {
        let name = format!("job-{j:04}");
        // Every 30 s, spread over the interval: about 33 runs, each with a new row, a second.
        std::fs::write(
            dir.path().join(format!("jobs/{name}.yaml")),
            format!(
                "name: {name}\ninstance: Fake\nenvironment: M365DGraph\nevery: 30s\nsplay: 30s\n\
                 query: \"{}\"\n",
                daemon_support::query_template(&name)
            ),
        )
        .expect("job");
    }
    let mut daemon = daemon_support::start_daemon_with(dir.path(), &[], &[("HOOK", "k")]);
    tokio::time::sleep(MEASURE).await;
    daemon.signal("TERM");
    let _ = daemon.exit_code().await;
    let mut lags = hook.lags.lock().expect("lock").clone();
    assert!(!lags.is_empty(), "nothing delivered: {}", daemon.log());
    lags.sort_by(f64::total_cmp);
    // The nearest rank at or below quantile `percent`.
    let pick = |percent: usize| lags[(lags.len() - 1) * percent / 100];
    println!(
        "{JOBS_LAG} jobs every 30 s on SQLite for {} s: {} deliveries, commit-to-delivered lag p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        MEASURE.as_secs(),
        lags.len(),
        pick(50),
        pick(99),
        lags[lags.len() - 1]
    );
}
