//! Benchmark: peak RSS of `huntd run` hunting 100,000-row answers, eight jobs at once against
//! one job alone, on SQLite (and PostgreSQL when `HUNTD_TEST_POSTGRES_URL` is set). The answers
//! stream from a loopback fake of Entra ID and Graph in this process, so only huntd's own memory
//! is measured. Goal: eight at once under twice the peak of one.
//! Run: `cargo test --release --test run_memory_bench -- --ignored --nocapture`.

// Sizes and counts here are far below 2^52, and only printed.
#![allow(clippy::cast_precision_loss)]

#[path = "common/process.rs"]
mod common;
#[path = "common/memory.rs"]
mod memory;
#[path = "common/postgres.rs"]
mod scratch;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use huntd::store::{self, HistoryFilter, RunStatus, Store};

use common::Daemon;

/// Rows in every answer: the API's maximum.
const ROWS: usize = 100_000;
/// Rows per chunk the fake writes.
const ROWS_PER_CHUNK: usize = 64;
/// Succeeded runs each job must have before the peak is read.
const RUNS_PER_JOB: usize = 2;

const HEAD: &str = r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults","schema":[{"name":"Timestamp","type":"DateTime"},{"name":"DeviceId","type":"String"},{"name":"DeviceName","type":"String"},{"name":"ActionType","type":"String"},{"name":"FileName","type":"String"},{"name":"ProcessCommandLine","type":"String"},{"name":"ReportId","type":"Int64"},{"name":"AdditionalFields","type":"Dynamic"}],"results":["#;

/// A ~1 KB DeviceProcessEvents-shaped row, distinct for every `(call, i)`.
fn row(call: u64, i: usize) -> String {
    format!(
        r#"{{"Timestamp":"2024-02-01T08:{:02}:{:02}.{:07}Z","DeviceId":"{call:08x}{i:032x}","DeviceName":"workstation-{i:06}.corp.contoso.example","ActionType":"ProcessCreated","FileName":"powershell.exe","ProcessCommandLine":"powershell.exe -NoProfile -ExecutionPolicy Bypass -EncodedCommand {}","ReportId":{},"AdditionalFields":{{"ParentProcess":{{"Name":"explorer.exe","Id":{i}}},"Tags":["a","b","c"]}}}}"#,
        (i / 60) % 60,
        i % 60,
        i * 7 % 10_000_000,
        "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA"
            .repeat(8),
        call * 1_000_000 + i as u64,
    )
}

/// One answer of [`ROWS`] rows, made a chunk at a time as the client reads it.
fn answer(call: u64) -> Body {
    let chunks = (0..ROWS.div_ceil(ROWS_PER_CHUNK)).map(move |c| {
        let mut text = if c == 0 {
            HEAD.to_string()
        } else {
            String::new()
        };
        for i in c * ROWS_PER_CHUNK..((c + 1) * ROWS_PER_CHUNK).min(ROWS) {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&row(call, i));
        }
        if (c + 1) * ROWS_PER_CHUNK >= ROWS {
            text.push_str("]}");
        }
        Ok::<_, std::io::Error>(bytes::Bytes::from(text))
    });
    Body::from_stream(futures_util::stream::iter(chunks))
}

/// Starts the fake on loopback; its base URL.
async fn start_fake() -> String {
    let calls = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(|| async {
                axum::Json(serde_json::json!({
                    "token_type": "Bearer", "expires_in": 3600, "access_token": "bench-token"
                }))
            }),
        )
        .route(
            "/v1.0/security/runHuntingQuery",
            post(move || {
                let call = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    axum::response::Response::builder()
                        .header("content-type", "application/json; charset=utf-8")
                        .body(answer(call))
                        .expect("a valid response")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("fake serves") });
    base
}

/// Writes a config with `jobs` jobs hunting the fake every three seconds.
fn write_config(dir: &Path, base: &str, database: &str, jobs: usize) {
    std::fs::create_dir_all(dir.join("jobs")).expect("mkdir");
    let state = dir.join("state");
    let config = format!(
        "database: {database}\njobs: [./jobs]\n\
         daemon: {{node: bench, max_concurrent_runs: 8, shutdown_grace: 1s, state_dir: '{}'}}\n\
         instances:\n  Fake:\n    TenantId: 00000000-0000-0000-0000-000000000001\n\
         \x20   ClientId: 00000000-0000-0000-0000-000000000002\n\
         \x20   ClientSecret: {{EnvironmentVar: HUNTD_TEST_SECRET}}\n\
         \x20   Endpoints: {{login: '{base}', graph: '{base}', mde: '{base}', keyvault: '{base}'}}\n\
         \x20   Quota: {{per_minute: 100000}}\n",
        state.display()
    );
    std::fs::write(dir.join("huntd.yaml"), config).expect("write config");
    for n in 0..jobs {
        std::fs::write(
            dir.join(format!("jobs/bench-{n}.yaml")),
            format!(
                "name: bench-{n}\ninstance: Fake\nenvironment: M365DGraph\n\
                 schedule: '*/3 * * * * *'\n\
                 query: \"DeviceProcessEvents | where Timestamp between \
                 (datetime({{start}}) .. datetime({{end}}))\"\n"
            ),
        )
        .expect("write job");
    }
}

/// Succeeded runs of every job, and the rows they stored.
async fn progress(store: &Arc<dyn Store>, jobs: usize) -> (Vec<usize>, i64) {
    let mut counts = Vec::new();
    let mut rows = 0;
    for n in 0..jobs {
        let runs = store
            .history(&HistoryFilter {
                job: Some(format!("bench-{n}")),
                ..HistoryFilter::default()
            })
            .await
            .unwrap_or_default();
        let done: Vec<_> = runs
            .iter()
            .filter(|r| r.status == RunStatus::Succeeded)
            .collect();
        rows += done.iter().map(|r| r.row_count.unwrap_or(0)).sum::<i64>();
        counts.push(done.len());
    }
    (counts, rows)
}

/// What one scenario measured.
struct Peak {
    rss: u64,
    rows: i64,
    seconds: f64,
}

/// Runs `huntd run` with `jobs` jobs and `env` until each has [`RUNS_PER_JOB`] succeeded runs.
async fn scenario(base: &str, database: &str, jobs: usize, env: &[(&str, &str)]) -> Peak {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), base, database, jobs);
    let reader = store::open(database).await.expect("store opens");
    let started = Instant::now();
    let daemon = Daemon::start(
        dir.path(),
        &[],
        &[
            &[("HUNTD_TEST_SECRET", "bench"), ("HUNTD_LOG", "warn")],
            env,
        ]
        .concat(),
    );
    let mut peak = 0;
    let rows = loop {
        peak = peak.max(memory::status_kib(daemon.pid(), "VmHWM:") * 1024);
        let (counts, rows) = progress(&reader, jobs).await;
        if counts.iter().all(|&c| c >= RUNS_PER_JOB) {
            break rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "runs did not finish: {counts:?}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    peak = peak.max(memory::status_kib(daemon.pid(), "VmHWM:") * 1024);
    daemon.signal("TERM");
    reader.close().await;
    Peak {
        rss: peak,
        rows,
        seconds,
    }
}

/// Measures one job, then eight, on databases named by `database`, with glibc's default
/// arenas and with `MALLOC_ARENA_MAX=2`, the packaged unit's setting.
async fn compare(backend: &str, database: impl Fn(&str) -> String) {
    let base = start_fake().await;
    let mb = |b: u64| b as f64 / 1e6;
    for (setting, env) in [
        ("default malloc", &[][..]),
        ("MALLOC_ARENA_MAX=2", &[("MALLOC_ARENA_MAX", "2")][..]),
    ] {
        let tag = if env.is_empty() { "d" } else { "a" };
        let one = scenario(&base, &database(&format!("one{tag}")), 1, env).await;
        let eight = scenario(&base, &database(&format!("eight{tag}")), 8, env).await;
        for (name, peak) in [("1 job ", &one), ("8 jobs", &eight)] {
            println!(
                "{backend}, {setting}, {name}: peak RSS {:.1} MB; {} rows stored in {:.1} s ({:.0} rows/s)",
                mb(peak.rss),
                peak.rows,
                peak.seconds,
                peak.rows as f64 / peak.seconds
            );
        }
        println!(
            "{backend}, {setting}: 8 concurrent 100,000-row hunts peak at {:.2} x one hunt (goal: under 2)",
            eight.rss as f64 / one.rss as f64
        );
    }
}

/// `base` (a server URL) naming database `name` instead.
fn database_url(base: &str, name: &str) -> String {
    let (server, _) = base.rsplit_once('/').expect("a URL with a database path");
    format!("{server}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn eight_concurrent_100k_row_hunts_against_one_peak_rss() {
    let dir = tempfile::tempdir().expect("tempdir");
    compare("sqlite", |name| {
        format!(
            "sqlite://{}",
            dir.path().join(format!("{name}.db")).display()
        )
    })
    .await;
    if std::env::var("HUNTD_TEST_POSTGRES_URL").is_err() {
        return;
    }
    let mut made = Vec::new();
    for _ in 0..4 {
        made.push(
            scratch::create("huntd_membench")
                .await
                .expect("PostgreSQL is set"),
        );
    }
    let urls: Vec<String> = made
        .iter()
        .map(|db| database_url(&db.base, &db.name))
        .collect();
    let outcome = tokio::spawn(async move {
        let order = ["oned", "eightd", "onea", "eighta"];
        compare("postgres", |name| {
            let at = order.iter().position(|o| *o == name).expect("a known name");
            urls[at].clone()
        })
        .await;
    })
    .await;
    let last = made.pop().expect("four databases");
    for db in made {
        db.finish(Ok(())).await;
    }
    last.finish(outcome).await;
}
