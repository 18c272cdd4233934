//! Registering jobs and migrating the schema: concurrent and upgrading migrations, unknown
//! jobs, view-name clashes, bulk registration and unsupported URLs.
//! Every test runs against SQLite and PostgreSQL (see `common/store.rs`).

#[path = "common/store.rs"]
mod common;

use chrono::TimeDelta;
use huntd::store::{self, Claim, Error, HistoryFilter, JobRecord, Trigger};

use common::{Ctx, JOB_J_AND_ITS_RUN_AT_NINE, at, claim, job_record, upgraded};

common::contract!(
    concurrent_migrations_against_one_fresh_database_both_succeed,
    upgrading_keeps_every_finding_pointing_at_its_latest_row,
    unknown_jobs_are_reported_as_such,
    many_jobs_are_registered_at_once_and_view_clashes_are_left_out,
    upgrading_to_triggers_keeps_every_run_and_its_rows_and_lets_a_backfill_share_a_slot,
);

async fn concurrent_migrations_against_one_fresh_database_both_succeed(ctx: Ctx) {
    let fresh_url = ctx.fresh_database().await;
    let (a, b) = tokio::join!(store::open(&fresh_url), store::open(&fresh_url));
    let (a, b) = (a.expect("first store"), b.expect("second store"));
    a.upsert_job(&job_record("j", None, "q1"))
        .await
        .expect("usable");
    assert_eq!(
        b.history(&HistoryFilter::default())
            .await
            .expect("usable")
            .len(),
        0
    );
    a.close().await;
    b.close().await;
    ctx.drop_fresh_database(&fresh_url).await;
}

/// Rows as huntd wrote them before findings pointed at results (migrations 0001 and 0002), after
/// [`JOB_J_AND_ITS_RUN_AT_NINE`]: a second run at 10:00, `h1` seen by both runs, `h2` by the second, `h3` an orphan whose runs an interrupted prune
/// already deleted.
const FINDINGS_BEFORE_0003: &str = r#"
insert into hunt_runs (job, instance, slot_at, window_start, window_end, status, node,
    started_at, finished_at, query_sha256)
values ('j', 'prod', '2024-05-01T10:00:00.000000Z', '2024-05-01T09:00:00.000000Z',
        '2024-05-01T10:00:00.000000Z', 'succeeded', 'a', '2024-05-01T10:00:00.000000Z',
        '2024-05-01T10:00:01.000000Z', 'q1');
insert into hunt_results (run_id, job, row_num, row_hash, data)
values (1, 'j', 0, 'h1', '{"DeviceName":"pc1","Seen":1}'),
       (2, 'j', 0, 'h2', '{"DeviceName":"pc2","Seen":2}'),
       (2, 'j', 1, 'h1', '{"DeviceName":"pc1","Seen":2}');
insert into hunt_findings (job, row_hash, first_seen_at, last_seen_at, first_run_id,
    last_run_id, times_seen, data)
values ('j', 'h1', '2024-05-01T09:00:01.000000Z', '2024-05-01T10:00:01.000000Z', 1, 2, 2,
        '{"DeviceName":"pc1","Seen":2}'),
       ('j', 'h2', '2024-05-01T10:00:01.000000Z', '2024-05-01T10:00:01.000000Z', 2, 2, 1,
        '{"DeviceName":"pc2","Seen":2}'),
       ('j', 'h3', '2024-04-01T00:00:00.000000Z', '2024-04-01T00:00:00.000000Z', 7, 7, 3,
        '{"DeviceName":"gone"}');
"#;

async fn upgrading_keeps_every_finding_pointing_at_its_latest_row(ctx: Ctx) {
    let url = ctx.fresh_database().await;
    // The schema before 0003.
    let upgraded = upgraded(
        &ctx,
        &url,
        &["0001_result_store.sql", "0002_skipped_runs.sql"],
        &[JOB_J_AND_ITS_RUN_AT_NINE, FINDINGS_BEFORE_0003],
    )
    .await;
    assert_eq!(
        upgraded
            .texts(
                r"select row_hash || ' ' || last_run_id || ' ' || times_seen || ' '
                      || coalesce(cast(data ->> 'Seen' as text), 'no data')
                  from hunt_findings order by row_hash"
            )
            .await,
        [
            Some("h1 2 2 2".to_string()),
            Some("h2 2 1 2".to_string()),
            Some("h3 7 3 no data".to_string()),
        ]
    );
    assert_eq!(
        upgraded
            .texts("select cast(last_row_num as text) from hunt_finding_state order by row_hash")
            .await,
        [Some("1".to_string()), Some("0".to_string()), None]
    );
    upgraded.close_upgraded().await;
    ctx.drop_fresh_database(&url).await;
}

async fn unknown_jobs_are_reported_as_such(ctx: Ctx) {
    let err = ctx
        .store
        .claim_slot(&claim(
            "ghost",
            at("2024-05-01T09:00:00Z"),
            TimeDelta::hours(1),
            "a",
        ))
        .await
        .expect_err("unknown job");
    assert!(
        matches!(err, Error::UnknownJob(ref j) if j == "ghost"),
        "{err}"
    );
    ctx.job("taken-name", None).await;
    let err = ctx
        .store
        .upsert_job(&job_record("taken_name", None, "q"))
        .await
        .expect_err("same view name");
    assert!(matches!(err, Error::ViewNameTaken { .. }), "{err}");
}

async fn many_jobs_are_registered_at_once_and_view_clashes_are_left_out(ctx: Ctx) {
    ctx.job("kept-name", Some(&["DeviceId"])).await;
    // More jobs than one SQLite statement can bind, so the write spans several statements.
    let mut batch: Vec<JobRecord> = (0..5000)
        .map(|i| job_record(&format!("job-{i:04}"), None, "q"))
        .collect();
    batch.push(job_record("kept-name", None, "q2"));
    batch.push(job_record("kept_name", None, "q"));
    batch.push(job_record("new-twin", None, "q"));
    batch.push(job_record("new_twin", None, "q"));
    let clashes = ctx.store.upsert_jobs(&batch).await.expect("bulk upsert");
    let mut refused: Vec<(&str, &str, &str)> = clashes
        .iter()
        .map(|c| (c.job.as_str(), c.view.as_str(), c.other.as_str()))
        .collect();
    refused.sort_unstable();
    assert_eq!(
        refused,
        [
            ("kept_name", "hunt_kept_name", "kept-name"),
            ("new_twin", "hunt_new_twin", "new-twin"),
        ]
    );
    assert_eq!(ctx.int("select count(*) from hunt_jobs").await, 5002);
    assert_eq!(
        ctx.texts(
            "select query_sha256 from hunt_jobs \
             where name in ('kept-name', 'new-twin', 'job-4999') order by name"
        )
        .await,
        [
            Some("q".to_string()),
            Some("q2".to_string()),
            Some("q".to_string())
        ]
    );
    // An update replaces the whole record, dedup columns included.
    assert_eq!(
        ctx.int(
            "select count(*) from hunt_jobs where name = 'kept-name' and dedup_columns is null"
        )
        .await,
        1
    );
    let again = ctx
        .store
        .upsert_jobs(&batch[..10])
        .await
        .expect("upsert again");
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(ctx.int("select count(*) from hunt_jobs").await, 5002);
    assert!(
        ctx.store
            .upsert_jobs(&[])
            .await
            .expect("empty batch")
            .is_empty()
    );
}

#[test]
fn unsupported_urls_are_rejected() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let err = rt
        .block_on(store::open("mysql://user:pw@localhost/db"))
        .expect_err("mysql is not supported");
    assert!(!err.to_string().contains("pw"), "{err}");
}

async fn upgrading_to_triggers_keeps_every_run_and_its_rows_and_lets_a_backfill_share_a_slot(
    ctx: Ctx,
) {
    let url = ctx.fresh_database().await;
    let upgraded = upgraded(
        &ctx,
        &url,
        &[
            "0001_result_store.sql",
            "0002_skipped_runs.sql",
            "0003_findings_reference_results.sql",
            "0004_runs_by_job_status.sql",
            "0005_run_api_calls.sql",
        ],
        &[
            JOB_J_AND_ITS_RUN_AT_NINE,
            r#"
insert into hunt_runs (job, instance, slot_at, window_start, window_end, status, node,
    started_at, finished_at, query_sha256)
values ('j', 'prod', '2024-05-01T10:00:00.000000Z', '2024-05-01T09:00:00.000000Z',
        '2024-05-01T10:00:00.000000Z', 'succeeded', 'a-once-42', '2024-05-01T10:00:00.000000Z',
        '2024-05-01T10:00:01.000000Z', 'q1');
insert into hunt_results (run_id, job, row_num, row_hash, data)
values (1, 'j', 0, 'h1', '{"DeviceName":"pc1"}'),
       (2, 'j', 0, 'h2', '{"DeviceName":"pc2"}');
"#,
        ],
    )
    .await;
    assert_eq!(
        upgraded
            .texts("select id || ' ' || trigger from hunt_runs order by id")
            .await,
        [Some("1 schedule".to_string()), Some("2 manual".to_string())]
    );
    assert_eq!(upgraded.int("select count(*) from hunt_results").await, 2);
    // A backfill chunk starting at a scheduled slot's time is a slot of its own.
    let mut request = claim("j", at("2024-05-01T09:00:00Z"), TimeDelta::hours(1), "b");
    request.trigger = Trigger::Backfill;
    request.window_start = at("2024-05-01T07:00:00Z");
    request.window_end = at("2024-05-01T08:00:00Z");
    assert!(matches!(
        upgraded.store.claim_slot(&request).await.expect("claim"),
        Claim::Won(_)
    ));
    upgraded.close_upgraded().await;
    ctx.drop_fresh_database(&url).await;
}
