//! Per-tenant call limits: a sliding-window limiter per tenant, shared by every job of every
//! instance on that tenant.
//!
//! Defender documents its call limits per tenant (Graph: "at least 45 calls per minute per
//! tenant"; MDE: 45 a minute and 1,500 an hour) and does not say whether the two APIs, which
//! front one hunting service, count apart. So that huntd itself never draws a 429 either way,
//! every call to a tenant counts toward one per-minute budget, whichever API and instance made
//! it (one app for Graph and another for MDE is common); MDE's hourly limit counts MDE calls.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Cloud, Instance, Quota};
use crate::jobs::Environment;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Added to each window before a freed slot is reused: the server counts a call from when it
/// arrives, and a call that left on the dot of the window's end was seen arriving a few
/// milliseconds early, inside the old window, and drew a 429.
pub const MARGIN: Duration = Duration::from_secs(1);

/// Which budget a call draws from: one tenant in one cloud.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantKey {
    /// Entra ID tenant id, lowercased: ids are GUIDs and compare without case.
    tenant_id: String,
    /// Clouds are separate services with separate budgets.
    cloud: Cloud,
}

impl TenantKey {
    /// The key of `tenant_id` in `cloud`.
    pub fn new(tenant_id: &str, cloud: Cloud) -> Self {
        Self {
            tenant_id: tenant_id.trim().to_ascii_lowercase(),
            cloud,
        }
    }

    /// The tenant `instance` signs in to.
    pub fn of(instance: &Instance) -> Self {
        Self::new(&instance.tenant_id, instance.cloud)
    }
}

/// The limiters of every tenant.
#[derive(Debug, Default)]
pub struct Quotas {
    limiters: Mutex<HashMap<TenantKey, Arc<Limiter>>>,
}

impl Quotas {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limiter of tenant `key`, created on first use.
    pub fn limiter(&self, key: &TenantKey) -> Arc<Limiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(limiters.entry(key.clone()).or_default())
    }
}

/// One tenant's limits: the call starts of the last minute, a queue per API, and a
/// tenant-wide pause.
#[derive(Debug, Default)]
pub struct Limiter {
    /// Every call to the tenant in the last minute, both APIs. Locked before a lane's `hour`.
    minute: Mutex<VecDeque<Instant>>,
    graph: Lane,
    mde: Lane,
    paused_until: Mutex<Option<Instant>>,
}

/// Callers of one API take turns (the async mutex is fair), so the queue is served first come
/// first served and a woken caller never races a crowd for a freed slot. Each API has its own
/// queue so that an MDE call waiting out the hourly limit does not hold Graph calls behind it.
#[derive(Debug, Default)]
struct Lane {
    turn: tokio::sync::Mutex<()>,
    /// This API's call starts of the last hour, kept while its quota has an hourly limit.
    hour: Mutex<VecDeque<Instant>>,
}

/// Acquiring a slot was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled while waiting for the tenant's quota")]
pub struct Cancelled;

impl Limiter {
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
                return Ok(now - asked);
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
        let mut minute = self.minute.lock().unwrap_or_else(PoisonError::into_inner);
        let mut hour = lane.hour.lock().unwrap_or_else(PoisonError::into_inner);
        forget_before(&mut minute, now, MINUTE);
        forget_before(&mut hour, now, HOUR);
        let wake = [
            paused,
            free_at(&minute, quota.per_minute, MINUTE, now),
            quota.per_hour.and_then(|h| free_at(&hour, h, HOUR, now)),
        ]
        .into_iter()
        .flatten()
        .max();
        if wake.is_none() {
            minute.push_back(now);
            if quota.per_hour.is_some() {
                hour.push_back(now);
            }
        }
        wake
    }

    /// Holds every call to this tenant until `until` (a CPU-quota 429); never shortens a pause.
    pub fn pause_until(&self, until: Instant) {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
            tracing::warn!(
                pause_secs = until.saturating_duration_since(Instant::now()).as_secs(),
                "tenant CPU allocation exhausted; pausing every job of this tenant"
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

/// Drops the starts that left the `window` ending at `now`.
fn forget_before(starts: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while starts
        .front()
        .is_some_and(|s| now.duration_since(*s) >= window)
    {
        starts.pop_front();
    }
}

/// When the call `limit` starts back has left the `window` (and the margin), so another may
/// start; `None` when one may start now.
fn free_at(
    starts: &VecDeque<Instant>,
    limit: u32,
    window: Duration,
    now: Instant,
) -> Option<Instant> {
    let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    let len = starts.len();
    (len >= limit)
        .then(|| starts[len - limit] + window + MARGIN)
        .filter(|at| *at > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: Quota = Quota {
        per_minute: 2,
        per_hour: Some(3),
    };

    const NO_HOURLY: Quota = Quota {
        per_minute: 2,
        per_hour: None,
    };

    /// Makes `calls` MDE calls under `QUOTA`, one after the other.
    async fn mde_calls(limiter: &Limiter, calls: usize, cancel: &CancellationToken) {
        for _ in 0..calls {
            limiter
                .acquire(Environment::Mde, QUOTA, cancel)
                .await
                .expect("not cancelled");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn hourly_limit_holds_after_the_minute_frees() {
        let limiter = Limiter::default();
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
            [
                Duration::ZERO,
                Duration::ZERO,
                MINUTE + MARGIN,
                HOUR + MARGIN
            ],
            "third call waits for the minute, fourth for the hour"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn both_apis_count_toward_the_tenant_minute() {
        let limiter = Limiter::default();
        let cancel = CancellationToken::new();
        mde_calls(&limiter, 2, &cancel).await;
        let waited = limiter
            .acquire(Environment::Graph, NO_HOURLY, &cancel)
            .await
            .expect("not cancelled");
        assert_eq!(waited, MINUTE + MARGIN);
    }

    #[tokio::test(start_paused = true)]
    async fn an_mde_call_waiting_out_the_hour_does_not_hold_graph_calls() {
        let limiter = Arc::new(Limiter::default());
        let cancel = CancellationToken::new();
        mde_calls(&limiter, 3, &cancel).await;
        let held = tokio::spawn({
            let (limiter, cancel) = (Arc::clone(&limiter), cancel.clone());
            async move { limiter.acquire(Environment::Mde, QUOTA, &cancel).await }
        });
        tokio::task::yield_now().await;
        let waited = limiter
            .acquire(Environment::Graph, NO_HOURLY, &cancel)
            .await
            .expect("not cancelled");
        assert_eq!(
            waited,
            Duration::ZERO,
            "only one call is in the last minute"
        );
        assert!(
            !held.is_finished(),
            "the fourth MDE call waits for the hour"
        );
        cancel.cancel();
        assert_eq!(held.await.expect("no panic"), Err(Cancelled));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_ends_the_wait() {
        let limiter = Limiter::default();
        let cancel = CancellationToken::new();
        limiter.pause_until(Instant::now() + HOUR);
        cancel.cancel();
        assert_eq!(
            limiter.acquire(Environment::Graph, QUOTA, &cancel).await,
            Err(Cancelled)
        );
    }
}
