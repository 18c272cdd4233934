//! SQLite's reads for `huntd status`, in one read transaction so WAL gives them one snapshot.

use sqlx::SqlitePool;

use super::ts;
use crate::store::Result;
use crate::store::status::{CoverageGap, StatusSnapshot, StatusWindow, WindowSpan};

/// Reads every part of the status at once.
pub(super) async fn snapshot(pool: &SqlitePool, window: &StatusWindow) -> Result<StatusSnapshot> {
    let mut tx = pool.begin().await?;
    // One row per stream: each (job, instance) pair with runs, and a job without runs once.
    let jobs = sqlx::query_as(
        r"with streams as (select distinct job, instance from hunt_runs)
          select j.name, coalesce(t.instance, j.instance) as instance, j.enabled,
              (select max(r.finished_at) from hunt_runs r
               where r.job = j.name and r.instance = t.instance
                   and r.status = 'succeeded') as last_success_at,
              (select max(r.window_end) from hunt_runs r
               where r.job = j.name and r.instance = t.instance
                   and r.status in ('succeeded', 'skipped')) as covered_until,
              count(s.id) as recent_runs,
              coalesce(sum(s.status = 'failed'), 0) as recent_failed,
              coalesce(sum(s.row_count), 0) as recent_rows,
              coalesce(sum(s.new_row_count), 0) as recent_new_findings
          from hunt_jobs j
          left join streams t on t.job = j.name
          left join hunt_runs s
              on s.job = j.name and s.instance = t.instance and s.started_at >= ?1
          group by j.name, t.instance, j.instance, j.enabled
          order by j.name, 2",
    )
    .bind(ts(window.stats_since))
    .fetch_all(&mut *tx)
    .await?;
    let last_runs = sqlx::query_as(
        r"select id, job, instance, slot_at, window_start, window_end, status, attempt, node,
              started_at, finished_at, duration_ms, row_count, new_row_count, truncated, api,
              http_status, client_request_id, error_class, error_message, query_sha256,
              api_calls, throttle_wait_ms, trigger
          from hunt_runs
          where id in (select max(id) from hunt_runs group by job, instance)
          order by job, instance",
    )
    .fetch_all(&mut *tx)
    .await?;
    let streaks = sqlx::query_as(
        // Each stream's latest success once, not once per failure: one pass over the runs.
        r"with last_success as (
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
          order by r.job, r.instance, r.error_class",
    )
    .fetch_all(&mut *tx)
    .await?;
    let (windows, gaps) = timeline(&mut tx, window).await?;
    let failures = sqlx::query_as(
        r"select id, job, instance, slot_at, window_start, window_end, status, attempt, node,
              started_at, finished_at, duration_ms, row_count, new_row_count, truncated, api,
              http_status, client_request_id, error_class, error_message, query_sha256,
              api_calls, throttle_wait_ms, trigger
          from hunt_runs
          where status = 'failed' and started_at >= ?1
          order by started_at desc, id desc
          limit ?2",
    )
    .bind(ts(window.timeline_since))
    .bind(i64::from(window.failures_limit))
    .fetch_all(&mut *tx)
    .await?;
    let instances = sqlx::query_as(
        r"select instance, count(*) as runs,
              coalesce(sum(api_calls), 0) as api_calls,
              coalesce(sum(throttle_wait_ms), 0) as throttle_wait_ms,
              coalesce(sum(api_calls is null), 0) as uncounted_runs
          from hunt_runs
          -- No run lasts a day (timeouts end it), so the started_at index bounds the scan.
          where finished_at >= ?1 and started_at >= ?2
          group by instance
          order by instance",
    )
    .bind(ts(window.calls_since))
    .bind(ts(window.stats_since))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(StatusSnapshot {
        jobs,
        last_runs,
        streaks,
        windows,
        gaps,
        failures,
        instances,
    })
}

/// The windows and gaps the coverage timeline draws.
async fn timeline(
    conn: &mut sqlx::SqliteConnection,
    window: &StatusWindow,
) -> Result<(Vec<WindowSpan>, Vec<CoverageGap>)> {
    let windows = sqlx::query_as(
        r"select job, instance, window_start, window_end, status
          from hunt_runs
          where window_end > ?1 and window_start < ?2
              and status in ('succeeded', 'failed', 'skipped')
              -- A window ends at or before its slot, which is claimed when it fires: this bound
              -- lets the started_at index find the runs instead of scanning them all.
              and started_at >= ?1
          order by job, instance, window_start",
    )
    .bind(ts(window.timeline_since))
    .bind(ts(window.now))
    .fetch_all(&mut *conn)
    .await?;
    let gaps = sqlx::query_as(
        r"select job, instance, gap_start, gap_end, reason
          from hunt_coverage_gaps
          where gap_end > ?1 and gap_start < ?2
          order by job, instance, gap_start",
    )
    .bind(ts(window.timeline_since))
    .bind(ts(window.now))
    .fetch_all(&mut *conn)
    .await?;
    Ok((windows, gaps))
}
