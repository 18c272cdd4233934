//! `huntd backfill`: a past range of one job hunted where nothing covers it yet, in
//! `max_window` chunks, through the same claims as scheduled runs, so a backfill never
//! duplicates a scheduled run on another node; its runs are recorded with trigger `backfill`.
//!
//! Each step plans again from what the store says is covered, so runs other nodes commit
//! meanwhile are never hunted twice, and an interrupted backfill run again goes on where the
//! first one stopped.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::context::{Context, JobSpec};
use super::window::{self, PlannedRun};
use super::worker::{self, Outcome};
use crate::config::Config;
use crate::jobs::Job;
use crate::store::{self, Claim, Store, Trigger};

/// How far back advanced hunting keeps data: a backfill cannot start earlier.
pub const API_RETENTION: TimeDelta = TimeDelta::days(30);

/// How long a backfill waits before claiming again while another run of the job is running.
const BUSY_WAIT: Duration = Duration::from_secs(1);

/// What to backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// Only the holes between the job's first and last covered windows in the range.
    pub gaps_only: bool,
}

/// What a backfill reports as it goes, for the terminal to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The chunks still to hunt, after planning again from the store.
    Planned {
        /// Chunks left.
        chunks: usize,
    },
    /// One chunk ended.
    Chunk {
        /// Its window.
        window: (DateTime<Utc>, DateTime<Utc>),
        /// How it ended.
        outcome: ChunkOutcome,
    },
    /// Another run of the job is running; the backfill waits for it.
    Waiting {
        /// That run.
        run_id: i64,
    },
}

/// How one chunk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Hunted and committed.
    Succeeded,
    /// The hunt failed; its run says why, and the span stays a coverage gap.
    Failed,
    /// Another node holds or ended this slot.
    NotOurs,
}

/// What a backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Chunks hunted and committed.
    pub succeeded: usize,
    /// Chunks whose hunt failed.
    pub failed: usize,
    /// Whether it stopped before the end (Ctrl-C, SIGTERM).
    pub interrupted: bool,
}

/// Why a range cannot be backfilled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The range is empty or reversed.
    #[error("the range {0} .. {1} is empty: `--from` must be before `--to`")]
    Empty(DateTime<Utc>, DateTime<Utc>),
    /// The range starts before the API keeps data.
    #[error(
        "{0} is more than 30 days ago, beyond what advanced hunting keeps: use `--from 30d` \
         or later"
    )]
    TooOld(DateTime<Utc>),
    /// The range ends in the future.
    #[error("{0} is in the future: `--to` must be now or earlier")]
    Future(DateTime<Utc>),
}

impl Range {
    /// Checks the range against `now`: within the API's 30 days and not in the future.
    pub fn check(self, now: DateTime<Utc>) -> Result<Self, RangeError> {
        if self.from >= self.to {
            return Err(RangeError::Empty(self.from, self.to));
        }
        if self.from < now - API_RETENTION {
            return Err(RangeError::TooOld(self.from));
        }
        if self.to > now {
            return Err(RangeError::Future(self.to));
        }
        Ok(self)
    }
}

/// The parts of `range` no window in `covered` (sorted by start) or `attempted` accounts for;
/// with `gaps_only`, only those between the first covered start and the last covered end.
pub fn holes(
    range: Range,
    covered: &[(DateTime<Utc>, DateTime<Utc>)],
    attempted: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let (mut from, mut to) = (range.from, range.to);
    if range.gaps_only {
        let Some(first) = covered.iter().map(|w| w.0).min() else {
            return Vec::new();
        };
        let last = covered.iter().map(|w| w.1).max().unwrap_or(first);
        (from, to) = (from.max(first), to.min(last));
    }
    let mut taken: Vec<_> = covered.iter().chain(attempted).copied().collect();
    taken.sort_unstable();
    let mut holes = Vec::new();
    let mut cursor = from;
    for (start, end) in taken {
        if start > cursor && cursor < to {
            holes.push((cursor, start.min(to)));
        }
        cursor = cursor.max(end);
    }
    if cursor < to {
        holes.push((cursor, to));
    }
    holes
}

/// `holes` cut into windows of at most `max_window`, in order.
pub fn chunks(
    holes: &[(DateTime<Utc>, DateTime<Utc>)],
    max_window: Duration,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let step = window::delta(max_window).max(TimeDelta::seconds(1));
    let mut chunks = Vec::new();
    for &(start, end) in holes {
        let mut at = start;
        while at < end {
            let next = (at + step).min(end);
            chunks.push((at, next));
            at = next;
        }
    }
    chunks
}

/// Backfills `range` of `spec`'s job until nothing in it is left to hunt, `stop` is cancelled,
/// or every remaining chunk was tried once; `report` hears each step.
pub async fn run(
    ctx: &Arc<Context>,
    spec: &Arc<JobSpec>,
    range: Range,
    stop: &CancellationToken,
    mut report: impl FnMut(Event),
) -> store::Result<Summary> {
    let job = &spec.job.name;
    let mut summary = Summary::default();
    let mut attempted = Vec::new();
    let mut planned_before = None;
    loop {
        if stop.is_cancelled() {
            summary.interrupted = true;
            return Ok(summary);
        }
        let covered = ctx
            .store
            .covered_windows(job, &spec.instance.name, range.from, range.to)
            .await?;
        let plan = chunks(&holes(range, &covered, &attempted), spec.job.max_window);
        if planned_before != Some(plan.len()) {
            report(Event::Planned { chunks: plan.len() });
            planned_before = Some(plan.len());
        }
        let Some(&(start, end)) = plan.first() else {
            return Ok(summary);
        };
        let planned = PlannedRun {
            slot_at: start,
            start,
            end,
        };
        // A permit per chunk: inside the daemon, a backfill shares `max_concurrent_runs`.
        let Some(permit) = worker::permit(ctx, stop).await else {
            summary.interrupted = true;
            return Ok(summary);
        };
        let request = worker::claim_request(ctx, spec, &planned, Utc::now());
        let claimed = ctx.store.claim_slot(&request).await;
        let outcome = match claimed? {
            Claim::Won(lease) => match worker::execute(ctx, spec, lease).await {
                Outcome::Succeeded => ChunkOutcome::Succeeded,
                Outcome::Interrupted | Outcome::Stopped => {
                    summary.interrupted = true;
                    return Ok(summary);
                }
                Outcome::Failed { .. } => ChunkOutcome::Failed,
                Outcome::NotOurs => ChunkOutcome::NotOurs,
            },
            // Planned again next step, from what that run covered.
            Claim::Covered { .. } => continue,
            Claim::Busy { run_id } => {
                report(Event::Waiting { run_id });
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(BUSY_WAIT) => {}
                }
                continue;
            }
            Claim::Lost { .. } => ChunkOutcome::NotOurs,
        };
        drop(permit);
        match outcome {
            ChunkOutcome::Succeeded => summary.succeeded += 1,
            ChunkOutcome::Failed => summary.failed += 1,
            ChunkOutcome::NotOurs => {}
        }
        // Tried once per backfill: a failed chunk stays a gap for the next backfill.
        attempted.push((start, end));
        report(Event::Chunk {
            window: (start, end),
            outcome,
        });
    }
}

/// The jobs `backfill_on_create` applies to now: enabled, with the key set, each with only
/// its instances new to the store (nothing covered yet there). Read before the job loops
/// start, whose first runs would cover.
pub async fn new_jobs_to_backfill(store: &Arc<dyn Store>, jobs: &[Job]) -> Vec<Job> {
    let mut new = Vec::new();
    for job in jobs {
        if !job.enabled || job.backfill_on_create.is_none() {
            continue;
        }
        let mut fresh = Vec::new();
        for instance in &job.instances {
            match store.high_water_mark(&job.name, instance).await {
                Ok(None) => fresh.push(instance.clone()),
                Ok(Some(_)) => {}
                Err(e) => {
                    warn!(job = %job.name, instance = %instance, error = %e, "cannot tell whether the job is new: no backfill_on_create");
                }
            }
        }
        if !fresh.is_empty() {
            new.push(Job {
                instances: fresh,
                ..job.clone()
            });
        }
    }
    new
}

/// Starts a backfill of each job's `backfill_on_create` span up to now, beside its scheduled
/// runs; the tasks end when `stop` is cancelled.
pub fn on_create(
    ctx: &Arc<Context>,
    config: &Config,
    jobs: Vec<Job>,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for job in jobs {
        let Some(span) = job.backfill_on_create else {
            continue;
        };
        let instances = job
            .instances
            .iter()
            .filter_map(|name| config.instances.get(name))
            .map(|instance| Arc::new(instance.clone()))
            .collect();
        let now = Utc::now();
        let range = Range {
            from: now - window::delta(span),
            to: now - window::delta(job.delay),
            gaps_only: false,
        };
        let (specs, _) = JobSpec::streams(job, instances, Duration::ZERO);
        for spec in specs.into_iter().map(Arc::new) {
            let (ctx, stop) = (Arc::new(ctx.sibling(Trigger::Backfill)), stop.clone());
            tasks.push(tokio::spawn(async move {
                let (job, instance) = (&spec.job.name, &spec.instance.name);
                info!(job = %job, instance = %instance, from = %range.from, "backfill_on_create: hunting the past of a new job");
                match run(&ctx, &spec, range, &stop, |_| {}).await {
                    Ok(done) => info!(
                        job = %job,
                        instance = %instance,
                        succeeded = done.succeeded,
                        failed = done.failed,
                        interrupted = done.interrupted,
                        "backfill_on_create ended"
                    ),
                    Err(e) => {
                        warn!(job = %job, instance = %instance, error = %e, "backfill_on_create stopped");
                    }
                }
            }));
        }
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::hours(hour)
    }

    fn range(from: i64, to: i64, gaps_only: bool) -> Range {
        Range {
            from: at(from),
            to: at(to),
            gaps_only,
        }
    }

    #[test]
    fn holes_are_what_no_covered_or_attempted_window_accounts_for() {
        let covered = [(at(2), at(4)), (at(3), at(5)), (at(7), at(8))];
        assert_eq!(
            holes(range(0, 10, false), &covered, &[]),
            [(at(0), at(2)), (at(5), at(7)), (at(8), at(10))]
        );
        assert_eq!(
            holes(range(0, 10, false), &covered, &[(at(0), at(1))]),
            [(at(1), at(2)), (at(5), at(7)), (at(8), at(10))]
        );
        assert_eq!(holes(range(3, 4, false), &covered, &[]), []);
    }

    #[test]
    fn gaps_only_keeps_the_holes_between_the_first_and_last_covered_windows() {
        let covered = [(at(2), at(4)), (at(7), at(8))];
        assert_eq!(holes(range(0, 10, true), &covered, &[]), [(at(4), at(7))]);
        assert_eq!(holes(range(0, 10, true), &[], &[]), []);
    }

    #[test]
    fn chunks_cut_each_hole_at_max_window() {
        let cut = chunks(&[(at(0), at(5)), (at(6), at(7))], Duration::from_secs(7200));
        assert_eq!(
            cut,
            [
                (at(0), at(2)),
                (at(2), at(4)),
                (at(4), at(5)),
                (at(6), at(7))
            ]
        );
    }

    #[test]
    fn a_range_must_be_within_the_apis_30_days_and_not_in_the_future() {
        let now = at(24 * 40);
        assert!(range(24 * 40 - 1, 24 * 40, false).check(now).is_ok());
        assert_eq!(
            range(24 * 9, 24 * 40, false).check(now),
            Err(RangeError::TooOld(at(24 * 9)))
        );
        assert_eq!(
            range(24 * 40 - 1, 24 * 40 + 1, false).check(now),
            Err(RangeError::Future(at(24 * 40 + 1)))
        );
        assert!(matches!(
            range(5, 5, false).check(now),
            Err(RangeError::Empty(..))
        ));
    }
}
