//! The SQLite backend: one file, WAL, foreign keys on, writers wait on `busy_timeout`.

mod deliveries;
mod views;

use views::DIALECT;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection as _, Row, SqliteConnection};

use super::backend::{commit_run, whole_seconds};
use super::db::ts;
use super::dialect::{Dialect, end_commit};
use super::outbox::OutboxSql;
use super::records::{Finished, JobRecord, Lease, RunSuccess, ViewClash};
use super::rowhash::{RowSink, parse_dedup, write_hashed};
use super::runs::{self, RunSql};
use super::views::{ViewDialect, left_out_note, plan_upsert, view_name};
use super::{Backend, Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// SQLite's default limit on bound parameters per statement (since 3.32).
const MAX_BINDS: usize = 32_766;

/// How long a writer waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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
            // SQLite's default page cache (2 MiB a connection) is kept: each pooled connection
            // grows its own, so a larger one multiplied the memory of concurrent commits, and the
            // findings upsert walks its index in key order, which a small cache serves well.
            .busy_timeout(BUSY_TIMEOUT);
        // Switching a fresh file to WAL needs a moment alone with it: a second process doing
        // the same at that instant is told "database is locked" without waiting out
        // busy_timeout, so that error is retried a few times before it is reported.
        let mut attempts = 0;
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(4)
                .after_release(|conn, _| Box::pin(still_usable(conn)))
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
        // SQLite has no advisory lock, and the migrator's transactions are deferred: one that
        // has read the schema is refused "database is locked" at its first write, without
        // waiting out busy_timeout, when another process committed in between. Holding the
        // write lock from the start (`begin immediate` waits out busy_timeout for it) makes
        // concurrent opens migrate one after another; the later ones find nothing to do. The
        // migrator nests its transactions as savepoints, so a failed migration leaves none of
        // this open's migrations applied.
        //
        // A table rebuild (SQLite's only way to change a constraint) needs foreign keys off,
        // which SQLite allows only outside a transaction: the migrations run on a connection of
        // their own, and `foreign_key_check` proves every key intact before the commit.
        let mut conn = SqliteConnection::connect_with(&options.foreign_keys(false)).await?;
        let mut lock = conn.begin_with("begin immediate").await?;
        // `run` over a borrowed connection makes this future's `Send` depend on a lifetime the
        // compiler cannot generalise; `run_direct` is sqlx's own way around that.
        MIGRATOR.run_direct(None, &mut *lock, false).await?;
        let broken: Option<String> =
            sqlx::query_scalar(r#"select "table" from pragma_foreign_key_check"#)
                .fetch_optional(&mut *lock)
                .await?;
        if let Some(table) = broken {
            return Err(Error::Corrupt {
                column: "foreign key",
                value: format!("a migration left rows of {table} without their parent"),
            });
        }
        lock.commit().await?;
        conn.close().await?;
        Ok(Self { pool })
    }

    /// The connection pool, for tests and tools that run their own SQL.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Whether a connection handed back to the pool may serve again. A COMMIT that failed (a full
/// disk, an I/O error) leaves sqlx counting a transaction that SQLite may already have rolled
/// back: that connection refuses `begin immediate`, and the next transaction on it is a
/// savepoint whose rollback keeps the write lock, so every later write waits out
/// busy_timeout. Such a connection is closed instead, which also ends any transaction it
/// still holds.
async fn still_usable(conn: &mut SqliteConnection) -> std::result::Result<bool, sqlx::Error> {
    if conn.is_in_transaction() {
        // Runs the rollback a dropped transaction queued, so only one it could not end counts.
        conn.ping().await?;
    }
    Ok(!conn.is_in_transaction())
}

/// Whether SQLite refused for a lock another connection holds (SQLITE_BUSY or SQLITE_LOCKED).
fn is_busy(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
        .is_some_and(|code| code == "5" || code == "6")
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

/// Upserts `rows` jobs in one statement, with anonymous binds (see [`ResultInserts`]).
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

/// Result rows per insert: enough that statement overhead stays small, few enough that a run
/// holds well under a megabyte of rows while it writes (two chunks, and their binds), whatever its
/// size; well under SQLite's bind limit.
const RESULT_BATCH_ROWS: usize = 256;
const _: () = assert!(RESULT_BATCH_ROWS * 5 <= MAX_BINDS);

/// A run's result rows inserted in batches near the bind limit.
struct ResultInserts<'a> {
    conn: &'a mut SqliteConnection,
    lease: &'a Lease,
    /// The SQL of a full batch, built once.
    full_sql: Option<Arc<str>>,
}

#[async_trait::async_trait]
impl RowSink for ResultInserts<'_> {
    async fn write(
        &mut self,
        rows: &[Box<RawValue>],
        hashes: &[String],
        first_row: i64,
    ) -> Result<()> {
        // Full batches share one SQL text, so sqlx prepares it once per connection.
        let sql = if rows.len() == RESULT_BATCH_ROWS {
            Arc::clone(
                self.full_sql
                    .get_or_insert_with(|| results_insert_sql(RESULT_BATCH_ROWS).into()),
            )
        } else {
            results_insert_sql(rows.len()).into()
        };
        // Anonymous `?` binds only: sqlx looks each numbered parameter's name up, and SQLite's
        // lookup is linear, which makes `?NNN` batches quadratic.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (num, (row, hash)) in (first_row..).zip(rows.iter().zip(hashes)) {
            query = query
                .bind(self.lease.run_id)
                .bind(&self.lease.job)
                .bind(num)
                .bind(hash)
                .bind(row.get());
        }
        query.execute(&mut *self.conn).await?;
        Ok(())
    }
}

/// SQLite's own run SQL.
const RUNS: RunSql = RunSql {
    // The write lock from the start: what is read below still holds at the insert.
    begin_claim: Some("begin immediate"),
    lock_job: r"select name from hunt_jobs where name = ?1",
    // One statement: SQLite serialises writers, so no two nodes take the same run.
    take_over: r"update hunt_runs
          set attempt = attempt + 1, node = ?1, lease_owner = ?1, lease_expires_at = ?2,
              started_at = ?3
          where status = 'running' and lease_expires_at < ?3
          returning id, attempt, node, job, instance, slot_at, window_start, window_end",
    fail: r"update hunt_runs
          set status = ?1, finished_at = ?2,
              duration_ms = max(0, cast(round((julianday(?2) - julianday(started_at))
                  * 86400000) as integer)),
              api = ?3, http_status = ?4, client_request_id = ?5, error_class = ?6,
              error_message = ?7, lease_expires_at = null, api_calls = ?11,
              throttle_wait_ms = ?12
          where id = ?8 and attempt = ?9 and lease_owner = ?10 and status = 'running'",
    interrupt: r"update hunt_runs
          set status = 'interrupted', finished_at = ?2,
              duration_ms = max(0, cast(round((julianday(?2) - julianday(started_at))
                  * 86400000) as integer)),
              error_class = 'interrupted',
              error_message = 'the node restarted while the run was in progress',
              lease_expires_at = null
          where status = 'running' and lease_owner = ?1",
    history: r"select id, job, instance, slot_at, window_start, window_end, status, attempt,
              node, started_at, finished_at, duration_ms, row_count, new_row_count, truncated,
              api, http_status, client_request_id, error_class, error_message, query_sha256,
              api_calls, throttle_wait_ms, trigger
          from hunt_runs
          where (?1 is null or job = ?1) and (?2 is null or status = ?2)
              and (?3 is null or started_at >= ?3) and (?5 is null or instance = ?5)
          order by started_at desc, id desc
          limit coalesce(?4, -1)",
    findings: r"select job, instance, row_hash, first_seen_at, last_seen_at, first_run_id,
              last_run_id, times_seen, data
          from hunt_findings
          where job = ?1 and (?2 is null or first_seen_at >= ?2)
              and (?3 is null or instance = ?3)
          order by first_seen_at, instance, row_hash",
    fence: r"update hunt_runs
          set status = 'succeeded', finished_at = ?1,
              duration_ms = max(0, cast(round((julianday(?1) - julianday(started_at))
                  * 86400000) as integer)),
              truncated = ?2, api = ?3, http_status = ?4,
              client_request_id = ?5, lease_expires_at = null, error_message = ?9,
              api_calls = ?10, throttle_wait_ms = ?11
          where id = ?6 and attempt = ?7 and lease_owner = ?8 and status = 'running'
          returning query_sha256",
    prune_results: r"delete from hunt_results where rowid in (
              select r.rowid from hunt_results r join hunt_runs u on u.id = r.run_id
              where u.job = ?1 and u.status <> 'running'
                  and coalesce(u.finished_at, u.started_at) < ?2
              limit ?3)",
};

/// What `finish_run` reads of the job before its transaction.
struct JobView {
    dedup: Option<Vec<String>>,
    view: String,
    current_sha256: Option<String>,
}

/// The writes of `finish_run` inside its transaction: the fence, results, findings and view.
async fn write_run(
    tx: &mut SqliteConnection,
    lease: &Lease,
    result: &RunSuccess<'_>,
    job: &JobView,
) -> Result<Finished> {
    let note = left_out_note(&DIALECT, &job.view, result.columns);
    let query_sha256 =
        runs::fence::<sqlx::Sqlite>(&mut *tx, &RUNS, lease, result, note.as_deref()).await?;
    if let Some(note) = &note {
        tracing::warn!(job = %lease.job, "{note}");
    }
    let mut inserts = ResultInserts {
        conn: &mut *tx,
        lease,
        full_sql: None,
    };
    let row_count = write_hashed(
        &mut inserts,
        result.rows,
        RESULT_BATCH_ROWS,
        job.dedup.as_deref(),
    )
    .await?;
    let view = (job.view.as_str(), job.current_sha256.as_deref());
    end_commit::<SqliteStore>(tx, lease, result, row_count, view, &query_sha256).await
}

impl Dialect for SqliteStore {
    type Database = sqlx::Sqlite;
    const BACKEND: Backend = Backend::Sqlite;
    const RUNS: &'static RunSql = &RUNS;
    const OUTBOX: &'static OutboxSql = &deliveries::OUTBOX;
    const VIEWS: &'static ViewDialect = &DIALECT;
    // A read transaction in WAL is one snapshot already.
    const STATUS_ISOLATION: Option<&'static str> = None;

    fn pool(&self) -> &sqlx::Pool<sqlx::Sqlite> {
        &self.pool
    }

    async fn record_findings(
        conn: &mut SqliteConnection,
        lease: &Lease,
        finished_at: DateTime<Utc>,
        row_count: i64,
    ) -> Result<i64> {
        // Each distinct row once, from the rows this transaction just wrote rather than from
        // memory: its finding points at the last result row carrying it. Hash order is the
        // findings table's key order, so the upsert walks its index forward. The `where` also tells
        // SQLite's parser that `on conflict` belongs to the insert.
        sqlx::query(
            r"insert into hunt_finding_state (job, instance, row_hash, first_seen_at, last_seen_at,
                  first_run_id, last_run_id, last_row_num, times_seen)
              select ?1, ?4, row_hash, ?2, ?2, ?3, ?3, max(row_num), 1
              from hunt_results
              where run_id = ?3
              group by row_hash
              order by row_hash
              on conflict (job, instance, row_hash) do update set
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
        .bind(ts(finished_at))
        .bind(lease.run_id)
        .bind(&lease.instance)
        .execute(&mut *conn)
        .await?;
        // The findings this run created are those it is the first run of, found through the
        // `(job, instance, first_seen_at)` index rather than by looking every hash up before the upsert.
        Ok(sqlx::query_scalar(
            r"update hunt_runs set row_count = ?4, new_row_count = (
                  select count(*) from hunt_finding_state
                  where job = ?1 and instance = ?5 and first_seen_at = ?2 and first_run_id = ?3)
              where id = ?3
              returning new_row_count",
        )
        .bind(&lease.job)
        .bind(ts(finished_at))
        .bind(lease.run_id)
        .bind(row_count)
        .bind(&lease.instance)
        .fetch_one(&mut *conn)
        .await?)
    }

    async fn upsert_jobs(&self, jobs: &[JobRecord]) -> Result<Vec<ViewClash>> {
        let views: Vec<String> = jobs.iter().map(|j| view_name(&j.name)).collect();
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
        let (accepted, clashes) = plan_upsert(jobs, owners.into_iter().collect());
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
                    .bind(whole_seconds(job.retention))
                    .bind(view)
                    .bind(&updated_at);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(clashes)
    }

    async fn finish_run(&self, lease: &Lease, result: &RunSuccess<'_>) -> Result<Finished> {
        let job = sqlx::query(
            r"select dedup_columns, view_name, view_sha256 from hunt_jobs where name = ?1",
        )
        .bind(&lease.job)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::UnknownJob(lease.job.clone()))?;
        let job = JobView {
            dedup: parse_dedup(job.try_get("dedup_columns")?)?,
            view: job.try_get("view_name")?,
            current_sha256: job.try_get("view_sha256")?,
        };
        let mut tx = self.pool.begin().await?;
        let written = write_run(&mut tx, lease, result, &job).await;
        commit_run(self, tx, written, lease, result).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_batches_use_anonymous_parameters() {
        assert_eq!(
            results_insert_sql(2),
            "insert into hunt_results (run_id, job, row_num, row_hash, data) values \
             (?, ?, ?, ?, ?),(?, ?, ?, ?, ?)"
        );
    }
}
