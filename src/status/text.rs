//! The short phrases the terminal table and the status page both show, so they say the same
//! thing the same way: times, "3m ago", next fire and backoff.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{BackoffState, JobStatus};

/// `2024-05-01 08:00:00Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// A span of seconds to its two largest units (`3h25m`).
pub fn span(secs: i64) -> String {
    crate::duration::rough(Duration::from_secs(secs.unsigned_abs()))
}

/// Milliseconds as `350ms` or `1.5s`.
pub fn millis(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    }
}

/// `3m ago`, `in 20s`: a time next to `now`.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    if t > now {
        format!("in {}", span(secs))
    } else {
        format!("{} ago", span(secs))
    }
}

/// When the job fires next, or why it does not.
pub fn next_fire(job: &JobStatus, now: DateTime<Utc>) -> String {
    match job.next_fire {
        Some(at) => ago(at, now),
        None if !job.loaded => "not loaded".into(),
        None if !job.enabled => "disabled".into(),
        None => "-".into(),
    }
}

/// `paused for 4m more, 5 in a row, 1 retryable`, or `-`.
pub fn backoff(state: &BackoffState, now: DateTime<Utc>) -> String {
    let mut parts = Vec::new();
    if let Some(until) = state.paused_until {
        parts.push(format!(
            "paused for {} more",
            span((until - now).num_seconds())
        ));
    }
    if state.failures_in_a_row > 0 {
        parts.push(format!("{} in a row", state.failures_in_a_row));
    }
    if state.other_failures > 0 {
        parts.push(format!("{} retryable", state.other_failures));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_a_moment_ahead_is_in_the_future_and_one_behind_is_ago() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T08:00:00Z")
            .expect("test time parses")
            .with_timezone(&Utc);
        assert_eq!(
            ago(now + chrono::TimeDelta::milliseconds(300), now),
            "in 0s"
        );
        assert_eq!(ago(now - chrono::TimeDelta::minutes(3), now), "3m ago");
        assert_eq!(ago(now + chrono::TimeDelta::seconds(90), now), "in 1m30s");
    }
}
