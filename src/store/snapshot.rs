//! The status snapshot, read once for both backends: every part of what `huntd status` shows,
//! in one transaction. Both backends spell these reads alike, with `$N` parameters (sqlx reads
//! them on SQLite too); counts are `count(case ...)` and sums cast to `bigint`, which both
//! accept and both read back as a 64-bit integer.

use sqlx::Pool;

use super::Result;
use super::db::{At, Db, Statement, query};
use super::status::{StatusSnapshot, StatusWindow};

/// Streams and their totals since 1 `stats_since`: one row per stream, each (job, instance)
/// pair with runs, and a job without runs once.
const JOBS: &str = r"with streams as (select distinct job, instance from hunt_runs)
    select j.name, coalesce(t.instance, j.instance) as instance, j.enabled,
        (select max(r.finished_at) from hunt_runs r
         where r.job = j.name and r.instance = t.instance
             and r.status = 'succeeded') as last_success_at,
        (select max(r.window_end) from hunt_runs r
         where r.job = j.name and r.instance = t.instance
             and r.status in ('succeeded', 'skipped')) as covered_until,
        count(s.id) as recent_runs,
        count(case when s.status = 'failed' then 1 end) as recent_failed,
        cast(coalesce(sum(s.row_count), 0) as bigint) as recent_rows,
        cast(coalesce(sum(s.new_row_count), 0) as bigint) as recent_new_findings
    from hunt_jobs j
    left join streams t on t.job = j.name
    left join hunt_runs s
        on s.job = j.name and s.instance = t.instance and s.started_at >= $1
    group by j.name, t.instance, j.instance, j.enabled
    order by j.name, 2";

/// API use per instance by the runs that finished since 1 `calls_since`; 2 `stats_since`
/// bounds the scan.
const INSTANCES: &str = r"select instance, count(*) as runs,
        cast(coalesce(sum(api_calls), 0) as bigint) as api_calls,
        cast(coalesce(sum(throttle_wait_ms), 0) as bigint) as throttle_wait_ms,
        count(case when api_calls is null then 1 end) as uncounted_runs
    from hunt_runs
    -- No run lasts a day (timeouts end it), so the started_at index bounds the scan.
    where finished_at >= $1 and started_at >= $2
    group by instance
    order by instance";

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
/// `isolation`, when the backend needs it, runs first in the transaction to make its reads one
/// snapshot (PostgreSQL); SQLite's read transaction in WAL is one already.
pub(super) async fn snapshot<DB: Db>(
    pool: &Pool<DB>,
    isolation: Option<&'static str>,
    window: &StatusWindow,
) -> Result<StatusSnapshot> {
    let mut tx = pool.begin().await?;
    if let Some(statement) = isolation {
        query::<DB>(statement).run(&mut *tx).await?;
    }
    let snapshot = StatusSnapshot {
        jobs: query::<DB>(JOBS)
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
        instances: query::<DB>(INSTANCES)
            .arg(At(window.calls_since))
            .arg(At(window.stats_since))
            .all(&mut *tx)
            .await?,
    };
    tx.commit().await?;
    Ok(snapshot)
}
