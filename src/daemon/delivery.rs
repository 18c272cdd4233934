//! The delivery loop of `huntd run`: claims due deliveries from the outbox, sends each to its
//! output and records how it went. It runs beside the job loops and never holds them up: a
//! run only writes its deliveries, in its own commit.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::metrics;
use super::window::delta;
use crate::config::Config;
use crate::hunt::{Jitter, RetryPolicy};
use crate::outputs::{Notification, SendError, Sinks};
use crate::store::{DeliveryOutcome, DeliveryRecord, Store};

/// The shortest claim: a node's claims last its run lease (`--lease-secs`), but never so short
/// that a send cannot go out.
pub const MIN_CLAIM: Duration = Duration::from_secs(10);
/// Room left in a claim after the send's time limit, to record how it went.
const RECORD_MARGIN: Duration = Duration::from_secs(5);
/// How often the outbox is looked at when it had nothing due and no run committed.
const POLL: Duration = Duration::from_millis(500);
/// Deliveries claimed (and sent side by side) at once.
const BATCH: u32 = 32;
/// How often the pending gauge is refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

/// Retry waits: a second first, doubling to five minutes.
fn policy() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_secs(1),
        max_delay: Duration::from_secs(300),
        ..RetryPolicy::default()
    }
}

/// The outputs in force, replaced on reload.
#[derive(Debug)]
pub struct SinksCell(RwLock<Arc<Sinks>>);

impl SinksCell {
    /// Holds `sinks`.
    pub fn new(sinks: Sinks) -> Self {
        Self(RwLock::new(Arc::new(sinks)))
    }

    /// Puts the outputs of a reloaded `config` in force; sends under way finish with the old
    /// ones. On an error the old ones stay.
    pub fn reload(&self, config: &Config) -> crate::outputs::Result<()> {
        let sinks = self.current().reconfigured(config)?;
        let mut current = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(sinks);
        Ok(())
    }

    fn current(&self) -> Arc<Sinks> {
        Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// How the delivery loop runs: whose claims, how long they last, what wakes it.
#[derive(Debug)]
pub struct Loop {
    /// This node.
    pub node: String,
    /// How long a claim lasts; each send is cut short before it ends.
    pub claim: Duration,
    /// Notified when a run commits deliveries, so they go out without waiting for the poll.
    pub committed: Arc<tokio::sync::Notify>,
}

/// Sends deliveries until `stop` is cancelled; sends under way then finish (each is bounded
/// by its claim) before it returns.
pub async fn run(store: Arc<dyn Store>, sinks: Arc<SinksCell>, how: Loop, stop: CancellationToken) {
    let Loop {
        node,
        claim,
        committed,
    } = how;
    let claim = claim.max(MIN_CLAIM);
    match store.release_deliveries(&node).await {
        Ok(0) => {}
        Ok(n) => info!(
            deliveries = n,
            "deliveries this node was sending when it stopped are due again"
        ),
        Err(e) => warn!(error = %e, "cannot release this node's delivery claims"),
    }
    let mut gauge_at = tokio::time::Instant::now();
    loop {
        if stop.is_cancelled() {
            break;
        }
        let current = sinks.current();
        let names = current.names();
        if tokio::time::Instant::now() >= gauge_at {
            gauge_at += GAUGE_EVERY;
            match store.pending_deliveries().await {
                Ok(pending) => metrics::deliveries_pending(&names, &pending),
                Err(e) => debug!(error = %e, "cannot count pending deliveries"),
            }
        }
        let claimed = if names.is_empty() {
            Vec::new()
        } else {
            let now = Utc::now();
            match store
                .claim_deliveries(&node, &names, now + delta(claim), now, BATCH)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    warn!(error = %e, "cannot claim deliveries");
                    Vec::new()
                }
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                () = stop.cancelled() => break,
                () = committed.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        futures_util::future::join_all(
            claimed
                .iter()
                .map(|delivery| deliver(store.as_ref(), &current, delivery, claim)),
        )
        .await;
    }
}

/// Sends one claimed delivery within its `claim` and records the outcome.
#[tracing::instrument(skip_all, fields(delivery = delivery.id, output = %delivery.output, job = %delivery.job))]
async fn deliver(store: &dyn Store, sinks: &Sinks, delivery: &DeliveryRecord, claim: Duration) {
    let sent = match store
        .findings_by_hash(&delivery.job, &delivery.instance, &delivery.findings)
        .await
    {
        Ok(findings) => {
            let notification = Notification::new(delivery, findings);
            // A send outliving its claim could overlap another node's send of the same delivery.
            let limit = claim.saturating_sub(RECORD_MARGIN);
            tokio::time::timeout(limit, sinks.send(&delivery.output, &notification))
                .await
                .unwrap_or_else(|_| {
                    Err(SendError::transient(format!(
                        "the send took longer than its claim allows ({} s)",
                        limit.as_secs()
                    )))
                })
        }
        Err(e) => Err(SendError::transient(format!(
            "cannot read the findings: {e}"
        ))),
    };
    let now = Utc::now();
    let max_age = sinks
        .max_age(&delivery.output)
        .unwrap_or(crate::config::DEFAULT_MAX_AGE);
    let error_text;
    let outcome = match &sent {
        Ok(()) => DeliveryOutcome::Delivered(now),
        Err(e) => {
            error_text = e.message.clone();
            next_step(delivery, e, &error_text, now, max_age, &Jitter::full())
        }
    };
    match store.end_delivery(delivery, outcome).await {
        Ok(true) => {}
        Ok(false) => {
            warn!("the delivery's claim ran out while it was sent; another attempt will repeat it");
        }
        Err(e) => {
            warn!(error = %e, "cannot record the delivery's outcome; it will be sent again with the same key");
        }
    }
    match outcome {
        DeliveryOutcome::Delivered(at) => {
            info!(attempts = delivery.attempts, "delivered");
            metrics::delivery_ended(
                &delivery.output,
                "delivered",
                Some(lag(delivery.created_at, at)),
            );
        }
        DeliveryOutcome::Retry { at, error } => {
            warn!(attempts = delivery.attempts, retry_at = %at, "delivery failed: {error}");
            metrics::delivery_ended(&delivery.output, "retry", None);
        }
        DeliveryOutcome::Dead { error } => {
            warn!(attempts = delivery.attempts, "delivery given up: {error}");
            metrics::delivery_ended(&delivery.output, "dead", None);
        }
    }
}

/// What a failed attempt leads to: dead when refused for good or older than `max_age`, else
/// another try after a jittered backoff, never sooner than `Retry-After`.
fn next_step<'a>(
    delivery: &DeliveryRecord,
    error: &SendError,
    text: &'a str,
    now: DateTime<Utc>,
    max_age: Duration,
    jitter: &Jitter,
) -> DeliveryOutcome<'a> {
    if error.permanent {
        return DeliveryOutcome::Dead { error: text };
    }
    let retry = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
    let ceiling = policy().ceiling(retry);
    // Half the ceiling plus up to as much again: spread out, yet never a burst of immediate
    // retries at a receiver that is down.
    let wait = (ceiling / 2 + jitter.pick(ceiling / 2)).max(error.retry_after.unwrap_or_default());
    let at = now + delta(wait);
    if at - delivery.queued_at > delta(max_age) {
        return DeliveryOutcome::Dead { error: text };
    }
    DeliveryOutcome::Retry { at, error: text }
}

/// Seconds from commit to delivered.
fn lag(created_at: DateTime<Utc>, delivered_at: DateTime<Utc>) -> f64 {
    #[allow(
        clippy::cast_precision_loss,
        reason = "a lag in milliseconds fits an f64 exactly"
    )]
    let ms = (delivered_at - created_at).num_milliseconds().max(0) as f64;
    ms / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryStatus;

    fn delivery(attempts: i32, queued_at: DateTime<Utc>) -> DeliveryRecord {
        DeliveryRecord {
            id: 1,
            output: "o".into(),
            job: "j".into(),
            instance: "i".into(),
            run_id: 1,
            mode: "digest".into(),
            findings: vec!["h".into()],
            suppressed: 0,
            status: DeliveryStatus::Pending,
            attempts,
            next_attempt_at: queued_at,
            lease_owner: Some("n".into()),
            lease_expires_at: None,
            last_error: None,
            created_at: queued_at,
            queued_at,
            delivered_at: None,
        }
    }

    #[test]
    fn failures_back_off_honour_retry_after_and_die_when_permanent_or_too_old() {
        let now = Utc::now();
        let ceiling = Jitter::fixed(|c| c);
        let day = Duration::from_secs(86_400);
        let transient = SendError::transient("down");
        let at = |outcome: DeliveryOutcome<'_>| match outcome {
            DeliveryOutcome::Retry { at, .. } => (at - now).num_seconds(),
            other => panic!("expected a retry, got {other:?}"),
        };
        // Doubling from one second, capped at five minutes.
        for (attempts, seconds) in [(1, 1), (4, 8), (30, 300)] {
            let step = next_step(
                &delivery(attempts, now),
                &transient,
                "x",
                now,
                day,
                &ceiling,
            );
            assert_eq!(at(step), seconds, "after {attempts} attempts");
        }
        let slow = SendError {
            retry_after: Some(Duration::from_secs(120)),
            ..transient.clone()
        };
        assert_eq!(
            at(next_step(&delivery(1, now), &slow, "x", now, day, &ceiling)),
            120
        );
        let refused = SendError {
            permanent: true,
            ..transient.clone()
        };
        assert!(matches!(
            next_step(&delivery(1, now), &refused, "x", now, day, &ceiling),
            DeliveryOutcome::Dead { .. }
        ));
        let old = now - chrono::Duration::hours(25);
        assert!(matches!(
            next_step(&delivery(9, old), &transient, "x", now, day, &ceiling),
            DeliveryOutcome::Dead { .. }
        ));
    }
}
