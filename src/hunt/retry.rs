//! When to try again: exponential backoff with full jitter, bounded per attempt and per run.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ErrorClass, HuntError};

/// How a run retries; a value so the daemon can tune it and tests can pin it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Backoff ceiling of the first retry; doubles with each retry.
    pub base: Duration,
    /// Highest backoff ceiling of one wait (a longer `Retry-After` still wins).
    pub max_delay: Duration,
    /// The run gives up rather than wait past this much time since it started.
    pub max_total: Duration,
    /// Most attempts of a run.
    pub max_attempts: u32,
    /// Most attempts that may end in `timeout`: each costs minutes of the tenant's CPU.
    pub max_timeouts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max_delay: Duration::from_secs(120),
            // A CPU-quota pause lasts up to one 15-minute cycle; the run may sit one out.
            max_total: Duration::from_secs(20 * 60),
            max_attempts: 6,
            max_timeouts: 2,
        }
    }
}

impl RetryPolicy {
    /// The backoff ceiling before retry `retry` (1 = the first retry), capped at `max_delay`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before retry `retry`: jittered backoff, never shorter than `retry_after`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: &Jitter) -> Duration {
        let backoff = jitter.pick(self.ceiling(retry));
        backoff.max(retry_after.unwrap_or(Duration::ZERO))
    }
}

/// Picks a wait in `[0, ceiling]`: random in production, fixed in tests.
#[derive(Clone)]
pub struct Jitter(Arc<dyn Fn(Duration) -> Duration + Send + Sync>);

impl Jitter {
    /// Full jitter: uniform in `[0, ceiling]`.
    pub fn full() -> Self {
        Self(Arc::new(|ceiling: Duration| {
            let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rand::rng().random_range(0..=nanos))
        }))
    }

    /// A deterministic choice, e.g. `|c| c` (always the ceiling) for tests.
    pub fn fixed(pick: impl Fn(Duration) -> Duration + Send + Sync + 'static) -> Self {
        Self(Arc::new(pick))
    }

    /// A wait in `[0, ceiling]`; out-of-range picks are clamped.
    pub fn pick(&self, ceiling: Duration) -> Duration {
        (self.0)(ceiling).min(ceiling)
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::full()
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jitter")
    }
}

/// Attempts made and time waited between them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryStats {
    /// Attempts made.
    pub attempts: u32,
    /// Total wait between attempts.
    pub waited: Duration,
}

/// Runs `attempt(n)` (n from 1) until it succeeds, fails with a class that cannot succeed, or
/// the policy's bounds are reached; sleeps on tokio's clock between attempts, each sleep
/// counted as a throttle wait of `instance`.
pub async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    jitter: &Jitter,
    instance: &str,
    cancel: &CancellationToken,
    mut attempt: F,
) -> Result<(T, RetryStats), HuntError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, HuntError>>,
{
    let started = Instant::now();
    let mut stats = RetryStats::default();
    let mut timeouts = 0;
    loop {
        stats.attempts += 1;
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => Err(HuntError::cancelled()),
            result = attempt(stats.attempts) => result,
        };
        let mut error = match result {
            Ok(value) => return Ok((value, stats)),
            Err(error) => error,
        };
        error.attempts = stats.attempts;
        error.throttle_wait = stats.waited;
        if error.class == ErrorClass::Timeout {
            timeouts += 1;
        }
        if !error.class.is_retryable()
            || stats.attempts >= policy.max_attempts
            || timeouts >= policy.max_timeouts
        {
            return Err(gave_up(error, stats.attempts));
        }
        let delay = policy.delay(stats.attempts, error.retry_after, jitter);
        if started.elapsed() + delay > policy.max_total {
            return Err(gave_up(error, stats.attempts));
        }
        tracing::info!(
            class = error.class.as_str(),
            attempt = stats.attempts,
            wait_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "{error}; retrying"
        );
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(HuntError::cancelled()),
            () = tokio::time::sleep(delay) => {}
        }
        let reason = if error.retry_after.is_some() {
            "retry_after"
        } else {
            "backoff"
        };
        super::throttle_waited(instance, reason, delay);
        stats.waited += delay;
    }
}

fn gave_up(mut error: HuntError, attempts: u32) -> HuntError {
    if attempts > 1 {
        error.message = format!("{} (gave up after {attempts} attempts)", error.message);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_stays_at_the_cap() {
        let policy = RetryPolicy {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let ceilings: Vec<u64> = (1..=5).map(|n| policy.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 5, 5]);
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn delay_is_never_below_retry_after_even_over_the_cap() {
        let policy = RetryPolicy::default();
        let none = Jitter::fixed(|_| Duration::ZERO);
        let after = Duration::from_secs(900);
        assert_eq!(policy.delay(1, Some(after), &none), after);
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling() {
        let jitter = Jitter::full();
        for _ in 0..1000 {
            assert!(jitter.pick(Duration::from_millis(10)) <= Duration::from_millis(10));
        }
    }
}
