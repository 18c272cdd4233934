//! The outbox in the store: the deliveries a run's commit writes (digest, each, `min_new`), and
//! claiming, ending, listing and queueing them again. Every test runs against SQLite and
//! PostgreSQL (see `common/store.rs`).

#[path = "common/store.rs"]
mod common;

use chrono::{DateTime, TimeDelta, Utc};
use huntd::store::{
    Column, DeliveryFilter, DeliveryOutcome, DeliveryRecord, DeliveryRoute, DeliveryStatus, Lease,
    RetryTarget, Suppression,
};
use serde_json::value::RawValue;

use common::{Ctx, at, cols, device_cols, device_rows, rows, run_rows, success};

common::contract!(
    a_commit_writes_a_digest_per_route_one_delivery_per_new_finding_and_honours_min_new,
    claims_take_each_output_and_jobs_oldest_delivery_once_and_ends_are_fenced,
    dead_deliveries_are_queued_again_by_retry,
    suppression_notifies_a_key_once_per_span_and_counts_what_it_left_out_in_the_next_one,
);

fn routes() -> Vec<DeliveryRoute> {
    vec![
        DeliveryRoute {
            output: "digest".into(),
            mode: "digest",
            min_new: 1,
            suppress: None,
        },
        DeliveryRoute {
            output: "each".into(),
            mode: "each",
            min_new: 1,
            suppress: None,
        },
        DeliveryRoute {
            output: "picky".into(),
            mode: "digest",
            min_new: 3,
            suppress: None,
        },
    ]
}

/// Claims the slot at `hour` past 09:00 and commits one row per device, routed to [`routes`].
async fn commit(ctx: &Ctx, hour: i64, devices: &[&str]) -> Lease {
    let rows = device_rows(devices);
    commit_routed(ctx, hour, &device_cols(), &rows, &routes()).await
}

/// Claims the slot at `hour` past 09:00 and commits `rows`, routed to `routes`.
async fn commit_routed(
    ctx: &Ctx,
    hour: i64,
    columns: &[Column],
    rows: &[Box<RawValue>],
    routes: &[DeliveryRoute],
) -> Lease {
    let slot = at("2024-05-01T09:00:00Z") + TimeDelta::hours(hour);
    let lease = ctx.claim("j", slot, TimeDelta::hours(1), "n1").await;
    let rows = run_rows(rows);
    let mut run = success(slot, columns, &rows);
    run.notify = routes;
    ctx.store
        .finish_run(&lease, &run)
        .await
        .expect("finish run");
    lease
}

async fn all(ctx: &Ctx, output: &str) -> Vec<DeliveryRecord> {
    let mut found = ctx
        .store
        .deliveries(&DeliveryFilter {
            output: Some(output.into()),
            ..DeliveryFilter::default()
        })
        .await
        .expect("list");
    found.reverse();
    found
}

/// The data of each finding of a delivery, in its order.
async fn finding_data(ctx: &Ctx, delivery: &DeliveryRecord) -> Vec<serde_json::Value> {
    let found = ctx
        .store
        .findings_by_hash(&delivery.job, &delivery.instance, &delivery.findings)
        .await
        .expect("findings");
    found
        .iter()
        .map(|f| serde_json::from_str(&f.data).expect("json"))
        .collect()
}

/// The device names of a delivery's findings, in its order.
async fn devices(ctx: &Ctx, delivery: &DeliveryRecord) -> Vec<String> {
    let data = finding_data(ctx, delivery).await;
    data.iter()
        .map(|d| d["DeviceName"].as_str().expect("name").to_string())
        .collect()
}

async fn a_commit_writes_a_digest_per_route_one_delivery_per_new_finding_and_honours_min_new(
    ctx: Ctx,
) {
    ctx.job("j", None).await;
    let first = commit(&ctx, 0, &["c", "a", "b"]).await;
    let second = commit(&ctx, 1, &["a", "d"]).await;
    commit(&ctx, 2, &["a", "d"]).await;

    let digests = all(&ctx, "digest").await;
    assert_eq!(
        digests.len(),
        2,
        "one per run with new findings: {digests:#?}"
    );
    assert_eq!(
        devices(&ctx, &digests[0]).await,
        ["c", "a", "b"],
        "row order"
    );
    assert_eq!(devices(&ctx, &digests[1]).await, ["d"]);
    assert_eq!(
        (digests[0].run_id, digests[1].run_id),
        (first.run_id, second.run_id)
    );
    assert!(digests.iter().all(|d| d.status == DeliveryStatus::Pending
        && d.attempts == 0
        && d.instance == "prod"
        && d.mode == "digest"));

    let each = all(&ctx, "each").await;
    let mut names = Vec::new();
    for d in &each {
        assert_eq!(d.findings.len(), 1);
        names.extend(devices(&ctx, d).await);
    }
    assert_eq!(
        names,
        ["c", "a", "b", "d"],
        "one per new finding, in commit order"
    );

    let picky = all(&ctx, "picky").await;
    assert_eq!(picky.len(), 1, "only the run with three new findings");
    assert_eq!(picky[0].run_id, first.run_id);
}

/// Claims up to ten deliveries of `outputs` for `node` until `until`, as of `now`.
async fn claim(
    ctx: &Ctx,
    node: &str,
    outputs: &[String],
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<DeliveryRecord> {
    ctx.store
        .claim_deliveries(node, outputs, until, now, 10)
        .await
        .expect("claim")
}

/// Ends a claimed delivery; false when the claim was no longer the caller's.
async fn end(ctx: &Ctx, delivery: &DeliveryRecord, outcome: DeliveryOutcome<'_>) -> bool {
    ctx.store
        .end_delivery(delivery, outcome)
        .await
        .expect("end")
}

async fn claims_take_each_output_and_jobs_oldest_delivery_once_and_ends_are_fenced(ctx: Ctx) {
    ctx.job("j", None).await;
    commit(&ctx, 0, &["a"]).await;
    commit(&ctx, 1, &["b"]).await;
    let outputs = ["digest".to_string(), "each".to_string()];
    let now = Utc::now();
    let until = now + TimeDelta::seconds(90);
    let claimed = claim(&ctx, "n1", &outputs, until, now).await;
    assert_eq!(claimed.len(), 2, "the head of each output: {claimed:#?}");
    assert!(claimed.iter().all(|d| d.attempts == 1
        && d.lease_owner.as_deref() == Some("n1")
        && d.findings.len() == 1));
    let again = claim(&ctx, "n2", &outputs, until, now).await;
    assert!(
        again.is_empty(),
        "heads are claimed, the rest wait: {again:#?}"
    );

    let digest = claimed
        .iter()
        .find(|d| d.output == "digest")
        .expect("digest");
    let mut stale = digest.clone();
    stale.attempts += 1;
    let delivered = DeliveryOutcome::Delivered(now);
    assert!(!end(&ctx, &stale, delivered).await);
    assert!(end(&ctx, digest, delivered).await);
    assert!(!end(&ctx, digest, delivered).await, "once");
    let each = claimed.iter().find(|d| d.output == "each").expect("each");
    let later = now + TimeDelta::seconds(30);
    let retry = DeliveryOutcome::Retry {
        at: later,
        error: "503",
    };
    assert!(end(&ctx, each, retry).await);

    let next = claim(&ctx, "n2", &outputs, until, now).await;
    assert_eq!(
        next.len(),
        1,
        "the next digest; `each` waits for its retry: {next:#?}"
    );
    assert_eq!(next[0].output, "digest");
    assert!(next[0].id > digest.id);
    let retried = claim(&ctx, "n2", &outputs, until + TimeDelta::seconds(60), later).await;
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].id, retried[0].attempts), (each.id, 2));
    assert_eq!(retried[0].last_error.as_deref(), Some("503"));
    assert_eq!(
        retried[0].key(),
        each.key(),
        "the same key on every attempt"
    );

    assert_eq!(
        ctx.store.release_deliveries("n2").await.expect("release"),
        2
    );
    let pending = ctx.store.pending_deliveries().await.expect("pending");
    assert_eq!(
        pending,
        [("digest".to_string(), 1), ("each".to_string(), 2)]
    );
}

async fn dead_deliveries_are_queued_again_by_retry(ctx: Ctx) {
    ctx.job("j", None).await;
    commit(&ctx, 0, &["a", "b", "c"]).await;
    let outputs = ["picky".to_string()];
    // Whole microseconds: both backends keep no finer time.
    let now = at("2030-01-01T00:00:00Z");
    let claimed = claim(&ctx, "n1", &outputs, now + TimeDelta::seconds(90), now).await;
    let dead = DeliveryOutcome::Dead { error: "HTTP 400" };
    assert!(end(&ctx, &claimed[0], dead).await);
    let listed = ctx
        .store
        .deliveries(&DeliveryFilter {
            status: Some(DeliveryStatus::Dead),
            ..DeliveryFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_error.as_deref(), Some("HTTP 400"));
    let later = now + TimeDelta::minutes(5);
    let queued = ctx
        .store
        .retry_deliveries(RetryTarget::Dead, later)
        .await
        .expect("retry");
    assert_eq!(queued, 1);
    let back = all(&ctx, "picky").await;
    assert_eq!(back[0].status, DeliveryStatus::Pending);
    assert_eq!(back[0].queued_at, later);
    assert_eq!(
        ctx.store
            .retry_deliveries(RetryTarget::Id(back[0].id + 100), later)
            .await
            .expect("retry"),
        0
    );
}

/// Commits the slot at `hour` past 09:00 with one row per `(DeviceId, Cmd)`, routed to a digest
/// and an `each` output that both suppress by `DeviceId` for six hours.
async fn commit_quiet(ctx: &Ctx, hour: i64, pairs: &[(&str, &str)]) {
    let suppress = Some(Suppression {
        by: vec!["DeviceId".into()],
        span: TimeDelta::hours(6),
    });
    let routes = ["digest", "each"].map(|mode| DeliveryRoute {
        output: format!("quiet-{mode}"),
        mode,
        min_new: 1,
        suppress: suppress.clone(),
    });
    let texts: Vec<String> = pairs
        .iter()
        .map(|(device, cmd)| format!(r#"{{"DeviceId":"{device}","Cmd":"{cmd}"}}"#))
        .collect();
    let columns = cols(&[("DeviceId", "String"), ("Cmd", "String")]);
    commit_routed(ctx, hour, &columns, &rows(&texts), &routes).await;
}

/// `(DeviceId, Cmd)` of each finding of a delivery, in its order.
async fn pairs(ctx: &Ctx, delivery: &DeliveryRecord) -> Vec<(String, String)> {
    let data = finding_data(ctx, delivery).await;
    data.iter()
        .map(|d| (d["DeviceId"].to_string(), d["Cmd"].to_string()))
        .map(|(d, c)| {
            (
                d.trim_matches('"').to_string(),
                c.trim_matches('"').to_string(),
            )
        })
        .collect()
}

async fn suppression_notifies_a_key_once_per_span_and_counts_what_it_left_out_in_the_next_one(
    ctx: Ctx,
) {
    ctx.job("j", None).await;
    commit_quiet(&ctx, 0, &[("d1", "a"), ("d1", "b"), ("d2", "c")]).await;
    // d1 is quiet: nothing to send, its finding is carried.
    commit_quiet(&ctx, 1, &[("d1", "e")]).await;
    commit_quiet(&ctx, 2, &[("d1", "f"), ("d3", "g")]).await;
    // Seven hours on, d1's six quiet hours are over.
    commit_quiet(&ctx, 7, &[("d1", "h")]).await;

    let digests = all(&ctx, "quiet-digest").await;
    let got: Vec<(Vec<(String, String)>, i64)> = {
        let mut got = Vec::new();
        for d in &digests {
            got.push((pairs(&ctx, d).await, d.suppressed));
        }
        got
    };
    let p = |d: &str, c: &str| (d.to_string(), c.to_string());
    assert_eq!(
        got,
        [
            (vec![p("d1", "a"), p("d2", "c")], 1),
            (vec![p("d3", "g")], 2),
            (vec![p("d1", "h")], 0),
        ],
        "{digests:#?}"
    );

    let each = all(&ctx, "quiet-each").await;
    let counts: Vec<(usize, i64)> = each
        .iter()
        .map(|d| (d.findings.len(), d.suppressed))
        .collect();
    assert_eq!(
        counts,
        [(1, 1), (1, 0), (1, 2), (1, 0)],
        "the count rides on a run's first message"
    );

    // Prune forgets quiet keys past their span, keeping the ones still in force.
    let quiet = "select count(*) from hunt_suppressions";
    assert_eq!(ctx.int(quiet).await, 2 * 3, "d1, d2 and d3 for each output");
    ctx.store
        .prune_deliveries(at("2024-05-01T18:00:00Z"))
        .await
        .expect("prune");
    assert_eq!(
        ctx.int(quiet).await,
        2,
        "only d1, made quiet again at 16:00"
    );
}
