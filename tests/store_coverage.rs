//! Coverage: gaps from failed, skipped and recorded spans, the high-water mark the next window
//! starts from, and pruning what retention no longer keeps.
//! Every test runs against SQLite and PostgreSQL (see `common/store.rs`).

#[path = "common/store.rs"]
mod common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use huntd::store::{Claim, GapRecord, PruneOptions, PruneReport, RunStatus};

use common::{Ctx, api_failure, at, claim, device_cols, device_rows, ended, job_record};

common::contract!(
    coverage_gaps_show_uncovered_and_skipped_spans,
    skipped_runs_and_recorded_gaps_are_each_listed_once_as_coverage_gaps,
    a_failure_after_a_skip_resumes_after_the_skipped_span,
    prune_deletes_old_data_in_batches_and_keeps_recent_data,
);

/// Prunes the store as of `now`, in batches of 10.
async fn prune(ctx: &Ctx, now: DateTime<Utc>) -> PruneReport {
    ctx.store
        .prune(&PruneOptions {
            now,
            batch_size: 10,
        })
        .await
        .expect("prune")
}

/// Records that job `j` did not cover `span`, for `reason`, as of `recorded_at`.
async fn record_gap(
    ctx: &Ctx,
    reason: &str,
    span: (DateTime<Utc>, DateTime<Utc>),
    recorded_at: DateTime<Utc>,
) {
    ctx.store
        .record_gap(&GapRecord {
            job: "j".to_string(),
            instance: "prod".to_string(),
            gap_start: span.0,
            gap_end: span.1,
            reason: reason.to_string(),
            recorded_at,
        })
        .await
        .expect("gap");
}

async fn coverage_gaps_show_uncovered_and_skipped_spans(ctx: Ctx) {
    ctx.job("j", None).await;
    let t0 = at("2024-05-01T00:00:00Z");
    let h = TimeDelta::hours;
    let failure = |finished_at| api_failure("throttled", "429", 429, finished_at);
    let columns = device_cols();
    let none = device_rows(&[]);
    // [0,1) ok, [1,2) failed, [2,3) ok, [2.5,4) ok (overlaps), [4,5) failed.
    let run = ctx.claim("j", t0 + h(1), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    let run = ctx.claim("j", t0 + h(2), h(1), "a").await;
    ctx.fail(&run, &failure(t0 + h(2))).await;
    let run = ctx.claim("j", t0 + h(3), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    let mut request = claim("j", t0 + h(4), h(1), "a");
    request.window_start = t0 + h(2) + TimeDelta::minutes(30);
    let Claim::Won(run) = ctx.store.claim_slot(&request).await.expect("claim") else {
        panic!("lost")
    };
    ctx.succeed(&run, &columns, &none).await;
    let run = ctx.claim("j", t0 + h(5), h(1), "a").await;
    ctx.fail(&run, &failure(t0 + h(5))).await;
    // Still running: not a gap yet.
    ctx.claim("j", t0 + h(6), h(1), "a").await;
    record_gap(&ctx, "catch_up: skip", (t0 + h(10), t0 + h(11)), t0 + h(11)).await;
    let gaps = ctx.gap_lines().await;
    let show = |t| ctx.show(t);
    assert_eq!(
        gaps,
        [
            format!("{} {} no succeeded run", show(t0 + h(1)), show(t0 + h(2))),
            format!("{} {} no succeeded run", show(t0 + h(4)), show(t0 + h(5))),
            format!("{} {} catch_up: skip", show(t0 + h(10)), show(t0 + h(11))),
        ]
    );
    assert_eq!(
        ctx.store.high_water_mark("j", "prod").await.expect("hwm"),
        Some(t0 + h(4))
    );
    assert_eq!(
        ctx.store
            .high_water_mark("other", "prod")
            .await
            .expect("hwm"),
        None
    );
}

async fn skipped_runs_and_recorded_gaps_are_each_listed_once_as_coverage_gaps(ctx: Ctx) {
    ctx.job("j", None).await;
    let t0 = at("2024-05-01T00:00:00Z");
    let h = TimeDelta::hours;
    let columns = device_cols();
    let none = device_rows(&[]);
    let ended = |status, class, message| ended(status, class, message, t0 + h(8));
    // [0,1) ok, [1,3) skipped, [3,4) ok, [4,5) recorded gap, [5,6) ok, [6,7) failed.
    let run = ctx.claim("j", t0 + h(1), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    let skipped = ctx.claim("j", t0 + h(3), h(2), "a").await;
    ctx.store
        .fail_run(
            &skipped,
            &ended(RunStatus::Skipped, "skipped", "missed (catch_up: skip)"),
        )
        .await
        .expect("skip");
    let run = ctx.claim("j", t0 + h(4), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    record_gap(&ctx, "too old", (t0 + h(4), t0 + h(5)), t0 + h(6)).await;
    let run = ctx.claim("j", t0 + h(6), h(1), "a").await;
    ctx.succeed(&run, &columns, &none).await;
    let run = ctx.claim("j", t0 + h(7), h(1), "a").await;
    ctx.store
        .fail_run(&run, &ended(RunStatus::Failed, "transient", "500"))
        .await
        .expect("fail");
    let gaps = ctx.gap_lines().await;
    let show = |t| ctx.show(t);
    assert_eq!(
        gaps,
        [
            format!(
                "{} {} missed (catch_up: skip)",
                show(t0 + h(1)),
                show(t0 + h(3))
            ),
            format!("{} {} too old", show(t0 + h(4)), show(t0 + h(5))),
            format!("{} {} no succeeded run", show(t0 + h(6)), show(t0 + h(7))),
        ]
    );
    let history = ctx.runs_in(RunStatus::Skipped).await;
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!(history[0].id, skipped.run_id);
    assert_eq!(history[0].error_class.as_deref(), Some("skipped"));
    assert_eq!(
        ctx.store.high_water_mark("j", "prod").await.expect("hwm"),
        Some(t0 + h(6)),
        "the latest succeeded window ends there; the failed one after it does not count"
    );
}

async fn a_failure_after_a_skip_resumes_after_the_skipped_span(ctx: Ctx) {
    ctx.job("j", None).await;
    let t0 = at("2024-05-01T00:00:00Z");
    let h = TimeDelta::hours;
    let ok = ctx.claim("j", t0 + h(1), h(1), "a").await;
    ctx.succeed(&ok, &device_cols(), &device_rows(&[])).await;
    // [1,3) skipped on purpose, then [3,4) failed.
    let skipped = ctx.claim("j", t0 + h(3), h(2), "a").await;
    ctx.store
        .fail_run(
            &skipped,
            &ended(
                RunStatus::Skipped,
                "skipped",
                "missed (catch_up: skip)",
                t0 + h(4),
            ),
        )
        .await
        .expect("skip");
    let failed = ctx.claim("j", t0 + h(4), h(1), "a").await;
    ctx.store
        .fail_run(
            &failed,
            &ended(RunStatus::Failed, "throttled", "429", t0 + h(4)),
        )
        .await
        .expect("fail");
    assert_eq!(
        ctx.store.high_water_mark("j", "prod").await.expect("hwm"),
        Some(t0 + h(3)),
        "the next window starts after the skipped span, at the failed one"
    );
}

async fn prune_deletes_old_data_in_batches_and_keeps_recent_data(ctx: Ctx) {
    let mut job = job_record("j", None, "q1");
    job.retention = Duration::from_secs(86_400);
    ctx.store.upsert_job(&job).await.expect("upsert");
    let columns = device_cols();
    let now = at("2024-05-10T00:00:00Z");
    let old = ctx
        .claim("j", now - TimeDelta::days(3), TimeDelta::hours(1), "a")
        .await;
    let old_names: Vec<String> = (0..25).map(|i| format!("old{i}")).collect();
    let old_names: Vec<&str> = old_names.iter().map(String::as_str).collect();
    ctx.succeed(&old, &columns, &device_rows(&old_names)).await;
    // `old0` is seen again recently, so its finding stays.
    let recent = ctx
        .claim("j", now - TimeDelta::hours(2), TimeDelta::hours(1), "a")
        .await;
    ctx.succeed(&recent, &columns, &device_rows(&["old0", "new1", "new2"]))
        .await;
    record_gap(
        &ctx,
        "down",
        (now - TimeDelta::days(5), now - TimeDelta::days(4)),
        now - TimeDelta::days(4),
    )
    .await;
    let report = prune(&ctx, now).await;
    assert_eq!(report.results, 25);
    assert_eq!(report.runs, 1);
    assert_eq!(report.findings, 24);
    assert_eq!(report.gaps, 1);
    // Batches of 10: findings 10+10+4, results 10+10+5, runs 1, gaps 1.
    assert_eq!(report.batches, 8, "{report:?}");
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 3);
    assert_eq!(ctx.int("select count(*) from hunt_runs").await, 1);
    assert_eq!(ctx.int("select count(*) from hunt_findings").await, 3);
    assert_eq!(
        ctx.int("select count(*) from hunt_findings where data is null")
            .await,
        0,
        "every finding left still points at a result row"
    );
    let again = prune(&ctx, now).await;
    assert_eq!((again.results, again.runs, again.findings), (0, 0, 0));
}
