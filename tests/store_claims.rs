//! Claiming slots: one winner among many claimers, lease take-over, fencing of stale attempts,
//! a failed write rolling back whole, and interrupted runs claimed again.
//! Every test runs against SQLite and PostgreSQL (see `common/store.rs`).

#[path = "common/store.rs"]
mod common;

use std::sync::Arc;

use chrono::TimeDelta;
use huntd::store::{self, Backend, Claim, Error, Lease, RunStatus};

use common::{Ctx, at, claim, device_cols, device_rows, ended, run_rows, success};

common::contract!(
    a_slot_is_won_by_exactly_one_of_many_concurrent_claimers,
    an_expired_lease_is_taken_over_with_a_higher_attempt,
    a_stale_attempt_writes_nothing,
    a_failed_write_leaves_no_rows_and_the_run_running,
    interrupted_runs_can_be_claimed_again,
    a_job_runs_one_slot_at_a_time_across_nodes,
    a_window_starts_where_succeeded_runs_end,
    a_window_already_covered_is_not_claimed,
    a_reclaimed_interrupted_slot_hunts_only_what_later_runs_left,
);

async fn a_slot_is_won_by_exactly_one_of_many_concurrent_claimers(ctx: Ctx) {
    ctx.job("j", None).await;
    // A second store has its own pool, like a second daemon.
    let other = store::open(&ctx.url).await.expect("second store");
    let slot = at("2024-05-01T09:00:00Z");
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = if i % 2 == 0 {
            Arc::clone(&ctx.store)
        } else {
            Arc::clone(&other)
        };
        tasks.push(tokio::spawn(async move {
            store
                .claim_slot(&claim("j", slot, TimeDelta::hours(1), &format!("node{i}")))
                .await
                .expect("claim")
        }));
    }
    let mut won = Vec::new();
    let mut lost_ids = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Claim::Won(lease) => won.push(lease),
            Claim::Lost { run_id, status, .. } => {
                assert_eq!(status, RunStatus::Running);
                lost_ids.push(run_id);
            }
            other => panic!("a claim of one slot is won or lost: {other:?}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one winner: {won:?}");
    assert_eq!(lost_ids.len(), 23);
    assert!(lost_ids.iter().all(|id| *id == won[0].run_id));
    assert_eq!(won[0].attempt, 1);
    assert_eq!(ctx.int("select count(*) from hunt_runs").await, 1);
    other.close().await;
}

async fn an_expired_lease_is_taken_over_with_a_higher_attempt(ctx: Ctx) {
    ctx.job("j", None).await;
    let slot = at("2024-05-01T09:00:00Z");
    let first = ctx.claim("j", slot, TimeDelta::hours(1), "a").await;
    let until = slot + TimeDelta::minutes(20);
    let early = ctx
        .take_over("b", until, slot + TimeDelta::minutes(1))
        .await;
    assert!(early.is_empty(), "a live lease is not taken over");
    let taken = ctx
        .take_over("b", until, slot + TimeDelta::minutes(10))
        .await;
    assert_eq!(taken.len(), 1);
    let second = &taken[0];
    assert_eq!(second.run_id, first.run_id);
    assert_eq!(second.attempt, 2);
    assert_eq!(second.node, "b");
    assert_eq!(
        (second.window_start, second.window_end),
        (first.window_start, first.window_end)
    );
    assert!(!ctx.store.renew_lease(&first, until).await.expect("renew"));
    assert!(ctx.store.renew_lease(second, until).await.expect("renew"));
    let again = ctx
        .take_over("c", until, slot + TimeDelta::minutes(15))
        .await;
    assert!(again.is_empty(), "a renewed lease is not taken over");
}

async fn a_stale_attempt_writes_nothing(ctx: Ctx) {
    ctx.job("j", None).await;
    let slot = at("2024-05-01T09:00:00Z");
    let stale = ctx.claim("j", slot, TimeDelta::hours(1), "a").await;
    let fresh = ctx
        .take_over(
            "b",
            slot + TimeDelta::hours(1),
            slot + TimeDelta::minutes(30),
        )
        .await
        .pop()
        .expect("one run taken over");
    let columns = device_cols();
    let data = device_rows(&["pc1", "pc2"]);
    // Finishing `lease` with the two rows, which the store must refuse as a lost lease.
    let refused = async |lease: &Lease| {
        ctx.store
            .finish_run(lease, &success(slot, &columns, &run_rows(&data)))
            .await
            .expect_err("a run finished or taken over cannot be finished")
    };
    let err = refused(&stale).await;
    assert!(matches!(err, Error::LeaseLost { attempt: 1, .. }), "{err}");
    let failure = ended(RunStatus::Failed, "timeout", "too slow", slot);
    assert!(matches!(
        ctx.store.fail_run(&stale, &failure).await,
        Err(Error::LeaseLost { .. })
    ));
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 0);
    assert_eq!(ctx.int("select count(*) from hunt_findings").await, 0);
    assert_eq!(
        ctx.texts("select status from hunt_runs").await,
        [Some("running".to_string())]
    );
    assert_eq!(ctx.succeed(&fresh, &columns, &data).await, 2);
    let err = refused(&fresh).await;
    assert!(matches!(err, Error::LeaseLost { attempt: 2, .. }), "{err}");
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 2);
}

async fn a_failed_write_leaves_no_rows_and_the_run_running(ctx: Ctx) {
    ctx.job("j", None).await;
    // The findings upsert comes after every results batch: failing it proves the batches roll
    // back with it.
    match ctx.backend() {
        Backend::Sqlite => {
            ctx.exec(
                r"create trigger boom before insert on hunt_finding_state
                  begin select raise(abort, 'boom'); end",
            )
            .await;
        }
        Backend::Postgres => {
            ctx.exec(
                r"create function boom() returns trigger language plpgsql as
                  $$ begin raise exception 'boom'; end $$;
                  create trigger boom before insert on hunt_finding_state
                  for each row execute function boom();",
            )
            .await;
        }
    }
    let slot = at("2024-05-01T09:00:00Z");
    let lease = ctx.claim("j", slot, TimeDelta::hours(1), "a").await;
    let names: Vec<String> = (0..25_000).map(|i| format!("pc{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let data = device_rows(&names);
    let columns = device_cols();
    let err = ctx
        .store
        .finish_run(&lease, &success(slot, &columns, &run_rows(&data)))
        .await
        .expect_err("the trigger fails the write");
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 0);
    assert_eq!(ctx.int("select count(*) from hunt_findings").await, 0);
    assert_eq!(ctx.int("select count(*) from hunt_columns").await, 0);
    assert_eq!(
        ctx.texts("select status from hunt_runs").await,
        [Some("running".to_string())]
    );
    assert!(
        ctx.run("select * from hunt_j").await.is_err(),
        "no view yet"
    );
    match ctx.backend() {
        Backend::Sqlite => ctx.exec("drop trigger boom").await,
        Backend::Postgres => ctx.exec("drop trigger boom on hunt_finding_state").await,
    }
    assert_eq!(ctx.succeed(&lease, &columns, &data).await, 25_000);
    assert_eq!(ctx.int("select count(*) from hunt_results").await, 25_000);
}

async fn interrupted_runs_can_be_claimed_again(ctx: Ctx) {
    ctx.job("j", None).await;
    let t = at("2024-05-01T09:00:00Z");
    ctx.job("k", None).await;
    let first = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    ctx.claim("k", t, TimeDelta::hours(1), "b").await;
    assert_eq!(
        ctx.store.mark_interrupted("a", t).await.expect("interrupt"),
        1,
        "only node a's run"
    );
    let history = ctx.runs_in(RunStatus::Interrupted).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, first.run_id);
    let again = ctx.claim("j", t, TimeDelta::hours(1), "c").await;
    assert_eq!((again.run_id, again.attempt), (first.run_id, 2));
    assert!(matches!(
        ctx.store
            .claim_slot(&claim("j", t, TimeDelta::hours(1), "d"))
            .await
            .expect("claim"),
        Claim::Lost {
            attempt: 2,
            status: RunStatus::Running,
            ..
        }
    ));
}

async fn a_job_runs_one_slot_at_a_time_across_nodes(ctx: Ctx) {
    ctx.job("j", None).await;
    let other = store::open(&ctx.url).await.expect("second store");
    let t = at("2024-05-01T09:00:00Z");
    let first = ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    let next = claim("j", t + TimeDelta::hours(1), TimeDelta::hours(1), "b");
    let busy = other.claim_slot(&next).await.expect("claim");
    assert_eq!(
        busy,
        Claim::Busy {
            run_id: first.run_id
        },
        "a run outlasting its interval holds the job on every node"
    );
    assert_eq!(ctx.int("select count(*) from hunt_runs").await, 1);
    ctx.succeed(&first, &device_cols(), &device_rows(&["pc1"]))
        .await;
    assert!(matches!(
        other.claim_slot(&next).await.expect("claim"),
        Claim::Won(_)
    ));
    other.close().await;
}

async fn a_window_starts_where_succeeded_runs_end(ctx: Ctx) {
    ctx.job("j", None).await;
    let t = at("2024-05-01T09:00:00Z");
    let (first, _) = ctx
        .succeed_with_devices("j", t, TimeDelta::hours(2), "a", &["pc1"])
        .await;
    // A plan made before the first run committed still asks for the last hour of it.
    let stale = claim("j", t + TimeDelta::hours(1), TimeDelta::hours(2), "b");
    let Claim::Won(second) = ctx.store.claim_slot(&stale).await.expect("claim") else {
        panic!("the uncovered part is claimable");
    };
    assert_eq!(second.window_start, first.window_end, "clamped, no overlap");
    assert_eq!(second.window_end, stale.window_end);
    let stored: Vec<Option<String>> = ctx
        .texts(&format!(
            "select cast(window_start as text) from hunt_runs where id = {}",
            second.run_id
        ))
        .await;
    assert_eq!(stored, vec![Some(ctx.show(first.window_end))]);
}

async fn a_window_already_covered_is_not_claimed(ctx: Ctx) {
    ctx.job("j", None).await;
    let t = at("2024-05-01T09:00:00Z");
    let (first, _) = ctx
        .succeed_with_devices("j", t, TimeDelta::hours(3), "a", &["pc1"])
        .await;
    let inside = claim("j", t - TimeDelta::hours(1), TimeDelta::hours(1), "b");
    assert_eq!(
        ctx.store.claim_slot(&inside).await.expect("claim"),
        Claim::Covered {
            until: first.window_end
        }
    );
    assert_eq!(
        ctx.int("select count(*) from hunt_runs").await,
        1,
        "nothing recorded"
    );
}

async fn a_reclaimed_interrupted_slot_hunts_only_what_later_runs_left(ctx: Ctx) {
    ctx.job("j", None).await;
    let t = at("2024-05-01T09:00:00Z");
    ctx.claim("j", t, TimeDelta::hours(1), "a").await;
    ctx.store.mark_interrupted("a", t).await.expect("interrupt");
    // After a restart, the next slot's window made the interrupted one good.
    ctx.succeed_with_devices(
        "j",
        t + TimeDelta::hours(1),
        TimeDelta::hours(2),
        "a",
        &["pc1"],
    )
    .await;
    assert!(matches!(
        ctx.store
            .claim_slot(&claim("j", t, TimeDelta::hours(1), "a"))
            .await
            .expect("claim"),
        Claim::Covered { .. }
    ));
    assert_eq!(
        ctx.int("select count(*) from hunt_runs where status = 'interrupted'")
            .await,
        1,
        "the interrupted run stays as it was"
    );
}
