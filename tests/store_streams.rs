//! A job hunting several instances: each (job, instance) pair is a stream of its own in the
//! store (claims, coverage, findings, gaps, typed view), and databases made before streams
//! migrate in place. Every test runs against SQLite and PostgreSQL (see `common/store.rs`).

#[path = "common/store.rs"]
mod common;

use chrono::TimeDelta;
use huntd::store::{Claim, GapRecord, HistoryFilter, JobRecord};

use common::{
    Ctx, JOB_J_AND_ITS_RUN_AT_NINE, at, claim, device_cols, device_rows, job_record, upgraded,
};

common::contract!(
    two_instances_of_one_job_claim_cover_and_find_on_their_own,
    a_database_from_before_streams_gives_its_rows_the_job_instance,
);

/// Job `j` registered as hunting `prod` and `lab`.
fn two_instance_job() -> JobRecord {
    JobRecord {
        instance: "prod,lab".to_string(),
        ..job_record("j", None, "q1")
    }
}

async fn two_instances_of_one_job_claim_cover_and_find_on_their_own(ctx: Ctx) {
    ctx.store
        .upsert_job(&two_instance_job())
        .await
        .expect("register");
    let slot = at("2024-05-01T10:00:00Z");
    let hour = TimeDelta::hours(1);
    let prod = ctx.claim("j", slot, hour, "a").await;
    // While prod's run is running, lab's stream claims its own run of the same slot...
    let mut lab_request = claim("j", slot, hour, "a");
    lab_request.instance = "lab".to_string();
    let Claim::Won(lab) = ctx.store.claim_slot(&lab_request).await.expect("claim") else {
        panic!("lab's stream is not held up by prod's run");
    };
    assert_eq!(
        (prod.instance.as_str(), lab.instance.as_str()),
        ("prod", "lab")
    );
    // ...but prod's next slot waits for prod's run.
    let next = claim("j", slot + hour, hour, "a");
    assert!(matches!(
        ctx.store.claim_slot(&next).await.expect("claim"),
        Claim::Busy { .. }
    ));
    // The same rows are new findings in each instance: findings are per stream.
    let rows = device_rows(&["pc1", "pc2"]);
    assert_eq!(ctx.succeed(&prod, &device_cols(), &rows).await, 2);
    assert_eq!(
        ctx.succeed(&lab, &device_cols(), &device_rows(&["pc1"]))
            .await,
        1
    );
    let all = ctx.store.findings("j", None, None).await.expect("findings");
    assert_eq!(all.len(), 3);
    let on_lab = ctx
        .store
        .findings("j", Some("lab"), None)
        .await
        .expect("findings");
    assert_eq!(on_lab.len(), 1);
    assert_eq!(on_lab[0].instance, "lab");
    // Coverage is per stream: lab's failure leaves prod's high-water mark alone.
    assert_eq!(
        ctx.store.high_water_mark("j", "prod").await.expect("hwm"),
        Some(slot)
    );
    assert_eq!(
        ctx.store.high_water_mark("j", "other").await.expect("hwm"),
        None
    );
    ctx.store
        .record_gap(&GapRecord {
            job: "j".to_string(),
            instance: "lab".to_string(),
            gap_start: slot - TimeDelta::hours(5),
            gap_end: slot - TimeDelta::hours(4),
            reason: "tenant offboarded for a day".to_string(),
            recorded_at: slot,
        })
        .await
        .expect("gap");
    assert_eq!(
        ctx.texts("select distinct instance from hunt_coverage_gaps where job = 'j'")
            .await,
        [Some("lab".to_string())]
    );
    let on_prod = ctx
        .store
        .history(&HistoryFilter {
            instance: Some("prod".to_string()),
            ..HistoryFilter::default()
        })
        .await
        .expect("history");
    assert_eq!(on_prod.len(), 1);
    assert_eq!(on_prod[0].instance, "prod");
    // The typed view says which instance each row came from.
    assert_eq!(
        ctx.texts("select instance || ' ' || DeviceName from hunt_j order by 1")
            .await,
        [
            Some("lab pc1".to_string()),
            Some("prod pc1".to_string()),
            Some("prod pc2".to_string()),
        ]
    );
}

async fn a_database_from_before_streams_gives_its_rows_the_job_instance(ctx: Ctx) {
    let url = ctx.fresh_database().await;
    let migrations: Vec<String> = (1..=8)
        .map(|n| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(ctx.backend_name());
            std::fs::read_dir(dir)
                .expect("migrations")
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|name| name.starts_with(&format!("{n:04}_")))
                .expect("migration file")
        })
        .collect();
    let names: Vec<&str> = migrations.iter().map(String::as_str).collect();
    let upgraded = upgraded(
        &ctx,
        &url,
        &names,
        &[
            JOB_J_AND_ITS_RUN_AT_NINE,
            r#"
insert into hunt_results (run_id, job, row_num, row_hash, data)
values (1, 'j', 0, 'h1', '{"DeviceName":"pc1"}');
insert into hunt_finding_state (job, row_hash, first_seen_at, last_seen_at, first_run_id,
    last_run_id, last_row_num, times_seen)
values ('j', 'h1', '2024-05-01T09:00:01.000000Z', '2024-05-01T09:00:01.000000Z', 1, 1, 0, 1);
insert into hunt_gaps (job, gap_start, gap_end, reason, recorded_at)
values ('j', '2024-04-01T00:00:00.000000Z', '2024-04-02T00:00:00.000000Z', 'older than 30 days',
        '2024-05-01T09:00:00.000000Z');
"#,
        ],
    )
    .await;
    let findings = upgraded
        .store
        .findings("j", Some("prod"), None)
        .await
        .expect("findings");
    assert_eq!(findings.len(), 1);
    assert!(findings[0].data.contains("pc1"), "{}", findings[0].data);
    assert_eq!(
        upgraded.texts("select instance from hunt_gaps").await,
        [Some("prod".to_string())]
    );
    assert_eq!(
        upgraded
            .texts("select distinct instance from hunt_coverage_gaps")
            .await,
        [Some("prod".to_string())]
    );
    // The stream goes on where it was: its high-water mark survives, and its next run's
    // findings join the one it had before the upgrade.
    assert_eq!(
        upgraded
            .store
            .high_water_mark("j", "prod")
            .await
            .expect("hwm"),
        Some(at("2024-05-01T09:00:00Z"))
    );
    let (_, new) = upgraded
        .succeed_with_devices(
            "j",
            at("2024-05-01T10:00:00Z"),
            TimeDelta::hours(1),
            "a",
            &["pc1", "pc2"],
        )
        .await;
    assert_eq!(new, 2);
    let on_prod = upgraded
        .store
        .findings("j", Some("prod"), None)
        .await
        .expect("findings");
    assert_eq!(on_prod.len(), 3);
    upgraded.close_upgraded().await;
    ctx.drop_fresh_database(&url).await;
}
