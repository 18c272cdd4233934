//! SQLite's outbox SQL: the deliveries a commit writes, and the [`Deliveries`] methods.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{SqliteStore, ts};
use crate::store::Result;
use crate::store::backend::cutoff;
use crate::store::deliveries::{
    Deliveries, DeliveryFilter, DeliveryOutcome, DeliveryRecord, DeliveryRoute, DeliveryRow,
    DeliverySql, DeliveryStatus, OutcomeColumns, RetryTarget, SuppressedMessage, SuppressionScope,
};
use crate::store::records::{FindingRecord, Lease};

/// The columns a [`DeliveryRow`] reads.
const COLUMNS: &str = "id, output, job, instance, run_id, mode, findings, suppressed, status, attempts, \
     next_attempt_at, lease_owner, lease_expires_at, last_error, created_at, queued_at, \
     delivered_at";

/// SQLite's statements for a commit's deliveries, on the committing transaction's connection.
pub(super) struct Outbox<'c>(pub(super) &'c mut SqliteConnection);

#[async_trait::async_trait]
impl DeliverySql for Outbox<'_> {
    /// One plain insert reading the run's new findings from their index (a single statement
    /// over every route, with the routes as JSON, took ten times as long on SQLite).
    async fn insert_route(
        &mut self,
        lease: &Lease,
        finished_at: DateTime<Utc>,
        route: &DeliveryRoute,
    ) -> Result<()> {
        let sql = if route.mode == "each" {
            r"insert into hunt_deliveries (output, job, instance, run_id, mode, findings, status,
                  attempts, next_attempt_at, created_at, queued_at)
              select ?4, ?1, ?5, ?3, 'each',
                  json_array(row_hash), 'pending', 0, ?2, ?2, ?2
              from hunt_finding_state
              where job = ?1 and instance = ?5 and first_seen_at = ?2 and first_run_id = ?3
              order by last_row_num, row_hash"
        } else {
            r"insert into hunt_deliveries (output, job, instance, run_id, mode, findings, status,
                  attempts, next_attempt_at, created_at, queued_at)
              select ?4, ?1, ?5, ?3, 'digest',
                  (select json_group_array(row_hash order by last_row_num, row_hash)
                   from hunt_finding_state
                   where job = ?1 and instance = ?5 and first_seen_at = ?2 and first_run_id = ?3),
                  'pending', 0, ?2, ?2, ?2"
        };
        sqlx::query(sql)
            .bind(&lease.job)
            .bind(ts(finished_at))
            .bind(lease.run_id)
            .bind(&route.output)
            .bind(&lease.instance)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn new_findings(
        &mut self,
        lease: &Lease,
        finished_at: DateTime<Utc>,
    ) -> Result<Vec<(String, Option<String>)>> {
        Ok(sqlx::query_as(
            r"select s.row_hash, r.data from hunt_finding_state s
              left join hunt_results r on r.run_id = s.last_run_id and r.row_num = s.last_row_num
              where s.job = ?1 and s.instance = ?4 and s.first_seen_at = ?2 and s.first_run_id = ?3
              order by s.last_row_num, s.row_hash",
        )
        .bind(&lease.job)
        .bind(ts(finished_at))
        .bind(lease.run_id)
        .bind(&lease.instance)
        .fetch_all(&mut *self.0)
        .await?)
    }

    async fn quiet_keys(
        &mut self,
        scope: SuppressionScope<'_>,
        at: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            r"select key from hunt_suppressions
              where output = ?1 and job = ?2 and instance = ?3 and quiet_until > ?4",
        )
        .bind(scope.output)
        .bind(scope.job)
        .bind(scope.instance)
        .bind(ts(at))
        .fetch_all(&mut *self.0)
        .await?)
    }

    async fn carry(&mut self, scope: SuppressionScope<'_>, suppressed: i64) -> Result<()> {
        sqlx::query(
            r"insert into hunt_suppressed_counts (output, job, instance, suppressed)
              values (?1, ?2, ?3, ?4)
              on conflict (output, job, instance)
                  do update set suppressed = suppressed + excluded.suppressed",
        )
        .bind(scope.output)
        .bind(scope.job)
        .bind(scope.instance)
        .bind(suppressed)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn take_carried(&mut self, scope: SuppressionScope<'_>) -> Result<i64> {
        let carried: Option<i64> = sqlx::query_scalar(
            r"delete from hunt_suppressed_counts where output = ?1 and job = ?2 and instance = ?3
              returning suppressed",
        )
        .bind(scope.output)
        .bind(scope.job)
        .bind(scope.instance)
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(carried.unwrap_or(0))
    }

    async fn make_quiet(
        &mut self,
        scope: SuppressionScope<'_>,
        keys: &[String],
        until: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            r"insert into hunt_suppressions (output, job, instance, key, quiet_until)
              select ?1, ?2, ?3, value, ?4 from json_each(?5) where true
              on conflict (output, job, instance, key) do update set quiet_until = excluded.quiet_until",
        )
        .bind(scope.output)
        .bind(scope.job)
        .bind(scope.instance)
        .bind(ts(until))
        .bind(serde_json::to_string(keys)?)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn insert_delivery(
        &mut self,
        scope: SuppressionScope<'_>,
        message: SuppressedMessage<'_>,
    ) -> Result<()> {
        sqlx::query(
            r"insert into hunt_deliveries (output, job, instance, run_id, mode, findings,
                  suppressed, status, attempts, next_attempt_at, created_at, queued_at)
              values (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8, ?8)",
        )
        .bind(scope.output)
        .bind(scope.job)
        .bind(scope.instance)
        .bind(message.run_id)
        .bind(message.mode)
        .bind(serde_json::to_string(message.findings)?)
        .bind(message.suppressed)
        .bind(ts(message.at))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Deliveries for SqliteStore {
    async fn claim_deliveries(
        &self,
        node: &str,
        outputs: &[String],
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        // An idle outbox is the common case: a plain read finds it so without taking the
        // database's one write lock, which every committing run needs.
        let due: bool = sqlx::query_scalar(
            r"select exists (
                  select 1 from hunt_deliveries
                  where status = 'pending' and output in (select value from json_each(?1))
                      and next_attempt_at <= ?2
                      and (lease_expires_at is null or lease_expires_at < ?2))",
        )
        .bind(serde_json::to_string(outputs)?)
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await?;
        if !due {
            return Ok(Vec::new());
        }
        // The write lock from the start: no other node claims between the read and the update.
        let mut tx = self.pool.begin_with("begin immediate").await?;
        let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            r"update hunt_deliveries
              set lease_owner = ?1, lease_expires_at = ?2, attempts = attempts + 1
              where id in (
                  select d.id from hunt_deliveries d
                  where d.status = 'pending'
                      and d.output in (select value from json_each(?4))
                      and d.next_attempt_at <= ?3
                      and (d.lease_expires_at is null or d.lease_expires_at < ?3)
                      and not exists (
                          select 1 from hunt_deliveries e
                          where e.status = 'pending' and e.output = d.output
                              and e.job = d.job and e.instance = d.instance
                              and e.id < d.id)
                  order by d.id
                  limit ?5)
              returning {COLUMNS}"
        )))
        .bind(node)
        .bind(ts(until))
        .bind(ts(now))
        .bind(serde_json::to_string(outputs)?)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut claimed = rows
            .into_iter()
            .map(DeliveryRecord::try_from)
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    async fn end_delivery(
        &self,
        claimed: &DeliveryRecord,
        outcome: DeliveryOutcome<'_>,
    ) -> Result<bool> {
        let columns = OutcomeColumns::from(outcome);
        let done = sqlx::query(
            r"update hunt_deliveries
              set status = ?1, delivered_at = ?2, next_attempt_at = coalesce(?3, next_attempt_at),
                  last_error = ?4, lease_expires_at = null
              where id = ?5 and lease_owner = ?6 and attempts = ?7 and status = 'pending'",
        )
        .bind(columns.status.as_str())
        .bind(columns.delivered_at.map(ts))
        .bind(columns.next_attempt_at.map(ts))
        .bind(columns.last_error)
        .bind(claimed.id)
        .bind(claimed.lease_owner.as_deref())
        .bind(claimed.attempts)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_deliveries(&self, node: &str) -> Result<u64> {
        let done = sqlx::query(
            r"update hunt_deliveries set lease_expires_at = null
              where lease_owner = ?1 and status = 'pending' and lease_expires_at is not null",
        )
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn findings_by_hash(
        &self,
        job: &str,
        instance: &str,
        hashes: &[String],
    ) -> Result<Vec<FindingRecord>> {
        let found: Vec<FindingRecord> = sqlx::query_as(
            r"select job, instance, row_hash, first_seen_at, last_seen_at, first_run_id,
                  last_run_id, times_seen, data
              from hunt_findings
              where job = ?1 and instance = ?3 and row_hash in (select value from json_each(?2))
                  and data is not null",
        )
        .bind(job)
        .bind(serde_json::to_string(hashes)?)
        .bind(instance)
        .fetch_all(&self.pool)
        .await?;
        Ok(crate::store::deliveries::in_order(found, hashes))
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            r"select {COLUMNS} from hunt_deliveries
              where (?1 is null or status = ?1) and (?2 is null or output = ?2)
              order by id desc
              limit ?3"
        )))
        .bind(filter.status.map(DeliveryStatus::as_str))
        .bind(filter.output.as_deref())
        .bind(filter.limit.map_or(-1, i64::from))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }

    async fn retry_deliveries(&self, target: RetryTarget, now: DateTime<Utc>) -> Result<u64> {
        let (id, dead) = match target {
            RetryTarget::Id(id) => (Some(id), false),
            RetryTarget::Dead => (None, true),
        };
        let done = sqlx::query(
            r"update hunt_deliveries
              set status = 'pending', next_attempt_at = ?1, queued_at = ?1,
                  lease_expires_at = null, delivered_at = null
              where (?2 is null or id = ?2) and (not ?3 or status = 'dead')
                  and (lease_expires_at is null or lease_expires_at < ?1)",
        )
        .bind(ts(now))
        .bind(id)
        .bind(dead)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn pending_deliveries(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            r"select output, count(*) from hunt_deliveries where status = 'pending'
              group by output order by output",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn prune_deliveries(&self, now: DateTime<Utc>) -> Result<u64> {
        let jobs: Vec<(String, i64)> =
            sqlx::query_as(r"select name, retention_seconds from hunt_jobs order by name")
                .fetch_all(&self.pool)
                .await?;
        let mut deleted = 0;
        for (job, retention) in jobs {
            deleted += sqlx::query(
                r"delete from hunt_deliveries
                  where job = ?1 and status <> 'pending' and created_at < ?2",
            )
            .bind(&job)
            .bind(ts(cutoff(now, retention)))
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        // Quiet keys past their span decide nothing any more.
        sqlx::query(r"delete from hunt_suppressions where quiet_until <= ?1")
            .bind(ts(now))
            .execute(&self.pool)
            .await?;
        Ok(deleted)
    }
}
