//! SQLite's reads for `huntd status`: [`crate::store::status::snapshot`] runs them in one read
//! transaction, which WAL gives one snapshot.

use crate::store::status::StatusSql;

/// SQLite's status SQL.
pub(super) const STATUS: StatusSql = StatusSql {
    snapshot: None,
    // One row per stream: each (job, instance) pair with runs, and a job without runs once.
    jobs: r"with streams as (select distinct job, instance from hunt_runs)
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
    instances: r"select instance, count(*) as runs,
              coalesce(sum(api_calls), 0) as api_calls,
              coalesce(sum(throttle_wait_ms), 0) as throttle_wait_ms,
              coalesce(sum(api_calls is null), 0) as uncounted_runs
          from hunt_runs
          -- No run lasts a day (timeouts end it), so the started_at index bounds the scan.
          where finished_at >= ?1 and started_at >= ?2
          group by instance
          order by instance",
};
