//! The status snapshot behind `huntd status` and the status page: per job totals, latest runs,
//! failure streaks, timeline windows and gaps, recent failures and per instance API use.
//! Every test runs against SQLite and PostgreSQL (see `common/store.rs`).

#[path = "common/store.rs"]
mod common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use huntd::store::status::StatusWindow;
use huntd::store::{RunCost, RunStatus};

use common::{Ctx, api_failure, at, device_cols, device_rows, ended};

common::contract!(
    status_adds_up_recent_runs_findings_failures_and_api_calls,
    a_success_ends_the_failure_streak_and_its_window_covers_the_failed_one,
);

/// The status ranges as `huntd status` uses them, at `now`.
fn window(now: DateTime<Utc>) -> StatusWindow {
    StatusWindow {
        now,
        stats_since: now - TimeDelta::hours(24),
        calls_since: now - TimeDelta::hours(1),
        timeline_since: now - TimeDelta::days(7),
        failures_limit: 10,
    }
}

/// Fails the run claimed for `slot` with `class`, after `calls` API calls and `wait_ms` of
/// throttling.
async fn fail(ctx: &Ctx, slot: DateTime<Utc>, class: &'static str, calls: u32, wait_ms: u64) {
    let lease = ctx.claim("j", slot, TimeDelta::hours(1), "a").await;
    let mut failure = api_failure(class, "the query <b>failed</b>", 400, slot);
    failure.cost = Some(RunCost {
        api_calls: calls,
        throttle_wait: Duration::from_millis(wait_ms),
    });
    ctx.store.fail_run(&lease, &failure).await.expect("fail");
}

async fn status_adds_up_recent_runs_findings_failures_and_api_calls(ctx: Ctx) {
    ctx.job("j", None).await;
    ctx.job("idle", None).await;
    let t0 = at("2024-05-01T00:00:00Z");
    let h = TimeDelta::hours;
    // Two days ago: a success with two findings, outside the 24 h totals.
    ctx.succeed_with_devices("j", t0 - h(47), h(1), "a", &["d1", "d2"])
        .await;
    // Within the day: a success finding one new device, then two query failures (they feed the
    // backoff) and a throttled one (it does not).
    let (_, new) = ctx
        .succeed_with_devices("j", t0 - h(3), h(1), "a", &["d1", "d3"])
        .await;
    assert_eq!(new, 1);
    fail(&ctx, t0 - h(2), "query", 1, 0).await;
    fail(&ctx, t0 - TimeDelta::minutes(40), "query", 1, 0).await;
    fail(&ctx, t0 - TimeDelta::minutes(20), "throttled", 4, 2500).await;
    // A skipped span.
    let skipped = ctx.claim("j", t0, TimeDelta::minutes(20), "a").await;
    ctx.store
        .fail_run(
            &skipped,
            &ended(RunStatus::Skipped, "skipped", "catch_up: skip", t0),
        )
        .await
        .expect("skip");

    let snapshot = ctx.store.status(&window(t0)).await.expect("status");

    let names: Vec<_> = snapshot.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["idle", "j"]);
    let idle = &snapshot.jobs[0];
    assert_eq!((idle.recent_runs, idle.last_success_at), (0, None));
    let j = &snapshot.jobs[1];
    assert_eq!(j.instance, "prod");
    assert!(j.enabled);
    assert_eq!(j.recent_runs, 5);
    assert_eq!(j.recent_failed, 3);
    assert_eq!(j.recent_rows, 2);
    assert_eq!(j.recent_new_findings, 1);
    assert_eq!(j.last_success_at, Some(t0 - h(3) + TimeDelta::seconds(2)));
    assert_eq!(
        j.covered_until,
        Some(t0),
        "the skipped span counts as accounted for"
    );

    assert_eq!(snapshot.last_runs.len(), 1, "only j has runs");
    assert_eq!(snapshot.last_runs[0].status, RunStatus::Skipped);

    let streaks: Vec<_> = snapshot
        .streaks
        .iter()
        .map(|s| (s.job.as_str(), s.error_class.as_deref(), s.failures))
        .collect();
    assert_eq!(
        streaks,
        [("j", Some("query"), 2), ("j", Some("throttled"), 1)]
    );
    let query = &snapshot.streaks[0];
    assert_eq!(query.last_failed_at, Some(t0 - TimeDelta::minutes(40)));

    let kinds: Vec<_> = snapshot.windows.iter().map(|w| w.status).collect();
    let [ok, failed, skip] = [RunStatus::Succeeded, RunStatus::Failed, RunStatus::Skipped];
    assert_eq!(kinds, [ok, ok, failed, failed, failed, skip]);
    assert!(
        snapshot.gaps.iter().any(|g| g.reason == "no succeeded run"),
        "{:?}",
        snapshot.gaps
    );

    let failures: Vec<_> = snapshot
        .failures
        .iter()
        .map(|f| f.error_class.as_deref())
        .collect();
    assert_eq!(failures, [Some("throttled"), Some("query"), Some("query")]);
    assert_eq!(
        snapshot.failures[0].error_message.as_deref(),
        Some("the query <b>failed</b>"),
        "messages come back as stored; the page escapes them"
    );

    // Runs that finished in the last hour: the two later failures and the skip.
    assert_eq!(snapshot.instances.len(), 1);
    let prod = &snapshot.instances[0];
    assert_eq!(prod.instance, "prod");
    assert_eq!(prod.runs, 3);
    assert_eq!(prod.api_calls, 5);
    assert_eq!(prod.throttle_wait_ms, 2500);
    assert_eq!(prod.uncounted_runs, 0);
}

async fn a_success_ends_the_failure_streak_and_its_window_covers_the_failed_one(ctx: Ctx) {
    ctx.job("j", None).await;
    let t0 = at("2024-05-01T00:00:00Z");
    let h = TimeDelta::hours;
    fail(&ctx, t0 - h(2), "query", 1, 0).await;
    fail(&ctx, t0 - h(1), "auth", 1, 0).await;
    let mut request = common::claim("j", t0, h(3), "a");
    request.now = t0;
    let huntd::store::Claim::Won(lease) = ctx.store.claim_slot(&request).await.expect("claim")
    else {
        panic!("claim lost");
    };
    ctx.succeed(&lease, &device_cols(), &device_rows(&["d1"]))
        .await;

    let snapshot = ctx.store.status(&window(t0 + h(1))).await.expect("status");
    assert!(snapshot.streaks.is_empty(), "{:?}", snapshot.streaks);
    assert!(
        snapshot.gaps.is_empty(),
        "the success covers the failed windows: {:?}",
        snapshot.gaps
    );
    assert_eq!(snapshot.failures.len(), 2, "failures stay listed");
    assert_eq!(snapshot.last_runs[0].status, RunStatus::Succeeded);
    assert_eq!(snapshot.last_runs[0].api_calls, Some(1));
}
