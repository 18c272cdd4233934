//! Benchmark: the emulator answering a `where`/`summarize` hunt over 1,000,000 rows, over HTTP
//! and straight through the engine. Prints rows scanned per second (wall clock and per CPU
//! second, which load on a shared machine does not skew) and peak RSS.

#[path = "common/memory.rs"]
mod memory;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use huntd::emulator::data::{self, SampleOptions};
use huntd::emulator::{self, DEMO_APP, DEMO_SECRET, DEMO_TENANT, DataSource, EmulatorOptions};
use serde_json::{Value, json};

/// Rows generated unless `HUNTD_BENCH_ROWS` says otherwise (a smaller table lets the benchmark
/// run under `valgrind --tool=callgrind`, whose instruction counts load does not skew).
const ROWS: usize = 1_000_000;
const QUERY: &str = "DeviceNetworkEvents
| where ActionType == \"ConnectionSuccess\" and RemotePort != 443
| summarize Connections = count(), Devices = dcount(DeviceId) by RemotePort";
/// The same filter with a count only: what the engine does without `dcount`'s string hashing.
const COUNT_QUERY: &str = "DeviceNetworkEvents
| where ActionType == \"ConnectionSuccess\" and RemotePort != 443
| summarize Connections = count() by RemotePort";

/// On-CPU seconds of every thread of this process so far (`/proc/self/task/*/schedstat`, in
/// ns). On a shared machine wall time also counts other programs' turns; this counts only ours,
/// so it gives the one-core figure even under load.
#[allow(clippy::cast_precision_loss)]
fn process_cpu_seconds() -> f64 {
    let nanos: u64 = std::fs::read_dir("/proc/self/task").map_or(0, |tasks| {
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    });
    nanos as f64 / 1e9
}

#[allow(clippy::cast_precision_loss)]
fn per_second(rows: usize, seconds: f64) -> f64 {
    rows as f64 / seconds
}

#[tokio::test]
#[ignore = "benchmark: cargo test --release --test emulator_bench -- --ignored --nocapture"]
async fn where_summarize_over_a_million_rows_prints_rows_per_second() {
    let generated = Instant::now();
    let db = data::sample_tables(
        &SampleOptions {
            seed: 1,
            rows_per_table: std::env::var("HUNTD_BENCH_ROWS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(ROWS),
            now: Utc::now(),
        },
        &["DeviceNetworkEvents"],
    );
    let rows = db.tables["DeviceNetworkEvents"].rows.len();
    println!("generated {rows} rows in {:.2?}", generated.elapsed());
    let db = Arc::new(db);

    // The engine alone, best of three per query.
    let mut groups = 0;
    for query in [QUERY, COUNT_QUERY] {
        let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            let (started, cpu) = (Instant::now(), process_cpu_seconds());
            let result = kql::run(&db, query, Utc::now(), None).expect("the query runs");
            best = best.min(started.elapsed().as_secs_f64());
            best_cpu = best_cpu.min(process_cpu_seconds() - cpu);
            groups = result.rows.len();
        }
        println!(
            "engine: {rows} rows in {:.1} ms -> {:.1} M rows/s scanned ({groups} groups; {:.1} ms on CPU -> {:.1} M rows/s per CPU second): {}",
            best * 1000.0,
            per_second(rows, best) / 1e6,
            best_cpu * 1000.0,
            per_second(rows, best_cpu) / 1e6,
            query.replace('\n', " ")
        );
    }

    let e = emulator::start(EmulatorOptions {
        data: DataSource::Tables(Arc::clone(&db)),
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts");
    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{}/{DEMO_TENANT}/oauth2/v2.0/token", e.base_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_APP),
            ("client_secret", DEMO_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let token = token["access_token"].as_str().expect("a token").to_string();
    let (mut best_http, mut best_http_cpu) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let (started, cpu) = (Instant::now(), process_cpu_seconds());
        let answer: Value = client
            .post(format!("{}/v1.0/security/runHuntingQuery", e.base_url))
            .bearer_auth(&token)
            .json(&json!({"Query": QUERY}))
            .send()
            .await
            .expect("answer")
            .json()
            .await
            .expect("JSON");
        best_http = best_http.min(started.elapsed().as_secs_f64());
        best_http_cpu = best_http_cpu.min(process_cpu_seconds() - cpu);
        assert_eq!(answer["results"].as_array().map(Vec::len), Some(groups));
    }
    println!(
        "over HTTP (Graph, incl. 30-day window filter): {:.1} ms -> {:.1} M rows/s scanned ({:.1} ms on CPU, client and server -> {:.1} M rows/s per CPU second)",
        best_http * 1000.0,
        per_second(rows, best_http) / 1e6,
        best_http_cpu * 1000.0,
        per_second(rows, best_http_cpu) / 1e6
    );
    println!(
        "peak RSS (VmHWM): {} MiB",
        memory::status_kib("self", "VmHWM:") / 1024
    );
    e.shutdown.cancel();
}
