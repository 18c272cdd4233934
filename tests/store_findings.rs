//! Findings and history: dedup within and across runs and write batches, exact JSON values,
//! and the filters of `history` and `findings`.
//! Every test runs against SQLite and PostgreSQL (see `common/store.rs`).

#[path = "common/store.rs"]
mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use huntd::store::{Backend, HistoryFilter, RunRecord, RunStatus};

use common::{Ctx, api_failure, at, cols, rows};

common::contract!(
    overlapping_runs_never_count_a_finding_as_new_twice,
    dedup_columns_merge_rows_into_one_finding,
    large_runs_keep_row_order_and_dedup_across_write_batches,
    json_values_come_back_exactly,
    history_and_findings_filters_select_the_right_rows,
);

async fn overlapping_runs_never_count_a_finding_as_new_twice(ctx: Ctx) {
    ctx.job("j", None).await;
    let t = at("2024-05-01T09:00:00Z");
    let h = TimeDelta::hours;
    let (first, new) = ctx
        .succeed_with_devices("j", t, h(2), "a", &["a", "b", "c"])
        .await;
    assert_eq!(new, 3);
    // Overlapping window, with a row repeated inside the run.
    let (second, new) = ctx
        .succeed_with_devices("j", t + h(1), h(2), "a", &["b", "c", "d", "d"])
        .await;
    assert_eq!(new, 1);
    // A re-run of the same window in another slot finds nothing new.
    let (third, new) = ctx
        .succeed_with_devices("j", t + h(2), h(3), "a", &["a", "b", "c", "d"])
        .await;
    assert_eq!(new, 0);
    let findings = ctx.store.findings("j", None, None).await.expect("findings");
    assert_eq!(findings.len(), 4);
    let seen: Vec<(String, i64, i64, i64)> = {
        let mut v: Vec<_> = findings
            .iter()
            .map(|f| {
                let data: serde_json::Value = serde_json::from_str(&f.data).expect("json");
                (
                    data["DeviceName"].as_str().expect("name").to_string(),
                    f.times_seen,
                    f.first_run_id,
                    f.last_run_id,
                )
            })
            .collect();
        v.sort();
        v
    };
    let (r1, r2, r3) = (first.run_id, second.run_id, third.run_id);
    assert_eq!(
        seen,
        [
            ("a".to_string(), 2, r1, r3),
            ("b".to_string(), 3, r1, r3),
            ("c".to_string(), 3, r1, r3),
            ("d".to_string(), 2, r2, r3),
        ]
    );
    let b = findings
        .iter()
        .find(|f| f.data.contains("\"b\""))
        .expect("b");
    assert_eq!(b.first_seen_at, t + TimeDelta::seconds(2));
    assert_eq!(
        b.last_seen_at,
        t + TimeDelta::hours(2) + TimeDelta::seconds(2)
    );
    let news = ctx
        .texts("select cast(new_row_count as text) from hunt_runs order by id")
        .await;
    assert_eq!(news, [Some("3".into()), Some("1".into()), Some("0".into())]);
}

async fn dedup_columns_merge_rows_into_one_finding(ctx: Ctx) {
    ctx.job("j", Some(&["DeviceName"])).await;
    let columns = cols(&[("Timestamp", "DateTime"), ("DeviceName", "String")]);
    let t = at("2024-05-01T09:00:00Z");
    let lease = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    let data = rows(&[
        r#"{"Timestamp":"2024-05-01T08:10:00Z","DeviceName":"pc1"}"#.to_string(),
        r#"{"Timestamp":"2024-05-01T08:20:00Z","DeviceName":"pc1"}"#.to_string(),
        r#"{"Timestamp":"2024-05-01T08:30:00Z","DeviceName":"pc2"}"#.to_string(),
    ]);
    assert_eq!(ctx.succeed(&lease, &columns, &data).await, 2);
    let findings = ctx.store.findings("j", None, None).await.expect("findings");
    assert_eq!(findings.len(), 2);
    let pc1 = findings
        .iter()
        .find(|f| f.data.contains("pc1"))
        .expect("pc1");
    assert!(
        pc1.data.contains("08:20:00"),
        "keeps the latest row: {}",
        pc1.data
    );
    assert_eq!(pc1.times_seen, 1);
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 3);
}

async fn large_runs_keep_row_order_and_dedup_across_write_batches(ctx: Ctx) {
    // 20,000 rows span several write batches on both backends, and each device's rows sit in
    // different batches: its finding must keep the last of them and count once.
    ctx.job("j", Some(&["DeviceName"])).await;
    let columns = cols(&[("DeviceName", "String"), ("Seq", "Int64")]);
    let devices_rows = |devices: usize, total: usize| {
        let texts: Vec<String> = (0..total)
            .map(|i| format!(r#"{{"DeviceName":"pc{}","Seq":{i}}}"#, i % devices))
            .collect();
        rows(&texts)
    };
    let t = at("2024-05-01T09:00:00Z");
    let lease = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    let data = devices_rows(7_000, 20_000);
    assert_eq!(ctx.succeed(&lease, &columns, &data).await, 7_000);
    assert_eq!(
        ctx.int("select count(*) from hunt_j where seq = row_num")
            .await,
        20_000
    );
    assert_eq!(
        ctx.int(
            r"select count(*) from hunt_results a
              join hunt_results b on b.run_id = a.run_id and b.row_num = a.row_num + 7000
              where a.row_hash = b.row_hash"
        )
        .await,
        13_000
    );
    let kept_last = match ctx.backend() {
        Backend::Sqlite => {
            r"select count(*) from hunt_findings
              where cast(json_extract(data, '$.Seq') as integer) >= 13000"
        }
        Backend::Postgres => {
            r"select count(*) from hunt_findings where (data ->> 'Seq')::bigint >= 13000"
        }
    };
    assert_eq!(ctx.int(kept_last).await, 7_000);

    let lease = ctx
        .claim("j", t + TimeDelta::hours(1), TimeDelta::hours(1), "a")
        .await;
    let data = devices_rows(8_000, 16_000);
    assert_eq!(ctx.succeed(&lease, &columns, &data).await, 1_000);
    assert_eq!(ctx.int("select count(*) from hunt_findings").await, 8_000);
    assert_eq!(
        ctx.int("select count(*) from hunt_findings where times_seen = 2")
            .await,
        7_000
    );
}

async fn json_values_come_back_exactly(ctx: Ctx) {
    ctx.job("j", None).await;
    let columns = cols(&[
        ("Big", "Int64"),
        ("Huge", "Dynamic"),
        ("Min", "Int64"),
        ("Fraction", "Double"),
        ("Timestamp", "DateTime"),
        ("Extra", "Dynamic"),
    ]);
    let row = r#"{"Big":18446744073709551615,"Huge":123456789012345678901234567890,"Min":-9223372036854775808,"Fraction":0.1000000000000000055511151231257827,"Timestamp":"2024-05-01T08:00:00.1234567Z","Extra":{"nested":[1.50,"ü\u00e9\"q",null,true],"id":9007199254740993}}"#;
    let t = at("2024-05-01T09:00:00Z");
    let lease = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    ctx.succeed(&lease, &columns, &rows(&[row.to_string()]))
        .await;
    let findings = ctx.store.findings("j", None, None).await.expect("findings");
    let stored: serde_json::Value = serde_json::from_str(&findings[0].data).expect("json");
    let sent: serde_json::Value = serde_json::from_str(row).expect("json");
    assert_eq!(stored, sent, "{}", findings[0].data);
    assert!(findings[0].data.contains("18446744073709551615"));
    assert!(findings[0].data.contains("123456789012345678901234567890"));
    assert!(
        findings[0]
            .data
            .contains("0.1000000000000000055511151231257827")
    );
    assert!(findings[0].data.contains("9007199254740993"));
    assert!(findings[0].data.contains("2024-05-01T08:00:00.1234567Z"));
    assert_eq!(
        ctx.int("select Min from hunt_j").await,
        i64::MIN,
        "the typed view keeps 64-bit integers"
    );
}

async fn history_and_findings_filters_select_the_right_rows(ctx: Ctx) {
    let start = at("2024-05-01T00:00:00Z");
    let [a, b, c, d] = four_runs_of_two_jobs(&ctx, start).await;
    let all = ctx
        .store
        .history(&HistoryFilter::default())
        .await
        .expect("history");
    assert_eq!(ids(&all), [d, c, b, a]);
    assert_recorded_outcomes(&all);
    let runs_of = |job: Option<&str>, status, since, limit| {
        let filter = HistoryFilter {
            job: job.map(ToString::to_string),
            instance: None,
            status,
            since,
            limit,
        };
        let store = Arc::clone(&ctx.store);
        async move { ids(&store.history(&filter).await.expect("history")) }
    };
    assert_eq!(runs_of(Some("j1"), None, None, None).await, [d, b, a]);
    assert_eq!(
        runs_of(None, Some(RunStatus::Failed), None, None).await,
        [b]
    );
    assert_eq!(
        runs_of(None, None, Some(start + TimeDelta::hours(2)), None).await,
        [d, c]
    );
    assert_eq!(runs_of(Some("j1"), None, None, Some(1)).await, [d]);

    let new = ctx
        .store
        .findings("j1", None, Some(start + TimeDelta::hours(3)))
        .await
        .expect("findings");
    assert_eq!(new.len(), 1);
    assert!(new[0].data.contains("\"z\""));
    assert_eq!(findings_of(&ctx, "j1").await, 2);
    assert_eq!(findings_of(&ctx, "j2").await, 1);
}

/// Hourly from `start`: j1 finds `x`, j1 fails with a 400, j2 finds `y`, j1 finds `x` and `z`;
/// the four run ids in that order.
async fn four_runs_of_two_jobs(ctx: &Ctx, start: DateTime<Utc>) -> [i64; 4] {
    ctx.job("j1", None).await;
    ctx.job("j2", None).await;
    let h = TimeDelta::hours;
    let (run_a, _) = ctx
        .succeed_with_devices("j1", start, h(1), "n", &["x"])
        .await;
    let run_b = ctx.claim("j1", start + h(1), h(1), "n").await;
    ctx.store
        .fail_run(
            &run_b,
            &api_failure(
                "bad_query",
                "A recognition error occurred.",
                400,
                start + h(1),
            ),
        )
        .await
        .expect("fail");
    let (run_c, _) = ctx
        .succeed_with_devices("j2", start + h(2), h(1), "n", &["y"])
        .await;
    let (run_d, _) = ctx
        .succeed_with_devices("j1", start + h(3), h(1), "n", &["x", "z"])
        .await;
    [run_a.run_id, run_b.run_id, run_c.run_id, run_d.run_id]
}

/// What the history records of [`four_runs_of_two_jobs`], newest first, say about each run.
fn assert_recorded_outcomes(all: &[RunRecord]) {
    let failed = &all[2];
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.error_class.as_deref(), Some("bad_query"));
    assert_eq!(failed.http_status, Some(400));
    assert_eq!(failed.duration_ms, Some(0));
    assert_eq!(all[0].duration_ms, Some(2000));
    assert_eq!(all[0].row_count, Some(2));
    assert_eq!(all[0].new_row_count, Some(1));
    assert_eq!(all[0].truncated, Some(false));
}

fn ids(runs: &[RunRecord]) -> Vec<i64> {
    runs.iter().map(|r| r.id).collect()
}

/// How many findings `job` has.
async fn findings_of(ctx: &Ctx, job: &str) -> usize {
    ctx.store
        .findings(job, None, None)
        .await
        .expect("findings")
        .len()
}
