//! One slot's run: claim it, hunt its window (splitting truncated answers), then commit the
//! results or record, through one small handler per way a run ends, why not.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, warn};

use super::context::{Context, JobSpec};
use super::window::{self, MIN_SPLIT_SPAN, PlannedRun};
use super::{failure, lease, metrics};
use crate::backoff::counts_toward_backoff;
use crate::hunt::{ErrorClass, HuntError, HuntOutcome};
use crate::jobs::Environment;
use crate::spool::RunRows;
use crate::store::{self, Claim, ClaimRequest, Lease, RunFailure, RunSuccess, Store};

/// The first wait before a run's end the database refused to record is tried again.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(250);
/// The longest wait between two attempts to record a run's end.
const RECORD_RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a run's end is retried while the database takes no writes.
const RECORD_PATIENCE: Duration = Duration::from_secs(600);

/// How a run ended, as far as the job's schedule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Results committed.
    Succeeded,
    /// The hunt failed with this class name; `non_retryable` classes feed the backoff.
    Failed {
        /// Whether the class is one that repeating cannot fix (query, permission, auth).
        non_retryable: bool,
    },
    /// Another node holds (or held) the slot, or this node lost its lease: nothing written.
    NotOurs,
    /// Cancelled by shutdown and recorded as `interrupted`.
    Interrupted,
    /// Not started: the daemon is stopping.
    Stopped,
}

/// Everything the hunt calls of one run returned, merged in window order.
#[derive(Debug, Default)]
pub struct Collected {
    /// Result schema (of the first answer that had one).
    pub columns: Vec<store::Column>,
    /// All rows, in window order.
    pub rows: RunRows,
    /// Whether an answer stayed truncated at the minimum span.
    pub truncated: bool,
    /// HTTP status of the last answer.
    pub http_status: Option<u16>,
    /// Request id of the last answer.
    pub client_request_id: Option<String>,
    /// API calls made.
    pub calls: u32,
    /// Time waited on throttling across the calls.
    pub throttle_wait: Duration,
}

impl Collected {
    /// What the run cost its tenant, as the store records it.
    pub fn cost(&self) -> store::RunCost {
        store::RunCost {
            api_calls: self.calls,
            throttle_wait: self.throttle_wait,
        }
    }
}

/// Hunts `window`. A truncated answer of a query the window bounds is dropped and both halves
/// are hunted instead, down to `min_span`, where a truncated answer is accepted and flagged.
///
/// Splitting stops where it cannot help: a query the window does not bound (`splittable`
/// false) and a half that returned exactly what its whole did are both accepted truncated.
/// A row that two parts both returned (a `between` includes both ends) is kept once.
pub async fn hunt_split<F, Fut>(
    window: (DateTime<Utc>, DateTime<Utc>),
    min_span: Duration,
    splittable: bool,
    mut call: F,
) -> Result<Collected, HuntError>
where
    F: FnMut((DateTime<Utc>, DateTime<Utc>)) -> Fut,
    Fut: Future<Output = Result<HuntOutcome, HuntError>>,
{
    let mut pending = VecDeque::from([Part {
        window,
        whole: None,
    }]);
    let mut collected = Collected::default();
    while let Some(part) = pending.pop_front() {
        let (start, end) = part.window;
        let outcome = match call((start, end)).await {
            Ok(outcome) => outcome,
            Err(mut error) => {
                // The parts hunted before this one cost calls too.
                error.attempts += collected.calls;
                error.throttle_wait += collected.throttle_wait;
                return Err(error);
            }
        };
        collected.calls += outcome.attempts.max(1);
        collected.throttle_wait += outcome.throttle_wait();
        let result = outcome.result;
        if result.truncated {
            let digest = result.rows.digest();
            if part.whole == Some(digest) {
                warn!(%start, %end, "a half returned what its whole did: splitting cannot help");
                // The sibling half would return the same rows again.
                pending.retain(|other| other.whole != Some(digest));
            } else if !splittable {
                warn!(
                    "the result was cut at {} rows and the window does not bound the query \
                     (no `{{start}}`/`{{end}}`, no Timespan): recorded truncated",
                    result.rows.len()
                );
            } else if let Some([first, second]) = window::halves(start, end, min_span) {
                info!(%start, %end, "result truncated: hunting both halves of the window");
                let whole = Some(digest);
                pending.push_front(Part {
                    window: second,
                    whole,
                });
                pending.push_front(Part {
                    window: first,
                    whole,
                });
                continue;
            }
        }
        if collected.columns.is_empty() {
            collected.columns = result
                .columns
                .into_iter()
                .map(|c| store::Column {
                    name: c.name,
                    type_name: c.type_name,
                })
                .collect();
        }
        // A part of a split window may repeat rows of the parts before it: the store's read of
        // the run's rows leaves those out.
        collected.rows.push(result.rows, part.whole.is_some());
        collected.truncated |= result.truncated;
        collected.http_status = Some(result.http_status);
        collected.client_request_id = Some(result.client_request_id.to_string());
    }
    Ok(collected)
}

/// One window still to hunt, and the digest of the truncated answer of the window it halves.
struct Part {
    window: (DateTime<Utc>, DateTime<Utc>),
    whole: Option<[u8; 32]>,
}

/// The API name stored with a run.
fn api_name(environment: Environment) -> &'static str {
    match environment {
        Environment::Graph => "graph",
        Environment::Mde => "mde",
    }
}

/// Waits for a run permit. Taken before claiming, so no lease is held while queueing; a stop
/// wins over a free permit, so nothing is claimed once shutdown began.
pub(super) async fn permit(
    ctx: &Context,
    stop: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    tokio::select! {
        biased;
        () = stop.cancelled() => None,
        permit = Arc::clone(&ctx.permits).acquire_owned() => permit.ok(),
    }
}

/// The claim of `planned` by this node, its lease running from `now`.
pub(super) fn claim_request(
    ctx: &Context,
    spec: &JobSpec,
    planned: &PlannedRun,
    now: DateTime<Utc>,
) -> ClaimRequest {
    ClaimRequest {
        job: spec.job.name.clone(),
        instance: spec.instance.name.clone(),
        slot_at: planned.slot_at,
        window_start: planned.start,
        window_end: planned.end,
        node: ctx.node.clone(),
        lease_until: now + window::delta(ctx.lease),
        now,
        query_sha256: spec.query_sha256.clone(),
        trigger: ctx.trigger,
    }
}

/// Claims a planned run and, if this node wins, executes it.
pub async fn claim_and_run(
    ctx: &Arc<Context>,
    spec: &Arc<JobSpec>,
    planned: PlannedRun,
    stop: &CancellationToken,
) -> Outcome {
    let Some(permit) = permit(ctx, stop).await else {
        return Outcome::Stopped;
    };
    let request = claim_request(ctx, spec, &planned, Utc::now());
    let outcome = match ctx.store.claim_slot(&request).await {
        Ok(Claim::Won(lease)) => execute(ctx, spec, lease).await,
        Ok(Claim::Lost { run_id, status, .. }) => {
            tracing::debug!(job = %spec.job.name, slot = %planned.slot_at, run_id, %status, "slot already claimed");
            Outcome::NotOurs
        }
        Ok(Claim::Busy { run_id }) => {
            // The next slot's window starts at the high-water mark, so this span waits, not lost.
            info!(job = %spec.job.name, slot = %planned.slot_at, run_id, "another run of the job is still running: slot not run");
            Outcome::NotOurs
        }
        Ok(Claim::Covered { until }) => {
            tracing::debug!(job = %spec.job.name, slot = %planned.slot_at, %until, "window already covered");
            Outcome::NotOurs
        }
        Err(e) => {
            warn!(job = %spec.job.name, slot = %planned.slot_at, error = %e, "cannot claim slot");
            Outcome::Failed {
                non_retryable: false,
            }
        }
    };
    drop(permit);
    outcome
}

/// Records the span `catch_up: skip` leaves out as a `skipped` run, so history shows it;
/// another node that planned the same skip has already recorded it when the claim is lost.
pub async fn record_skipped(ctx: &Arc<Context>, spec: &Arc<JobSpec>, skipped: PlannedRun) {
    let now = Utc::now();
    let lease = match ctx
        .store
        .claim_slot(&claim_request(ctx, spec, &skipped, now))
        .await
    {
        Ok(Claim::Won(lease)) => lease,
        Ok(Claim::Lost { .. } | Claim::Busy { .. } | Claim::Covered { .. }) => return,
        Err(e) => {
            warn!(job = %spec.job.name, error = %e, "cannot record the skipped span");
            return;
        }
    };
    match ctx.store.fail_run(&lease, &failure::skipped(now)).await {
        Ok(()) => {
            warn!(job = %spec.job.name, start = %skipped.start, end = %skipped.end, "missed span skipped (catch_up: skip)");
            metrics::run_skipped(&lease.job);
        }
        Err(e) => warn!(job = %spec.job.name, error = %e, "cannot record the skipped span"),
    }
}

/// Runs a lease this node took over from a node whose lease expired.
pub async fn run_taken_over(
    ctx: &Arc<Context>,
    spec: &Arc<JobSpec>,
    lease: Lease,
    stop: &CancellationToken,
) -> Outcome {
    let Some(permit) = permit(ctx, stop).await else {
        // Stopping with a lease in hand: give the slot back for the next start or node.
        let why = "huntd stopped before the taken-over run started";
        give_back(&ctx.store, &lease, why).await;
        return Outcome::Stopped;
    };
    let outcome = execute(ctx, spec, lease).await;
    drop(permit);
    outcome
}

/// Ends a taken-over run this node does not run, as `interrupted`, so it can be claimed again.
pub async fn give_back(store: &Arc<dyn Store>, lease: &Lease, why: &str) {
    if let Err(e) = store
        .fail_run(lease, &failure::interrupted(Utc::now(), why))
        .await
    {
        warn!(run_id = lease.run_id, error = %e, "cannot give a taken-over run back");
    }
}

/// Runs a lease this node holds (claimed or taken over) to its end, under a permit.
pub async fn execute(ctx: &Arc<Context>, spec: &Arc<JobSpec>, lease: Lease) -> Outcome {
    let span = tracing::info_span!(
        "run",
        job = %lease.job,
        run_id = lease.run_id,
        attempt = lease.attempt,
        slot = %lease.slot_at,
        window_start = %lease.window_start,
        window_end = %lease.window_end,
    );
    ctx.running.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let outcome = run_lease(ctx, spec, &lease).instrument(span).await;
    ctx.running.fetch_sub(1, Ordering::Relaxed);
    let status = match outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed { .. } => "failed",
        Outcome::Interrupted => "interrupted",
        Outcome::NotOurs => "lease_lost",
        Outcome::Stopped => "stopped",
    };
    metrics::run_finished(&lease.job, status, started.elapsed());
    outcome
}

/// Hunts the lease's window under a heartbeat and hands the result to the handler of how the
/// run ended.
async fn run_lease(ctx: &Arc<Context>, spec: &Arc<JobSpec>, lease: &Lease) -> Outcome {
    let job = &spec.job;
    info!("run started");
    let api = api_name(job.environment);
    let cancel = ctx.hard_cancel.child_token();
    let heartbeat = lease::Heartbeat::start(
        Arc::clone(&ctx.store),
        lease.clone(),
        ctx.lease,
        cancel.clone(),
    );
    let result = tokio::time::timeout(job.timeout, hunt(ctx, spec, lease, &cancel)).await;
    let lost = heartbeat.stop().await;
    if lost {
        warn!("lease lost to another node: results not written");
        return Outcome::NotOurs;
    }
    let end = End {
        ctx,
        lease,
        api,
        finished_at: Utc::now(),
        notify: &spec.notify,
    };
    match result {
        Err(_elapsed) => {
            cancel.cancel();
            end.timed_out(job.timeout).await
        }
        Ok(Ok(collected)) => end.commit(&collected).await,
        Ok(Err(error)) if error.class == ErrorClass::Cancelled => end.shut_down().await,
        Ok(Err(error)) => end.hunt_failed(&error).await,
    }
}

/// Hunts the lease's window with the job's query, rendered for each (split) part of it.
async fn hunt(
    ctx: &Context,
    spec: &JobSpec,
    lease: &Lease,
    cancel: &CancellationToken,
) -> Result<Collected, HuntError> {
    let job = &spec.job;
    let window = (lease.window_start, lease.window_end);
    hunt_split(
        window,
        MIN_SPLIT_SPAN,
        job.window_bounds_query(),
        |(start, end)| async move {
            let query = job.render(start, end).map_err(|e| {
                HuntError::new(ErrorClass::Query, format!("cannot render the query: {e}"))
            })?;
            let window = job.timespan.then_some((start, end));
            ctx.hunter
                .run(&spec.instance, job.environment, &query, window, cancel)
                .await
        },
    )
    .await
}

/// A hunted lease, still to be ended one way or another.
struct End<'a> {
    ctx: &'a Context,
    lease: &'a Lease,
    api: &'static str,
    finished_at: DateTime<Utc>,
    notify: &'a [store::DeliveryRoute],
}

impl End<'_> {
    /// Commits the results; a lease lost meanwhile leaves nothing written.
    async fn commit(&self, collected: &Collected) -> Outcome {
        let success = RunSuccess {
            finished_at: self.finished_at,
            columns: &collected.columns,
            rows: &collected.rows,
            truncated: collected.truncated,
            api: self.api,
            http_status: collected.http_status,
            client_request_id: collected.client_request_id.as_deref(),
            cost: collected.cost(),
            notify: self.notify,
        };
        match self.ctx.store.finish_run(self.lease, &success).await {
            Ok(finished) => {
                if !self.notify.is_empty() && finished.new_row_count > 0 {
                    self.ctx.committed.notify_one();
                }
                metrics::committed(
                    &self.lease.job,
                    finished.row_count,
                    finished.new_row_count,
                    self.lease.window_end,
                );
                info!(
                    rows = finished.row_count,
                    new = finished.new_row_count,
                    calls = collected.calls,
                    truncated = collected.truncated,
                    "run succeeded"
                );
                Outcome::Succeeded
            }
            Err(store::Error::LeaseLost { .. }) => {
                warn!("lease lost before commit: results not written");
                Outcome::NotOurs
            }
            Err(e @ store::Error::Unstorable { .. }) => {
                // The store already recorded the run failed; the same window would be refused
                // again, so the job backs off instead of fetching it every slot.
                warn!(error = %e, "the database refused the answer: run failed as unstorable");
                Outcome::Failed {
                    non_retryable: true,
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot write the run's results: run failed as store");
                let message = e.to_string();
                let mut failure = failure::store(self.finished_at, self.api, &message);
                failure.cost = Some(collected.cost());
                self.record(&failure).await;
                Outcome::Failed {
                    non_retryable: false,
                }
            }
        }
    }

    /// Fails a run that outlived its job's `timeout`; the next window makes it good.
    async fn timed_out(&self, timeout: Duration) -> Outcome {
        warn!(timeout = ?timeout, "run exceeded the job's timeout");
        let message = format!(
            "the run did not finish within the job's timeout of {}",
            crate::duration::format(timeout)
        );
        self.record(&failure::timed_out(self.finished_at, self.api, &message))
            .await;
        Outcome::Failed {
            non_retryable: false,
        }
    }

    /// Records a run shutdown stopped as `interrupted`, so its window is hunted again.
    async fn shut_down(&self) -> Outcome {
        info!("run interrupted by shutdown");
        self.record(&failure::shut_down(self.finished_at, self.api))
            .await;
        Outcome::Interrupted
    }

    /// Fails a run whose hunt failed; classes repeating cannot fix feed the job's backoff.
    async fn hunt_failed(&self, error: &HuntError) -> Outcome {
        warn!(class = %error.class, error = %error, "run failed");
        let request_id = error.client_request_id.map(|id| id.to_string());
        let record =
            failure::from_hunt_error(self.finished_at, self.api, error, request_id.as_deref());
        self.record(&record).await;
        Outcome::Failed {
            non_retryable: counts_toward_backoff(error.class.as_str()),
        }
    }

    /// Writes `failure` as the run's end, and releases the lease with it. A database error is
    /// retried with backoff until the database takes writes again, for up to
    /// [`RECORD_PATIENCE`]; shutdown's end of grace cuts the waiting short for one last
    /// attempt. A run still not recorded is left to the next start's `mark_interrupted` or to
    /// a takeover.
    async fn record(&self, failure: &RunFailure<'_>) {
        let give_up = std::time::Instant::now() + RECORD_PATIENCE;
        let mut wait = RECORD_RETRY_FIRST;
        loop {
            match self.ctx.store.fail_run(self.lease, failure).await {
                Ok(()) => return,
                Err(e @ store::Error::Database(_))
                    if std::time::Instant::now() < give_up
                        && !self.ctx.hard_cancel.is_cancelled() =>
                {
                    warn!(error = %e, retry_in = ?wait, "cannot record the run's end yet");
                }
                Err(e) => {
                    warn!(error = %e, "cannot record the run's end");
                    return;
                }
            }
            tokio::select! {
                () = self.ctx.hard_cancel.cancelled() => {}
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(RECORD_RETRY_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use uuid::Uuid;

    use super::*;
    use crate::hunt::{Column, HuntResult};
    use crate::spool::Rows;
    use serde_json::value::RawValue;

    /// The rows the store would write, as text.
    fn stored(collected: &Collected) -> Vec<String> {
        collected
            .rows
            .iter()
            .map(|r| r.expect("rows read back").get().to_string())
            .collect()
    }

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test time parses")
            .with_timezone(&Utc)
    }

    fn outcome(rows: &[&str], truncated: bool) -> HuntOutcome {
        HuntOutcome {
            result: HuntResult {
                columns: vec![Column {
                    name: "a".into(),
                    type_name: "String".into(),
                }],
                rows: Rows::from_vec(
                    &rows
                        .iter()
                        .map(|r| RawValue::from_string((*r).to_string()).expect("test row is JSON"))
                        .collect::<Vec<_>>(),
                )
                .expect("rows in memory"),
                truncated,
                stats: None,
                api_time: Duration::ZERO,
                client_request_id: Uuid::nil(),
                http_status: 200,
                body_bytes: 0,
            },
            attempts: 1,
            quota_wait: Duration::ZERO,
            retry_wait: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn truncated_answers_are_replaced_by_both_halves_in_window_order() {
        let calls = Mutex::new(Vec::new());
        let start = t("2024-03-10T10:00:00Z");
        let end = t("2024-03-10T12:00:00Z");
        let collected = hunt_split((start, end), Duration::from_secs(1800), true, |w| {
            calls.lock().expect("not poisoned").push(w);
            // The whole window and its first half are "too big"; quarters and the second half fit.
            let truncated = w.1 - w.0 > chrono::TimeDelta::minutes(30) && w.0 == start;
            let row = format!(
                r#"{{"a":"{}-{}"}}"#,
                w.0.format("%H:%M"),
                w.1.format("%H:%M")
            );
            async move { Ok(outcome(&[&row], truncated)) }
        })
        .await
        .expect("no call fails");
        let calls = calls.into_inner().expect("not poisoned");
        assert_eq!(calls.len(), 5);
        let rows = stored(&collected);
        assert_eq!(
            rows,
            [
                r#"{"a":"10:00-10:30"}"#,
                r#"{"a":"10:30-11:00"}"#,
                r#"{"a":"11:00-12:00"}"#
            ]
        );
        assert!(!collected.truncated);
        assert_eq!(collected.calls, 5);
    }

    #[tokio::test]
    async fn truncation_at_the_minimum_span_is_accepted_and_flagged() {
        let start = t("2024-03-10T10:00:00Z");
        let end = t("2024-03-10T10:02:00Z");
        let collected = hunt_split((start, end), Duration::from_secs(60), true, |w| {
            let row = format!(r#"{{"a":"{}-{}"}}"#, w.0.format("%M"), w.1.format("%M"));
            async move { Ok(outcome(&[&row], true)) }
        })
        .await
        .expect("no call fails");
        assert_eq!(collected.calls, 3, "split once into two one-minute halves");
        assert!(collected.truncated);
        assert_eq!(stored(&collected).len(), 2);
    }

    #[tokio::test]
    async fn a_query_the_window_does_not_bound_is_hunted_once_and_flagged() {
        let start = t("2024-03-10T10:00:00Z");
        let end = t("2024-03-10T11:00:00Z");
        let collected = hunt_split((start, end), Duration::from_secs(60), false, |_| async {
            Ok(outcome(&[r#"{"a":"x"}"#], true))
        })
        .await
        .expect("no call fails");
        assert_eq!(collected.calls, 1);
        assert!(collected.truncated);
        assert_eq!(stored(&collected).len(), 1);
    }

    #[tokio::test]
    async fn a_half_that_returns_what_its_whole_did_stops_the_split() {
        let start = t("2024-03-10T10:00:00Z");
        let end = t("2024-03-10T11:00:00Z");
        let collected = hunt_split((start, end), Duration::from_secs(60), true, |_| async {
            Ok(outcome(&[r#"{"a":"x"}"#, r#"{"a":"y"}"#], true))
        })
        .await
        .expect("no call fails");
        assert_eq!(collected.calls, 2, "the whole, then one half, and no more");
        assert!(collected.truncated);
        let rows = stored(&collected);
        assert_eq!(rows, [r#"{"a":"x"}"#, r#"{"a":"y"}"#], "each row once");
    }

    #[tokio::test]
    async fn a_row_both_halves_return_is_kept_once_and_repeats_within_one_answer_stay() {
        let start = t("2024-03-10T10:00:00Z");
        let end = t("2024-03-10T12:00:00Z");
        let collected = hunt_split((start, end), Duration::from_secs(1800), true, |w| {
            let whole = w.1 - w.0 == chrono::TimeDelta::hours(2);
            // `between` includes both ends: a row stamped 11:00 is in both halves.
            let rows: Vec<String> = if whole {
                vec![r#"{"t":"whole"}"#.into()]
            } else {
                let own = format!(r#"{{"t":"{}"}}"#, w.0.format("%H:%M"));
                vec![own.clone(), own, r#"{"t":"boundary"}"#.into()]
            };
            async move {
                let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
                Ok(outcome(&rows, whole))
            }
        })
        .await
        .expect("no call fails");
        let rows = stored(&collected);
        assert_eq!(
            rows,
            [
                r#"{"t":"10:00"}"#,
                r#"{"t":"10:00"}"#,
                r#"{"t":"boundary"}"#,
                r#"{"t":"11:00"}"#,
                r#"{"t":"11:00"}"#,
            ],
            "each half's own row twice, as sent; the boundary row once"
        );
    }
}
