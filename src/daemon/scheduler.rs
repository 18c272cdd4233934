//! The per-job loop: wait for the next slot, plan its windows, claim and run them in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_channel::mpsc;
use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::run::{self, Outcome};
use super::window::{self, Backoff, MAX_DATA_AGE, WindowSettings, delta};
use crate::config::Instance;
use crate::hunt::Hunter;
use crate::jobs::Job;
use crate::schedule::Schedule;
use crate::store::{GapRecord, HistoryFilter, JobRecord, Lease, Store};

/// Most slots one scheduling step looks at; a longer backlog is worked off step by step.
const MAX_DUE_SLOTS: usize = 1000;

/// What every job's loop shares.
#[derive(Debug)]
pub struct Shared {
    /// The result store.
    pub store: Arc<dyn Store>,
    /// The hunting client with its per-tenant quotas.
    pub hunter: Arc<Hunter>,
    /// This node's id.
    pub node: String,
    /// `max_concurrent_runs` permits.
    pub permits: Arc<Semaphore>,
    /// Cancelled when the shutdown grace is over: running hunts stop.
    pub hard_cancel: CancellationToken,
    /// Lease length.
    pub lease: Duration,
    /// Runs in flight.
    pub running: AtomicUsize,
    /// Jobs backing off after repeated non-retryable failures.
    pub backing_off: AtomicUsize,
    /// [`RESUME_LOOKUPS`] permits.
    pub resume_lookups: Semaphore,
}

/// Jobs looking up where they resume at once. Thousands of loops start together; unbounded,
/// their lookups queue on the store's few connections, each holding a query in memory, and
/// delay everything else that needs a connection.
pub const RESUME_LOOKUPS: usize = 4;

/// Counts a job in [`Shared::backing_off`] while it is held, so the count stays right however
/// the job's loop ends.
#[derive(Debug)]
struct BackingOff<'a>(&'a AtomicUsize);

impl<'a> BackingOff<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for BackingOff<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A job ready to schedule: the job, its instance, its splay and query hash.
#[derive(Debug)]
pub struct JobSpec {
    /// The job.
    pub job: Job,
    /// Its instance, shared by the jobs that use it.
    pub instance: Arc<Instance>,
    /// Its splay (the job's own or the daemon default).
    pub splay: Duration,
    /// SHA-256 hex of the query template.
    pub query_sha256: String,
}

impl JobSpec {
    /// Builds the spec of a job whose instance is known, and the job as `hunt_jobs` keeps it.
    ///
    /// The job's definition moves into the record: a job's loop never reads it, and with
    /// thousands of jobs a copy per loop would stay resident for nothing.
    pub fn new(
        mut job: Job,
        instance: Arc<Instance>,
        default_splay: Duration,
    ) -> (Self, JobRecord) {
        let query_sha256 = hex::encode(Sha256::digest(job.query.text.as_bytes()));
        let splay = job.splay.unwrap_or(default_splay);
        let record = JobRecord {
            name: job.name.clone(),
            instance: job.instance.clone(),
            definition: serde_json::Value::Object(
                std::mem::take(&mut job.definition).into_iter().collect(),
            ),
            query_sha256: query_sha256.clone(),
            enabled: job.enabled,
            dedup_columns: job.dedup_columns.clone(),
            retention: job.retention,
        };
        let spec = Self {
            job,
            instance,
            splay,
            query_sha256,
        };
        (spec, record)
    }
}

/// A running job loop.
#[derive(Debug)]
pub struct JobHandle {
    /// Cancel to stop claiming new slots (a run in flight finishes).
    pub stop: CancellationToken,
    /// Leases taken over from dead nodes, to run between slots. A futures channel, not a
    /// tokio one: tokio allocates a 32-slot block per channel up front, 3 KB for every job.
    pub takeovers: mpsc::UnboundedSender<Lease>,
    /// The loop's task.
    pub task: JoinHandle<()>,
}

/// Starts a job's loop; it waits for `predecessor` (the same job's previous loop) to end
/// first, so a reload never runs a job twice at once.
pub fn spawn(
    shared: Arc<Shared>,
    spec: JobSpec,
    stop: CancellationToken,
    predecessor: Option<JoinHandle<()>>,
) -> JobHandle {
    let (takeovers, receiver) = mpsc::unbounded();
    let task_stop = stop.clone();
    let task = tokio::spawn(async move {
        if let Some(previous) = predecessor {
            let _ = previous.await;
        }
        job_loop(shared, Arc::new(spec), task_stop, receiver).await;
    });
    JobHandle {
        stop,
        takeovers,
        task,
    }
}

/// Fire times strictly after `cursor` and at or before `until`, oldest first, at most `cap`.
pub fn due_slots(
    schedule: &Schedule,
    cursor: DateTime<Utc>,
    until: DateTime<Utc>,
    cap: usize,
) -> Vec<DateTime<Utc>> {
    let mut due = Vec::new();
    let mut at = cursor;
    while due.len() < cap {
        match schedule.next_after(at) {
            Some(next) if next <= until => {
                due.push(next);
                at = next;
            }
            _ => break,
        }
    }
    due
}

/// Where a job resumes: coverage start when it has no succeeded run yet, and the last slot
/// already handled.
async fn resume_point(
    shared: &Shared,
    job: &Job,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, DateTime<Utc>) {
    let floor = now - delta(MAX_DATA_AGE);
    match shared.store.high_water_mark(&job.name).await {
        Ok(Some(hwm)) => return (None, (hwm + delta(job.delay)).max(floor)),
        Ok(None) => {}
        Err(e) => warn!(job = %job.name, error = %e, "cannot read the high-water mark"),
    }
    // No success yet: the earliest attempt's window is where coverage must start.
    let filter = HistoryFilter {
        job: Some(job.name.clone()),
        ..HistoryFilter::default()
    };
    match shared.store.history(&filter).await {
        Ok(runs) => match runs.last() {
            Some(first) => (
                Some(first.window_start),
                (first.slot_at - TimeDelta::milliseconds(1)).max(floor),
            ),
            None => (None, now),
        },
        Err(e) => {
            warn!(job = %job.name, error = %e, "cannot read the run history");
            (None, now)
        }
    }
}

async fn job_loop(
    shared: Arc<Shared>,
    spec: Arc<JobSpec>,
    stop: CancellationToken,
    mut takeovers: mpsc::UnboundedReceiver<Lease>,
) {
    let job = &spec.job;
    let offset = window::splay_offset(&job.name, spec.splay);
    let settings = WindowSettings::of(job);
    let (floor, mut cursor) = {
        let _permit = shared
            .resume_lookups
            .acquire()
            .await
            .expect("the semaphore lives in `shared` and is never closed");
        resume_point(&shared, job, Utc::now()).await
    };
    let mut backoff = Backoff::default();
    let mut paused_until: Option<DateTime<Utc>> = None;
    let mut counted: Option<BackingOff<'_>> = None;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let now = Utc::now();
        let due = due_slots(&job.schedule, cursor, now - delta(offset), MAX_DUE_SLOTS);
        let Some((&slot, missed)) = due.split_last() else {
            let wake = job
                .schedule
                .next_after(cursor)
                .map(|next| next + delta(offset));
            let sleep = wake.map_or(Duration::MAX, |wake| {
                (wake - now).to_std().unwrap_or(Duration::ZERO)
            });
            tokio::select! {
                () = stop.cancelled() => return,
                Some(lease) = takeovers.next() => {
                    info!(job = %job.name, run_id = lease.run_id, "running a slot taken over from a dead node");
                    // Boxed: an idle loop then stays small, which matters with thousands of jobs.
                    Box::pin(run::run_taken_over(&shared, &spec, lease, &stop)).await;
                }
                () = tokio::time::sleep(sleep) => {}
            }
            continue;
        };
        cursor = slot;
        if let Some(until) = paused_until
            && now < until
        {
            warn!(job = %job.name, %slot, failures = backoff.failures(), %until, "backing off after repeated failures: slot not run");
            continue;
        }
        let covered = match shared.store.high_water_mark(&job.name).await {
            Ok(hwm) => hwm.or(floor),
            Err(e) => {
                warn!(job = %job.name, error = %e, "cannot read the high-water mark: slot not run");
                continue;
            }
        };
        let plan = window::plan(&settings, covered, missed, slot, now);
        for gap in &plan.gaps {
            let record = GapRecord {
                job: job.name.clone(),
                gap_start: gap.start,
                gap_end: gap.end,
                reason: gap.reason.to_string(),
                recorded_at: now,
            };
            warn!(job = %job.name, start = %gap.start, end = %gap.end, reason = gap.reason, "coverage gap");
            if let Err(e) = shared.store.record_gap(&record).await {
                warn!(job = %job.name, error = %e, "cannot record a coverage gap");
            }
        }
        for planned in plan.runs {
            match Box::pin(run::claim_and_run(&shared, &spec, planned, &stop)).await {
                Outcome::Succeeded => {
                    backoff.succeeded();
                    paused_until = None;
                    counted = None;
                }
                Outcome::NotOurs => {}
                Outcome::Failed { non_retryable } => {
                    backoff.failed(non_retryable);
                    if let Some(pause) = backoff.pause() {
                        paused_until = Some(Utc::now() + delta(pause));
                        counted.get_or_insert_with(|| BackingOff::new(&shared.backing_off));
                        warn!(job = %job.name, failures = backoff.failures(), pause = ?pause, "job backs off");
                    }
                    // The next slot's window starts at the high-water mark and makes this good.
                    break;
                }
                Outcome::Interrupted | Outcome::Stopped => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test time parses")
            .with_timezone(&Utc)
    }

    #[test]
    fn due_slots_lists_missed_fire_times_oldest_first_and_caps_them() {
        let schedule = Schedule::cron("0 * * * *", chrono_tz::UTC).expect("valid cron");
        let due = due_slots(
            &schedule,
            t("2024-03-10T09:00:00Z"),
            t("2024-03-10T12:30:00Z"),
            10,
        );
        assert_eq!(
            due,
            [
                t("2024-03-10T10:00:00Z"),
                t("2024-03-10T11:00:00Z"),
                t("2024-03-10T12:00:00Z")
            ]
        );
        assert_eq!(
            due_slots(
                &schedule,
                t("2024-03-10T09:00:00Z"),
                t("2024-03-10T12:30:00Z"),
                2
            )
            .len(),
            2
        );
    }

    #[test]
    fn fire_times_follow_dst_in_the_jobs_zone() {
        // Amsterdam springs forward on 2024-03-31 02:00 -> 03:00; 02:30 runs right after the gap.
        let ams = Schedule::cron("30 2 * * *", chrono_tz::Europe::Amsterdam).expect("valid cron");
        let due = due_slots(
            &ams,
            t("2024-03-30T00:00:00Z"),
            t("2024-04-01T12:00:00Z"),
            10,
        );
        assert_eq!(
            due,
            [
                t("2024-03-30T01:30:00Z"),
                t("2024-03-31T01:00:00Z"),
                t("2024-04-01T00:30:00Z")
            ]
        );
        // New York falls back on 2024-11-03 02:00 -> 01:00; 01:30 runs once.
        let ny = Schedule::cron("30 1 * * *", chrono_tz::America::New_York).expect("valid cron");
        let due = due_slots(
            &ny,
            t("2024-11-02T12:00:00Z"),
            t("2024-11-04T12:00:00Z"),
            10,
        );
        assert_eq!(due, [t("2024-11-03T05:30:00Z"), t("2024-11-04T06:30:00Z")]);
    }
}
