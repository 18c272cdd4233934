//! Per-tenant call limits: a sliding-window limiter per instance, shared by all its jobs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Quota;
use crate::jobs::Environment;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The limiters of every instance, keyed by instance name.
#[derive(Debug, Default)]
pub struct Quotas {
    limiters: Mutex<HashMap<String, Arc<Limiter>>>,
}

impl Quotas {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limiter of instance `name`, created on first use.
    pub fn limiter(&self, name: &str) -> Arc<Limiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            limiters
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(Limiter::new(name))),
        )
    }
}

/// One instance's limits: a lane of call start times per API, and a tenant-wide pause.
#[derive(Debug)]
pub struct Limiter {
    /// The instance, for the throttle-wait metric.
    instance: String,
    graph: Lane,
    mde: Lane,
    paused_until: Mutex<Option<Instant>>,
}

/// Callers take turns (the async mutex is fair), so the queue is served first come first
/// served and a woken caller never races a crowd for a freed slot.
#[derive(Debug, Default)]
struct Lane {
    turn: tokio::sync::Mutex<()>,
    starts: Mutex<VecDeque<Instant>>,
}

/// Acquiring a slot was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled while waiting for the tenant's quota")]
pub struct Cancelled;

impl Limiter {
    /// The limiter of instance `instance`, with no call started yet.
    pub fn new(instance: &str) -> Self {
        Self {
            instance: instance.to_string(),
            graph: Lane::default(),
            mde: Lane::default(),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a call to `environment` may start under `quota` and no pause is in effect,
    /// records the start, and returns how long it waited.
    pub async fn acquire(
        &self,
        environment: Environment,
        quota: Quota,
        cancel: &CancellationToken,
    ) -> Result<Duration, Cancelled> {
        let asked = Instant::now();
        let lane = match environment {
            Environment::Graph => &self.graph,
            Environment::Mde => &self.mde,
        };
        // Waiting counts only when something made us wait: an idle limiter reports zero.
        let mut waited = false;
        let _turn = if let Ok(turn) = lane.turn.try_lock() {
            turn
        } else {
            waited = true;
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(Cancelled),
                turn = lane.turn.lock() => turn,
            }
        };
        loop {
            let now = Instant::now();
            let Some(wake) = self.next_free(lane, quota, now) else {
                if !waited {
                    return Ok(Duration::ZERO);
                }
                let wait = now - asked;
                super::throttle_waited(&self.instance, "quota", wait);
                return Ok(wait);
            };
            waited = true;
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(Cancelled),
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Records a start at `now` and returns `None` when a call may start, else when to look again.
    fn next_free(&self, lane: &Lane, quota: Quota, now: Instant) -> Option<Instant> {
        let paused = self.paused_until().filter(|until| *until > now);
        let mut starts = lane.starts.lock().unwrap_or_else(PoisonError::into_inner);
        let keep = if quota.per_hour.is_some() {
            HOUR
        } else {
            MINUTE
        };
        while starts
            .front()
            .is_some_and(|s| now.duration_since(*s) >= keep)
        {
            starts.pop_front();
        }
        // The call `limit` starts back must have left the window before another may start.
        let free_at = |limit: u32, window: Duration| {
            let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
            let len = starts.len();
            (len >= limit)
                .then(|| starts[len - limit] + window)
                .filter(|at| *at > now)
        };
        let wake = [
            paused,
            free_at(quota.per_minute, MINUTE),
            quota.per_hour.and_then(|h| free_at(h, HOUR)),
        ]
        .into_iter()
        .flatten()
        .max();
        if wake.is_none() {
            starts.push_back(now);
        }
        wake
    }

    /// Holds every call of this instance until `until` (a CPU-quota 429); never shortens a pause.
    pub fn pause_until(&self, until: Instant) {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
            tracing::warn!(
                pause_secs = until.saturating_duration_since(Instant::now()).as_secs(),
                "tenant CPU allocation exhausted; pausing every job of this instance"
            );
        }
    }

    /// When the current pause ends, if one is set (it may already be over).
    pub fn paused_until(&self) -> Option<Instant> {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: Quota = Quota {
        per_minute: 2,
        per_hour: Some(3),
    };

    #[tokio::test(start_paused = true)]
    async fn hourly_limit_holds_after_the_minute_frees() {
        let limiter = Limiter::new("test");
        let cancel = CancellationToken::new();
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..4 {
            limiter
                .acquire(Environment::Mde, QUOTA, &cancel)
                .await
                .expect("not cancelled");
            starts.push(Instant::now() - t0);
        }
        assert_eq!(
            starts,
            [Duration::ZERO, Duration::ZERO, MINUTE, HOUR],
            "third call waits for the minute, fourth for the hour"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lanes_of_one_instance_are_independent() {
        let limiter = Limiter::new("test");
        let cancel = CancellationToken::new();
        for _ in 0..2 {
            limiter
                .acquire(Environment::Mde, QUOTA, &cancel)
                .await
                .expect("not cancelled");
        }
        let waited = limiter
            .acquire(Environment::Graph, QUOTA, &cancel)
            .await
            .expect("not cancelled");
        assert_eq!(waited, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_ends_the_wait() {
        let limiter = Limiter::new("test");
        let cancel = CancellationToken::new();
        limiter.pause_until(Instant::now() + HOUR);
        cancel.cancel();
        assert_eq!(
            limiter.acquire(Environment::Graph, QUOTA, &cancel).await,
            Err(Cancelled)
        );
    }
}
