//! The result store: run history, results, findings and typed per-job views in SQLite or
//! PostgreSQL.
//!
//! [`Store`] is the one interface the daemon and `huntd once --store` write through; [`open`]
//! picks the backend from the `database:` URL and applies the embedded migrations. The schema is
//! documented in `docs/schema.md`; analysts query it with plain SQL.

mod postgres;
pub mod report;
mod rowhash;
mod sqlite;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use postgres::PostgresStore;
pub use rowhash::row_hash;
pub use sqlite::SqliteStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `database:` URL names no supported backend.
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
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
    /// Writing command output failed.
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Default per-job retention (90 days).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Which database a store writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A job as the store keeps it in `hunt_jobs`: plain values, so the store does not depend on
/// the job loader.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// Unique job name.
    pub name: String,
    /// The instance (tenant connection) it runs against.
    pub instance: String,
    /// The job as written, stored as JSON.
    pub definition: serde_json::Value,
    /// SHA-256 hex of the query template text.
    pub query_sha256: String,
    /// Whether the job is scheduled.
    pub enabled: bool,
    /// Columns that identify a finding; `None` = the whole row.
    pub dedup_columns: Option<Vec<String>>,
    /// How long results, runs and unseen findings are kept.
    pub retention: Duration,
}

/// A job [`Store::upsert_jobs`] left out because another job already uses its view name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewClash {
    /// The job left out.
    pub job: String,
    /// The view name.
    pub view: String,
    /// The job that owns it.
    pub other: String,
}

impl From<ViewClash> for Error {
    fn from(clash: ViewClash) -> Self {
        Error::ViewNameTaken {
            job: clash.job,
            view: clash.view,
            other: clash.other,
        }
    }
}

/// The jobs of a batch to write, each with its view name, and those left out: a job clashes when
/// `owners` (view name to job name, from the store) or an earlier job of the batch has its view.
/// A name listed twice keeps its last record.
fn plan_upsert(
    jobs: &[JobRecord],
    mut owners: std::collections::HashMap<String, String>,
) -> (Vec<(&JobRecord, String)>, Vec<ViewClash>) {
    let mut accepted: Vec<(&JobRecord, String)> = Vec::with_capacity(jobs.len());
    let mut positions = std::collections::HashMap::with_capacity(jobs.len());
    let mut clashes = Vec::new();
    for job in jobs {
        let view = view_name(&job.name);
        match owners.get(&view) {
            Some(other) if *other != job.name => clashes.push(ViewClash {
                job: job.name.clone(),
                view,
                other: other.clone(),
            }),
            _ => {
                owners.insert(view.clone(), job.name.clone());
                if let Some(&at) = positions.get(job.name.as_str()) {
                    accepted[at] = (job, view);
                } else {
                    positions.insert(job.name.as_str(), accepted.len());
                    accepted.push((job, view));
                }
            }
        }
    }
    (accepted, clashes)
}

/// Status of a run in `hunt_runs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Claimed and in progress (or its node died; see the lease).
    Running,
    /// Results committed.
    Succeeded,
    /// The query failed; `error_class`/`error_message` say why.
    Failed,
    /// The node stopped while the run was in progress.
    Interrupted,
    /// The slot was deliberately not run.
    Skipped,
}

impl RunStatus {
    /// The text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "interrupted" => Self::Interrupted,
            "skipped" => Self::Skipped,
            other => {
                return Err(Error::Corrupt {
                    column: "status",
                    value: other.to_string(),
                });
            }
        })
    }
}

impl TryFrom<String> for RunStatus {
    type Error = Error;

    fn try_from(value: String) -> Result<Self> {
        value.parse()
    }
}

/// A request to run one slot of a job.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The job.
    pub job: String,
    /// The instance the run queries.
    pub instance: String,
    /// The fire time this run belongs to; unique per job.
    pub slot_at: DateTime<Utc>,
    /// Start of the time window queried.
    pub window_start: DateTime<Utc>,
    /// End of the time window queried.
    pub window_end: DateTime<Utc>,
    /// The claiming node.
    pub node: String,
    /// When the lease ends unless renewed.
    pub lease_until: DateTime<Utc>,
    /// Claim time, recorded as `started_at`.
    pub now: DateTime<Utc>,
    /// SHA-256 hex of the rendered query.
    pub query_sha256: String,
}

/// The right to write one attempt of a run: every write is fenced on all three fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// `hunt_runs.id`.
    pub run_id: i64,
    /// Attempt number; a takeover increments it.
    pub attempt: i32,
    /// The node holding the lease.
    pub node: String,
    /// The job.
    pub job: String,
    /// The slot.
    pub slot_at: DateTime<Utc>,
    /// Start of the window.
    pub window_start: DateTime<Utc>,
    /// End of the window.
    pub window_end: DateTime<Utc>,
}

/// Outcome of [`Store::claim_slot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller inserted the run and holds its lease.
    Won(Lease),
    /// The slot already has a run (any status).
    Lost {
        /// The existing run.
        run_id: i64,
        /// Its attempt.
        attempt: i32,
        /// Its status.
        status: RunStatus,
    },
}

/// One result column as the hunting API describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    #[serde(alias = "Name")]
    pub name: String,
    /// Defender type name (`DateTime`, `String`, `Int64`, `Dynamic`, ...).
    #[serde(rename = "type", alias = "Type")]
    pub type_name: String,
}

/// The SQL type a Defender column type maps to in the typed views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// `timestamptz` (PostgreSQL) / ISO text (SQLite).
    Timestamp,
    /// `bigint`.
    BigInt,
    /// `double precision` / `real`.
    Double,
    /// `boolean` (0/1 in SQLite).
    Boolean,
    /// `jsonb` / JSON text.
    Json,
    /// `text`; unknown type names land here.
    Text,
}

impl SqlType {
    /// Maps a Defender type name, case-insensitively; unknown names are text.
    pub fn of(defender_type: &str) -> Self {
        match defender_type.to_ascii_lowercase().as_str() {
            "datetime" | "date" => Self::Timestamp,
            "int64" | "int32" | "long" | "int" | "integer" => Self::BigInt,
            "double" | "real" | "decimal" | "float" => Self::Double,
            "boolean" | "bool" => Self::Boolean,
            "dynamic" | "object" => Self::Json,
            _ => Self::Text,
        }
    }
}

/// A succeeded query: what [`Store::finish_run`] commits.
#[derive(Debug, Clone, Copy)]
pub struct RunSuccess<'a> {
    /// When the run finished.
    pub finished_at: DateTime<Utc>,
    /// The result schema in order.
    pub columns: &'a [Column],
    /// The rows, each a JSON object exactly as received.
    pub rows: &'a [Box<RawValue>],
    /// Whether the API cut the result at its row limit.
    pub truncated: bool,
    /// Which API answered (`graph`, `mde`).
    pub api: &'a str,
    /// HTTP status of the answer.
    pub http_status: Option<u16>,
    /// The request id sent, for support cases.
    pub client_request_id: Option<&'a str>,
}

/// A run that ended without results: what [`Store::fail_run`] records.
#[derive(Debug, Clone, Copy)]
pub struct RunFailure<'a> {
    /// When the run ended.
    pub finished_at: DateTime<Utc>,
    /// `Failed`, `Interrupted` or `Skipped`.
    pub status: RunStatus,
    /// Machine-readable class (`throttled`, `bad_query`, `timeout`, ...).
    pub error_class: &'a str,
    /// Human-readable message.
    pub error_message: &'a str,
    /// Which API was called, if any.
    pub api: Option<&'a str>,
    /// HTTP status, if an answer came.
    pub http_status: Option<u16>,
    /// The request id sent, if any.
    pub client_request_id: Option<&'a str>,
}

/// What a committed run added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// Rows stored.
    pub row_count: i64,
    /// Findings this run created (distinct rows not seen in any earlier run).
    pub new_row_count: i64,
}

/// A span no run covered, with why (`catch_up: skip`, downtime, ...).
#[derive(Debug, Clone)]
pub struct GapRecord {
    /// The job.
    pub job: String,
    /// Start of the span.
    pub gap_start: DateTime<Utc>,
    /// End of the span.
    pub gap_end: DateTime<Utc>,
    /// Why it was not covered.
    pub reason: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Which runs [`Store::history`] returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Only this job.
    pub job: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only runs started at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many runs.
    pub limit: Option<u32>,
}

/// One row of `hunt_runs`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RunRecord {
    /// Run id.
    pub id: i64,
    /// Job name.
    pub job: String,
    /// Instance queried.
    pub instance: String,
    /// Fire time.
    pub slot_at: DateTime<Utc>,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end.
    pub window_end: DateTime<Utc>,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    /// Attempt number.
    pub attempt: i32,
    /// Node that ran the last attempt.
    pub node: String,
    /// Claim time.
    pub started_at: DateTime<Utc>,
    /// End time.
    pub finished_at: Option<DateTime<Utc>>,
    /// `finished_at - started_at` in milliseconds.
    pub duration_ms: Option<i64>,
    /// Rows stored.
    pub row_count: Option<i64>,
    /// Rows whose finding was new.
    pub new_row_count: Option<i64>,
    /// Whether the API truncated the result.
    pub truncated: Option<bool>,
    /// API used.
    pub api: Option<String>,
    /// HTTP status.
    pub http_status: Option<i32>,
    /// Request id.
    pub client_request_id: Option<String>,
    /// Error class.
    pub error_class: Option<String>,
    /// Error message.
    pub error_message: Option<String>,
    /// Query hash.
    pub query_sha256: String,
}

/// One row of `hunt_findings`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FindingRecord {
    /// Job name.
    pub job: String,
    /// SHA-256 hex of the canonical dedup JSON.
    pub row_hash: String,
    /// Finish time of the first run that returned it.
    pub first_seen_at: DateTime<Utc>,
    /// Finish time of the latest run that returned it.
    pub last_seen_at: DateTime<Utc>,
    /// First run that returned it.
    pub first_run_id: i64,
    /// Latest run that returned it.
    pub last_run_id: i64,
    /// Number of runs that returned it.
    pub times_seen: i64,
    /// The latest row, as JSON text.
    pub data: String,
}

/// What [`Store::prune`] deletes: everything older than each job's retention.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions {
    /// The reference time.
    pub now: DateTime<Utc>,
    /// Rows per delete statement, so the database stays responsive.
    pub batch_size: u32,
}

/// Rows [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// From `hunt_results`.
    pub results: u64,
    /// From `hunt_runs`.
    pub runs: u64,
    /// From `hunt_findings` (not seen within retention).
    pub findings: u64,
    /// From `hunt_gaps`.
    pub gaps: u64,
    /// Delete statements issued.
    pub batches: u64,
}

/// The result store; one implementation per database.
#[async_trait::async_trait]
pub trait Store: Send + Sync + fmt::Debug {
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

    /// Inserts the run for `(job, slot_at)` unless one exists; only the inserter wins.
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

    /// End of the latest window a job has accounted for: hunted (`succeeded`) or left out on
    /// purpose by `catch_up: skip` (`skipped`), so a failure after a skip does not hunt it.
    async fn high_water_mark(&self, job: &str) -> Result<Option<DateTime<Utc>>>;

    /// Runs matching the filter, newest first.
    async fn history(&self, filter: &HistoryFilter) -> Result<Vec<RunRecord>>;

    /// Findings of a job first seen at or after `new_since` (all when `None`), oldest first.
    async fn findings(
        &self,
        job: &str,
        new_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<FindingRecord>>;

    /// Deletes results, runs, gaps and unseen findings older than each job's retention, in
    /// batches of `batch_size` rows.
    async fn prune(&self, options: &PruneOptions) -> Result<PruneReport>;

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

/// Drops any password from a URL before it is shown.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:[redacted]{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Tables and views huntd owns; a job view may not take one of these names.
const RESERVED_VIEW_NAMES: [&str; 8] = [
    "hunt_jobs",
    "hunt_runs",
    "hunt_results",
    "hunt_findings",
    "hunt_finding_state",
    "hunt_columns",
    "hunt_gaps",
    "hunt_coverage_gaps",
];

/// The typed view of a job: `hunt_<name>` with every character outside `[a-z0-9_]` as `_`
/// (`hunt_job_<name>` when that would shadow one of huntd's own tables).
pub fn view_name(job: &str) -> String {
    let safe: String = job
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("hunt_{safe}");
    if RESERVED_VIEW_NAMES.contains(&name.as_str()) {
        format!("hunt_job_{safe}")
    } else {
        name
    }
}

/// One column of a typed view: the JSON key it reads, the SQL name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ViewColumn {
    key: String,
    ident: String,
    sql_type: SqlType,
}

/// Columns the view adds before the result columns.
const VIEW_FIXED_COLUMNS: [&str; 5] =
    ["run_id", "slot_at", "window_start", "window_end", "row_num"];

/// PostgreSQL truncates identifiers beyond this many bytes.
const MAX_IDENT_BYTES: usize = 63;

/// Plans a job view's result columns: unique identifiers (`fold` applied, clashing names get a
/// `_2`, `_3` suffix), skipping names that cannot be expressed as a JSON path.
fn plan_view_columns(columns: &[Column], fold: fn(&str) -> String) -> Vec<ViewColumn> {
    let mut taken: Vec<String> = VIEW_FIXED_COLUMNS.iter().map(|c| fold(c)).collect();
    let mut planned = Vec::with_capacity(columns.len());
    for column in columns {
        if column.name.is_empty() || column.name.contains(['"', '\0']) {
            continue;
        }
        let mut base = fold(&column.name);
        while base.len() > MAX_IDENT_BYTES - 4 {
            base.pop();
        }
        let mut ident = base.clone();
        let mut n = 2;
        while taken.iter().any(|t| t.eq_ignore_ascii_case(&ident)) {
            ident = format!("{base}_{n}");
            n += 1;
        }
        taken.push(ident.clone());
        planned.push(ViewColumn {
            key: column.name.clone(),
            ident,
            sql_type: SqlType::of(&column.type_name),
        });
    }
    planned
}

/// Quotes an SQL identifier.
fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Identifies a view definition: changes when the query or its result schema changes.
fn view_sha256(query_sha256: &str, columns: &[Column]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(query_sha256.as_bytes());
    for column in columns {
        hasher.update([0]);
        hasher.update(column.name.as_bytes());
        hasher.update([1]);
        hasher.update(column.type_name.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Per-run dedup of the rows: how many rows were hashed, and for each distinct hash the last row
/// number carrying it (the result row its finding points at).
#[derive(Debug)]
struct HashedRows {
    rows: usize,
    last_row: std::collections::HashMap<String, i64>,
}

impl HashedRows {
    /// An empty set, sized for a run of `rows` rows.
    fn with_capacity(rows: usize) -> Self {
        Self {
            rows: 0,
            last_row: std::collections::HashMap::with_capacity(rows),
        }
    }

    /// Row number of the next row to hash.
    fn next_row_num(&self) -> i64 {
        i64::try_from(self.rows).expect("a slice length fits in i64")
    }

    /// Records the hashes of the run's next rows, in row order.
    fn extend(&mut self, hashes: Vec<String>) {
        for hash in hashes {
            let num = self.next_row_num();
            self.last_row.insert(hash, num);
            self.rows += 1;
        }
    }

    /// Each distinct hash with the row its finding points at, in hash order: the findings
    /// table's key order, so the upsert walks its index forward instead of hopping around it.
    fn findings(&self) -> Vec<(&str, i64)> {
        let mut pairs: Vec<(&str, i64)> = self
            .last_row
            .iter()
            .map(|(hash, num)| (hash.as_str(), *num))
            .collect();
        pairs.sort_unstable();
        pairs
    }
}

/// Rows below this are hashed on the calling thread; thread start-up would cost more.
const PARALLEL_HASH_MIN_ROWS: usize = 4096;

/// Hashes rows in order, on all cores for large results: hashing is the CPU-bound part of a
/// write, and the rows are borrowed, so scoped threads are used rather than the runtime's pool.
fn hash_rows(rows: &[Box<RawValue>], dedup: Option<&[String]>) -> Result<Vec<String>> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads == 1 || rows.len() < PARALLEL_HASH_MIN_ROWS {
        return rows.iter().map(|row| row_hash(row, dedup)).collect();
    }
    let chunk = rows.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|row| row_hash(row, dedup))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut hashes = Vec::with_capacity(rows.len());
        for worker in workers {
            hashes.extend(worker.join().expect("hashing does not panic")?);
        }
        Ok(hashes)
    })
}

/// Reads the dedup column list stored in `hunt_jobs.dedup_columns`.
fn parse_dedup(stored: Option<&str>) -> Result<Option<Vec<String>>> {
    stored
        .map(serde_json::from_str)
        .transpose()
        .map_err(Into::into)
}

/// A duration in whole seconds for the database, saturating.
fn whole_seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The instant `seconds` before `now`, clamped to the earliest representable time.
fn cutoff(now: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    chrono::TimeDelta::try_seconds(seconds)
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_names_are_safe_identifiers_that_never_shadow_huntd_tables() {
        assert_eq!(view_name("encoded-powershell"), "hunt_encoded_powershell");
        assert_eq!(view_name("Weird Name;drop"), "hunt_weird_name_drop");
        assert_eq!(view_name("runs"), "hunt_job_runs");
        assert_eq!(view_name("coverage_gaps"), "hunt_job_coverage_gaps");
    }

    #[test]
    fn defender_types_map_to_sql_types_and_unknown_names_are_text() {
        assert_eq!(SqlType::of("DateTime"), SqlType::Timestamp);
        assert_eq!(SqlType::of("Int32"), SqlType::BigInt);
        assert_eq!(SqlType::of("Int64"), SqlType::BigInt);
        assert_eq!(SqlType::of("Double"), SqlType::Double);
        assert_eq!(SqlType::of("Boolean"), SqlType::Boolean);
        assert_eq!(SqlType::of("Dynamic"), SqlType::Json);
        assert_eq!(SqlType::of("Guid"), SqlType::Text);
        assert_eq!(SqlType::of("SomethingNew"), SqlType::Text);
    }

    #[test]
    fn view_columns_get_unique_names_and_skip_unquotable_keys() {
        let columns = [
            Column {
                name: "run_id".into(),
                type_name: "String".into(),
            },
            Column {
                name: "DeviceName".into(),
                type_name: "String".into(),
            },
            Column {
                name: "devicename".into(),
                type_name: "String".into(),
            },
            Column {
                name: "bad\"name".into(),
                type_name: "String".into(),
            },
        ];
        let planned = plan_view_columns(&columns, str::to_lowercase);
        let idents: Vec<&str> = planned.iter().map(|c| c.ident.as_str()).collect();
        assert_eq!(idents, ["run_id_2", "devicename", "devicename_2"]);
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redact_url("mysql://u:secret@host/db"),
            "mysql://u:[redacted]@host/db"
        );
        assert_eq!(redact_url("mysql://host/db"), "mysql://host/db");
    }

    #[test]
    fn status_text_round_trips_and_unknown_text_is_an_error() {
        for status in [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Interrupted,
            RunStatus::Skipped,
        ] {
            assert_eq!(status.as_str().parse::<RunStatus>().ok(), Some(status));
        }
        assert!("done".parse::<RunStatus>().is_err());
    }
}
