//! The outbox's flows, written once for both backends: the deliveries a run's commit writes
//! (`suppress:` included), and the [`Deliveries`](super::Deliveries) methods. Each backend's own
//! SQL is an [`OutboxSql`] in `sqlite/deliveries.rs` and `postgres/deliveries.rs`.

use chrono::{DateTime, Utc};
use sqlx::Pool;

use super::Result;
use super::backend::{JOB_RETENTIONS, cutoff};
use super::db::{At, Db, Statement, Texts, query};
use super::deliveries::{
    DeliveryFilter, DeliveryOutcome, DeliveryRecord, DeliveryRoute, DeliveryRow, DeliveryStatus,
    OutcomeColumns, RetryTarget, in_order,
};
use super::records::{FindingRecord, Lease};

/// A backend's own outbox SQL, where it differs; the parameters each binds are in its doc.
#[derive(Debug)]
pub(super) struct OutboxSql {
    /// A `digest` route's one delivery of the run's new findings: 1 job, 2 commit time, 3 run,
    /// 4 output, 5 instance.
    pub insert_digest: &'static str,
    /// An `each` route's deliveries, one per new finding in row order; binds as
    /// `insert_digest`.
    pub insert_each: &'static str,
    /// The run's new findings (row hash and row as JSON text) in row order: 1 job, 2 commit
    /// time, 3 run, 4 instance.
    pub new_findings: &'static str,
    /// Makes keys quiet: 1 output, 2 job, 3 instance, 4 until, 5 the keys as a JSON array.
    pub make_quiet: &'static str,
    /// One delivery of a suppressing route: 1 output, 2 job, 3 instance, 4 run, 5 mode,
    /// 6 findings as a JSON array, 7 suppressed, 8 commit time.
    pub insert_delivery: &'static str,
    /// [`DeliveryRow`]s matching a filter, newest first: 1 status, 2 output, 3 limit (null:
    /// no limit).
    pub list: &'static str,
    /// Queues deliveries again: 1 now, 2 the id (null: any), 3 only dead ones.
    pub retry: &'static str,
    /// Whether any delivery is due, read before a claim where the claim's transaction would
    /// cost more than the read: 1 the outputs, 2 now.
    pub any_due: Option<&'static str>,
    /// How a claim's transaction begins; `None`: the claim is one statement without one.
    pub begin_claim: Option<&'static str>,
    /// Claims due deliveries, each output's and job's oldest pending one only, returning
    /// [`DeliveryRow`]s: 1 node, 2 lease until, 3 now, 4 the outputs, 5 the limit.
    pub claim: &'static str,
    /// A job's findings with these hashes: 1 job, 2 the hashes, 3 instance.
    pub by_hash: &'static str,
}

// The statements both backends spell alike, with `$N` parameters (sqlx reads them on SQLite too).

/// The keys still quiet: 1 output, 2 job, 3 instance, 4 the time.
const QUIET_KEYS: &str = r"select key from hunt_suppressions
    where output = $1 and job = $2 and instance = $3 and quiet_until > $4";

/// Adds to what the next notification reports: 1 output, 2 job, 3 instance, 4 suppressed.
const CARRY: &str = r"insert into hunt_suppressed_counts (output, job, instance, suppressed)
    values ($1, $2, $3, $4)
    on conflict (output, job, instance)
        do update set suppressed = hunt_suppressed_counts.suppressed + excluded.suppressed";

/// Takes what earlier runs carried: 1 output, 2 job, 3 instance.
const TAKE_CARRIED: &str = r"delete from hunt_suppressed_counts
    where output = $1 and job = $2 and instance = $3
    returning suppressed";

/// Ends a claimed attempt, fenced on the claim: 1 status, 2 delivered at, 3 next attempt (null:
/// unchanged), 4 error, 5 id, 6 claiming node, 7 attempts.
const END: &str = r"update hunt_deliveries
    set status = $1, delivered_at = $2, next_attempt_at = coalesce($3, next_attempt_at),
        last_error = $4, lease_expires_at = null
    where id = $5 and lease_owner = $6 and attempts = $7 and status = 'pending'";

/// Ends a node's claims: 1 node.
const RELEASE: &str = r"update hunt_deliveries set lease_expires_at = null
    where lease_owner = $1 and status = 'pending' and lease_expires_at is not null";

/// Pending deliveries per output.
const PENDING: &str = r"select output, count(*) from hunt_deliveries where status = 'pending'
    group by output order by output";

/// Deletes a job's ended deliveries committed before a time: 1 job, 2 the cutoff.
const PRUNE: &str = r"delete from hunt_deliveries
    where job = $1 and status <> 'pending' and created_at < $2";

/// Deletes keys quiet no longer, which decide nothing any more: 1 now.
const PRUNE_QUIET: &str = r"delete from hunt_suppressions where quiet_until <= $1";

/// Whose quiet keys and carried count: an output, a job and an instance.
#[derive(Debug, Clone, Copy)]
struct Scope<'a> {
    output: &'a str,
    job: &'a str,
    instance: &'a str,
}

impl Scope<'_> {
    /// `sql` with the scope bound as its first three parameters.
    fn bind<DB: Db>(self, sql: &'static str) -> super::db::Query<'static, DB> {
        query::<DB>(sql)
            .arg(self.output)
            .arg(self.job)
            .arg(self.instance)
    }
}

/// Writes the deliveries the run's `new_findings` owe `routes`, inside the run's transaction,
/// for the routes whose `min_new` the run reached; routes with `suppress:` first leave out
/// findings whose key is quiet.
pub(super) async fn record<DB: Db>(
    conn: &mut DB::Connection,
    sql: &OutboxSql,
    lease: &Lease,
    finished_at: DateTime<Utc>,
    routes: &[DeliveryRoute],
    new_findings: i64,
) -> Result<()> {
    // Most runs find nothing new: they owe nothing, and the commit pays nothing for outputs.
    for route in routes
        .iter()
        .filter(|r| new_findings > 0 && new_findings >= r.min_new)
    {
        if route.suppress.is_some() {
            record_suppressing::<DB>(conn, sql, lease, finished_at, route).await?;
        } else {
            // One plain insert reading the run's new findings from their index (a single
            // statement over every route, with the routes as JSON, took ten times as long on
            // SQLite).
            let insert = if route.mode == "each" {
                sql.insert_each
            } else {
                sql.insert_digest
            };
            query::<DB>(insert)
                .arg(lease.job.as_str())
                .arg(At(finished_at))
                .arg(lease.run_id)
                .arg(route.output.as_str())
                .arg(lease.instance.as_str())
                .run(conn)
                .await?;
        }
    }
    Ok(())
}

/// The deliveries of a route with `suppress:`: the run's new findings whose key is quiet are
/// left out and counted, the others notified and their keys made quiet for the span.
async fn record_suppressing<DB: Db>(
    conn: &mut DB::Connection,
    sql: &OutboxSql,
    lease: &Lease,
    finished_at: DateTime<Utc>,
    route: &DeliveryRoute,
) -> Result<()> {
    let Some(suppression) = &route.suppress else {
        return Ok(());
    };
    let findings: Vec<(String, Option<String>)> = query::<DB>(sql.new_findings)
        .arg(lease.job.as_str())
        .arg(At(finished_at))
        .arg(lease.run_id)
        .arg(lease.instance.as_str())
        .all(conn)
        .await?;
    if findings.is_empty() {
        return Ok(());
    }
    let scope = Scope {
        output: &route.output,
        job: &lease.job,
        instance: &lease.instance,
    };
    let active: Vec<(String,)> = scope
        .bind::<DB>(QUIET_KEYS)
        .arg(At(finished_at))
        .all(conn)
        .await?;
    let plan = suppression.plan(&findings, &active.into_iter().map(|(k,)| k).collect());
    if !plan.notifies(route.min_new) {
        scope
            .bind::<DB>(CARRY)
            .arg(plan.suppressed)
            .run(conn)
            .await?;
        return Ok(());
    }
    let carried: Option<(i64,)> = scope.bind::<DB>(TAKE_CARRIED).optional(conn).await?;
    scope
        .bind::<DB>(sql.make_quiet)
        .arg(At(finished_at + suppression.span))
        .arg(serde_json::to_string(&plan.quiet)?)
        .run(conn)
        .await?;
    for (hashes, suppressed) in plan.messages(route.mode, carried.map_or(0, |(n,)| n)) {
        scope
            .bind::<DB>(sql.insert_delivery)
            .arg(lease.run_id)
            .arg(route.mode)
            .arg(serde_json::to_string(&hashes)?)
            .arg(suppressed)
            .arg(At(finished_at))
            .run(conn)
            .await?;
    }
    Ok(())
}

/// [`Deliveries::claim_deliveries`](super::Deliveries::claim_deliveries).
pub(super) async fn claim_deliveries<DB: Db>(
    pool: &Pool<DB>,
    sql: &OutboxSql,
    node: &str,
    outputs: &[String],
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<DeliveryRecord>> {
    if let Some(any_due) = sql.any_due {
        let (due,): (bool,) = query::<DB>(any_due)
            .arg(Texts(outputs))
            .arg(At(now))
            .one(&mut *pool.acquire().await?)
            .await?;
        if !due {
            return Ok(Vec::new());
        }
    }
    let claim = query::<DB>(sql.claim)
        .arg(node)
        .arg(At(until))
        .arg(At(now))
        .arg(Texts(outputs))
        .arg(i64::from(limit));
    let rows: Vec<DeliveryRow> = match sql.begin_claim {
        Some(begin) => {
            let mut tx = pool.begin_with(begin).await?;
            let rows = claim.all(&mut *tx).await?;
            tx.commit().await?;
            rows
        }
        None => claim.all(&mut *pool.acquire().await?).await?,
    };
    let mut claimed = rows
        .into_iter()
        .map(DeliveryRecord::try_from)
        .collect::<Result<Vec<_>>>()?;
    claimed.sort_by_key(|d| d.id);
    Ok(claimed)
}

/// [`Deliveries::findings_by_hash`](super::Deliveries::findings_by_hash).
pub(super) async fn findings_by_hash<DB: Db>(
    pool: &Pool<DB>,
    sql: &OutboxSql,
    job: &str,
    instance: &str,
    hashes: &[String],
) -> Result<Vec<FindingRecord>> {
    let found = query::<DB>(sql.by_hash)
        .arg(job)
        .arg(Texts(hashes))
        .arg(instance)
        .all(&mut *pool.acquire().await?)
        .await?;
    Ok(in_order(found, hashes))
}

/// [`Deliveries::end_delivery`](super::Deliveries::end_delivery).
pub(super) async fn end_delivery<DB: Db>(
    pool: &Pool<DB>,
    claimed: &DeliveryRecord,
    outcome: DeliveryOutcome<'_>,
) -> Result<bool> {
    let columns = OutcomeColumns::from(outcome);
    let done = query::<DB>(END)
        .arg(columns.status.as_str())
        .arg(columns.delivered_at.map(At))
        .arg(columns.next_attempt_at.map(At))
        .arg(columns.last_error)
        .arg(claimed.id)
        .arg(claimed.lease_owner.as_deref())
        .arg(claimed.attempts)
        .run(&mut *pool.acquire().await?)
        .await?;
    Ok(done == 1)
}

/// [`Deliveries::release_deliveries`](super::Deliveries::release_deliveries).
pub(super) async fn release_deliveries<DB: Db>(pool: &Pool<DB>, node: &str) -> Result<u64> {
    query::<DB>(RELEASE)
        .arg(node)
        .run(&mut *pool.acquire().await?)
        .await
}

/// [`Deliveries::deliveries`](super::Deliveries::deliveries).
pub(super) async fn deliveries<DB: Db>(
    pool: &Pool<DB>,
    sql: &OutboxSql,
    filter: &DeliveryFilter,
) -> Result<Vec<DeliveryRecord>> {
    let rows: Vec<DeliveryRow> = query::<DB>(sql.list)
        .arg(filter.status.map(DeliveryStatus::as_str))
        .arg(filter.output.as_deref())
        .arg(filter.limit.map(i64::from))
        .all(&mut *pool.acquire().await?)
        .await?;
    rows.into_iter().map(DeliveryRecord::try_from).collect()
}

/// [`Deliveries::retry_deliveries`](super::Deliveries::retry_deliveries).
pub(super) async fn retry_deliveries<DB: Db>(
    pool: &Pool<DB>,
    sql: &OutboxSql,
    target: RetryTarget,
    now: DateTime<Utc>,
) -> Result<u64> {
    let (id, dead) = match target {
        RetryTarget::Id(id) => (Some(id), false),
        RetryTarget::Dead => (None, true),
    };
    query::<DB>(sql.retry)
        .arg(At(now))
        .arg(id)
        .arg(dead)
        .run(&mut *pool.acquire().await?)
        .await
}

/// [`Deliveries::pending_deliveries`](super::Deliveries::pending_deliveries).
pub(super) async fn pending_deliveries<DB: Db>(pool: &Pool<DB>) -> Result<Vec<(String, i64)>> {
    query::<DB>(PENDING).all(&mut *pool.acquire().await?).await
}

/// [`Deliveries::prune_deliveries`](super::Deliveries::prune_deliveries).
pub(super) async fn prune_deliveries<DB: Db>(pool: &Pool<DB>, now: DateTime<Utc>) -> Result<u64> {
    let mut conn = pool.acquire().await?;
    let jobs: Vec<(String, i64)> = query::<DB>(JOB_RETENTIONS).all(&mut *conn).await?;
    let mut deleted = 0;
    for (job, retention) in jobs {
        deleted += query::<DB>(PRUNE)
            .arg(job)
            .arg(At(cutoff(now, retention)))
            .run(&mut *conn)
            .await?;
    }
    query::<DB>(PRUNE_QUIET)
        .arg(At(now))
        .run(&mut *conn)
        .await?;
    Ok(deleted)
}
