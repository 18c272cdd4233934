//! The run flows written once for both backends: claiming a slot, renewing, failing and
//! interrupting runs, gaps, coverage, history, findings and the prune. Each backend's own SQL is
//! a [`RunSql`] in `sqlite.rs` and `postgres.rs`, beside what it does its own way (registering
//! jobs, writing a run's results).

use chrono::{DateTime, Utc};
use sqlx::{Pool, Transaction};

use super::backend::{
    ClaimState, Coverage, JOB_RETENTIONS, cutoff, decide_claim, fenced, lease_lost, map_unknown_job,
};
use super::db::{At, Db, Statement, query};
use super::records::{
    Claim, ClaimRequest, FindingRecord, GapRecord, HistoryFilter, Lease, PruneOptions, PruneReport,
    RunFailure, RunRecord, RunStatus, RunSuccess, Trigger,
};
use super::{Error, Result};

/// A backend's own run SQL, where it differs; the parameters each binds are in its doc.
#[derive(Debug)]
pub(super) struct RunSql {
    /// How a claim's transaction begins, when not plainly.
    pub begin_claim: Option<&'static str>,
    /// The job's name if it is registered, locking what claims of the job must queue on: 1 job.
    pub lock_job: &'static str,
    /// Takes over running runs whose lease expired, returning their leases: 1 node, 2 lease
    /// until, 3 now.
    pub take_over: &'static str,
    /// Ends a run without results, fenced on its lease: 1 status, 2 finished at, 3 api, 4 HTTP
    /// status, 5 request id, 6 error class, 7 message, 8 run, 9 attempt, 10 node, 11 API
    /// calls, 12 throttle wait.
    pub fail: &'static str,
    /// Marks a node's running runs interrupted: 1 node, 2 now.
    pub interrupt: &'static str,
    /// [`RunRecord`]s, newest first: 1 job, 2 status, 3 since, 4 limit (null: no limit),
    /// 5 instance; a null filter matches all.
    pub history: &'static str,
    /// [`FindingRecord`]s first seen since a time, oldest first: 1 job, 2 since, 3 instance;
    /// a null filter matches all.
    pub findings: &'static str,
    /// Marks a run succeeded, fenced on its lease, returning its query hash: 1 finished at,
    /// 2 truncated, 3 api, 4 HTTP status, 5 request id, 6 run, 7 attempt, 8 node, 9 the note
    /// for `error_message`, 10 API calls, 11 throttle wait.
    pub fence: &'static str,
    /// Deletes a batch of results of finished runs that ended before the cutoff: 1 job,
    /// 2 cutoff, 3 batch size.
    pub prune_results: &'static str,
}

// The statements both backends spell alike, with `$N` parameters (sqlx reads them on SQLite too).

/// The slot's existing run: 1 job, 2 instance, 3 trigger, 4 slot.
const EXISTING: &str = r"select id, attempt, status from hunt_runs
    where job = $1 and instance = $2 and trigger = $3 and slot_at = $4";

/// A running run of the stream: 1 job, 2 instance.
const RUNNING: &str = r"select id from hunt_runs
    where job = $1 and instance = $2 and status = 'running' limit 1";

/// The stream's high-water mark: 1 job, 2 instance.
const HIGH_WATER: &str = r"select max(window_end) from hunt_runs
    where job = $1 and instance = $2 and status in ('succeeded', 'skipped')";

/// The end of a covered window overlapping a span: 1 job, 2 from, 3 to, 4 instance.
const OVERLAP: &str = r"select max(window_end) from hunt_runs
    where job = $1 and instance = $4 and status in ('succeeded', 'skipped')
        and window_start < $3 and window_end > $2";

/// The covered windows overlapping a span, by start: 1 job, 2 from, 3 to, 4 instance.
const COVERED: &str = r"select window_start, window_end from hunt_runs
    where job = $1 and instance = $4 and status in ('succeeded', 'skipped')
        and window_start < $3 and window_end > $2
    order by window_start";

/// Inserts the slot's run, or claims its interrupted one again: 1 job, 2 instance, 3 slot,
/// 4 window start, 5 window end, 6 node, 7 lease until, 8 now, 9 query hash, 10 trigger.
const CLAIM: &str = r"insert into hunt_runs (job, instance, slot_at, window_start, window_end,
        status, attempt, node, lease_owner, lease_expires_at, started_at, query_sha256, trigger)
    values ($1, $2, $3, $4, $5, 'running', 1, $6, $6, $7, $8, $9, $10)
    on conflict (job, instance, trigger, slot_at) do update set
        status = 'running', attempt = hunt_runs.attempt + 1, node = excluded.node,
        lease_owner = excluded.lease_owner,
        lease_expires_at = excluded.lease_expires_at,
        started_at = excluded.started_at, window_start = excluded.window_start,
        window_end = excluded.window_end, query_sha256 = excluded.query_sha256,
        instance = excluded.instance, finished_at = null, duration_ms = null,
        error_class = null, error_message = null
    returning id, attempt, node, job, instance, slot_at, window_start, window_end";

/// Extends a lease, fenced on it: 1 until, 2 run, 3 attempt, 4 node.
const RENEW: &str = r"update hunt_runs set lease_expires_at = $1
    where id = $2 and attempt = $3 and lease_owner = $4 and status = 'running'";

/// Records a gap: 1 job, 2 start, 3 end, 4 reason, 5 recorded at, 6 instance.
const GAP: &str = r"insert into hunt_gaps (job, gap_start, gap_end, reason, recorded_at, instance)
    values ($1, $2, $3, $4, $5, $6)";

/// The prune's deletes both backends spell alike, each binding 1 job, 2 cutoff, 3 batch size.
/// Findings last seen before the cutoff.
const PRUNE_FINDINGS: &str = r"delete from hunt_finding_state where (job, instance, row_hash) in (
        select job, instance, row_hash from hunt_finding_state
        where job = $1 and last_seen_at < $2 limit $3)";

/// Finished runs that ended before the cutoff and have no results left.
const PRUNE_RUNS: &str = r"delete from hunt_runs where id in (
        select id from hunt_runs u
        where u.job = $1 and u.status <> 'running'
            and coalesce(u.finished_at, u.started_at) < $2
            and not exists (select 1 from hunt_results r where r.run_id = u.id)
        limit $3)";

/// Gaps that ended before the cutoff.
const PRUNE_GAPS: &str = r"delete from hunt_gaps where id in (
        select id from hunt_gaps where job = $1 and gap_end < $2 limit $3)";

/// [`Store::claim_slot`](super::Store::claim_slot): the claim's reads and its insert in one
/// transaction that holds the job's lock, so what is read still holds at the insert.
pub(super) async fn claim_slot<DB: Db>(
    pool: &Pool<DB>,
    sql: &RunSql,
    request: &ClaimRequest,
) -> Result<Claim> {
    let mut tx = match sql.begin_claim {
        Some(begin) => pool.begin_with(begin).await?,
        None => pool.begin().await?,
    };
    let registered: Option<(String,)> = query::<DB>(sql.lock_job)
        .arg(request.job.as_str())
        .optional(&mut *tx)
        .await?;
    if registered.is_none() {
        return Err(Error::UnknownJob(request.job.clone()));
    }
    let state = claim_state(&mut tx, request).await?;
    let window_start = match decide_claim(state, (request.window_start, request.window_end))? {
        Ok(start) => start,
        Err(claim) => return Ok(claim),
    };
    // The slot is new or its run was interrupted: (re)claim it.
    let lease: Lease = query::<DB>(CLAIM)
        .arg(request.job.as_str())
        .arg(request.instance.as_str())
        .arg(At(request.slot_at))
        .arg(At(window_start))
        .arg(At(request.window_end))
        .arg(request.node.as_str())
        .arg(At(request.lease_until))
        .arg(At(request.now))
        .arg(request.query_sha256.as_str())
        .arg(request.trigger.as_str())
        .one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Claim::Won(lease))
}

/// What a claim reads under the job's lock: the slot's run, a running run of the stream, and
/// what of the window is covered (the high-water mark for a scheduled or manual run, an
/// overlapping covered window for a backfill chunk).
async fn claim_state<DB: Db>(
    tx: &mut Transaction<'_, DB>,
    request: &ClaimRequest,
) -> Result<ClaimState> {
    let existing = query::<DB>(EXISTING)
        .arg(request.job.as_str())
        .arg(request.instance.as_str())
        .arg(request.trigger.as_str())
        .arg(At(request.slot_at))
        .optional(&mut **tx)
        .await?;
    let running: Option<(i64,)> = query::<DB>(RUNNING)
        .arg(request.job.as_str())
        .arg(request.instance.as_str())
        .optional(&mut **tx)
        .await?;
    let coverage = if request.trigger == Trigger::Backfill {
        let (end,) = query::<DB>(OVERLAP)
            .arg(request.job.as_str())
            .arg(At(request.window_start))
            .arg(At(request.window_end))
            .arg(request.instance.as_str())
            .one(&mut **tx)
            .await?;
        Coverage::Overlap(end)
    } else {
        let (end,) = query::<DB>(HIGH_WATER)
            .arg(request.job.as_str())
            .arg(request.instance.as_str())
            .one(&mut **tx)
            .await?;
        Coverage::HighWater(end)
    };
    Ok(ClaimState {
        existing,
        running: running.map(|(id,)| id),
        coverage,
    })
}

/// The first write of a run's commit: marks it succeeded if its lease still holds, which takes
/// SQLite's write lock or locks PostgreSQL's run row (a concurrent takeover skips it). The run's
/// query hash; [`Error::LeaseLost`] when the lease was lost.
pub(super) async fn fence<DB: Db>(
    conn: &mut DB::Connection,
    sql: &RunSql,
    lease: &Lease,
    result: &RunSuccess<'_>,
    note: Option<&str>,
) -> Result<String> {
    let fenced: Option<(String,)> = query::<DB>(sql.fence)
        .arg(At(result.finished_at))
        .arg(result.truncated)
        .arg(result.api)
        .arg(result.http_status.map(i32::from))
        .arg(result.client_request_id)
        .arg(lease.run_id)
        .arg(lease.attempt)
        .arg(lease.node.as_str())
        .arg(note)
        .arg(i64::from(result.cost.api_calls))
        .arg(result.cost.throttle_wait_ms())
        .optional(conn)
        .await?;
    fenced.map(|(hash,)| hash).ok_or_else(|| lease_lost(lease))
}

/// [`Store::take_over_expired`](super::Store::take_over_expired).
pub(super) async fn take_over_expired<DB: Db>(
    pool: &Pool<DB>,
    sql: &RunSql,
    node: &str,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Lease>> {
    query::<DB>(sql.take_over)
        .arg(node)
        .arg(At(lease_until))
        .arg(At(now))
        .all(&mut *pool.acquire().await?)
        .await
}

/// [`Store::renew_lease`](super::Store::renew_lease).
pub(super) async fn renew_lease<DB: Db>(
    pool: &Pool<DB>,
    lease: &Lease,
    until: DateTime<Utc>,
) -> Result<bool> {
    let done = query::<DB>(RENEW)
        .arg(At(until))
        .arg(lease.run_id)
        .arg(lease.attempt)
        .arg(lease.node.as_str())
        .run(&mut *pool.acquire().await?)
        .await?;
    Ok(done == 1)
}

/// [`Store::fail_run`](super::Store::fail_run).
pub(super) async fn fail_run<DB: Db>(
    pool: &Pool<DB>,
    sql: &RunSql,
    lease: &Lease,
    failure: &RunFailure<'_>,
) -> Result<()> {
    let done = query::<DB>(sql.fail)
        .arg(failure.status.as_str())
        .arg(At(failure.finished_at))
        .arg(failure.api)
        .arg(failure.http_status.map(i32::from))
        .arg(failure.client_request_id)
        .arg(failure.error_class)
        .arg(failure.error_message)
        .arg(lease.run_id)
        .arg(lease.attempt)
        .arg(lease.node.as_str())
        .arg(failure.cost.map(|c| i64::from(c.api_calls)))
        .arg(failure.cost.map(|c| c.throttle_wait_ms()))
        .run(&mut *pool.acquire().await?)
        .await?;
    fenced(lease, done)
}

/// [`Store::mark_interrupted`](super::Store::mark_interrupted).
pub(super) async fn mark_interrupted<DB: Db>(
    pool: &Pool<DB>,
    sql: &RunSql,
    node: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    query::<DB>(sql.interrupt)
        .arg(node)
        .arg(At(now))
        .run(&mut *pool.acquire().await?)
        .await
}

/// [`Store::record_gap`](super::Store::record_gap).
pub(super) async fn record_gap<DB: Db>(pool: &Pool<DB>, gap: &GapRecord) -> Result<()> {
    query::<DB>(GAP)
        .arg(gap.job.as_str())
        .arg(At(gap.gap_start))
        .arg(At(gap.gap_end))
        .arg(gap.reason.as_str())
        .arg(At(gap.recorded_at))
        .arg(gap.instance.as_str())
        .run(&mut *pool.acquire().await?)
        .await
        .map_err(|e| map_unknown_job(&gap.job, e))?;
    Ok(())
}

/// [`Store::high_water_mark`](super::Store::high_water_mark).
pub(super) async fn high_water_mark<DB: Db>(
    pool: &Pool<DB>,
    job: &str,
    instance: &str,
) -> Result<Option<DateTime<Utc>>> {
    let (end,) = query::<DB>(HIGH_WATER)
        .arg(job)
        .arg(instance)
        .one(&mut *pool.acquire().await?)
        .await?;
    Ok(end)
}

/// [`Store::covered_windows`](super::Store::covered_windows).
pub(super) async fn covered_windows<DB: Db>(
    pool: &Pool<DB>,
    job: &str,
    instance: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    query::<DB>(COVERED)
        .arg(job)
        .arg(At(from))
        .arg(At(to))
        .arg(instance)
        .all(&mut *pool.acquire().await?)
        .await
}

/// [`Store::history`](super::Store::history).
pub(super) async fn history<DB: Db>(
    pool: &Pool<DB>,
    sql: &RunSql,
    filter: &HistoryFilter,
) -> Result<Vec<RunRecord>> {
    query::<DB>(sql.history)
        .arg(filter.job.as_deref())
        .arg(filter.status.map(RunStatus::as_str))
        .arg(filter.since.map(At))
        .arg(filter.limit.map(i64::from))
        .arg(filter.instance.as_deref())
        .all(&mut *pool.acquire().await?)
        .await
}

/// [`Store::findings`](super::Store::findings).
pub(super) async fn findings<DB: Db>(
    pool: &Pool<DB>,
    sql: &RunSql,
    job: &str,
    instance: Option<&str>,
    new_since: Option<DateTime<Utc>>,
) -> Result<Vec<FindingRecord>> {
    query::<DB>(sql.findings)
        .arg(job)
        .arg(new_since.map(At))
        .arg(instance)
        .all(&mut *pool.acquire().await?)
        .await
}

/// Which count of the report a prune statement adds to.
type Counter = fn(&mut PruneReport) -> &mut u64;

/// [`Store::prune`](super::Store::prune): each job's old rows in batches.
pub(super) async fn prune<DB: Db>(
    pool: &Pool<DB>,
    sql: &RunSql,
    options: &PruneOptions,
) -> Result<PruneReport> {
    let mut conn = pool.acquire().await?;
    let jobs: Vec<(String, i64)> = query::<DB>(JOB_RETENTIONS).all(&mut *conn).await?;
    let mut report = PruneReport::default();
    let batch = i64::from(options.batch_size.max(1));
    // Findings go first, so a finding never outlives the result row it points at (it is
    // pruned with its last run); results go before runs, so a run is deleted only once none
    // of its results are left.
    let steps: [(&'static str, Counter); 4] = [
        (PRUNE_FINDINGS, |r| &mut r.findings),
        (sql.prune_results, |r| &mut r.results),
        (PRUNE_RUNS, |r| &mut r.runs),
        (PRUNE_GAPS, |r| &mut r.gaps),
    ];
    for (job, retention) in &jobs {
        let cutoff = cutoff(options.now, *retention);
        for &(statement, counter) in &steps {
            loop {
                let deleted = query::<DB>(statement)
                    .arg(job.as_str())
                    .arg(At(cutoff))
                    .arg(batch)
                    .run(&mut *conn)
                    .await?;
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
