//! The result store: run history, results, findings and typed per-job views in SQLite or
//! PostgreSQL.
//!
//! [`Store`] is the one interface the daemon and `huntd once --store` write through; [`open`]
//! picks the backend from the `database:` URL and applies the embedded migrations. The schema is
//! documented in `docs/schema.md`; analysts query it with plain SQL. The values it takes and
//! returns are in `records`. `dialect` implements [`Store`] once for both backends, over the
//! flows in `runs`, `outbox` and `snapshot` (written with what `db` needs of a database) and
//! what `views`, `rowhash` and `backend` do alike, so `sqlite` and `postgres` hold little but
//! their SQL and the few things each does its own way.

mod backend;
mod connect;
mod db;
mod deliveries;
mod dialect;
mod outbox;
mod pgtext;
mod postgres;
mod records;
pub mod report;
mod rowhash;
mod runs;
mod snapshot;
mod sqlite;
pub mod status;
mod views;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::redact::redact_url;
// `report` reaches these as `super::`.

pub use deliveries::{
    Deliveries, DeliveryFilter, DeliveryOutcome, DeliveryRecord, DeliveryRoute, DeliveryStatus,
    RetryTarget, Suppression,
};
pub use postgres::PostgresStore;
pub use records::{
    Claim, ClaimRequest, Column, FindingRecord, Finished, GapRecord, HistoryFilter, JobRecord,
    Lease, PruneOptions, PruneReport, RunCost, RunFailure, RunRecord, RunStatus, RunSuccess,
    SqlType, Trigger, UnknownStatus, ViewClash,
};
pub use rowhash::row_hash;
pub use sqlite::SqliteStore;
pub use views::view_name;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `database:` URL names no supported backend.
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database could not be reached at start-up, even after retrying.
    #[error(
        "cannot reach {target}: {cause} (gave up after {tried} attempts); check that the \
         server runs and that `database:` in huntd.yaml names it"
    )]
    Unreachable {
        /// Host, port, database and user; never the password.
        target: String,
        /// The last failure, with its OS cause.
        cause: String,
        /// Attempts made.
        tried: u32,
    },
    /// The embedded migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Another node took the run over (or it was finished): this attempt may not write.
    #[error("lease lost for run {run_id} attempt {attempt}: another node owns it now")]
    LeaseLost {
        /// The run.
        run_id: i64,
        /// The attempt that lost its lease.
        attempt: i32,
    },
    /// The database refused the run's answer (a value or a size it cannot hold); the run is
    /// recorded `failed` with class `unstorable`, so it is not hunted again.
    #[error(
        "the database cannot store run {run_id}'s answer, so the run is recorded failed: {source}"
    )]
    Unstorable {
        /// The run.
        run_id: i64,
        /// What the database said.
        source: sqlx::Error,
    },
    /// The job was never registered with [`Store::upsert_job`].
    #[error("job `{0}` is not registered in the store")]
    UnknownJob(String),
    /// Two job names map to the same view name.
    #[error("job `{job}` would use view `{view}`, which job `{other}` already uses")]
    ViewNameTaken {
        /// The job being registered.
        job: String,
        /// The view name.
        view: String,
        /// The job that owns it.
        other: String,
    },
    /// The run's rows could not be read back from their spool file.
    #[error("could not read the run's spooled rows: {0}")]
    Spool(std::io::Error),
    /// A result row or stored JSON value is not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A value read back from the database is not one huntd writes.
    #[error("unexpected value in column `{column}`: `{value}`")]
    Corrupt {
        /// Which column.
        column: &'static str,
        /// The value found.
        value: String,
    },
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<ViewClash> for Error {
    fn from(clash: ViewClash) -> Self {
        Error::ViewNameTaken {
            job: clash.job,
            view: clash.view,
            other: clash.other,
        }
    }
}

impl From<UnknownStatus> for Error {
    fn from(UnknownStatus(value): UnknownStatus) -> Self {
        Error::Corrupt {
            column: "status",
            value,
        }
    }
}

/// Which database a store writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The result store; one implementation per database. Its outbox methods are in
/// [`Deliveries`].
#[async_trait::async_trait]
pub trait Store: Deliveries + Send + Sync + fmt::Debug {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Inserts or updates a job's row in `hunt_jobs`; [`Error::ViewNameTaken`] when another
    /// job already uses its view name.
    async fn upsert_job(&self, job: &JobRecord) -> Result<()> {
        match self.upsert_jobs(std::slice::from_ref(job)).await?.pop() {
            Some(clash) => Err(clash.into()),
            None => Ok(()),
        }
    }

    /// Inserts or updates many jobs' rows in one transaction, in order; a job whose view name
    /// another job already uses (in the store or earlier in `jobs`) is left out and returned.
    async fn upsert_jobs(&self, jobs: &[JobRecord]) -> Result<Vec<ViewClash>>;

    /// Inserts the run for `(job, instance, trigger, slot_at)` unless one exists; only the
    /// inserter wins.
    async fn claim_slot(&self, request: &ClaimRequest) -> Result<Claim>;

    /// Takes over running runs whose lease expired before `now`, incrementing their attempt.
    async fn take_over_expired(
        &self,
        node: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Lease>>;

    /// Extends a lease; `false` when the lease was lost.
    async fn renew_lease(&self, lease: &Lease, until: DateTime<Utc>) -> Result<bool>;

    /// Commits results, findings, columns, the typed view and `succeeded` in one transaction,
    /// fenced on the lease: [`Error::LeaseLost`] (and nothing written) if it was lost.
    async fn finish_run(&self, lease: &Lease, result: &RunSuccess<'_>) -> Result<Finished>;

    /// Records a run that ended without results, fenced like [`Store::finish_run`].
    async fn fail_run(&self, lease: &Lease, failure: &RunFailure<'_>) -> Result<()>;

    /// At start-up: marks this node's running runs `interrupted`; returns how many.
    async fn mark_interrupted(&self, node: &str, now: DateTime<Utc>) -> Result<u64>;

    /// Records a span deliberately left uncovered.
    async fn record_gap(&self, gap: &GapRecord) -> Result<()>;

    /// End of the latest window a job's stream on `instance` has accounted for: hunted
    /// (`succeeded`) or left out on purpose by `catch_up: skip` (`skipped`), so a failure after
    /// a skip does not hunt it.
    async fn high_water_mark(&self, job: &str, instance: &str) -> Result<Option<DateTime<Utc>>>;

    /// The windows of the (`job`, `instance`) stream's succeeded and skipped runs that overlap
    /// `[from, to)`, by start: what a backfill of that range finds already accounted for.
    async fn covered_windows(
        &self,
        job: &str,
        instance: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>>;

    /// Runs matching the filter, newest first.
    async fn history(&self, filter: &HistoryFilter) -> Result<Vec<RunRecord>>;

    /// Findings of a job (on one instance, or all) first seen at or after `new_since` (all
    /// when `None`), oldest first.
    async fn findings(
        &self,
        job: &str,
        instance: Option<&str>,
        new_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<FindingRecord>>;

    /// Deletes results, runs, gaps and unseen findings older than each job's retention, in
    /// batches of `batch_size` rows.
    async fn prune(&self, options: &PruneOptions) -> Result<PruneReport>;

    /// What `huntd status` and the status page show, read in one snapshot.
    async fn status(&self, window: &status::StatusWindow) -> Result<status::StatusSnapshot>;

    /// Closes the connection pool.
    async fn close(&self);
}

/// Opens the store named by a `database:` URL (`sqlite://PATH`, `postgres://...`) and applies
/// the migrations.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(database_url).await?))
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(database_url).await?))
    } else {
        Err(Error::UnsupportedUrl(redact_url(database_url)))
    }
}

/// `huntd migrate`: applies the migrations and closes the store.
pub async fn migrate(database_url: &str) -> Result<()> {
    open(database_url).await?.close().await;
    Ok(())
}
