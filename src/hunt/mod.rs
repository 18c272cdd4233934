//! The Graph and MDE hunting clients: one typed answer or one classified error per run,
//! with retries and per-tenant quotas.
//!
//! [`Hunter::run`] is the entry point: it waits for the instance's quota, sends the query,
//! parses the answer as a stream (rows stay raw JSON, exactly as the API sent them) and
//! retries what can succeed.

mod api;
mod client;
pub mod costs;
mod error;
pub mod quota;
mod response;
pub mod retirement;
pub mod retry;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

pub use client::{DryRun, Hunter, HunterOptions, dry_run};
pub use error::{ErrorClass, HuntError, parse_retry_in};
pub use quota::{Limiter, Quotas, TenantKey};
pub use response::MAX_DEPTH;
pub use retry::{Jitter, RetryPolicy};

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, HuntError>;

/// The module's error type under the conventional name.
pub type Error = HuntError;

/// A run's time window: start and end, both UTC.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

/// Most rows either API returns; an answer this long was cut by the API.
pub const MAX_ROWS: usize = 100_000;

/// The largest answer body huntd reads: MDE documents 124 MB as its result limit, so anything
/// past 192 MiB is not a Defender answer and is refused as it streams, before it is held.
pub const MAX_ANSWER_BYTES: u64 = 192 * 1024 * 1024;

/// One column of an answer: its name and the Defender type name as the API wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Type name such as `DateTime`, `Int64`, `Dynamic`; unknown names are kept verbatim.
    pub type_name: String,
}

/// A successful answer, values exactly as the API sent them.
#[derive(Debug)]
pub struct HuntResult {
    /// The schema, in the API's order.
    pub columns: Vec<Column>,
    /// Each row as the raw JSON object the API sent, spooled.
    pub rows: crate::spool::Rows,
    /// True when the answer has exactly [`MAX_ROWS`] rows: the API silently dropped the rest.
    pub truncated: bool,
    /// MDE's `Stats` object, raw; Graph sends none.
    pub stats: Option<Box<RawValue>>,
    /// From sending the request to the last byte parsed.
    pub api_time: Duration,
    /// The `client-request-id` of the call that succeeded.
    pub client_request_id: Uuid,
    /// HTTP status of that call.
    pub http_status: u16,
    /// Size of the answer body in bytes.
    pub body_bytes: u64,
}

/// The calls per minute and hour a tenant allows on `environment`'s API when its instance sets
/// no `Quota`.
pub fn default_quota(environment: crate::jobs::Environment) -> crate::config::Quota {
    api::Api::of(environment).default_quota
}

/// Counts one answer (or failed exchange, as `none`) of a hunting API, for `/metrics`.
fn api_called(instance: &str, http_status: Option<u16>) {
    let status = http_status.map_or_else(|| "none".to_string(), |s| s.to_string());
    metrics::counter!(
        "huntd_api_calls_total",
        "instance" => instance.to_string(),
        "http_status" => status
    )
    .increment(1);
}

/// Records one throttle wait (`reason`: `quota`, `retry_after` or `backoff`), for `/metrics`:
/// the histogram's count is the number of waits, its sum the seconds waited.
fn throttle_waited(instance: &str, reason: &'static str, wait: Duration) {
    metrics::histogram!(
        "huntd_throttle_wait_seconds",
        "instance" => instance.to_string(),
        "reason" => reason
    )
    .record(wait.as_secs_f64());
}

/// A finished run: the answer plus what it cost to get it.
#[derive(Debug)]
pub struct HuntOutcome {
    /// The answer.
    pub result: HuntResult,
    /// Attempts made; a call repeated with a fresh token after a 401 is part of its attempt.
    pub attempts: u32,
    /// Time spent waiting for the tenant's quota (calls per minute/hour, CPU pauses).
    pub quota_wait: Duration,
    /// Time spent waiting between attempts (backoff and `Retry-After`).
    pub retry_wait: Duration,
}

impl HuntOutcome {
    /// All time spent waiting on throttling: quota plus retry waits.
    pub fn throttle_wait(&self) -> Duration {
        self.quota_wait + self.retry_wait
    }
}
