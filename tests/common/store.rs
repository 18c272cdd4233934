//! The store contract's backend matrix: each test body runs against SQLite (a temp file) and
//! PostgreSQL (a fresh database per test, from `HUNTD_TEST_POSTGRES_URL`), with a raw pool
//! beside the store for checking what it wrote.
// Each test binary includes this file as `mod common` and uses only part of it.
#![allow(dead_code)]

#[path = "postgres.rs"]
pub mod scratch;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::value::RawValue;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

use huntd::spool::{Rows, RunRows};
use huntd::store::{
    self, Backend, Claim, ClaimRequest, Column, HistoryFilter, JobRecord, Lease, RunCost,
    RunFailure, RunRecord, RunStatus, RunSuccess, Store,
};

/// One contract test body, run once per backend.
pub type Body = fn(Ctx) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// A store under test plus a raw pool for checking what it wrote.
pub struct Ctx {
    /// The URL the store was opened with.
    pub url: String,
    /// The store under test.
    pub store: Arc<dyn Store>,
    /// A pool of its own on the same database.
    pub raw: Raw,
}

/// A pool on the database under test, outside the store.
pub enum Raw {
    /// The SQLite file.
    Sqlite(SqlitePool),
    /// The PostgreSQL database.
    Postgres(PgPool),
}

impl Raw {
    /// Runs statements, failing the test when they fail.
    pub async fn exec(&self, sql: &str) {
        let sql = AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
            Raw::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ()),
        }
        .expect("statement runs");
    }
}

impl Ctx {
    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Runs statements on the raw pool.
    pub async fn exec(&self, sql: &str) {
        self.raw.exec(sql).await;
    }

    /// A second, empty database next to the one under test.
    pub async fn fresh_database(&self) -> String {
        match self.backend() {
            Backend::Sqlite => format!("{}-fresh.db", self.url.trim_end_matches(".db")),
            Backend::Postgres => {
                let name = format!("{}_fresh", database_name(&self.url));
                self.exec(&format!("create database {name}")).await;
                replace_database(&self.url, &name)
            }
        }
    }

    /// Drops what [`Ctx::fresh_database`] made (a SQLite file goes with the temp dir).
    pub async fn drop_fresh_database(&self, url: &str) {
        if self.backend() == Backend::Postgres {
            let name = database_name(url);
            self.exec(&format!("drop database {name} with (force)"))
                .await;
        }
    }

    /// The one integer a query answers.
    pub async fn int(&self, sql: &str) -> i64 {
        let sql = AssertSqlSafe(sql.to_string());
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .expect("integer query")
    }

    /// The one text column of every row a query answers.
    pub async fn texts(&self, sql: &str) -> Vec<Option<String>> {
        let sql = AssertSqlSafe(sql.to_string());
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .expect("text query")
    }

    /// Runs a query and returns how many rows it produced.
    pub async fn run(&self, sql: &str) -> Result<usize, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_string());
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(sql).fetch_all(pool).await.map(|r| r.len()),
            Raw::Postgres(pool) => sqlx::query(sql).fetch_all(pool).await.map(|r| r.len()),
        }
    }

    /// Registers job `name` with query `q1`.
    pub async fn job(&self, name: &str, dedup: Option<&[&str]>) {
        self.store
            .upsert_job(&job_record(name, dedup, "q1"))
            .await
            .expect("upsert job");
    }

    /// Claims a slot, failing the test unless it is won.
    pub async fn claim(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        span: TimeDelta,
        node: &str,
    ) -> Lease {
        match self.store.claim_slot(&claim(job, slot, span, node)).await {
            Ok(Claim::Won(lease)) => lease,
            other => panic!("expected to win {job} at {slot}: {other:?}"),
        }
    }

    /// Takes over the runs whose leases expired by `now` for `node`, leased until `until`.
    pub async fn take_over(
        &self,
        node: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<Lease> {
        self.store
            .take_over_expired(node, until, now)
            .await
            .expect("take over")
    }

    /// Records that a run failed, failing the test unless the store takes it.
    pub async fn fail(&self, lease: &Lease, failure: &RunFailure<'_>) {
        self.store.fail_run(lease, failure).await.expect("fail");
    }

    /// The runs in `status`, newest first.
    pub async fn runs_in(&self, status: RunStatus) -> Vec<RunRecord> {
        self.store
            .history(&HistoryFilter {
                status: Some(status),
                ..HistoryFilter::default()
            })
            .await
            .expect("history")
    }

    /// Finishes a run with `rows` and returns how many of them were new findings.
    pub async fn succeed(&self, lease: &Lease, columns: &[Column], rows: &[Box<RawValue>]) -> i64 {
        self.store
            .finish_run(lease, &success(lease.window_end, columns, &run_rows(rows)))
            .await
            .expect("finish run")
            .new_row_count
    }

    /// Claims a slot and finishes it with one row per device; the lease and its new findings.
    pub async fn succeed_with_devices(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        span: TimeDelta,
        node: &str,
        devices: &[&str],
    ) -> (Lease, i64) {
        let lease = self.claim(job, slot, span, node).await;
        let new = self
            .succeed(&lease, &device_cols(), &device_rows(devices))
            .await;
        (lease, new)
    }

    /// Closes the store and the raw pool, so that the database can be dropped.
    pub async fn close_upgraded(self) {
        self.store.close().await;
        match &self.raw {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
        }
    }

    /// The backend's name as the docs and the migrations folder spell it.
    pub fn backend_name(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// A time as the backend's `cast(... as text)` writes it.
    pub fn show(&self, t: DateTime<Utc>) -> String {
        match self.backend() {
            Backend::Sqlite => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            Backend::Postgres => t.format("%Y-%m-%d %H:%M:%S+00").to_string(),
        }
    }

    /// Job `j`'s coverage gaps as `start end reason` lines, in order.
    pub async fn gap_lines(&self) -> Vec<String> {
        self.texts(
            r"select gap_start || ' ' || gap_end || ' ' || reason from (
                  select cast(gap_start as text) as gap_start, cast(gap_end as text) as gap_end,
                      reason
                  from hunt_coverage_gaps where job = 'j') g
              order by gap_start",
        )
        .await
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A database at `url` with only `migrations` applied: the files byte for byte, so their
/// checksums match the ones huntd embeds.
pub async fn schema_of(ctx: &Ctx, url: &str, migrations: &[&str]) -> Raw {
    let old = tempfile::tempdir().expect("temp dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(ctx.backend_name());
    for name in migrations {
        std::fs::copy(source.join(name), old.path().join(name)).expect("copy migration");
    }
    let migrator = sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("read migrations");
    match ctx.backend() {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(url)
                .expect("sqlite URL")
                .create_if_missing(true);
            let pool = SqlitePool::connect_with(options).await.expect("connect");
            migrator.run(&pool).await.expect("old schema");
            Raw::Sqlite(pool)
        }
        Backend::Postgres => {
            let pool = PgPool::connect(url).await.expect("connect");
            migrator.run(&pool).await.expect("old schema");
            Raw::Postgres(pool)
        }
    }
}

/// Job `j` on `prod` and its run of 09:00 by node `a` (id 1), succeeded, in the columns every
/// schema since the first migration has: what the upgrade tests write before upgrading.
pub const JOB_J_AND_ITS_RUN_AT_NINE: &str = r#"
insert into hunt_jobs (name, instance, definition, query_sha256, enabled, retention_seconds,
    view_name, updated_at)
values ('j', 'prod', '{"name":"j"}', 'q1', true, 7776000, 'hunt_j', '2024-05-01T00:00:00.000000Z');
insert into hunt_runs (job, instance, slot_at, window_start, window_end, status, node,
    started_at, finished_at, query_sha256)
values ('j', 'prod', '2024-05-01T09:00:00.000000Z', '2024-05-01T08:00:00.000000Z',
        '2024-05-01T09:00:00.000000Z', 'succeeded', 'a', '2024-05-01T09:00:00.000000Z',
        '2024-05-01T09:00:01.000000Z', 'q1');
"#;

/// The store huntd opens on a database at `url` written by `migrations` and then by `rows`:
/// what an upgrade makes of it. [`Ctx::close_upgraded`] closes it.
pub async fn upgraded(ctx: &Ctx, url: &str, migrations: &[&str], rows: &[&str]) -> Ctx {
    let raw = schema_of(ctx, url, migrations).await;
    for sql in rows {
        raw.exec(sql).await;
    }
    Ctx {
        store: store::open(url).await.expect("upgrade"),
        url: url.to_string(),
        raw,
    }
}

/// A job record of instance `prod` keeping its data 90 days.
pub fn job_record(name: &str, dedup: Option<&[&str]>, query: &str) -> JobRecord {
    JobRecord {
        name: name.to_string(),
        instance: "prod".to_string(),
        definition: serde_json::json!({"name": name, "query": query}),
        query_sha256: query.to_string(),
        enabled: true,
        dedup_columns: dedup.map(|d| d.iter().map(ToString::to_string).collect()),
        retention: Duration::from_secs(90 * 86_400),
    }
}

/// A claim of the slot at `slot` for the window `span` before it, leased five minutes.
pub fn claim(job: &str, slot: DateTime<Utc>, span: TimeDelta, node: &str) -> ClaimRequest {
    ClaimRequest {
        job: job.to_string(),
        instance: "prod".to_string(),
        slot_at: slot,
        window_start: slot - span,
        window_end: slot,
        node: node.to_string(),
        lease_until: slot + TimeDelta::minutes(5),
        now: slot,
        query_sha256: "q1".to_string(),
        trigger: huntd::store::Trigger::Schedule,
    }
}

/// `rows` as one answer's spooled rows, in memory.
pub fn run_rows(rows: &[Box<RawValue>]) -> RunRows {
    RunRows::single(Rows::from_vec(rows).expect("rows in memory"))
}

/// A successful Graph answer with `rows`, two seconds after `finished_at`.
pub fn success<'a>(
    finished_at: DateTime<Utc>,
    columns: &'a [Column],
    rows: &'a RunRows,
) -> RunSuccess<'a> {
    RunSuccess {
        finished_at: finished_at + TimeDelta::seconds(2),
        columns,
        rows,
        truncated: false,
        api: "graph",
        http_status: Some(200),
        client_request_id: Some("00000000-0000-0000-0000-000000000001"),
        cost: RunCost {
            api_calls: 1,
            throttle_wait: Duration::ZERO,
        },
        notify: &[],
    }
}

/// A run ended without results (`failed`, `skipped`, ...) at `finished_at`.
pub fn ended(
    status: RunStatus,
    class: &'static str,
    message: &'static str,
    finished_at: DateTime<Utc>,
) -> RunFailure<'static> {
    RunFailure {
        finished_at,
        status,
        error_class: class,
        error_message: message,
        api: None,
        http_status: None,
        client_request_id: None,
        cost: Some(RunCost::default()),
    }
}

/// A run the Graph API refused with `http_status`, ended at `finished_at`.
pub fn api_failure(
    class: &'static str,
    message: &'static str,
    http_status: u16,
    finished_at: DateTime<Utc>,
) -> RunFailure<'static> {
    RunFailure {
        finished_at,
        status: RunStatus::Failed,
        error_class: class,
        error_message: message,
        api: Some("graph"),
        http_status: Some(http_status),
        client_request_id: None,
        cost: Some(RunCost {
            api_calls: 1,
            throttle_wait: Duration::ZERO,
        }),
    }
}

/// An RFC 3339 time.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid time")
        .with_timezone(&Utc)
}

/// Result columns from `(name, type)` pairs.
pub fn cols(spec: &[(&str, &str)]) -> Vec<Column> {
    spec.iter()
        .map(|(name, type_name)| Column {
            name: (*name).to_string(),
            type_name: (*type_name).to_string(),
        })
        .collect()
}

/// Result rows from JSON texts.
pub fn rows(texts: &[String]) -> Vec<Box<RawValue>> {
    texts
        .iter()
        .map(|t| RawValue::from_string(t.clone()).expect("valid JSON row"))
        .collect()
}

/// One `DeviceName`/`ProcessCommandLine` row per device.
pub fn device_rows(devices: &[&str]) -> Vec<Box<RawValue>> {
    let texts: Vec<String> = devices
        .iter()
        .map(|d| format!(r#"{{"DeviceName":"{d}","ProcessCommandLine":"powershell -enc {d}"}}"#))
        .collect();
    rows(&texts)
}

/// The columns of [`device_rows`].
pub fn device_cols() -> Vec<Column> {
    cols(&[("DeviceName", "String"), ("ProcessCommandLine", "String")])
}

/// Runs the body against a store on a fresh SQLite file.
pub async fn with_sqlite(body: Body) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("huntd.db").display());
    let store = store::open(&url).await.expect("open sqlite store");
    let raw = SqlitePool::connect(&url).await.expect("raw sqlite pool");
    body(Ctx {
        url,
        store,
        raw: Raw::Sqlite(raw),
    })
    .await;
}

/// Creates a fresh database, runs the body, and drops the database even when the body panics.
pub async fn with_postgres(body: Body) {
    let Some(db) = scratch::create("huntd_test").await else {
        return;
    };
    let (base, name) = (db.base.clone(), db.name.clone());
    let task_url = replace_database(&base, &name);
    let outcome = tokio::spawn(async move {
        let store = store::open(&task_url).await.expect("open postgres store");
        let raw = PgPool::connect(&task_url).await.expect("raw postgres pool");
        body(Ctx {
            url: task_url,
            store,
            raw: Raw::Postgres(raw.clone()),
        })
        .await;
        raw.close().await;
    })
    .await;
    db.finish(outcome).await;
}

/// Declares each named body as two tests, `sqlite::<name>` and `postgres::<name>`; the including
/// file must name this module `common`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_sqlite(|ctx| Box::pin(super::$name(ctx))).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_postgres(|ctx| Box::pin(super::$name(ctx))).await;
                }
            )*
        }
    };
}
pub(crate) use contract;

/// The database named in a PostgreSQL URL.
pub fn database_name(url: &str) -> String {
    let path = url.split_once('?').map_or(url, |(p, _)| p);
    path[path.rfind('/').expect("URL has a path") + 1..].to_string()
}

/// The same URL naming another database.
pub fn replace_database(url: &str, name: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let root = &path[..path.rfind('/').expect("URL has a path")];
    if query.is_empty() {
        format!("{root}/{name}")
    } else {
        format!("{root}/{name}?{query}")
    }
}
