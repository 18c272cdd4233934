//! The one [`Store`] and [`Deliveries`] implementation, over a [`Dialect`]: what each backend
//! supplies (its pool, its SQL, and what it does its own way: registering jobs, committing a run
//! and recording the run's findings). `SqliteStore` and `PostgresStore` are dialects; every other
//! method is a flow of `runs`, `outbox` or `snapshot`.

use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::Pool;

use super::db::Db;
use super::deliveries::{Deliveries, DeliveryFilter, DeliveryOutcome, DeliveryRecord, RetryTarget};
use super::outbox::{self, OutboxSql};
use super::records::{
    Claim, ClaimRequest, FindingRecord, Finished, GapRecord, HistoryFilter, JobRecord, Lease,
    PruneOptions, PruneReport, RunFailure, RunRecord, RunSuccess, ViewClash,
};
use super::runs::{self, RunSql};
use super::snapshot;
use super::status::{StatusSnapshot, StatusWindow};
use super::views::{ViewDialect, ViewState, ViewWriter, refresh_view};
use super::{Backend, Result, Store};

/// What one backend supplies to the shared [`Store`] and [`Deliveries`] implementation.
pub(super) trait Dialect: fmt::Debug + Send + Sync + 'static {
    /// sqlx's database type.
    type Database: Db;

    /// Which backend this is.
    const BACKEND: Backend;
    /// Its run SQL.
    const RUNS: &'static RunSql;
    /// Its outbox SQL.
    const OUTBOX: &'static OutboxSql;
    /// How it spells a typed view.
    const VIEWS: &'static ViewDialect;
    /// The statement that makes the status reads one snapshot, where one is needed.
    const STATUS_ISOLATION: Option<&'static str>;

    /// The connection pool.
    fn pool(&self) -> &Pool<Self::Database>;

    /// Upserts a run's findings from the results its transaction wrote, and records them and
    /// `row_count` on the run; returns how many findings it created.
    fn record_findings(
        conn: &mut <Self::Database as sqlx::Database>::Connection,
        lease: &Lease,
        finished_at: DateTime<Utc>,
        row_count: i64,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// [`Store::upsert_jobs`], the backend's own way.
    fn upsert_jobs(
        &self,
        jobs: &[JobRecord],
    ) -> impl Future<Output = Result<Vec<ViewClash>>> + Send;

    /// [`Store::finish_run`], the backend's own way.
    fn finish_run(
        &self,
        lease: &Lease,
        result: &RunSuccess<'_>,
    ) -> impl Future<Output = Result<Finished>> + Send;
}

/// The end of a run's commit inside its transaction, alike on both backends once the backend
/// has fenced the run and written its `row_count` results: its findings, the deliveries its new
/// findings owe, and its typed view rebuilt if its query or result schema changed. `view` is the
/// job's view and the definition it has now.
pub(super) async fn end_commit<D: Dialect>(
    conn: &mut <D::Database as sqlx::Database>::Connection,
    lease: &Lease,
    result: &RunSuccess<'_>,
    row_count: i64,
    view: (&str, Option<&str>),
    query_sha256: &str,
) -> Result<Finished>
where
    <D::Database as sqlx::Database>::Connection: ViewWriter,
{
    let new_row_count =
        D::record_findings(&mut *conn, lease, result.finished_at, row_count).await?;
    outbox::record::<D::Database>(
        &mut *conn,
        D::OUTBOX,
        lease,
        result.finished_at,
        result.notify,
        new_row_count,
    )
    .await?;
    let (view, current_sha256) = view;
    let state = ViewState {
        job: &lease.job,
        view,
        current_sha256,
        query_sha256,
        columns: result.columns,
    };
    refresh_view::<D::Database>(conn, D::VIEWS, &state).await?;
    Ok(Finished {
        row_count,
        new_row_count,
    })
}

#[async_trait::async_trait]
impl<D: Dialect> Store for D {
    fn backend(&self) -> Backend {
        D::BACKEND
    }

    #[tracing::instrument(skip_all, fields(jobs = jobs.len()))]
    async fn upsert_jobs(&self, jobs: &[JobRecord]) -> Result<Vec<ViewClash>> {
        Dialect::upsert_jobs(self, jobs).await
    }

    #[tracing::instrument(skip_all, fields(job = %request.job, slot = %request.slot_at))]
    async fn claim_slot(&self, request: &ClaimRequest) -> Result<Claim> {
        runs::claim_slot(self.pool(), D::RUNS, request).await
    }

    #[tracing::instrument(skip(self))]
    async fn take_over_expired(
        &self,
        node: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Lease>> {
        runs::take_over_expired(self.pool(), D::RUNS, node, lease_until, now).await
    }

    async fn renew_lease(&self, lease: &Lease, until: DateTime<Utc>) -> Result<bool> {
        runs::renew_lease(self.pool(), lease, until).await
    }

    #[tracing::instrument(skip_all, fields(run = lease.run_id, attempt = lease.attempt, rows = result.rows.received()))]
    async fn finish_run(&self, lease: &Lease, result: &RunSuccess<'_>) -> Result<Finished> {
        Dialect::finish_run(self, lease, result).await
    }

    #[tracing::instrument(skip_all, fields(run = lease.run_id, attempt = lease.attempt))]
    async fn fail_run(&self, lease: &Lease, failure: &RunFailure<'_>) -> Result<()> {
        runs::fail_run(self.pool(), D::RUNS, lease, failure).await
    }

    #[tracing::instrument(skip(self))]
    async fn mark_interrupted(&self, node: &str, now: DateTime<Utc>) -> Result<u64> {
        runs::mark_interrupted(self.pool(), D::RUNS, node, now).await
    }

    async fn record_gap(&self, gap: &GapRecord) -> Result<()> {
        runs::record_gap(self.pool(), gap).await
    }

    async fn high_water_mark(&self, job: &str, instance: &str) -> Result<Option<DateTime<Utc>>> {
        runs::high_water_mark(self.pool(), job, instance).await
    }

    async fn covered_windows(
        &self,
        job: &str,
        instance: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
        runs::covered_windows(self.pool(), job, instance, from, to).await
    }

    async fn history(&self, filter: &HistoryFilter) -> Result<Vec<RunRecord>> {
        runs::history(self.pool(), D::RUNS, filter).await
    }

    async fn findings(
        &self,
        job: &str,
        instance: Option<&str>,
        new_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<FindingRecord>> {
        runs::findings(self.pool(), D::RUNS, job, instance, new_since).await
    }

    #[tracing::instrument(skip(self))]
    async fn prune(&self, options: &PruneOptions) -> Result<PruneReport> {
        runs::prune(self.pool(), D::RUNS, options).await
    }

    async fn status(&self, window: &StatusWindow) -> Result<StatusSnapshot> {
        snapshot::snapshot(self.pool(), D::STATUS_ISOLATION, window).await
    }

    async fn close(&self) {
        self.pool().close().await;
    }
}

#[async_trait::async_trait]
impl<D: Dialect> Deliveries for D {
    async fn claim_deliveries(
        &self,
        node: &str,
        outputs: &[String],
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        outbox::claim_deliveries(self.pool(), D::OUTBOX, node, outputs, until, now, limit).await
    }

    async fn end_delivery(
        &self,
        claimed: &DeliveryRecord,
        outcome: DeliveryOutcome<'_>,
    ) -> Result<bool> {
        outbox::end_delivery(self.pool(), claimed, outcome).await
    }

    async fn release_deliveries(&self, node: &str) -> Result<u64> {
        outbox::release_deliveries(self.pool(), node).await
    }

    async fn findings_by_hash(
        &self,
        job: &str,
        instance: &str,
        hashes: &[String],
    ) -> Result<Vec<FindingRecord>> {
        outbox::findings_by_hash(self.pool(), D::OUTBOX, job, instance, hashes).await
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>> {
        outbox::deliveries(self.pool(), D::OUTBOX, filter).await
    }

    async fn retry_deliveries(&self, target: RetryTarget, now: DateTime<Utc>) -> Result<u64> {
        outbox::retry_deliveries(self.pool(), D::OUTBOX, target, now).await
    }

    async fn pending_deliveries(&self) -> Result<Vec<(String, i64)>> {
        outbox::pending_deliveries(self.pool()).await
    }

    async fn prune_deliveries(&self, now: DateTime<Utc>) -> Result<u64> {
        outbox::prune_deliveries(self.pool(), now).await
    }
}
