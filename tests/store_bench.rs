//! Ingest benchmark: 100,000 Defender-like rows as one run, into each backend, against the
//! database's own bulk loader into an equivalent table; and, for scale, that loader with every
//! safety off (no journal or WAL, no syncs, no key). Run in release:
//! `cargo test --release --test store_bench -- --ignored --nocapture`.

// Rates and sizes are printed figures: f64 precision is plenty.
#![allow(clippy::cast_precision_loss)]

#[path = "common/memory.rs"]
mod memory;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::value::RawValue;
use sqlx::{AssertSqlSafe, Connection};

use huntd::spool::{Rows, RunRows};
use huntd::store::{self, Claim, ClaimRequest, Column, JobRecord, RunSuccess, Store};

const ROWS: usize = 100_000;

/// A small deterministic generator, so every run benchmarks the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }

    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            let _ = write!(s, "{:016x}", self.next());
        }
        s.truncate(len);
        s
    }

    fn guid(&mut self) -> String {
        uuid::Uuid::from_u64_pair(self.next(), self.next()).to_string()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next() % items.len() as u64).expect("small")]
    }
}

fn columns() -> Vec<Column> {
    [
        ("Timestamp", "DateTime"),
        ("DeviceId", "String"),
        ("DeviceName", "String"),
        ("ActionType", "String"),
        ("FileName", "String"),
        ("FolderPath", "String"),
        ("SHA1", "String"),
        ("SHA256", "String"),
        ("ProcessId", "Int64"),
        ("ProcessCommandLine", "String"),
        ("ProcessCreationTime", "DateTime"),
        ("AccountDomain", "String"),
        ("AccountName", "String"),
        ("AccountSid", "String"),
        ("InitiatingProcessFileName", "String"),
        ("InitiatingProcessId", "Int64"),
        ("InitiatingProcessCommandLine", "String"),
        ("ReportId", "Int64"),
        ("IsElevated", "Boolean"),
        ("AdditionalFields", "Dynamic"),
    ]
    .iter()
    .map(|(n, t)| Column {
        name: (*n).to_string(),
        type_name: (*t).to_string(),
    })
    .collect()
}

fn rows() -> Vec<Box<RawValue>> {
    let mut rng = Lcg(42);
    let base = DateTime::parse_from_rfc3339("2024-05-01T08:00:00Z")
        .expect("valid")
        .with_timezone(&Utc);
    let devices: Vec<String> = (0..500)
        .map(|i| format!("ws-{i:04}.corp.contoso.com"))
        .collect();
    (0..ROWS)
        .map(|i| {
            let t = base + TimeDelta::milliseconds(i64::try_from(i).expect("small") * 36);
            let device = &devices[i % devices.len()];
            let user = rng.pick(&["alice", "bob", "carol", "dave", "svc_backup", "admin"]);
            let exe = rng.pick(&["powershell.exe", "cmd.exe", "rundll32.exe", "wmic.exe"]);
            let payload = rng.hex(96);
            let row = serde_json::json!({
                "Timestamp": defender_time(t),
                "DeviceId": rng.hex(40),
                "DeviceName": device,
                "ActionType": "ProcessCreated",
                "FileName": exe,
                "FolderPath": format!("C:\\Windows\\System32\\{exe}"),
                "SHA1": rng.hex(40),
                "SHA256": rng.hex(64),
                "ProcessId": rng.next() % 65_536,
                "ProcessCommandLine": format!("{exe} -NoProfile -ExecutionPolicy Bypass -EncodedCommand {payload}"),
                "ProcessCreationTime": defender_time(t),
                "AccountDomain": "CONTOSO",
                "AccountName": user,
                "AccountSid": format!("S-1-5-21-{}-{}-{}-{}", rng.next() % 1_000_000_000, rng.next() % 1_000_000_000, rng.next() % 1_000_000_000, 1000 + rng.next() % 9000),
                "InitiatingProcessFileName": "explorer.exe",
                "InitiatingProcessId": rng.next() % 65_536,
                "InitiatingProcessCommandLine": "\"C:\\Windows\\explorer.exe\" /factory,{75dff2b7-6936-4c06-a8bb-676a7b00b24b} -Embedding",
                "ReportId": 9_000_000_000_000_000_000_u64 + i as u64,
                "IsElevated": rng.next().is_multiple_of(2),
                "AdditionalFields": {"Command": "Invoke-WebRequest", "Session": rng.guid(), "Score": (rng.next() % 1000) as f64 / 10.0, "Tags": ["T1059.001", "T1027"]},
            });
            RawValue::from_string(row.to_string()).expect("valid JSON")
        })
        .collect()
}

/// Defender's timestamp form: seven fractional digits.
fn defender_time(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

fn rate(elapsed: Duration) -> f64 {
    ROWS as f64 / elapsed.as_secs_f64()
}

/// Ingests the rows twice (two slots) and returns the first run's duration.
async fn ingest(store: &Arc<dyn Store>, columns: &[Column], data: &[Box<RawValue>]) -> Duration {
    store
        .upsert_job(&JobRecord {
            name: "bench".to_string(),
            instance: "prod".to_string(),
            definition: serde_json::json!({"name": "bench"}),
            query_sha256: "q".to_string(),
            enabled: true,
            dedup_columns: None,
            retention: Duration::from_secs(90 * 86_400),
        })
        .await
        .expect("job");
    let slot = Utc::now();
    let mut first = None;
    for (n, slot) in [slot, slot + TimeDelta::hours(1)].into_iter().enumerate() {
        let Claim::Won(lease) = store
            .claim_slot(&ClaimRequest {
                job: "bench".to_string(),
                instance: "prod".to_string(),
                slot_at: slot,
                window_start: slot - TimeDelta::hours(1),
                window_end: slot,
                node: "bench".to_string(),
                lease_until: slot + TimeDelta::hours(1),
                now: slot,
                query_sha256: "q".to_string(),
                trigger: huntd::store::Trigger::Schedule,
            })
            .await
            .expect("claim")
        else {
            panic!("claim lost");
        };
        let rows = RunRows::single(Rows::from_vec(data).expect("rows in memory"));
        let started = Instant::now();
        let finished = store
            .finish_run(
                &lease,
                &RunSuccess {
                    finished_at: slot,
                    columns,
                    rows: &rows,
                    truncated: false,
                    api: "graph",
                    http_status: Some(200),
                    client_request_id: None,
                    cost: huntd::store::RunCost::default(),
                    notify: &[],
                },
            )
            .await
            .expect("finish");
        let elapsed = started.elapsed();
        println!(
            "  run {}: {} rows, {} new findings, {:.2}s, {:.0} rows/s",
            n + 1,
            finished.row_count,
            finished.new_row_count,
            elapsed.as_secs_f64(),
            rate(elapsed)
        );
        if n == 0 {
            assert_eq!(finished.new_row_count, i64::try_from(ROWS).expect("small"));
            first = Some(elapsed);
        } else {
            assert_eq!(finished.new_row_count, 0, "a second run adds no findings");
        }
    }
    first.expect("first run")
}

/// One line per row in `copy` text format (also valid for SQLite's ascii import once the
/// separators are swapped).
fn write_load_file(path: &Path, data: &[Box<RawValue>], ascii: bool) {
    let mut out = Vec::with_capacity(data.len() * 1200);
    for (i, row) in data.iter().enumerate() {
        let hash = store::row_hash(row, None).expect("hash");
        let (unit, record) = if ascii {
            ('\x1f', '\x1e')
        } else {
            ('\t', '\n')
        };
        let text = if ascii {
            row.get().to_string()
        } else {
            row.get().replace('\\', "\\\\")
        };
        let _ = write!(
            SinkString(&mut out),
            "1{unit}bench{unit}{i}{unit}{hash}{unit}{text}{record}"
        );
    }
    std::fs::write(path, out).expect("write load file");
}

struct SinkString<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for SinkString<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn timed_command(command: &mut Command) -> Duration {
    let started = Instant::now();
    let output = command.output().expect("run baseline tool");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "baseline failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

/// Rounds of (huntd, baseline) per backend. Interleaved and reported as medians: on these
/// shared virtual machines the CPU time stolen by the host swings from second to second, so
/// one pair of figures can be off by 2x either way.
const ROUNDS: usize = 3;

/// Per-round timings of huntd's first run and of the baseline; prints the medians.
#[derive(Default)]
struct Rounds {
    ours: Vec<f64>,
    baseline: Vec<f64>,
}

impl Rounds {
    fn record(&mut self, ours: Duration, baseline: Duration, loader: &str) {
        println!(
            "  round {}: huntd {:.0} rows/s, {loader} {:.0} rows/s, time ratio {:.2}",
            self.ours.len() + 1,
            rate(ours),
            rate(baseline),
            ours.as_secs_f64() / baseline.as_secs_f64()
        );
        self.ours.push(ours.as_secs_f64());
        self.baseline.push(baseline.as_secs_f64());
    }

    fn summary(&self, loader: &str) {
        let ratios: Vec<f64> = self
            .ours
            .iter()
            .zip(&self.baseline)
            .map(|(o, b)| o / b)
            .collect();
        println!(
            "  median of {ROUNDS}: huntd {:.0} rows/s; {loader} {:.0} rows/s; huntd/baseline time ratio {:.2}; peak RSS {:.0} MiB",
            ROWS as f64 / median(&self.ours),
            ROWS as f64 / median(&self.baseline),
            median(&ratios),
            memory::status_kib("self", "VmHWM:") as f64 / 1024.0
        );
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn ingest_100k_defender_rows() {
    let columns = columns();
    let data = rows();
    let bytes: usize = data.iter().map(|r| r.get().len()).sum();
    println!(
        "{ROWS} rows, {} columns, {:.0} bytes of JSON per row on average",
        columns.len(),
        bytes as f64 / ROWS as f64
    );
    let dir = tempfile::tempdir().expect("temp dir");

    bench_sqlite(dir.path(), &columns, &data).await;
    let Ok(base_url) = std::env::var("HUNTD_TEST_POSTGRES_URL") else {
        println!("postgres: skipped (HUNTD_TEST_POSTGRES_URL is unset)");
        return;
    };
    bench_postgres(dir.path(), &base_url, &columns, &data).await;
}

/// Rounds of huntd's SQLite store against `sqlite3 .import`, then that loader with every safety
/// off; files go in `dir`.
async fn bench_sqlite(dir: &Path, columns: &[Column], data: &[Box<RawValue>]) {
    println!("sqlite:");
    let load = dir.join("rows.ascii");
    write_load_file(&load, data, true);
    let script_path = dir.join("import.sql");
    let mut rounds = Rounds::default();
    for round in 0..ROUNDS {
        let url = format!(
            "sqlite://{}",
            dir.join(format!("bench-{round}.db")).display()
        );
        let sqlite = store::open(&url).await.expect("sqlite store");
        let ours = ingest(&sqlite, columns, data).await;
        sqlite.close().await;
        let script = format!(
            "pragma journal_mode = wal;\npragma synchronous = normal;\n\
             create table hunt_results (run_id integer not null, job text not null, \
             row_num integer not null, row_hash text not null, data text not null, \
             primary key (run_id, row_num));\n.mode ascii\n.import {} hunt_results\n",
            load.display()
        );
        std::fs::write(&script_path, script).expect("write import script");
        let baseline = timed_command(
            Command::new("sqlite3")
                .arg(dir.join(format!("baseline-{round}.db")))
                .arg(format!(".read {}", script_path.display())),
        );
        rounds.record(ours, baseline, "sqlite3 .import");
    }
    rounds.summary("sqlite3 .import");
    // For scale: the same loader with nothing a result store needs (durability, a key).
    let script = format!(
        "pragma journal_mode = off;\npragma synchronous = off;\n\
         create table ceiling (run_id integer, job text, row_num integer, row_hash text, \
         data text);\n.mode ascii\n.import {} ceiling\n",
        load.display()
    );
    std::fs::write(&script_path, script).expect("write import script");
    let ceiling = timed_command(
        Command::new("sqlite3")
            .arg(dir.join("ceiling.db"))
            .arg(format!(".read {}", script_path.display())),
    );
    println!(
        "  for scale: sqlite3 .import with no journal, no syncs and no key {:.0} rows/s",
        rate(ceiling)
    );
}

/// Rounds of huntd's PostgreSQL store, each on a fresh database of the server at `base_url`,
/// against `psql \copy`, then that loader into an unlogged table; the load file goes in `dir`.
async fn bench_postgres(dir: &Path, base_url: &str, columns: &[Column], data: &[Box<RawValue>]) {
    println!("postgres:");
    let load = dir.join("rows.copy");
    write_load_file(&load, data, false);
    let mut admin = sqlx::PgConnection::connect(base_url)
        .await
        .expect("connect");
    let root = &base_url[..base_url.rfind('/').expect("URL has a path")];
    let mut rounds = Rounds::default();
    for _ in 0..ROUNDS {
        let (name, url) = create_database(&mut admin, root).await;
        let pg = store::open(&url).await.expect("postgres store");
        let ours = ingest(&pg, columns, data).await;
        pg.close().await;
        timed_command(Command::new("psql").arg(&url).arg("-qc").arg(
            "create table baseline (run_id bigint not null, job text not null, \
             row_num bigint not null, row_hash text not null, data jsonb not null, \
             primary key (run_id, row_num))",
        ));
        let baseline = timed_command(
            Command::new("psql")
                .arg(&url)
                .arg("-qc")
                .arg(format!("\\copy baseline from '{}'", load.display())),
        );
        rounds.record(ours, baseline, "psql \\copy");
        drop_database(&mut admin, &name).await;
    }
    rounds.summary("psql \\copy");
    // For scale: the same loader with nothing a result store needs (WAL, a key, parsed JSON).
    let (name, url) = create_database(&mut admin, root).await;
    timed_command(Command::new("psql").arg(&url).arg("-qc").arg(
        "create unlogged table ceiling (run_id bigint, job text, row_num bigint, \
         row_hash text, data text)",
    ));
    let ceiling = timed_command(
        Command::new("psql")
            .arg(&url)
            .arg("-qc")
            .arg(format!("\\copy ceiling from '{}'", load.display())),
    );
    println!(
        "  for scale: psql \\copy into an unlogged table with no key and text data {:.0} rows/s",
        rate(ceiling)
    );
    drop_database(&mut admin, &name).await;
}

/// A new, empty database: its name and URL.
async fn create_database(admin: &mut sqlx::PgConnection, root: &str) -> (String, String) {
    let name = format!("huntd_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(AssertSqlSafe(format!("create database {name}")))
        .execute(admin)
        .await
        .expect("create database");
    let url = format!("{root}/{name}");
    (name, url)
}

async fn drop_database(admin: &mut sqlx::PgConnection, name: &str) {
    sqlx::raw_sql(AssertSqlSafe(format!("drop database {name} with (force)")))
        .execute(admin)
        .await
        .expect("drop database");
}
