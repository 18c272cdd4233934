//! Tenant quotas and retry timing under tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use huntd::config::{Cloud, Quota};
use huntd::hunt::quota::MARGIN;
use huntd::hunt::{ErrorClass, HuntError, Jitter, Quotas, RetryPolicy, TenantKey, retry};
use huntd::jobs::Environment;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const GRAPH_DEFAULT: Quota = Quota {
    per_minute: 45,
    per_hour: None,
};

/// The budget of tenant `name` in the global cloud.
fn tenant(name: &str) -> TenantKey {
    TenantKey::new(name, Cloud::Global)
}

/// Start offsets (from `t0`) of `calls` Graph acquisitions all queued at once on tenant `name`.
async fn queued_starts(
    quotas: &Arc<Quotas>,
    name: &str,
    quota: Quota,
    calls: usize,
) -> Vec<Duration> {
    queued_starts_on(quotas, &tenant(name), Environment::Graph, quota, calls).await
}

/// Start offsets (from `t0`) of `calls` acquisitions of `environment` queued at once on `key`.
async fn queued_starts_on(
    quotas: &Arc<Quotas>,
    key: &TenantKey,
    environment: Environment,
    quota: Quota,
    calls: usize,
) -> Vec<Duration> {
    let t0 = Instant::now();
    let cancel = CancellationToken::new();
    let tasks: Vec<_> = (0..calls)
        .map(|_| {
            let limiter = quotas.limiter(key);
            let cancel = cancel.clone();
            tokio::spawn(async move {
                limiter
                    .acquire(environment, quota, &cancel)
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
    // Not slower than the quota either: 300 calls need 6 full minutes of 45 (each with its
    // margin), and no more.
    assert_eq!(starts[299], 6 * (Duration::from_secs(60) + MARGIN));
}

#[tokio::test(start_paused = true)]
async fn the_46th_call_waits_a_margin_past_the_first_call_leaving_the_minute() {
    let quotas = Arc::new(Quotas::new());
    let starts = queued_starts(&quotas, "lab", GRAPH_DEFAULT, 46).await;
    assert_eq!(starts[44], Duration::ZERO);
    assert_eq!(starts[45], Duration::from_secs(60) + MARGIN);
}

#[tokio::test(start_paused = true)]
async fn two_instances_on_one_tenant_share_one_budget() {
    let quotas = Arc::new(Quotas::new());
    // One app for Graph and one for MDE is common; the tenant id's case does not matter.
    let graph_app = TenantKey::new("00000000-0000-0000-0000-00000000000A", Cloud::Global);
    let other_app = TenantKey::new("00000000-0000-0000-0000-00000000000a", Cloud::Global);
    let first = queued_starts_on(&quotas, &graph_app, Environment::Graph, GRAPH_DEFAULT, 30).await;
    let second = queued_starts_on(&quotas, &other_app, Environment::Mde, GRAPH_DEFAULT, 30);
    let second = second.await;
    assert_eq!(first, [Duration::ZERO; 30]);
    assert_eq!(second[14], Duration::ZERO);
    assert_eq!(
        second[15],
        Duration::from_secs(60) + MARGIN,
        "call 46 of the tenant waits"
    );
    // The same tenant id in another cloud is another service with its own budget.
    let us = TenantKey::new("00000000-0000-0000-0000-00000000000a", Cloud::Us);
    let elsewhere = queued_starts_on(&quotas, &us, Environment::Graph, GRAPH_DEFAULT, 45).await;
    assert_eq!(elsewhere, [Duration::ZERO; 45]);
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
async fn cpu_pause_holds_every_job_of_its_tenant_only() {
    let quotas = Arc::new(Quotas::new());
    let pause = Duration::from_secs(5 * 60);
    quotas
        .limiter(&tenant("a"))
        .pause_until(Instant::now() + pause);
    let a = tokio::spawn({
        let quotas = quotas.clone();
        async move { queued_starts(&quotas, "a", GRAPH_DEFAULT, 3).await }
    });
    let b = queued_starts(&quotas, "b", GRAPH_DEFAULT, 3).await;
    assert_eq!(b, [Duration::ZERO; 3], "tenant b is not slowed");
    assert_eq!(
        a.await.expect("the task does not panic"),
        [pause; 3],
        "every job of a waits until the pause ends"
    );
}

#[tokio::test(start_paused = true)]
async fn a_later_shorter_pause_does_not_shorten_the_current_one() {
    let quotas = Quotas::new();
    let limiter = quotas.limiter(&tenant("a"));
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
