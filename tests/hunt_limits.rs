//! Tenant quotas and retry timing under tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use huntd::config::Quota;
use huntd::hunt::{ErrorClass, HuntError, Jitter, Quotas, RetryPolicy, retry};
use huntd::jobs::Environment;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const GRAPH_DEFAULT: Quota = Quota {
    per_minute: 45,
    per_hour: None,
};

/// Start offsets (from `t0`) of `calls` acquisitions all queued at once on `name`.
async fn queued_starts(
    quotas: &Arc<Quotas>,
    name: &str,
    quota: Quota,
    calls: usize,
) -> Vec<Duration> {
    let t0 = Instant::now();
    let cancel = CancellationToken::new();
    let tasks: Vec<_> = (0..calls)
        .map(|_| {
            let limiter = quotas.limiter(name);
            let cancel = cancel.clone();
            tokio::spawn(async move {
                limiter
                    .acquire(Environment::Graph, quota, &cancel)
                    .await
                    .expect("not cancelled");
                Instant::now() - t0
            })
        })
        .collect();
    let mut starts = Vec::new();
    for task in tasks {
        starts.push(task.await.expect("the task does not panic"));
    }
    starts.sort();
    starts
}

fn most_in_any_window(starts: &[Duration], window: Duration) -> usize {
    starts
        .iter()
        .enumerate()
        .map(|(i, s)| starts[i..].iter().take_while(|t| **t < *s + window).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn limiter_never_starts_more_than_45_calls_in_any_60_second_window() {
    let quotas = Arc::new(Quotas::new());
    let starts = queued_starts(&quotas, "lab", GRAPH_DEFAULT, 300).await;
    assert_eq!(starts.len(), 300);
    assert_eq!(most_in_any_window(&starts, Duration::from_secs(60)), 45);
    // Not slower than the quota either: 300 calls need 6 full minutes of 45, and no more.
    assert_eq!(starts[299], Duration::from_secs(6 * 60));
}

#[tokio::test(start_paused = true)]
async fn hourly_quota_spreads_a_burst_over_the_hour() {
    let quotas = Arc::new(Quotas::new());
    let quota = Quota {
        per_minute: 45,
        per_hour: Some(100),
    };
    let starts = queued_starts(&quotas, "lab", quota, 250).await;
    assert_eq!(most_in_any_window(&starts, Duration::from_secs(3600)), 100);
    assert_eq!(most_in_any_window(&starts, Duration::from_secs(60)), 45);
}

#[tokio::test(start_paused = true)]
async fn cpu_pause_holds_every_job_of_its_instance_only() {
    let quotas = Arc::new(Quotas::new());
    let pause = Duration::from_secs(5 * 60);
    quotas.limiter("a").pause_until(Instant::now() + pause);
    let a = tokio::spawn({
        let quotas = quotas.clone();
        async move { queued_starts(&quotas, "a", GRAPH_DEFAULT, 3).await }
    });
    let b = queued_starts(&quotas, "b", GRAPH_DEFAULT, 3).await;
    assert_eq!(b, [Duration::ZERO; 3], "instance b is not slowed");
    assert_eq!(
        a.await.expect("the task does not panic"),
        [pause; 3],
        "every job of a waits until the pause ends"
    );
}

#[tokio::test(start_paused = true)]
async fn a_later_shorter_pause_does_not_shorten_the_current_one() {
    let quotas = Quotas::new();
    let limiter = quotas.limiter("a");
    let long = Instant::now() + Duration::from_secs(600);
    limiter.pause_until(long);
    limiter.pause_until(Instant::now() + Duration::from_secs(60));
    assert_eq!(limiter.paused_until(), Some(long));
}

fn throttled(retry_after: Option<Duration>) -> HuntError {
    let mut error = HuntError::new(ErrorClass::Throttled, "throttled");
    error.retry_after = retry_after;
    error
}

/// Runs the retry loop over `outcomes` (one per attempt) and returns when each attempt started.
async fn attempt_times(
    policy: &RetryPolicy,
    outcomes: Vec<Result<(), HuntError>>,
) -> (Result<u32, HuntError>, Vec<Duration>) {
    let t0 = Instant::now();
    let times = std::sync::Mutex::new(Vec::new());
    let result = retry::run(
        policy,
        &Jitter::fixed(|c| c),
        "lab",
        &CancellationToken::new(),
        |n| {
            times
                .lock()
                .expect("no test thread panicked holding the lock")
                .push(Instant::now() - t0);
            let outcome = outcomes[(n - 1) as usize].clone();
            async move { outcome }
        },
    )
    .await
    .map(|((), stats)| stats.attempts);
    (
        result,
        times
            .into_inner()
            .expect("no test thread panicked holding the lock"),
    )
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_even_when_backoff_is_shorter() {
    let policy = RetryPolicy {
        base: Duration::from_secs(1),
        ..RetryPolicy::default()
    };
    let (result, times) = attempt_times(
        &policy,
        vec![Err(throttled(Some(Duration::from_secs(30)))), Ok(())],
    )
    .await;
    assert_eq!(result.expect("the second attempt succeeds"), 2);
    assert_eq!(times, [Duration::ZERO, Duration::from_secs(30)]);
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_up_to_its_cap() {
    let policy = RetryPolicy {
        base: Duration::from_secs(2),
        max_delay: Duration::from_secs(10),
        max_attempts: 6,
        ..RetryPolicy::default()
    };
    let transient = || Err(HuntError::new(ErrorClass::Transient, "503"));
    let (result, times) = attempt_times(&policy, (0..6).map(|_| transient()).collect()).await;
    let error = result.expect_err("the hunt fails");
    assert_eq!(error.attempts, 6);
    assert_eq!(error.message, "503 (gave up after 6 attempts)");
    let gaps: Vec<u64> = times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]).as_secs())
        .collect();
    assert_eq!(gaps, [2, 4, 8, 10, 10]);
}

#[tokio::test(start_paused = true)]
async fn run_gives_up_rather_than_wait_past_its_total_budget() {
    let policy = RetryPolicy {
        max_total: Duration::from_secs(600),
        ..RetryPolicy::default()
    };
    let (result, times) = attempt_times(
        &policy,
        vec![
            Err(throttled(Some(Duration::from_secs(300)))),
            Err(throttled(Some(Duration::from_secs(400)))),
        ],
    )
    .await;
    assert_eq!(
        result.expect_err("the hunt fails").class,
        ErrorClass::Throttled
    );
    assert_eq!(times, [Duration::ZERO, Duration::from_secs(300)]);
}

#[tokio::test(start_paused = true)]
async fn query_and_permission_errors_are_never_retried() {
    for class in [
        ErrorClass::Query,
        ErrorClass::Permission,
        ErrorClass::TooLarge,
        ErrorClass::Auth,
    ] {
        let (result, times) = attempt_times(
            &RetryPolicy::default(),
            vec![Err(HuntError::new(class, "no")), Ok(())],
        )
        .await;
        assert_eq!(result.expect_err("the hunt fails").class, class);
        assert_eq!(times.len(), 1, "{class} was retried");
    }
}
