//! The values the store reads and writes: jobs, runs, leases, results, findings, gaps and
//! what a prune deleted. Plain data, so callers need no database types.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A job as the store keeps it in `hunt_jobs`: plain values, so the store does not depend on
/// the job loader.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// Unique job name.
    pub name: String,
    /// The instances (tenant connections) it runs against, comma-separated, for reading.
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

/// A job [`Store::upsert_jobs`](super::Store::upsert_jobs) left out because another job already
/// uses its view name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewClash {
    /// The job left out.
    pub job: String,
    /// The view name.
    pub view: String,
    /// The job that owns it.
    pub other: String,
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

/// What started a run, in `hunt_runs.trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The daemon's job loop, at a slot of the job's schedule.
    #[default]
    Schedule,
    /// `huntd once --store`.
    Manual,
    /// `huntd backfill` or a job's `backfill_on_create`: a past window, hunted where nothing
    /// covers it yet.
    Backfill,
}

impl Trigger {
    /// The text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
            Self::Backfill => "backfill",
        }
    }
}

/// A `hunt_runs.status` text huntd does not write; the store reports it as
/// [`Error::Corrupt`](super::Error::Corrupt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected value in column `status`: `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for RunStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        Ok(match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "interrupted" => Self::Interrupted,
            "skipped" => Self::Skipped,
            other => return Err(UnknownStatus(other.to_string())),
        })
    }
}

impl TryFrom<String> for RunStatus {
    type Error = UnknownStatus;

    fn try_from(value: String) -> Result<Self, UnknownStatus> {
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
    /// The fire time this run belongs to (a backfill chunk's start).
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
    /// What starts the run; a slot is unique per job, instance and trigger.
    pub trigger: Trigger,
}

/// The right to write one attempt of a run: every write is fenced on all three fields.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Lease {
    /// `hunt_runs.id`.
    #[sqlx(rename = "id")]
    pub run_id: i64,
    /// Attempt number; a takeover increments it.
    pub attempt: i32,
    /// The node holding the lease.
    pub node: String,
    /// The job.
    pub job: String,
    /// The instance the run queries: with the job, the stream it belongs to.
    pub instance: String,
    /// The slot.
    pub slot_at: DateTime<Utc>,
    /// Start of the window.
    pub window_start: DateTime<Utc>,
    /// End of the window.
    pub window_end: DateTime<Utc>,
}

/// Outcome of [`Store::claim_slot`](super::Store::claim_slot).
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
    /// Another run of the job is running (on any node); one runs at a time, so windows
    /// are fixed against what is covered when each starts.
    Busy {
        /// The running run.
        run_id: i64,
    },
    /// Succeeded or skipped runs already cover the whole window; nothing was recorded.
    Covered {
        /// The job's high-water mark.
        until: DateTime<Utc>,
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

/// What a run cost its tenant: API calls and time spent waiting on throttling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCost {
    /// API calls made, retries included.
    pub api_calls: u32,
    /// Time waited for the tenant's quota and between attempts.
    pub throttle_wait: Duration,
}

impl RunCost {
    /// The wait in whole milliseconds, as stored in `hunt_runs.throttle_wait_ms`.
    pub fn throttle_wait_ms(&self) -> i64 {
        i64::try_from(self.throttle_wait.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A succeeded query: what [`Store::finish_run`](super::Store::finish_run) commits.
#[derive(Debug, Clone, Copy)]
pub struct RunSuccess<'a> {
    /// When the run finished.
    pub finished_at: DateTime<Utc>,
    /// The result schema in order.
    pub columns: &'a [Column],
    /// The rows, each a JSON object exactly as received, read back in batches as they are
    /// written.
    pub rows: &'a crate::spool::RunRows,
    /// Whether the API cut the result at its row limit.
    pub truncated: bool,
    /// Which API answered (`graph`, `mde`).
    pub api: &'a str,
    /// HTTP status of the answer.
    pub http_status: Option<u16>,
    /// The request id sent, for support cases.
    pub client_request_id: Option<&'a str>,
    /// What the run cost its tenant.
    pub cost: RunCost,
    /// The outputs its new findings go to, written to the outbox in the same transaction.
    pub notify: &'a [super::DeliveryRoute],
}

/// A run that ended without results: what [`Store::fail_run`](super::Store::fail_run) records.
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
    /// What the run cost its tenant (zero when it never reached the API); `None` when it is not
    /// known, as for a hunt a timeout or shutdown cut short, stored as null.
    pub cost: Option<RunCost>,
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
    /// The instance whose coverage has the gap.
    pub instance: String,
    /// Start of the span.
    pub gap_start: DateTime<Utc>,
    /// End of the span.
    pub gap_end: DateTime<Utc>,
    /// Why it was not covered.
    pub reason: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Which runs [`Store::history`](super::Store::history) returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Only this job.
    pub job: Option<String>,
    /// Only this instance.
    pub instance: Option<String>,
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
    /// API calls the run made; null for runs recorded before huntd stored it.
    pub api_calls: Option<i64>,
    /// Milliseconds waited on throttling; null like `api_calls`.
    pub throttle_wait_ms: Option<i64>,
    /// What started the run: `schedule`, `manual` or `backfill`.
    pub trigger: String,
}

/// One row of `hunt_findings`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FindingRecord {
    /// Job name.
    pub job: String,
    /// The instance whose data it came from.
    pub instance: String,
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

/// What [`Store::prune`](super::Store::prune) deletes: everything older than each job's
/// retention.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions {
    /// The reference time.
    pub now: DateTime<Utc>,
    /// Rows per delete statement, so the database stays responsive.
    pub batch_size: u32,
}

/// Rows [`Store::prune`](super::Store::prune) deleted.
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

#[cfg(test)]
mod tests {
    use super::*;

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
