//! The records behind `huntd history` and `huntd findings`: relative times turned into cutoffs
//! and stored finding data read back as its columns. The CLI formats them.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::backend;
use super::{FindingRecord, HistoryFilter, Result, RunRecord, RunStatus, Store};

/// Parsed `huntd history [JOB] [--instance I] [--status S] [--since 24h] [--limit N]`.
#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    /// Only this job.
    pub job: Option<String>,
    /// Only this instance.
    pub instance: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only runs started within this long before now.
    pub since: Option<Duration>,
    /// At most this many runs.
    pub limit: Option<u32>,
}

/// Parsed `huntd findings JOB [--instance I] [--new-since 24h]`.
#[derive(Debug, Clone)]
pub struct FindingsOptions {
    /// The job.
    pub job: String,
    /// Only findings from this instance.
    pub instance: Option<String>,
    /// Only findings first seen within this long before now.
    pub new_since: Option<Duration>,
}

fn ago(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    backend::cutoff(now, backend::whole_seconds(span))
}

/// `huntd history`: the runs the options select, newest first.
pub async fn history(
    store: &dyn Store,
    options: &HistoryOptions,
    now: DateTime<Utc>,
) -> Result<Vec<RunRecord>> {
    let filter = HistoryFilter {
        job: options.job.clone(),
        instance: options.instance.clone(),
        status: options.status,
        since: options.since.map(|s| ago(now, s)),
        limit: options.limit,
    };
    store.history(&filter).await
}

/// `huntd findings`: a job's findings the options select.
pub async fn findings(
    store: &dyn Store,
    options: &FindingsOptions,
    now: DateTime<Utc>,
) -> Result<Vec<FindingRecord>> {
    store
        .findings(
            &options.job,
            options.instance.as_deref(),
            options.new_since.map(|s| ago(now, s)),
        )
        .await
}

/// A stored finding's columns in document order, values as stored; empty when it is not an
/// object.
pub fn columns(data: &str) -> Result<Vec<(Cow<'_, str>, &RawValue)>> {
    Ok(super::rowhash::parse_object(data)?.unwrap_or_default())
}
