//! The SQLite backend: one file, WAL, foreign keys on, writers wait on `busy_timeout`.

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqliteConnection};

use super::{
    Backend, Claim, ClaimRequest, Error, FindingRecord, Finished, GapRecord, HashedRows,
    HistoryFilter, JobRecord, Lease, PruneOptions, PruneReport, Result, RunFailure, RunRecord,
    RunStatus, RunSuccess, SqlType, Store, ViewClash, ViewColumn,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// SQLite's default limit on bound parameters per statement (since 3.32).
const MAX_BINDS: usize = 32_766;

/// Page cache per connection, in KiB when negative (SQLite's convention): 64 MiB.
const CACHE_SIZE: &str = "-65536";

/// How long a writer waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// The one text form of an instant: fixed width, so text order is time order.
fn ts(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(column: &'static str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Error::Corrupt {
            column,
            value: text.to_string(),
        })
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and applies the migrations.
    #[tracing::instrument(skip_all)]
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with `normal` syncs at checkpoints: a power cut may lose the last
            // transactions but never corrupts the file or splits one.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // A run's findings upsert touches the `(job, row_hash)` index at random places; with
            // the default 2 MiB cache its pages are evicted and spilled to the WAL over and over.
            // The cache is allocated as pages are used, so idle connections stay small.
            .pragma("cache_size", CACHE_SIZE)
            .busy_timeout(BUSY_TIMEOUT);
        // Switching a fresh file to WAL needs a moment alone with it: a second process doing
        // the same at that instant is told "database is locked" without waiting out
        // busy_timeout, so that error is retried a few times before it is reported.
        let mut attempts = 0;
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if attempts < 5 && is_busy(&e) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempts)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        // SQLite has no advisory lock: two processes opening a fresh file both try the same
        // migration, and the loser fails once the winner has committed it: in its SQL (a table
        // that exists) or, for a migration that can run twice, recording its version. Running
        // again then finds it applied, so a failed migration is retried before it is reported.
        let mut retries = 2;
        loop {
            match MIGRATOR.run(&pool).await {
                Ok(()) => break,
                Err(
                    sqlx::migrate::MigrateError::ExecuteMigration(..)
                    | sqlx::migrate::MigrateError::Execute(..),
                ) if retries > 0 => {
                    retries -= 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Self { pool })
    }

    /// The connection pool, for tests and tools that run their own SQL.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Whether SQLite refused for a lock another connection holds (SQLITE_BUSY or SQLITE_LOCKED).
fn is_busy(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
        .is_some_and(|code| code == "5" || code == "6")
}

fn map_unknown_job(job: &str, error: sqlx::Error) -> Error {
    match error.as_database_error() {
        Some(db) if db.is_foreign_key_violation() => Error::UnknownJob(job.to_string()),
        _ => Error::Database(error),
    }
}

fn lease_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Lease> {
    Ok(Lease {
        run_id: row.try_get("id")?,
        attempt: row.try_get("attempt")?,
        node: row.try_get("node")?,
        job: row.try_get("job")?,
        slot_at: parse_ts("slot_at", row.try_get("slot_at")?)?,
        window_start: parse_ts("window_start", row.try_get("window_start")?)?,
        window_end: parse_ts("window_end", row.try_get("window_end")?)?,
    })
}

/// Expression reading one result column from `r.data` as its SQL type.
fn column_expr(column: &ViewColumn) -> String {
    let path = super::quote_literal(&format!("$.\"{}\"", column.key));
    match column.sql_type {
        SqlType::Timestamp | SqlType::Text | SqlType::Boolean => {
            format!("json_extract(r.data, {path})")
        }
        SqlType::BigInt => format!("cast(json_extract(r.data, {path}) as integer)"),
        SqlType::Double => format!("cast(json_extract(r.data, {path}) as real)"),
        SqlType::Json => format!("r.data -> {path}"),
    }
}

fn view_sql(view: &str, job: &str, query_sha256: &str, columns: &[super::Column]) -> String {
    let mut sql = format!(
        r"create view {} as select r.run_id as run_id, u.slot_at as slot_at, u.window_start as window_start, u.window_end as window_end, r.row_num as row_num",
        super::quote_ident(view)
    );
    for column in super::plan_view_columns(columns, str::to_string) {
        let _ = write!(
            sql,
            ", {} as {}",
            column_expr(&column),
            super::quote_ident(&column.ident)
        );
    }
    let _ = write!(
        sql,
        r" from hunt_results r join hunt_runs u on u.id = r.run_id where u.job = {} and u.query_sha256 = {}",
        super::quote_literal(job),
        super::quote_literal(query_sha256)
    );
    sql
}

/// Multi-row insert of results, five anonymous binds per row.
fn results_insert_sql(rows: usize) -> String {
    let mut sql =
        String::from(r"insert into hunt_results (run_id, job, row_num, row_hash, data) values ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?, ?, ?, ?, ?)");
    }
    sql
}

/// Values one `hunt_jobs` row binds in [`jobs_upsert_sql`].
const JOB_COLUMNS: usize = 9;

/// Upserts `rows` jobs in one statement, with anonymous binds (see [`insert_results`]).
fn jobs_upsert_sql(rows: usize) -> String {
    let mut sql = String::from(
        r"insert into hunt_jobs (name, instance, definition, query_sha256, enabled,
              dedup_columns, retention_seconds, view_name, updated_at)
          values ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    }
    sql.push_str(
        r"
          on conflict (name) do update set
              instance = excluded.instance,
              definition = excluded.definition,
              query_sha256 = excluded.query_sha256,
              enabled = excluded.enabled,
              dedup_columns = excluded.dedup_columns,
              retention_seconds = excluded.retention_seconds,
              updated_at = excluded.updated_at",
    );
    sql
}

/// Inserts the run's rows in batches near the bind limit and returns their hashes: each batch's
/// successor is hashed on this thread while SQLite's worker thread inserts it.
async fn insert_results(
    conn: &mut SqliteConnection,
    lease: &Lease,
    rows: &[Box<serde_json::value::RawValue>],
    dedup: Option<&[String]>,
) -> Result<HashedRows> {
    // Anonymous `?` binds only: sqlx looks each numbered parameter's name up, and SQLite's
    // lookup is linear, which makes `?NNN` batches quadratic.
    let per_batch = MAX_BINDS / 5;
    let mut hashed = HashedRows::with_capacity(rows.len());
    let mut full_sql: Option<Arc<str>> = None;
    let mut batches = rows.chunks(per_batch);
    let mut current = batches
        .next()
        .map(|batch| Ok::<_, Error>((batch, super::hash_rows(batch, dedup)?)))
        .transpose()?;
    while let Some((batch, hashes)) = current {
        // Full batches share one SQL text, so sqlx prepares it once per connection.
        let sql = if batch.len() == per_batch {
            Arc::clone(full_sql.get_or_insert_with(|| results_insert_sql(per_batch).into()))
        } else {
            results_insert_sql(batch.len()).into()
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (num, (row, hash)) in (hashed.next_row_num()..).zip(batch.iter().zip(&hashes)) {
            query = query
                .bind(lease.run_id)
                .bind(&lease.job)
                .bind(num)
                .bind(hash)
                .bind(row.get());
        }
        let next = batches.next();
        // `join` polls the insert first, which hands it to the worker thread; hashing then
        // runs here while the worker writes.
        let (inserted, next_hashes) =
            futures_util::future::join(query.execute(&mut *conn), async {
                next.map(|batch| super::hash_rows(batch, dedup)).transpose()
            })
            .await;
        inserted?;
        hashed.extend(hashes);
        current = next.zip(next_hashes?);
    }
    Ok(hashed)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    #[tracing::instrument(skip_all, fields(jobs = jobs.len()))]
    async fn upsert_jobs(&self, jobs: &[JobRecord]) -> Result<Vec<ViewClash>> {
        let views: Vec<String> = jobs.iter().map(|j| super::view_name(&j.name)).collect();
        // Immediate: this transaction reads before it writes, and a deferred one whose read
        // snapshot another process has moved past fails with "database is locked" at its first
        // write instead of waiting out busy_timeout.
        let mut tx = self.pool.begin_with("begin immediate").await?;
        // One bind however many jobs: the view names travel as a JSON array.
        let owners: Vec<(String, String)> = sqlx::query_as(
            r"select view_name, name from hunt_jobs
              where view_name in (select value from json_each(?1))",
        )
        .bind(serde_json::to_string(&views)?)
        .fetch_all(&mut *tx)
        .await?;
        let (accepted, clashes) = super::plan_upsert(jobs, owners.into_iter().collect());
        let updated_at = ts(Utc::now());
        for batch in accepted.chunks(MAX_BINDS / JOB_COLUMNS) {
            let mut query = sqlx::query(AssertSqlSafe(jobs_upsert_sql(batch.len())));
            for (job, view) in batch {
                let dedup = job
                    .dedup_columns
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?;
                query = query
                    .bind(&job.name)
                    .bind(&job.instance)
                    .bind(serde_json::to_string(&job.definition)?)
                    .bind(&job.query_sha256)
                    .bind(job.enabled)
                    .bind(dedup)
                    .bind(super::whole_seconds(job.retention))
                    .bind(view)
                    .bind(&updated_at);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(clashes)
    }

    #[tracing::instrument(skip_all, fields(job = %request.job, slot = %request.slot_at))]
    async fn claim_slot(&self, request: &ClaimRequest) -> Result<Claim> {
        // An interrupted run's slot may be claimed again; any other existing run keeps it.
        let won = sqlx::query(
            r"insert into hunt_runs (job, instance, slot_at, window_start, window_end, status,
                  attempt, node, lease_owner, lease_expires_at, started_at, query_sha256)
              values (?1, ?2, ?3, ?4, ?5, 'running', 1, ?6, ?6, ?7, ?8, ?9)
              on conflict (job, slot_at) do update set
                  status = 'running', attempt = hunt_runs.attempt + 1, node = excluded.node,
                  lease_owner = excluded.lease_owner,
                  lease_expires_at = excluded.lease_expires_at,
                  started_at = excluded.started_at, window_start = excluded.window_start,
                  window_end = excluded.window_end, query_sha256 = excluded.query_sha256,
                  instance = excluded.instance, finished_at = null, duration_ms = null,
                  error_class = null, error_message = null
              where hunt_runs.status = 'interrupted'
              returning id, attempt, node, job, slot_at, window_start, window_end",
        )
        .bind(&request.job)
        .bind(&request.instance)
        .bind(ts(request.slot_at))
        .bind(ts(request.window_start))
        .bind(ts(request.window_end))
        .bind(&request.node)
        .bind(ts(request.lease_until))
        .bind(ts(request.now))
        .bind(&request.query_sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_unknown_job(&request.job, e))?;
        if let Some(row) = won {
            return Ok(Claim::Won(lease_from_row(&row)?));
        }
        let row = sqlx::query(
            r"select id, attempt, status from hunt_runs where job = ?1 and slot_at = ?2",
        )
        .bind(&request.job)
        .bind(ts(request.slot_at))
        .fetch_one(&self.pool)
        .await?;
        Ok(Claim::Lost {
            run_id: row.try_get("id")?,
            attempt: row.try_get("attempt")?,
            status: row.try_get::<String, _>("status")?.parse()?,
        })
    }

    #[tracing::instrument(skip(self))]
    async fn take_over_expired(
        &self,
        node: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Lease>> {
        // One statement: SQLite serialises writers, so no two nodes take the same run.
        let rows = sqlx::query(
            r"update hunt_runs
              set attempt = attempt + 1, node = ?1, lease_owner = ?1, lease_expires_at = ?2,
                  started_at = ?3
              where status = 'running' and lease_expires_at < ?3
              returning id, attempt, node, job, slot_at, window_start, window_end",
        )
        .bind(node)
        .bind(ts(lease_until))
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(lease_from_row).collect()
    }

    async fn renew_lease(&self, lease: &Lease, until: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            r"update hunt_runs set lease_expires_at = ?1
              where id = ?2 and attempt = ?3 and lease_owner = ?4 and status = 'running'",
        )
        .bind(ts(until))
        .bind(lease.run_id)
        .bind(lease.attempt)
        .bind(&lease.node)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(skip_all, fields(run = lease.run_id, attempt = lease.attempt, rows = result.rows.len()))]
    async fn finish_run(&self, lease: &Lease, result: &RunSuccess<'_>) -> Result<Finished> {
        let job = sqlx::query(
            r"select dedup_columns, view_name, view_sha256 from hunt_jobs where name = ?1",
        )
        .bind(&lease.job)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::UnknownJob(lease.job.clone()))?;
        let dedup = super::parse_dedup(job.try_get("dedup_columns")?)?;
        let view: String = job.try_get("view_name")?;
        let current_view_sha: Option<String> = job.try_get("view_sha256")?;
        let row_count = i64::try_from(result.rows.len()).expect("a slice length fits in i64");

        let mut tx = self.pool.begin().await?;
        // The fence comes first: it takes the write lock and proves the lease is still ours.
        let fenced: Option<String> = sqlx::query_scalar(
            r"update hunt_runs
              set status = 'succeeded', finished_at = ?1,
                  duration_ms = max(0, cast(round((julianday(?1) - julianday(started_at))
                      * 86400000) as integer)),
                  row_count = ?2, truncated = ?3, api = ?4, http_status = ?5,
                  client_request_id = ?6, lease_expires_at = null
              where id = ?7 and attempt = ?8 and lease_owner = ?9 and status = 'running'
              returning query_sha256",
        )
        .bind(ts(result.finished_at))
        .bind(row_count)
        .bind(result.truncated)
        .bind(result.api)
        .bind(result.http_status.map(i32::from))
        .bind(result.client_request_id)
        .bind(lease.run_id)
        .bind(lease.attempt)
        .bind(&lease.node)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(query_sha256) = fenced else {
            return Err(Error::LeaseLost {
                run_id: lease.run_id,
                attempt: lease.attempt,
            });
        };
        let hashed = insert_results(&mut tx, lease, result.rows, dedup.as_deref()).await?;

        // Each distinct row once, as `[hash, row_num]`: its finding points at that result row.
        let findings = serde_json::to_string(&hashed.findings())?;
        // `where true` tells SQLite's parser that `on conflict` belongs to the insert.
        sqlx::query(
            r"insert into hunt_finding_state (job, row_hash, first_seen_at, last_seen_at,
                  first_run_id, last_run_id, last_row_num, times_seen)
              select ?1, h.value ->> 0, ?2, ?2, ?3, ?3, h.value ->> 1, 1
              from json_each(?4) h
              where true
              on conflict (job, row_hash) do update set
                  last_seen_at = max(hunt_finding_state.last_seen_at, excluded.last_seen_at),
                  last_run_id = case
                      when excluded.last_seen_at >= hunt_finding_state.last_seen_at
                      then excluded.last_run_id else hunt_finding_state.last_run_id end,
                  last_row_num = case
                      when excluded.last_seen_at >= hunt_finding_state.last_seen_at
                      then excluded.last_row_num else hunt_finding_state.last_row_num end,
                  times_seen = hunt_finding_state.times_seen + 1",
        )
        .bind(&lease.job)
        .bind(ts(result.finished_at))
        .bind(lease.run_id)
        .bind(&findings)
        .execute(&mut *tx)
        .await?;
        // The findings this run created are those it is the first run of, found through the
        // `(job, first_seen_at)` index rather than by looking every hash up before the upsert.
        let new_row_count: i64 = sqlx::query_scalar(
            r"update hunt_runs set new_row_count = (
                  select count(*) from hunt_finding_state
                  where job = ?1 and first_seen_at = ?2 and first_run_id = ?3)
              where id = ?3
              returning new_row_count",
        )
        .bind(&lease.job)
        .bind(ts(result.finished_at))
        .bind(lease.run_id)
        .fetch_one(&mut *tx)
        .await?;

        let wanted_view_sha = super::view_sha256(&query_sha256, result.columns);
        if current_view_sha.as_deref() != Some(wanted_view_sha.as_str()) {
            sqlx::query(r"delete from hunt_columns where job = ?1 and query_sha256 = ?2")
                .bind(&lease.job)
                .bind(&query_sha256)
                .execute(&mut *tx)
                .await?;
            for (position, column) in result.columns.iter().enumerate() {
                sqlx::query(
                    r"insert into hunt_columns (job, query_sha256, position, name, type)
                      values (?1, ?2, ?3, ?4, ?5)",
                )
                .bind(&lease.job)
                .bind(&query_sha256)
                .bind(i64::try_from(position).expect("a slice index fits in i64"))
                .bind(&column.name)
                .bind(&column.type_name)
                .execute(&mut *tx)
                .await?;
            }
            // Identifiers are quoted and job names are data in literals: see `quote_ident`.
            sqlx::query(AssertSqlSafe(format!(
                "drop view if exists {}",
                super::quote_ident(&view)
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(AssertSqlSafe(view_sql(
                &view,
                &lease.job,
                &query_sha256,
                result.columns,
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(r"update hunt_jobs set view_sha256 = ?1 where name = ?2")
                .bind(&wanted_view_sha)
                .bind(&lease.job)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Finished {
            row_count,
            new_row_count,
        })
    }

    #[tracing::instrument(skip_all, fields(run = lease.run_id, attempt = lease.attempt))]
    async fn fail_run(&self, lease: &Lease, failure: &RunFailure<'_>) -> Result<()> {
        let done = sqlx::query(
            r"update hunt_runs
              set status = ?1, finished_at = ?2,
                  duration_ms = max(0, cast(round((julianday(?2) - julianday(started_at))
                      * 86400000) as integer)),
                  api = ?3, http_status = ?4, client_request_id = ?5, error_class = ?6,
                  error_message = ?7, lease_expires_at = null
              where id = ?8 and attempt = ?9 and lease_owner = ?10 and status = 'running'",
        )
        .bind(failure.status.as_str())
        .bind(ts(failure.finished_at))
        .bind(failure.api)
        .bind(failure.http_status.map(i32::from))
        .bind(failure.client_request_id)
        .bind(failure.error_class)
        .bind(failure.error_message)
        .bind(lease.run_id)
        .bind(lease.attempt)
        .bind(&lease.node)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(Error::LeaseLost {
                run_id: lease.run_id,
                attempt: lease.attempt,
            })
        }
    }

    #[tracing::instrument(skip(self))]
    async fn mark_interrupted(&self, node: &str, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query(
            r"update hunt_runs
              set status = 'interrupted', finished_at = ?2,
                  duration_ms = max(0, cast(round((julianday(?2) - julianday(started_at))
                      * 86400000) as integer)),
                  error_class = 'interrupted',
                  error_message = 'the node restarted while the run was in progress',
                  lease_expires_at = null
              where status = 'running' and lease_owner = ?1",
        )
        .bind(node)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn record_gap(&self, gap: &GapRecord) -> Result<()> {
        sqlx::query(
            r"insert into hunt_gaps (job, gap_start, gap_end, reason, recorded_at)
              values (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&gap.job)
        .bind(ts(gap.gap_start))
        .bind(ts(gap.gap_end))
        .bind(&gap.reason)
        .bind(ts(gap.recorded_at))
        .execute(&self.pool)
        .await
        .map_err(|e| map_unknown_job(&gap.job, e))?;
        Ok(())
    }

    async fn high_water_mark(&self, job: &str) -> Result<Option<DateTime<Utc>>> {
        let end: Option<String> = sqlx::query_scalar(
            r"select max(window_end) from hunt_runs
              where job = ?1 and status in ('succeeded', 'skipped')",
        )
        .bind(job)
        .fetch_one(&self.pool)
        .await?;
        end.map(|t| parse_ts("window_end", &t)).transpose()
    }

    async fn history(&self, filter: &HistoryFilter) -> Result<Vec<RunRecord>> {
        Ok(sqlx::query_as(
            r"select id, job, instance, slot_at, window_start, window_end, status, attempt, node,
                  started_at, finished_at, duration_ms, row_count, new_row_count, truncated, api,
                  http_status, client_request_id, error_class, error_message, query_sha256
              from hunt_runs
              where (?1 is null or job = ?1) and (?2 is null or status = ?2)
                  and (?3 is null or started_at >= ?3)
              order by started_at desc, id desc
              limit ?4",
        )
        .bind(filter.job.as_deref())
        .bind(filter.status.map(RunStatus::as_str))
        .bind(filter.since.map(ts))
        .bind(filter.limit.map_or(-1, i64::from))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn findings(
        &self,
        job: &str,
        new_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<FindingRecord>> {
        Ok(sqlx::query_as(
            r"select job, row_hash, first_seen_at, last_seen_at, first_run_id, last_run_id,
                  times_seen, data
              from hunt_findings
              where job = ?1 and (?2 is null or first_seen_at >= ?2)
              order by first_seen_at, row_hash",
        )
        .bind(job)
        .bind(new_since.map(ts))
        .fetch_all(&self.pool)
        .await?)
    }

    #[tracing::instrument(skip(self))]
    async fn prune(&self, options: &PruneOptions) -> Result<PruneReport> {
        let jobs: Vec<(String, i64)> =
            sqlx::query_as(r"select name, retention_seconds from hunt_jobs order by name")
                .fetch_all(&self.pool)
                .await?;
        let mut report = PruneReport::default();
        let batch = i64::from(options.batch_size.max(1));
        // Findings go first, so a finding never outlives the result row it points at (it is
        // pruned with its last run); results go before runs, so a run is deleted only once none
        // of its results are left.
        let steps: [(&str, fn(&mut PruneReport) -> &mut u64); 4] = [
            (
                r"delete from hunt_finding_state where (job, row_hash) in (
                      select job, row_hash from hunt_finding_state
                      where job = ?1 and last_seen_at < ?2
                      limit ?3)",
                |r| &mut r.findings,
            ),
            (
                r"delete from hunt_results where rowid in (
                      select r.rowid from hunt_results r join hunt_runs u on u.id = r.run_id
                      where u.job = ?1 and u.status <> 'running'
                          and coalesce(u.finished_at, u.started_at) < ?2
                      limit ?3)",
                |r| &mut r.results,
            ),
            (
                r"delete from hunt_runs where id in (
                      select id from hunt_runs u
                      where u.job = ?1 and u.status <> 'running'
                          and coalesce(u.finished_at, u.started_at) < ?2
                          and not exists (select 1 from hunt_results r where r.run_id = u.id)
                      limit ?3)",
                |r| &mut r.runs,
            ),
            (
                r"delete from hunt_gaps where id in (
                      select id from hunt_gaps where job = ?1 and gap_end < ?2 limit ?3)",
                |r| &mut r.gaps,
            ),
        ];
        for (job, retention) in &jobs {
            let cutoff = ts(super::cutoff(options.now, *retention));
            for (sql, counter) in &steps {
                loop {
                    let deleted = sqlx::query(*sql)
                        .bind(job)
                        .bind(&cutoff)
                        .bind(batch)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    report.batches += 1;
                    *counter(&mut report) += deleted;
                    if deleted < u64::try_from(batch).expect("batch is positive") {
                        break;
                    }
                }
            }
        }
        Ok(report)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_one_fixed_width_form() {
        let t = DateTime::parse_from_rfc3339("2024-05-01T08:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(ts(t), "2024-05-01T08:00:00.000000Z");
        assert_eq!(parse_ts("t", &ts(t)).ok(), Some(t));
    }

    #[test]
    fn result_batches_use_anonymous_parameters() {
        assert_eq!(
            results_insert_sql(2),
            "insert into hunt_results (run_id, job, row_num, row_hash, data) values \
             (?, ?, ?, ?, ?),(?, ?, ?, ?, ?)"
        );
    }
}
