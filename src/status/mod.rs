//! What `huntd status` prints and the daemon's status page shows: per job its last run, next
//! fire time, backoff, recent rows and findings and coverage; per instance its API use against
//! its quota; recent failures. Built from one store snapshot and the loaded jobs, so it works on
//! any node, with or without a daemon running. Returns data; `cli` and the daemon's page format it.

pub mod text;
pub mod timeline;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::backoff::{Backoff, counts_toward_backoff};
use crate::config::{Config, Quota};
use crate::jobs::{Environment, Job};
use crate::store::status::{StatusSnapshot, StatusWindow};
use crate::store::{self, RunRecord, RunStatus, Store};
pub use timeline::{Coverage, Segment};

/// How far back the coverage timeline and the recent failures reach.
pub const TIMELINE_SPAN: TimeDelta = TimeDelta::days(7);
/// How far back a job's recent runs, rows and findings reach.
pub const STATS_SPAN: TimeDelta = TimeDelta::hours(24);
/// How far back an instance's recent calls reach.
pub const CALLS_SPAN: TimeDelta = TimeDelta::hours(1);
/// At most this many recent failures are listed.
pub const FAILURES_LIMIT: u32 = 20;

/// Everything the status shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// When it was read.
    pub generated_at: DateTime<Utc>,
    /// Jobs: every job the database knows and every loaded job, by name.
    pub jobs: Vec<JobStatus>,
    /// Instances with runs in the last hour or jobs loaded, by name.
    pub instances: Vec<InstanceStatus>,
    /// Failed runs of the last 7 days, newest first.
    pub failures: Vec<Failure>,
    /// Findings waiting for delivery to outputs.
    pub delivery: Delivery,
}

/// The delivery backlog: findings not yet sent to outputs. huntd has no outputs yet; each
/// output will get a variant with its queued findings here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// huntd delivers to no outputs, so nothing is queued.
    NoOutputs,
}

/// One job's state.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// Job name.
    pub name: String,
    /// The instance of this stream: a job hunting several has a status per instance.
    pub instance: String,
    /// Whether the loaded job is enabled (the stored flag when it is not loaded).
    pub enabled: bool,
    /// Whether the job is in the loaded job files; a job only in the database was removed.
    pub loaded: bool,
    /// Its latest run (by claim), any status.
    pub last_run: Option<LastRun>,
    /// Its next fire time, for an enabled loaded job.
    pub next_fire: Option<DateTime<Utc>>,
    /// Its backoff, derived from stored runs.
    pub backoff: BackoffState,
    /// Runs started in the last 24 hours and what they found.
    pub last_24h: Recent,
    /// End of the latest window it accounted for (its high-water mark).
    pub covered_until: Option<DateTime<Utc>>,
    /// Uncovered data time (failed or gap) in the last 7 days.
    pub gaps: GapSummary,
    /// Its coverage over the last 7 days.
    pub timeline: Vec<Segment>,
}

/// A job's latest run, in brief.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    /// Run id.
    pub id: i64,
    /// Status.
    pub status: RunStatus,
    /// When its latest attempt started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Rows stored.
    pub rows: Option<i64>,
    /// Findings it created.
    pub new_findings: Option<i64>,
    /// Error class, for a run that did not succeed.
    pub error_class: Option<String>,
}

/// A job's backoff as the stored runs show it. The daemon keeps the real one in memory and
/// resets it when it restarts or reloads a changed job, so this is what it would be had the
/// daemon run throughout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BackoffState {
    /// Failures in a row of classes that back off (auth, permission, query, unstorable) since
    /// the latest success.
    pub failures_in_a_row: u32,
    /// Other failures (throttled, timeout, transient, store) since the latest success.
    pub other_failures: u32,
    /// Until when the job's slots are skipped, if that is still ahead.
    pub paused_until: Option<DateTime<Utc>>,
}

/// Runs of the last 24 hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Recent {
    /// Runs started.
    pub runs: i64,
    /// Of those, failed.
    pub failed: i64,
    /// Rows stored.
    pub rows: i64,
    /// Findings created.
    pub new_findings: i64,
}

/// Uncovered data time in the timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GapSummary {
    /// Separate uncovered stretches.
    pub stretches: usize,
    /// Their total length in seconds.
    pub seconds: i64,
}

/// One instance's API use in the last hour.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    /// Instance name.
    pub name: String,
    /// Runs that finished in the last hour.
    pub runs: i64,
    /// API calls they made.
    pub api_calls: i64,
    /// Runs whose calls are not known (cut short, or stored by an older huntd).
    pub uncounted_runs: i64,
    /// Milliseconds they waited on throttling (quota and retry waits).
    pub throttle_wait_ms: i64,
    /// The tenant's call budget the instance draws on; `None` when it is not in the config.
    pub quota: Option<QuotaView>,
}

/// A call budget, as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuotaView {
    /// Calls per minute.
    pub per_minute: u32,
    /// Calls per hour, if the API has an hourly limit.
    pub per_hour: Option<u32>,
    /// Whether the instance sets it (`Quota:`) or it is the API's default.
    pub configured: bool,
}

/// A failed run, for the recent failures list.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Run id.
    pub id: i64,
    /// Job name.
    pub job: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end.
    pub window_end: DateTime<Utc>,
    /// Error class.
    pub error_class: Option<String>,
    /// Error message, as stored (huntd never stores a secret in it).
    pub error_message: Option<String>,
}

/// The ranges a status read at `now` covers.
pub fn window_at(now: DateTime<Utc>) -> StatusWindow {
    StatusWindow {
        now,
        stats_since: now - STATS_SPAN,
        calls_since: now - CALLS_SPAN,
        timeline_since: now - TIMELINE_SPAN,
        failures_limit: FAILURES_LIMIT,
    }
}

/// Reads the status from `store` at `now`, with next fire times and quotas from `config` and
/// `jobs`.
pub async fn read(
    store: &dyn Store,
    config: &Config,
    jobs: &[Job],
    now: DateTime<Utc>,
) -> store::Result<Status> {
    let window = window_at(now);
    let snapshot = store.status(&window).await?;
    Ok(build(&snapshot, config, jobs, &window))
}

/// Builds the status from a snapshot; pure, so every rule here is unit-tested.
pub fn build(
    snapshot: &StatusSnapshot,
    config: &Config,
    jobs: &[Job],
    window: &StatusWindow,
) -> Status {
    let loaded: BTreeMap<&str, &Job> = jobs.iter().map(|j| (j.name.as_str(), j)).collect();
    let stored: BTreeMap<(&str, &str), _> = snapshot
        .jobs
        .iter()
        .map(|t| ((t.name.as_str(), t.instance.as_str()), t))
        .collect();
    // A loaded job's streams are its instances; a job only in the database keeps the streams
    // its runs had.
    let mut streams: BTreeSet<(&str, &str)> = jobs
        .iter()
        .flat_map(|j| j.instances.iter().map(|i| (j.name.as_str(), i.as_str())))
        .collect();
    streams.extend(
        stored
            .keys()
            .filter(|(name, _)| !loaded.contains_key(name))
            .copied(),
    );
    let jobs = streams
        .into_iter()
        .map(|stream| {
            let job = loaded.get(stream.0).copied();
            let totals = stored.get(&stream).copied();
            job_status(stream, job, totals, snapshot, window)
        })
        .collect();
    Status {
        generated_at: window.now,
        jobs,
        instances: instances(snapshot, config, &loaded),
        failures: snapshot.failures.iter().map(failure).collect(),
        delivery: Delivery::NoOutputs,
    }
}

fn job_status(
    (name, instance): (&str, &str),
    job: Option<&Job>,
    totals: Option<&store::status::JobTotals>,
    snapshot: &StatusSnapshot,
    window: &StatusWindow,
) -> JobStatus {
    let windows: Vec<_> = snapshot
        .windows
        .iter()
        .filter(|w| w.job == name && w.instance == instance)
        .collect();
    let gaps: Vec<_> = snapshot
        .gaps
        .iter()
        .filter(|g| g.job == name && g.instance == instance)
        .collect();
    let timeline = timeline::build(&windows, &gaps, window.timeline_since, window.now);
    let enabled = job.map_or_else(|| totals.is_some_and(|t| t.enabled), |j| j.enabled);
    JobStatus {
        name: name.to_string(),
        instance: instance.to_string(),
        enabled,
        loaded: job.is_some(),
        last_run: snapshot
            .last_runs
            .iter()
            .find(|r| r.job == name && r.instance == instance)
            .map(last_run),
        next_fire: job
            .filter(|j| j.enabled)
            .and_then(|j| j.schedule.next_after(window.now)),
        backoff: backoff((name, instance), snapshot, window.now),
        last_24h: totals.map_or_else(Recent::default, |t| Recent {
            runs: t.recent_runs,
            failed: t.recent_failed,
            rows: t.recent_rows,
            new_findings: t.recent_new_findings,
        }),
        covered_until: totals.and_then(|t| t.covered_until),
        gaps: gap_summary(&timeline),
        timeline,
    }
}

fn last_run(run: &RunRecord) -> LastRun {
    LastRun {
        id: run.id,
        status: run.status,
        started_at: run.started_at,
        finished_at: run.finished_at,
        rows: run.row_count,
        new_findings: run.new_row_count,
        error_class: run.error_class.clone(),
    }
}

/// The job's backoff had the daemon counted every stored failure since the latest success.
fn backoff(
    (job, instance): (&str, &str),
    snapshot: &StatusSnapshot,
    now: DateTime<Utc>,
) -> BackoffState {
    let mut state = BackoffState::default();
    let mut last_counted: Option<DateTime<Utc>> = None;
    for streak in snapshot
        .streaks
        .iter()
        .filter(|s| s.job == job && s.instance == instance)
    {
        let failures = u32::try_from(streak.failures).unwrap_or(u32::MAX);
        if streak
            .error_class
            .as_deref()
            .is_some_and(counts_toward_backoff)
        {
            state.failures_in_a_row = state.failures_in_a_row.saturating_add(failures);
            last_counted = last_counted.max(streak.last_failed_at);
        } else {
            state.other_failures = state.other_failures.saturating_add(failures);
        }
    }
    let pause = Backoff::with_failures(state.failures_in_a_row).pause();
    state.paused_until = pause
        .zip(last_counted)
        .map(|(pause, at)| at + delta(pause))
        .filter(|until| *until > now);
    state
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

fn gap_summary(timeline: &[Segment]) -> GapSummary {
    let mut summary = GapSummary::default();
    let mut previous_end = None;
    for segment in timeline
        .iter()
        .filter(|s| matches!(s.kind, Coverage::Gap | Coverage::Failed))
    {
        if previous_end != Some(segment.start) {
            summary.stretches += 1;
        }
        summary.seconds += (segment.end - segment.start).num_seconds();
        previous_end = Some(segment.end);
    }
    summary
}

/// Each instance with recent runs or loaded jobs, with the budget its tenant allows.
fn instances(
    snapshot: &StatusSnapshot,
    config: &Config,
    loaded: &BTreeMap<&str, &Job>,
) -> Vec<InstanceStatus> {
    let mut names: BTreeSet<&str> = loaded
        .values()
        .flat_map(|j| j.instances.iter().map(String::as_str))
        .collect();
    names.extend(snapshot.instances.iter().map(|i| i.instance.as_str()));
    names
        .into_iter()
        .map(|name| {
            let usage = snapshot.instances.iter().find(|i| i.instance == name);
            InstanceStatus {
                name: name.to_string(),
                runs: usage.map_or(0, |u| u.runs),
                api_calls: usage.map_or(0, |u| u.api_calls),
                uncounted_runs: usage.map_or(0, |u| u.uncounted_runs),
                throttle_wait_ms: usage.map_or(0, |u| u.throttle_wait_ms),
                quota: quota(name, config, loaded),
            }
        })
        .collect()
}

/// The instance's `Quota`, or the default of the strictest API its loaded jobs call (MDE's
/// adds an hourly limit).
fn quota(name: &str, config: &Config, loaded: &BTreeMap<&str, &Job>) -> Option<QuotaView> {
    let instance = config.instances.get(name)?;
    let view = |q: Quota, configured| QuotaView {
        per_minute: q.per_minute,
        per_hour: q.per_hour,
        configured,
    };
    if let Some(q) = instance.quota {
        return Some(view(q, true));
    }
    let calls_mde = loaded
        .values()
        .any(|j| j.environment == Environment::Mde && j.instances.iter().any(|i| i == name));
    let environment = if calls_mde {
        Environment::Mde
    } else {
        Environment::Graph
    };
    Some(view(crate::hunt::default_quota(environment), false))
}

fn failure(run: &RunRecord) -> Failure {
    Failure {
        id: run.id,
        job: run.job.clone(),
        started_at: run.started_at,
        window_start: run.window_start,
        window_end: run.window_end,
        error_class: run.error_class.clone(),
        error_message: run.error_message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::status::FailureStreak;
    use crate::testing::utc as at;

    fn streak(class: &str, failures: i64, last: &str) -> FailureStreak {
        FailureStreak {
            job: "j".into(),
            instance: "i".into(),
            error_class: Some(class.into()),
            failures,
            last_failed_at: Some(at(last)),
        }
    }

    #[test]
    fn backoff_pauses_after_three_failures_that_repeating_cannot_fix() {
        let snapshot = StatusSnapshot {
            streaks: vec![
                streak("query", 2, "2024-05-01T10:00:00Z"),
                streak("permission", 2, "2024-05-01T10:05:00Z"),
                streak("throttled", 5, "2024-05-01T10:06:00Z"),
            ],
            ..StatusSnapshot::default()
        };
        let state = backoff(("j", "i"), &snapshot, at("2024-05-01T10:06:00Z"));
        assert_eq!(state.failures_in_a_row, 4);
        assert_eq!(state.other_failures, 5);
        // Four failures: the second pause, two minutes from the latest counted failure.
        assert_eq!(state.paused_until, Some(at("2024-05-01T10:07:00Z")));
        let later = backoff(("j", "i"), &snapshot, at("2024-05-01T10:08:00Z"));
        assert_eq!(later.paused_until, None);
    }

    #[test]
    fn retryable_failures_alone_never_back_off() {
        let snapshot = StatusSnapshot {
            streaks: vec![streak("transient", 9, "2024-05-01T10:00:00Z")],
            ..StatusSnapshot::default()
        };
        let state = backoff(("j", "i"), &snapshot, at("2024-05-01T10:00:01Z"));
        assert_eq!(state.failures_in_a_row, 0);
        assert_eq!(state.paused_until, None);
    }

    #[test]
    fn gap_summary_counts_touching_failed_and_gap_segments_as_one_stretch() {
        let seg = |s: &str, e: &str, kind| Segment {
            start: at(s),
            end: at(e),
            kind,
        };
        let timeline = [
            seg(
                "2024-05-01T00:00:00Z",
                "2024-05-01T01:00:00Z",
                Coverage::Gap,
            ),
            seg(
                "2024-05-01T01:00:00Z",
                "2024-05-01T02:00:00Z",
                Coverage::Failed,
            ),
            seg(
                "2024-05-01T02:00:00Z",
                "2024-05-01T03:00:00Z",
                Coverage::Covered,
            ),
            seg(
                "2024-05-01T03:00:00Z",
                "2024-05-01T03:30:00Z",
                Coverage::Gap,
            ),
        ];
        let summary = gap_summary(&timeline);
        assert_eq!(summary.stretches, 2);
        assert_eq!(summary.seconds, 9000);
    }
}
