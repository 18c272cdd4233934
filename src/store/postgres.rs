//! The PostgreSQL backend: results arrive by `copy ... from stdin`, findings are upserted from
//! them server-side, and several daemons can share one database.

mod deliveries;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgCopyIn, PgPool, PgPoolOptions};

use super::backend::{commit_run, whole_seconds};
use super::connect;
use super::dialect::{Dialect, end_commit};
use super::outbox::OutboxSql;
use super::pgtext::{json_without_nul, text_without_nul};
use super::records::{Column, Finished, JobRecord, Lease, RunSuccess, SqlType, ViewClash};
use super::rowhash::{RowSink, write_hashed};
use super::runs::{self, RunSql};
use super::views::{
    ViewColumn, ViewDialect, ViewWriter, left_out_note, plan_upsert, quote_literal, view_name,
};
use super::{Backend, Error, Result};
use crate::spool::RunRows;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Rows per `copy` message; also the unit of reading back and hashing, which runs while the
/// previous chunk is sent (at ~1 KB a row, a quarter megabyte per message), so concurrent runs
/// each hold a few megabytes whatever their size.
const COPY_CHUNK_ROWS: usize = 256;

/// `hunt_jobs` rows as one array per column, for an `unnest` upsert.
#[derive(Debug, Default)]
struct JobColumns {
    name: Vec<String>,
    instance: Vec<String>,
    definition: Vec<String>,
    query_sha256: Vec<String>,
    enabled: Vec<bool>,
    dedup_columns: Vec<Option<String>>,
    retention_seconds: Vec<i64>,
    view_name: Vec<String>,
}

impl JobColumns {
    fn with_capacity(rows: usize) -> Self {
        Self {
            name: Vec::with_capacity(rows),
            instance: Vec::with_capacity(rows),
            definition: Vec::with_capacity(rows),
            query_sha256: Vec::with_capacity(rows),
            enabled: Vec::with_capacity(rows),
            dedup_columns: Vec::with_capacity(rows),
            retention_seconds: Vec::with_capacity(rows),
            view_name: Vec::with_capacity(rows),
        }
    }

    fn push(&mut self, job: &JobRecord, view: String) -> Result<()> {
        self.name.push(job.name.clone());
        self.instance.push(job.instance.clone());
        self.definition
            .push(serde_json::to_string(&job.definition)?);
        self.query_sha256.push(job.query_sha256.clone());
        self.enabled.push(job.enabled);
        self.dedup_columns.push(
            job.dedup_columns
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        );
        self.retention_seconds.push(whole_seconds(job.retention));
        self.view_name.push(view);
        Ok(())
    }
}

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects and applies the migrations (sqlx holds an advisory lock while migrating, so
    /// daemons starting together do not race).
    #[tracing::instrument(skip_all)]
    pub async fn open(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        connect::wait_until_reachable(&options, connect::START_PATIENCE).await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The connection pool, for tests and tools that run their own SQL.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Expression reading one result column from `r.data` as its SQL type.
fn column_expr(column: &ViewColumn) -> String {
    // The key as the row was stored: with any NUL written as `\u0000`.
    let key = quote_literal(&text_without_nul(&column.key));
    match column.sql_type {
        SqlType::Timestamp => format!("nullif(r.data ->> {key}, '')::timestamptz"),
        SqlType::BigInt => format!("nullif(r.data ->> {key}, '')::numeric::bigint"),
        SqlType::Double => format!("nullif(r.data ->> {key}, '')::double precision"),
        SqlType::Boolean => format!("nullif(r.data ->> {key}, '')::boolean"),
        // `->` gives a JSON null as jsonb `null`; every other type reads it as SQL NULL.
        SqlType::Json => format!("nullif(r.data -> {key}, 'null'::jsonb)"),
        SqlType::Text => format!("r.data ->> {key}"),
    }
}

/// PostgreSQL's typed views: lower-case names, so analysts' unquoted `DeviceName` (folded to
/// `devicename`) finds them.
const DIALECT: ViewDialect = ViewDialect {
    name: "PostgreSQL",
    // A view is a relation: at most 1600 columns (MaxHeapAttributeNumber), fixed ones included.
    max_result_columns: 1600 - 6,
    fixed_columns: "r.run_id, u.instance, u.slot_at, u.window_start, u.window_end, r.row_num",
    fold: str::to_lowercase,
    column_expr,
};

#[async_trait::async_trait]
impl ViewWriter for PgConnection {
    async fn insert_columns(
        &mut self,
        job: &str,
        query_sha256: &str,
        columns: &[Column],
    ) -> Result<()> {
        let (names, types): (Vec<Cow<'_, str>>, Vec<&str>) = columns
            .iter()
            .map(|c| (text_without_nul(&c.name), c.type_name.as_str()))
            .unzip();
        sqlx::query(
            r"insert into hunt_columns (job, query_sha256, position, name, type)
              select $1, $2, (c.ordinality - 1)::integer, c.name, t.type
              from unnest($3::text[]) with ordinality as c(name, ordinality)
              join unnest($4::text[]) with ordinality as t(type, ordinality)
                  using (ordinality)",
        )
        .bind(job)
        .bind(query_sha256)
        .bind(names)
        .bind(types)
        .execute(self)
        .await?;
        Ok(())
    }
}

/// Appends a value in `copy` text format: backslash, tab, newline and carriage return escaped.
fn push_copy_text(buf: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(escaped);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// Sends the run's rows by `copy` and returns how many: each chunk's successor is read and
/// hashed while the chunk is on its way and the server parses it.
async fn copy_results(
    conn: &mut PgConnection,
    lease: &Lease,
    rows: &RunRows,
    dedup: Option<&[String]>,
) -> Result<i64> {
    let mut copy = conn
        .copy_in_raw(r"copy hunt_results (run_id, job, row_num, row_hash, data) from stdin")
        .await?;
    let sent = write_hashed(
        &mut CopySink::new(&mut copy, lease),
        rows,
        COPY_CHUNK_ROWS,
        dedup,
    )
    .await;
    match sent {
        Ok(hashed) => {
            copy.finish().await?;
            Ok(hashed)
        }
        Err(e) => {
            copy.abort("huntd stopped sending").await.ok();
            Err(e)
        }
    }
}

/// A run's result rows sent as `copy` text, a message per chunk.
struct CopySink<'c, 'a> {
    copy: &'c mut PgCopyIn<&'a mut PgConnection>,
    /// The run id and job columns every line starts with.
    prefix: Vec<u8>,
}

impl<'c, 'a> CopySink<'c, 'a> {
    fn new(copy: &'c mut PgCopyIn<&'a mut PgConnection>, lease: &Lease) -> Self {
        let mut prefix = Vec::new();
        let _ = write!(prefix_writer(&mut prefix), "{}\t", lease.run_id);
        push_copy_text(&mut prefix, &lease.job);
        prefix.push(b'\t');
        Self { copy, prefix }
    }
}

#[async_trait::async_trait]
impl RowSink for CopySink<'_, '_> {
    async fn write(
        &mut self,
        rows: &[Box<RawValue>],
        hashes: &[String],
        first_row: i64,
    ) -> Result<()> {
        let mut buf = Vec::with_capacity(rows.iter().map(|r| r.get().len() + 128).sum());
        for (num, (row, hash)) in (first_row..).zip(rows.iter().zip(hashes)) {
            buf.extend_from_slice(&self.prefix);
            let _ = write!(prefix_writer(&mut buf), "{num}\t{hash}\t");
            push_copy_text(&mut buf, &json_without_nul(row.get()));
            buf.push(b'\n');
        }
        self.copy.send(buf).await?;
        Ok(())
    }
}

/// `write!` into a byte buffer.
fn prefix_writer(buf: &mut Vec<u8>) -> impl std::fmt::Write + '_ {
    struct Bytes<'a>(&'a mut Vec<u8>);
    impl std::fmt::Write for Bytes<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    Bytes(buf)
}

/// PostgreSQL's own run SQL.
const RUNS: RunSql = RunSql {
    begin_claim: None,
    // Claims of one job queue on its row, so what is read below still holds at the insert.
    lock_job: r"select name from hunt_jobs where name = $1 for update",
    // `skip locked`: runs another node is taking over (or still writing) are left alone.
    take_over: r"with expired as (
              select id from hunt_runs
              where status = 'running' and lease_expires_at < $3
              for update skip locked
          )
          update hunt_runs u
          set attempt = u.attempt + 1, node = $1, lease_owner = $1, lease_expires_at = $2,
              started_at = $3
          from expired
          where u.id = expired.id
          returning u.id, u.attempt, u.node, u.job, u.instance, u.slot_at, u.window_start,
              u.window_end",
    fail: r"update hunt_runs
          set status = $1, finished_at = $2,
              duration_ms = greatest(0, (extract(epoch from ($2 - started_at)) * 1000)::bigint),
              api = $3, http_status = $4, client_request_id = $5, error_class = $6,
              error_message = $7, lease_expires_at = null, api_calls = $11,
              throttle_wait_ms = $12
          where id = $8 and attempt = $9 and lease_owner = $10 and status = 'running'",
    interrupt: r"update hunt_runs
          set status = 'interrupted', finished_at = $2,
              duration_ms = greatest(0, (extract(epoch from ($2 - started_at)) * 1000)::bigint),
              error_class = 'interrupted',
              error_message = 'the node restarted while the run was in progress',
              lease_expires_at = null
          where status = 'running' and lease_owner = $1",
    history: r"select id, job, instance, slot_at, window_start, window_end, status, attempt,
              node, started_at, finished_at, duration_ms, row_count, new_row_count, truncated,
              api, http_status, client_request_id, error_class, error_message, query_sha256,
              api_calls, throttle_wait_ms, trigger
          from hunt_runs
          where ($1::text is null or job = $1) and ($2::text is null or status = $2)
              and ($3::timestamptz is null or started_at >= $3)
              and ($5::text is null or instance = $5)
          order by started_at desc, id desc
          limit $4",
    findings: r"select job, instance, row_hash, first_seen_at, last_seen_at, first_run_id,
              last_run_id, times_seen, data::text as data
          from hunt_findings
          where job = $1 and ($2::timestamptz is null or first_seen_at >= $2)
              and ($3::text is null or instance = $3)
          order by first_seen_at, instance, row_hash",
    fence: r"update hunt_runs
          set status = 'succeeded', finished_at = $1,
              duration_ms = greatest(0, (extract(epoch from ($1 - started_at)) * 1000)::bigint),
              truncated = $2, api = $3, http_status = $4,
              client_request_id = $5, lease_expires_at = null, error_message = $9,
              api_calls = $10, throttle_wait_ms = $11
          where id = $6 and attempt = $7 and lease_owner = $8 and status = 'running'
          returning query_sha256",
    prune_results: r"delete from hunt_results where (run_id, row_num) in (
              select r.run_id, r.row_num from hunt_results r
              join hunt_runs u on u.id = r.run_id
              where u.job = $1 and u.status <> 'running'
                  and coalesce(u.finished_at, u.started_at) < $2
              limit $3)",
};

/// The writes of `finish_run` inside its transaction: the fence, results, findings and view.
async fn write_run(
    tx: &mut PgConnection,
    lease: &Lease,
    result: &RunSuccess<'_>,
    dedup: Option<&[String]>,
) -> Result<Finished> {
    // No note yet: it is known once the job's row is locked, below.
    let query_sha256 = runs::fence::<sqlx::Postgres>(&mut *tx, &RUNS, lease, result, None).await?;
    // One finishing run per job at a time: findings counts stay exact and the view is
    // rebuilt once. `no key update` still lets new runs of the job be claimed meanwhile.
    let (view, current_view_sha): (String, Option<String>) = sqlx::query_as(
        r"select view_name, view_sha256 from hunt_jobs where name = $1 for no key update",
    )
    .bind(&lease.job)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(note) = left_out_note(&DIALECT, &view, result.columns) {
        tracing::warn!(job = %lease.job, "{note}");
        sqlx::query(r"update hunt_runs set error_message = $1 where id = $2")
            .bind(note)
            .bind(lease.run_id)
            .execute(&mut *tx)
            .await?;
    }
    let row_count = copy_results(tx, lease, result.rows, dedup).await?;
    let view = (view.as_str(), current_view_sha.as_deref());
    end_commit::<PostgresStore>(tx, lease, result, row_count, view, &query_sha256).await
}

impl Dialect for PostgresStore {
    type Database = sqlx::Postgres;
    const BACKEND: Backend = Backend::Postgres;
    const RUNS: &'static RunSql = &RUNS;
    const OUTBOX: &'static OutboxSql = &deliveries::OUTBOX;
    const VIEWS: &'static ViewDialect = &DIALECT;
    const STATUS_ISOLATION: Option<&'static str> =
        Some(r"set transaction isolation level repeatable read, read only");

    fn pool(&self) -> &sqlx::Pool<sqlx::Postgres> {
        &self.pool
    }

    async fn record_findings(
        conn: &mut PgConnection,
        lease: &Lease,
        finished_at: DateTime<Utc>,
        row_count: i64,
    ) -> Result<i64> {
        // Each distinct row once, from the rows this transaction just copied rather than from
        // memory: its finding points at the last result row carrying it. Hash order is the
        // findings table's key order, so the upsert walks its index forward.
        let new_row_count: i64 = sqlx::query_scalar(
            r"with up as (
                  insert into hunt_finding_state (job, instance, row_hash, first_seen_at,
                      last_seen_at, first_run_id, last_run_id, last_row_num, times_seen)
                  select $1, $4, row_hash, $2, $2, $3, $3, max(row_num), 1
                  from hunt_results
                  where run_id = $3
                  group by row_hash
                  order by row_hash
                  on conflict (job, instance, row_hash) do update set
                      last_seen_at = greatest(hunt_finding_state.last_seen_at,
                          excluded.last_seen_at),
                      last_run_id = case
                          when excluded.last_seen_at >= hunt_finding_state.last_seen_at
                          then excluded.last_run_id else hunt_finding_state.last_run_id end,
                      last_row_num = case
                          when excluded.last_seen_at >= hunt_finding_state.last_seen_at
                          then excluded.last_row_num else hunt_finding_state.last_row_num end,
                      times_seen = hunt_finding_state.times_seen + 1
                  returning first_run_id
              )
              select count(*) from up where first_run_id = $3",
        )
        .bind(&lease.job)
        .bind(finished_at)
        .bind(lease.run_id)
        .bind(&lease.instance)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query(r"update hunt_runs set new_row_count = $1, row_count = $3 where id = $2")
            .bind(new_row_count)
            .bind(lease.run_id)
            .bind(row_count)
            .execute(&mut *conn)
            .await?;
        Ok(new_row_count)
    }

    async fn upsert_jobs(&self, jobs: &[JobRecord]) -> Result<Vec<ViewClash>> {
        let views: Vec<String> = jobs.iter().map(|j| view_name(&j.name)).collect();
        let mut tx = self.pool.begin().await?;
        let owners: Vec<(String, String)> =
            sqlx::query_as(r"select view_name, name from hunt_jobs where view_name = any($1)")
                .bind(&views)
                .fetch_all(&mut *tx)
                .await?;
        let (accepted, clashes) = plan_upsert(jobs, owners.into_iter().collect());
        let mut columns = JobColumns::with_capacity(accepted.len());
        for (job, view) in accepted {
            columns.push(job, view)?;
        }
        // One statement for the whole batch: each column travels as one array.
        sqlx::query(
            r"insert into hunt_jobs (name, instance, definition, query_sha256, enabled,
                  dedup_columns, retention_seconds, view_name, updated_at)
              select name, instance, definition::jsonb, query_sha256, enabled,
                  dedup_columns::jsonb, retention_seconds, view_name, now()
              from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[],
                  $6::text[], $7::bigint[], $8::text[])
                  as j(name, instance, definition, query_sha256, enabled, dedup_columns,
                      retention_seconds, view_name)
              on conflict (name) do update set
                  instance = excluded.instance,
                  definition = excluded.definition,
                  query_sha256 = excluded.query_sha256,
                  enabled = excluded.enabled,
                  dedup_columns = excluded.dedup_columns,
                  retention_seconds = excluded.retention_seconds,
                  updated_at = excluded.updated_at",
        )
        .bind(columns.name)
        .bind(columns.instance)
        .bind(columns.definition)
        .bind(columns.query_sha256)
        .bind(columns.enabled)
        .bind(columns.dedup_columns)
        .bind(columns.retention_seconds)
        .bind(columns.view_name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(clashes)
    }

    async fn finish_run(&self, lease: &Lease, result: &RunSuccess<'_>) -> Result<Finished> {
        let dedup: Option<sqlx::types::Json<Vec<String>>> =
            sqlx::query_scalar(r"select dedup_columns from hunt_jobs where name = $1")
                .bind(&lease.job)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| Error::UnknownJob(lease.job.clone()))?;
        let dedup = dedup.map(|d| d.0);
        let mut tx = self.pool.begin().await?;
        let written = write_run(&mut tx, lease, result, dedup.as_deref()).await;
        commit_run(self, tx, written, lease, result).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_only_what_copy_reads_specially() {
        let mut buf = Vec::new();
        push_copy_text(&mut buf, "{\"a\":\"x\\\"y\"}\t\n\r");
        assert_eq!(buf, b"{\"a\":\"x\\\\\"y\"}\\t\\n\\r");
    }
}
