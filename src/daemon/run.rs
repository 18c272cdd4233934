//! One run: claim a slot, hunt its window (splitting truncated answers), commit or record why not.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, warn};

use super::scheduler::{JobSpec, Shared};
use super::window::{self, MIN_SPLIT_SPAN, PlannedRun};
use super::{lease, metrics};
use crate::hunt::{ErrorClass, HuntError, HuntOutcome};
use crate::jobs::Environment;
use crate::store::{self, Claim, ClaimRequest, Lease, RunFailure, RunStatus, RunSuccess};

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
    pub rows: Vec<Box<RawValue>>,
    /// Whether an answer stayed truncated at the minimum span.
    pub truncated: bool,
    /// HTTP status of the last answer.
    pub http_status: Option<u16>,
    /// Request id of the last answer.
    pub client_request_id: Option<String>,
    /// API calls made.
    pub calls: u32,
}

/// Hunts `window`; a truncated answer is dropped and both halves are hunted instead, down to
/// `min_span`, where a truncated answer is accepted and flagged.
pub async fn hunt_split<F, Fut>(
    window: (DateTime<Utc>, DateTime<Utc>),
    min_span: Duration,
    mut call: F,
) -> Result<Collected, HuntError>
where
    F: FnMut((DateTime<Utc>, DateTime<Utc>)) -> Fut,
    Fut: Future<Output = Result<HuntOutcome, HuntError>>,
{
    let mut pending = VecDeque::from([window]);
    let mut collected = Collected::default();
    while let Some((start, end)) = pending.pop_front() {
        let outcome = call((start, end)).await?;
        collected.calls += outcome.attempts.max(1);
        let result = outcome.result;
        if result.truncated
            && let Some([first, second]) = window::halves(start, end, min_span)
        {
            info!(%start, %end, "result truncated: hunting both halves of the window");
            pending.push_front(second);
            pending.push_front(first);
            continue;
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
        collected.rows.extend(result.rows);
        collected.truncated |= result.truncated;
        collected.http_status = Some(result.http_status);
        collected.client_request_id = Some(result.client_request_id.to_string());
    }
    Ok(collected)
}

/// The API name stored with a run.
fn api_name(environment: Environment) -> &'static str {
    match environment {
        Environment::Graph => "graph",
        Environment::Mde => "mde",
    }
}

/// Claims a planned run and, if this node wins, executes it.
pub async fn claim_and_run(
    shared: &Arc<Shared>,
    spec: &Arc<JobSpec>,
    planned: PlannedRun,
    stop: &CancellationToken,
) -> Outcome {
    // Wait for a permit before claiming, so no lease is held while queueing; a stop wins
    // over a free permit, so nothing is claimed once shutdown began.
    let permit = tokio::select! {
        biased;
        () = stop.cancelled() => return Outcome::Stopped,
        permit = Arc::clone(&shared.permits).acquire_owned() => match permit {
            Ok(permit) => permit,
            Err(_) => return Outcome::Stopped,
        },
    };
    let now = Utc::now();
    let request = ClaimRequest {
        job: spec.job.name.clone(),
        instance: spec.instance.name.clone(),
        slot_at: planned.slot_at,
        window_start: planned.start,
        window_end: planned.end,
        node: shared.node.clone(),
        lease_until: now + window::delta(shared.lease),
        now,
        query_sha256: spec.query_sha256.clone(),
    };
    let outcome = match shared.store.claim_slot(&request).await {
        Ok(Claim::Won(lease)) => execute(shared, spec, lease).await,
        Ok(Claim::Lost { run_id, status, .. }) => {
            tracing::debug!(job = %spec.job.name, slot = %planned.slot_at, run_id, %status, "slot already claimed");
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
pub async fn record_skipped(shared: &Arc<Shared>, spec: &Arc<JobSpec>, skipped: PlannedRun) {
    let now = Utc::now();
    let request = ClaimRequest {
        job: spec.job.name.clone(),
        instance: spec.instance.name.clone(),
        slot_at: skipped.slot_at,
        window_start: skipped.start,
        window_end: skipped.end,
        node: shared.node.clone(),
        lease_until: now + window::delta(shared.lease),
        now,
        query_sha256: spec.query_sha256.clone(),
    };
    let lease = match shared.store.claim_slot(&request).await {
        Ok(Claim::Won(lease)) => lease,
        Ok(Claim::Lost { .. }) => return,
        Err(e) => {
            warn!(job = %spec.job.name, error = %e, "cannot record the skipped span");
            return;
        }
    };
    let failure = RunFailure {
        finished_at: now,
        status: RunStatus::Skipped,
        error_class: "skipped",
        error_message: window::REASON_SKIPPED,
        api: None,
        http_status: None,
        client_request_id: None,
    };
    match shared.store.fail_run(&lease, &failure).await {
        Ok(()) => {
            warn!(job = %spec.job.name, start = %skipped.start, end = %skipped.end, "missed span skipped (catch_up: skip)");
            metrics::run_skipped(&lease.job);
        }
        Err(e) => warn!(job = %spec.job.name, error = %e, "cannot record the skipped span"),
    }
}

/// Runs a lease this node took over from a node whose lease expired.
pub async fn run_taken_over(
    shared: &Arc<Shared>,
    spec: &Arc<JobSpec>,
    lease: Lease,
    stop: &CancellationToken,
) -> Outcome {
    let permit = tokio::select! {
        biased;
        () = stop.cancelled() => None,
        permit = Arc::clone(&shared.permits).acquire_owned() => permit.ok(),
    };
    let Some(permit) = permit else {
        // Stopping with a lease in hand: give the slot back for the next start or node.
        let failure = RunFailure {
            finished_at: Utc::now(),
            status: RunStatus::Interrupted,
            error_class: "interrupted",
            error_message: "huntd stopped before the taken-over run started",
            api: None,
            http_status: None,
            client_request_id: None,
        };
        if let Err(e) = shared.store.fail_run(&lease, &failure).await {
            warn!(error = %e, "cannot record the run's end");
        }
        return Outcome::Stopped;
    };
    let outcome = execute(shared, spec, lease).await;
    drop(permit);
    outcome
}

/// Runs a lease this node holds (claimed or taken over) to its end, under a permit.
pub async fn execute(shared: &Arc<Shared>, spec: &Arc<JobSpec>, lease: Lease) -> Outcome {
    let span = tracing::info_span!(
        "run",
        job = %lease.job,
        run_id = lease.run_id,
        attempt = lease.attempt,
        slot = %lease.slot_at,
        window_start = %lease.window_start,
        window_end = %lease.window_end,
    );
    shared.running.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let outcome = execute_inner(shared, spec, &lease).instrument(span).await;
    shared.running.fetch_sub(1, Ordering::Relaxed);
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

async fn execute_inner(shared: &Arc<Shared>, spec: &Arc<JobSpec>, lease: &Lease) -> Outcome {
    let job = &spec.job;
    info!("run started");
    let api = api_name(job.environment);
    let cancel = shared.hard_cancel.child_token();
    let heartbeat = lease::Heartbeat::start(
        Arc::clone(&shared.store),
        lease.clone(),
        shared.lease,
        cancel.clone(),
    );
    let hunt = hunt_split(
        (lease.window_start, lease.window_end),
        MIN_SPLIT_SPAN,
        |(start, end)| {
            let cancel = &cancel;
            async move {
                let query = job.render(start, end).map_err(|e| HuntError {
                    class: ErrorClass::Query,
                    message: format!("cannot render the query: {e}"),
                    http_status: None,
                    api_code: None,
                    client_request_id: None,
                    retry_after: None,
                    cpu_exhausted: false,
                    attempts: 0,
                })?;
                let window = job.timespan.then_some((start, end));
                shared
                    .hunter
                    .run(&spec.instance, job.environment, &query, window, cancel)
                    .await
            }
        },
    );
    let result = tokio::time::timeout(job.timeout, hunt).await;
    let lost = heartbeat.stop().await;
    if lost {
        warn!("lease lost to another node: results not written");
        return Outcome::NotOurs;
    }
    let finished_at = Utc::now();
    let failure = |status, class: &'static str, message: String| {
        let store = Arc::clone(&shared.store);
        async move {
            let failure = RunFailure {
                finished_at,
                status,
                error_class: class,
                error_message: &message,
                api: Some(api),
                http_status: None,
                client_request_id: None,
            };
            store.fail_run(lease, &failure).await
        }
    };
    let (written, outcome) = match result {
        Err(_elapsed) => {
            cancel.cancel();
            warn!(timeout = ?job.timeout, "run exceeded the job's timeout");
            let message = format!(
                "the run did not finish within the job's timeout of {}",
                crate::duration::format(job.timeout)
            );
            (
                failure(RunStatus::Failed, "timeout", message).await,
                Outcome::Failed {
                    non_retryable: false,
                },
            )
        }
        Ok(Ok(collected)) => {
            let success = RunSuccess {
                finished_at,
                columns: &collected.columns,
                rows: &collected.rows,
                truncated: collected.truncated,
                api,
                http_status: collected.http_status,
                client_request_id: collected.client_request_id.as_deref(),
            };
            match shared.store.finish_run(lease, &success).await {
                Ok(finished) => {
                    metrics::committed(
                        &lease.job,
                        finished.row_count,
                        finished.new_row_count,
                        lease.window_end,
                    );
                    info!(
                        rows = finished.row_count,
                        new = finished.new_row_count,
                        calls = collected.calls,
                        truncated = collected.truncated,
                        "run succeeded"
                    );
                    return Outcome::Succeeded;
                }
                Err(store::Error::LeaseLost { .. }) => {
                    warn!("lease lost before commit: results not written");
                    return Outcome::NotOurs;
                }
                Err(e) => (
                    Err(e),
                    Outcome::Failed {
                        non_retryable: false,
                    },
                ),
            }
        }
        Ok(Err(error)) if error.class == ErrorClass::Cancelled => {
            info!("run interrupted by shutdown");
            (
                failure(
                    RunStatus::Interrupted,
                    "interrupted",
                    "huntd stopped before the run finished; the window is hunted again".into(),
                )
                .await,
                Outcome::Interrupted,
            )
        }
        Ok(Err(error)) => {
            warn!(class = %error.class, error = %error, "run failed");
            let request_id = error.client_request_id.map(|id| id.to_string());
            let record = RunFailure {
                finished_at,
                status: RunStatus::Failed,
                error_class: error.class.as_str(),
                error_message: &error.message,
                api: Some(api),
                http_status: error.http_status,
                client_request_id: request_id.as_deref(),
            };
            (
                shared.store.fail_run(lease, &record).await,
                Outcome::Failed {
                    non_retryable: !error.class.is_retryable()
                        && error.class != ErrorClass::TooLarge,
                },
            )
        }
    };
    if let Err(e) = written {
        warn!(error = %e, "cannot record the run's end");
    }
    outcome
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use uuid::Uuid;

    use super::*;
    use crate::hunt::{Column, HuntResult};

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
                rows: rows
                    .iter()
                    .map(|r| RawValue::from_string((*r).to_string()).expect("test row is JSON"))
                    .collect(),
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
        let collected = hunt_split((start, end), Duration::from_secs(1800), |w| {
            calls.lock().expect("not poisoned").push(w);
            // The whole window and its first half are "too big"; quarters and the second half fit.
            let truncated = w.1 - w.0 > chrono::TimeDelta::minutes(30) && w.0 == start;
            let row = format!(r#"{{"a":"{}"}}"#, w.0.format("%H:%M"));
            async move { Ok(outcome(&[&row], truncated)) }
        })
        .await
        .expect("no call fails");
        let calls = calls.into_inner().expect("not poisoned");
        assert_eq!(calls.len(), 5);
        let rows: Vec<&str> = collected.rows.iter().map(|r| r.get()).collect();
        assert_eq!(
            rows,
            [r#"{"a":"10:00"}"#, r#"{"a":"10:30"}"#, r#"{"a":"11:00"}"#]
        );
        assert!(!collected.truncated);
        assert_eq!(collected.calls, 5);
    }

    #[tokio::test]
    async fn truncation_at_the_minimum_span_is_accepted_and_flagged() {
        let start = t("2024-03-10T10:00:00Z");
        let end = t("2024-03-10T10:02:00Z");
        let collected = hunt_split((start, end), Duration::from_secs(60), |_| async {
            Ok(outcome(&[r#"{"a":"x"}"#], true))
        })
        .await
        .expect("no call fails");
        assert_eq!(collected.calls, 3, "split once into two one-minute halves");
        assert!(collected.truncated);
        assert_eq!(collected.rows.len(), 2);
    }
}
