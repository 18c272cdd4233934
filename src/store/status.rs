//! The records behind `huntd status` and the daemon's status page: what the database knows of
//! each job's recent runs, its coverage and its instance's API use, read in one snapshot so the
//! numbers agree with each other. `crate::status` turns them into what is shown. [`snapshot`]
//! reads them on either backend, each backend's SQL in `sqlite/status.rs` and
//! `postgres/status.rs`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Pool;

use super::db::{At, Db, Reads, Statement, query};
use super::{Result, RunRecord, RunStatus};

/// The time ranges a [`StatusSnapshot`] covers, all ending at `now`.
#[derive(Debug, Clone, Copy)]
pub struct StatusWindow {
    /// The reference time.
    pub now: DateTime<Utc>,
    /// Runs started since then count toward each job's recent rows and findings (24 h).
    pub stats_since: DateTime<Utc>,
    /// Runs finished since then count toward each instance's recent calls (1 h).
    pub calls_since: DateTime<Utc>,
    /// Windows and gaps ending after this are in the coverage timeline (7 days).
    pub timeline_since: DateTime<Utc>,
    /// At most this many recent failures.
    pub failures_limit: u32,
}

/// One stream (a registered job on one instance) and what its runs add up to; a job with no
/// runs yet has one row with the instances `hunt_jobs` names.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobTotals {
    /// Job name.
    pub name: String,
    /// The stream's instance.
    pub instance: String,
    /// Whether it was enabled when last registered.
    pub enabled: bool,
    /// Finish time of its latest succeeded run.
    pub last_success_at: Option<DateTime<Utc>>,
    /// End of the latest window it accounted for (succeeded or skipped): its high-water mark.
    pub covered_until: Option<DateTime<Utc>>,
    /// Runs started since `stats_since`.
    pub recent_runs: i64,
    /// Of those, runs that failed.
    pub recent_failed: i64,
    /// Rows its runs started since `stats_since` stored.
    pub recent_rows: i64,
    /// Findings its runs started since `stats_since` created.
    pub recent_new_findings: i64,
}

/// Failures of one class a stream had since its latest success (all of them, if it never
/// succeeded).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FailureStreak {
    /// Job name.
    pub job: String,
    /// The stream's instance.
    pub instance: String,
    /// The failures' `error_class`.
    pub error_class: Option<String>,
    /// How many.
    pub failures: i64,
    /// When the latest of them ended.
    pub last_failed_at: Option<DateTime<Utc>>,
}

/// A run's window in the coverage timeline: what was hunted, failed or skipped.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WindowSpan {
    /// Job name.
    pub job: String,
    /// The stream's instance.
    pub instance: String,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end.
    pub window_end: DateTime<Utc>,
    /// `succeeded`, `failed` or `skipped`.
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
}

/// A row of `hunt_coverage_gaps`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CoverageGap {
    /// Job name.
    pub job: String,
    /// The stream's instance.
    pub instance: String,
    /// Gap start.
    pub gap_start: DateTime<Utc>,
    /// Gap end.
    pub gap_end: DateTime<Utc>,
    /// Why it is not covered.
    pub reason: String,
}

/// One instance's API use by the runs that finished since `calls_since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InstanceUsage {
    /// Instance name.
    pub instance: String,
    /// Runs that finished.
    pub runs: i64,
    /// API calls they made.
    pub api_calls: i64,
    /// Milliseconds they waited on throttling.
    pub throttle_wait_ms: i64,
    /// Runs among them whose calls are not known (cut short by a timeout or shutdown, or
    /// stored before huntd kept the count).
    pub uncounted_runs: i64,
}

/// Everything the status shows, read in one snapshot of the database.
#[derive(Debug, Clone, Default)]
pub struct StatusSnapshot {
    /// Registered jobs, by name.
    pub jobs: Vec<JobTotals>,
    /// Each job's latest run (by claim), any status.
    pub last_runs: Vec<RunRecord>,
    /// Failures since each job's latest success, by class.
    pub streaks: Vec<FailureStreak>,
    /// Succeeded, failed and skipped windows ending after `timeline_since`, by job and start.
    pub windows: Vec<WindowSpan>,
    /// Coverage gaps ending after `timeline_since`, by job and start.
    pub gaps: Vec<CoverageGap>,
    /// Failed runs started since `timeline_since`, newest first.
    pub failures: Vec<RunRecord>,
    /// API use per instance.
    pub instances: Vec<InstanceUsage>,
}

/// A backend's own status reads, where its SQL differs; the parameters each binds are in its
/// doc.
#[derive(Debug)]
pub(super) struct StatusSql {
    /// Run first in the transaction, where the backend needs it to read one snapshot.
    pub snapshot: Option<&'static str>,
    /// [`JobTotals`] per stream: 1 `stats_since`.
    pub jobs: &'static str,
    /// [`InstanceUsage`] per instance: 1 `calls_since`, 2 `stats_since`.
    pub instances: &'static str,
}

// The reads both backends spell alike, with `$N` parameters (sqlx reads them on SQLite too).

/// Each stream's latest run (by claim).
const LAST_RUNS: &str = r"select id, job, instance, slot_at, window_start, window_end, status,
        attempt, node, started_at, finished_at, duration_ms, row_count, new_row_count, truncated,
        api, http_status, client_request_id, error_class, error_message, query_sha256,
        api_calls, throttle_wait_ms, trigger
    from hunt_runs
    where id in (select max(id) from hunt_runs group by job, instance)
    order by job, instance";

/// Failures since each stream's latest success, by class. Each stream's latest success is found
/// once, not once per failure: one pass over the runs.
const STREAKS: &str = r"with last_success as (
        select job, instance, max(finished_at) as at from hunt_runs
        where status = 'succeeded'
        group by job, instance
    )
    select r.job, r.instance, r.error_class, count(*) as failures,
        max(r.finished_at) as last_failed_at
    from hunt_runs r
    left join last_success l on l.job = r.job and l.instance = r.instance
    where r.status = 'failed' and (l.at is null or r.finished_at > l.at)
    group by r.job, r.instance, r.error_class
    order by r.job, r.instance, r.error_class";

/// The timeline's windows: 1 `timeline_since`, 2 `now`.
const WINDOWS: &str = r"select job, instance, window_start, window_end, status
    from hunt_runs
    where window_end > $1 and window_start < $2
        and status in ('succeeded', 'failed', 'skipped')
        -- A window ends at or before its slot, which is claimed when it fires: this bound
        -- lets the started_at index find the runs instead of scanning them all.
        and started_at >= $1
    order by job, instance, window_start";

/// The timeline's gaps: 1 `timeline_since`, 2 `now`.
const GAPS: &str = r"select job, instance, gap_start, gap_end, reason
    from hunt_coverage_gaps
    where gap_end > $1 and gap_start < $2
    order by job, instance, gap_start";

/// Failed runs, newest first: 1 `timeline_since`, 2 the limit.
const FAILURES: &str = r"select id, job, instance, slot_at, window_start, window_end, status,
        attempt, node, started_at, finished_at, duration_ms, row_count, new_row_count, truncated,
        api, http_status, client_request_id, error_class, error_message, query_sha256,
        api_calls, throttle_wait_ms, trigger
    from hunt_runs
    where status = 'failed' and started_at >= $1
    order by started_at desc, id desc
    limit $2";

/// Reads every part of the status in one transaction: one snapshot, so the parts agree.
pub(super) async fn snapshot<DB>(
    pool: &Pool<DB>,
    sql: &StatusSql,
    window: &StatusWindow,
) -> Result<StatusSnapshot>
where
    DB: Db
        + Reads<JobTotals>
        + Reads<RunRecord>
        + Reads<FailureStreak>
        + Reads<WindowSpan>
        + Reads<CoverageGap>
        + Reads<InstanceUsage>,
{
    let mut tx = pool.begin().await?;
    if let Some(statement) = sql.snapshot {
        query::<DB>(statement).run(&mut *tx).await?;
    }
    let snapshot = StatusSnapshot {
        jobs: query::<DB>(sql.jobs)
            .arg(At(window.stats_since))
            .all(&mut *tx)
            .await?,
        last_runs: query::<DB>(LAST_RUNS).all(&mut *tx).await?,
        streaks: query::<DB>(STREAKS).all(&mut *tx).await?,
        windows: query::<DB>(WINDOWS)
            .arg(At(window.timeline_since))
            .arg(At(window.now))
            .all(&mut *tx)
            .await?,
        gaps: query::<DB>(GAPS)
            .arg(At(window.timeline_since))
            .arg(At(window.now))
            .all(&mut *tx)
            .await?,
        failures: query::<DB>(FAILURES)
            .arg(At(window.timeline_since))
            .arg(i64::from(window.failures_limit))
            .all(&mut *tx)
            .await?,
        instances: query::<DB>(sql.instances)
            .arg(At(window.calls_since))
            .arg(At(window.stats_since))
            .all(&mut *tx)
            .await?,
    };
    tx.commit().await?;
    Ok(snapshot)
}
