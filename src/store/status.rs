//! The records behind `huntd status` and the daemon's status page: what the database knows of
//! each job's recent runs, its coverage and its instance's API use, read in one snapshot so the
//! numbers agree with each other. `crate::status` turns them into what is shown; `snapshot`
//! reads them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{RunRecord, RunStatus};

/// The time ranges a [`StatusSnapshot`] covers, all ending at `now`.
#[derive(Debug, Clone, Copy)]
pub struct StatusWindow {
    /// The reference time.
    pub now: DateTime<Utc>,
    /// Runs started since then count toward each job's recent rows and findings (24 h).
    pub stats_since: DateTime<Utc>,
    /// Runs finished since then count toward each instance's recent calls (1 h).
    pub calls_since: DateTime<Utc>,
    /// Windows and gaps ending after this are in the coverage timeline (7 days).
    pub timeline_since: DateTime<Utc>,
    /// At most this many recent failures.
    pub failures_limit: u32,
}

/// One stream (a registered job on one instance) and what its runs add up to; a job with no
/// runs yet has one row with the instances `hunt_jobs` names.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobTotals {
    /// Job name.
    pub name: String,
    /// The stream's instance.
    pub instance: String,
    /// Whether it was enabled when last registered.
    pub enabled: bool,
    /// Finish time of its latest succeeded run.
    pub last_success_at: Option<DateTime<Utc>>,
    /// End of the latest window it accounted for (succeeded or skipped): its high-water mark.
    pub covered_until: Option<DateTime<Utc>>,
    /// Runs started since `stats_since`.
    pub recent_runs: i64,
    /// Of those, runs that failed.
    pub recent_failed: i64,
    /// Rows its runs started since `stats_since` stored.
    pub recent_rows: i64,
    /// Findings its runs started since `stats_since` created.
    pub recent_new_findings: i64,
}

/// Failures of one class a stream had since its latest success (all of them, if it never
/// succeeded).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FailureStreak {
    /// Job name.
    pub job: String,
    /// The stream's instance.
    pub instance: String,
    /// The failures' `error_class`.
    pub error_class: Option<String>,
    /// How many.
    pub failures: i64,
    /// When the latest of them ended.
    pub last_failed_at: Option<DateTime<Utc>>,
}

/// A run's window in the coverage timeline: what was hunted, failed or skipped.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WindowSpan {
    /// Job name.
    pub job: String,
    /// The stream's instance.
    pub instance: String,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end.
    pub window_end: DateTime<Utc>,
    /// `succeeded`, `failed` or `skipped`.
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
}

/// A row of `hunt_coverage_gaps`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CoverageGap {
    /// Job name.
    pub job: String,
    /// The stream's instance.
    pub instance: String,
    /// Gap start.
    pub gap_start: DateTime<Utc>,
    /// Gap end.
    pub gap_end: DateTime<Utc>,
    /// Why it is not covered.
    pub reason: String,
}

/// One instance's API use by the runs that finished since `calls_since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InstanceUsage {
    /// Instance name.
    pub instance: String,
    /// Runs that finished.
    pub runs: i64,
    /// API calls they made.
    pub api_calls: i64,
    /// Milliseconds they waited on throttling.
    pub throttle_wait_ms: i64,
    /// Runs among them whose calls are not known (cut short by a timeout or shutdown, or
    /// stored before huntd kept the count).
    pub uncounted_runs: i64,
}

/// Everything the status shows, read in one snapshot of the database.
#[derive(Debug, Clone, Default)]
pub struct StatusSnapshot {
    /// Registered jobs, by name.
    pub jobs: Vec<JobTotals>,
    /// Each job's latest run (by claim), any status.
    pub last_runs: Vec<RunRecord>,
    /// Failures since each job's latest success, by class.
    pub streaks: Vec<FailureStreak>,
    /// Succeeded, failed and skipped windows ending after `timeline_since`, by job and start.
    pub windows: Vec<WindowSpan>,
    /// Coverage gaps ending after `timeline_since`, by job and start.
    pub gaps: Vec<CoverageGap>,
    /// Failed runs started since `timeline_since`, newest first.
    pub failures: Vec<RunRecord>,
    /// API use per instance.
    pub instances: Vec<InstanceUsage>,
}
