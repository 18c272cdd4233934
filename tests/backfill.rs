//! `huntd backfill` as a user runs it, against a loopback fake of Entra ID and Graph: past
//! ranges hunted in `max_window` chunks where nothing covers them, recorded with trigger
//! `backfill`, never overlapping what scheduled runs covered, on SQLite and PostgreSQL.

#[path = "common/process.rs"]
mod common;
#[path = "common/daemon.rs"]
mod daemon_support;
#[path = "common/postgres.rs"]
mod scratch;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use huntd::store::{RunRecord, RunStatus};

use common::printed;
use daemon_support::{Fake, SECRET_ENV, runs, sqlite_url, start_daemon, wait_until, write_config};

/// Job `probe` on the fake every two seconds, hunting at most 30 minutes a call.
fn write_job(dir: &Path) {
    let job = format!("{}max_window: 30m\n", daemon_support::job_yaml("probe"));
    std::fs::write(dir.join("jobs/probe.yaml"), job).expect("write job");
}

/// Runs `huntd --config <dir>/huntd.yaml <args>` with the fake's secret.
async fn huntd(dir: &Path, args: &[&str]) -> Output {
    common::huntd_with(dir, args, &[SECRET_ENV]).await
}

/// `hunt_runs.trigger` of every run of `probe`, by run id.
async fn triggers(database: &str) -> Vec<(i64, String)> {
    if database.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(database).await.expect("sqlite");
        sqlx::query_as("select id, trigger from hunt_runs order by id")
            .fetch_all(&pool)
            .await
            .expect("select")
    } else {
        let pool = sqlx::PgPool::connect(database).await.expect("postgres");
        sqlx::query_as("select id, trigger from hunt_runs order by id")
            .fetch_all(&pool)
            .await
            .expect("select")
    }
}

fn succeeded_windows(all: &[RunRecord]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut windows: Vec<_> = all
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .map(|r| (r.window_start, r.window_end))
        .collect();
    windows.sort_unstable();
    windows
}

fn assert_no_overlap(windows: &[(DateTime<Utc>, DateTime<Utc>)]) {
    for pair in windows.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "succeeded windows overlap: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// Whether `windows` (sorted) cover `[from, to)` without a hole.
fn covers(
    windows: &[(DateTime<Utc>, DateTime<Utc>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> bool {
    let mut cursor = from;
    for &(start, end) in windows {
        if start > cursor {
            return false;
        }
        cursor = cursor.max(end);
        if cursor >= to {
            return true;
        }
    }
    cursor >= to
}

#[tokio::test]
async fn a_backfill_hunts_the_range_in_max_window_chunks_once_and_a_second_finds_nothing_left() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let database = sqlite_url(dir.path());
    write_config(&fake, dir.path(), &database, "node: test-node");
    write_job(dir.path());
    // Whole seconds: the store keeps microseconds.
    let to = Utc::now().trunc_subsecs(0) - TimeDelta::hours(1);
    let to_arg = to.to_rfc3339();
    let out = huntd(
        dir.path(),
        &["backfill", "probe", "--from", "3h", "--to", &to_arg],
    )
    .await;
    assert!(out.status.success(), "{}", printed(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("4 chunks to hunt"), "{stderr}");
    assert!(
        stderr.contains("backfill done: 4 chunks hunted, 0 failed"),
        "{stderr}"
    );

    let store = daemon_support::store(dir.path()).await;
    let all = runs(&store, "probe").await;
    let windows = succeeded_windows(&all);
    assert_eq!(windows.len(), 4, "{all:?}");
    assert!(windows.iter().all(|w| w.1 - w.0 <= TimeDelta::minutes(30)));
    assert_no_overlap(&windows);
    assert_eq!(windows[3].1, to);
    // Each chunk sent its own window to the API.
    let queries = fake.hunt_queries().await;
    for (start, end) in &windows {
        let query = daemon_support::rendered("probe", *start, *end);
        assert!(queries.contains(&query), "{query} not in {queries:?}");
    }
    assert!(
        triggers(&database)
            .await
            .iter()
            .all(|(_, t)| t == "backfill")
    );

    let again = huntd(
        dir.path(),
        &["backfill", "probe", "--from", "3h", "--to", &to_arg],
    )
    .await;
    assert!(again.status.success(), "{}", printed(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 chunks to hunt"));
    assert_eq!(fake.hunt_calls().await, 4, "nothing hunted twice");
}

#[tokio::test]
async fn gaps_only_fills_the_hole_between_covered_windows_and_nothing_outside_them() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let database = sqlite_url(dir.path());
    write_config(&fake, dir.path(), &database, "node: test-node");
    write_job(dir.path());
    let now = Utc::now().trunc_subsecs(0);
    let (a, b) = (now - TimeDelta::hours(5), now - TimeDelta::hours(4));
    let (c, d) = (now - TimeDelta::hours(2), now - TimeDelta::hours(1));
    for (start, end) in [(a, b), (c, d)] {
        let (from, to) = (start.to_rfc3339(), end.to_rfc3339());
        let out = huntd(
            dir.path(),
            &["backfill", "probe", "--from", &from, "--to", &to],
        )
        .await;
        assert!(out.status.success(), "{}", printed(&out));
    }
    let before = fake.hunt_calls().await;
    let out = huntd(
        dir.path(),
        &["backfill", "probe", "--from", "6h", "--gaps-only"],
    )
    .await;
    assert!(out.status.success(), "{}", printed(&out));
    let store = daemon_support::store(dir.path()).await;
    let windows = succeeded_windows(&runs(&store, "probe").await);
    assert_no_overlap(&windows);
    assert!(covers(&windows, a, d), "{windows:?}");
    assert_eq!(
        windows.first().map(|w| w.0),
        Some(a),
        "nothing before the first window"
    );
    assert_eq!(
        windows.last().map(|w| w.1),
        Some(d),
        "nothing after the last window"
    );
    assert_eq!(
        fake.hunt_calls().await - before,
        4,
        "two hours in 30-minute chunks"
    );
}

#[tokio::test]
async fn a_range_beyond_the_apis_30_days_is_refused_before_anything_is_hunted() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        &fake,
        dir.path(),
        &sqlite_url(dir.path()),
        "node: test-node",
    );
    write_job(dir.path());
    let out = huntd(dir.path(), &["backfill", "probe", "--from", "31d"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than 30 days ago"));
    let out = huntd(dir.path(), &["backfill", "probe", "--instance", "Other"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", printed(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hunts Fake, not `Other`"));
    assert_eq!(fake.hunt_calls().await, 0);
}

/// A backfill beside a running daemon on one database: scheduled runs go on, the backfill
/// hunts only what they do not cover, and no two succeeded windows overlap.
async fn beside_a_daemon(database: &str) {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        &fake,
        dir.path(),
        database,
        "node: daemon-node\n  shutdown_grace: 1s",
    );
    write_job(dir.path());
    let daemon = start_daemon(dir.path());
    let store = huntd::store::open(database).await.expect("store");
    wait_until("a scheduled run", &daemon, || async {
        succeeded_windows(&runs(&store, "probe").await).len() >= 2
    })
    .await;
    let out = huntd(dir.path(), &["backfill", "probe", "--from", "2h"]).await;
    assert!(out.status.success(), "{}", printed(&out));
    tokio::time::sleep(Duration::from_secs(3)).await;
    daemon.signal("TERM");
    let all = runs(&store, "probe").await;
    let windows = succeeded_windows(&all);
    assert_no_overlap(&windows);
    let first_scheduled = all
        .iter()
        .filter(|r| r.node == "daemon-node")
        .map(|r| r.window_start)
        .min()
        .expect("scheduled runs");
    let from = windows[0].0;
    assert!(covers(&windows, from, first_scheduled), "{windows:?}");
    let kinds = triggers(database).await;
    assert!(kinds.iter().any(|(_, t)| t == "schedule"), "{kinds:?}");
    assert!(kinds.iter().any(|(_, t)| t == "backfill"), "{kinds:?}");
}

#[tokio::test]
async fn sqlite_a_backfill_beside_a_running_daemon_never_overlaps_its_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    beside_a_daemon(&sqlite_url(dir.path())).await;
}

#[tokio::test]
async fn postgres_a_backfill_beside_a_running_daemon_never_overlaps_its_runs() {
    scratch::with_database("huntd_backfill", |url| async move {
        beside_a_daemon(&url).await;
    })
    .await;
}

#[tokio::test]
async fn backfill_on_create_hunts_the_past_of_a_new_job_once_beside_its_scheduled_runs() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let database = sqlite_url(dir.path());
    write_config(
        &fake,
        dir.path(),
        &database,
        "node: test-node\n  shutdown_grace: 1s",
    );
    let job = format!(
        "{}max_window: 30m\nbackfill_on_create: 2h\n",
        daemon_support::job_yaml("probe")
    );
    std::fs::write(dir.path().join("jobs/probe.yaml"), job).expect("write job");
    let started = Utc::now();
    let daemon = start_daemon(dir.path());
    let store = daemon_support::store(dir.path()).await;
    wait_until("the past two hours covered", &daemon, || async {
        let windows = succeeded_windows(&runs(&store, "probe").await);
        // The daemon's own start is a moment after `started`.
        covers(
            &windows,
            started - TimeDelta::hours(2) + TimeDelta::seconds(5),
            started,
        )
    })
    .await;
    daemon.signal("TERM");
    drop(daemon);
    let backfilled = triggers(&database)
        .await
        .iter()
        .filter(|(_, t)| t == "backfill")
        .count();
    // Four 30-minute chunks when the backfill has the past to itself. On a loaded machine the
    // first scheduled run may come after a chunk's commit and catch up from that chunk's end,
    // leaving the backfill less: either way the past is hunted once, by at least one chunk.
    assert!((1..=5).contains(&backfilled), "{backfilled} backfill runs");
    assert_no_overlap(&succeeded_windows(&runs(&store, "probe").await));

    // The job is not new any more: a restart backfills nothing.
    let daemon = start_daemon(dir.path());
    wait_until("a scheduled run after the restart", &daemon, || async {
        runs(&store, "probe")
            .await
            .iter()
            .any(|r| r.started_at > started + TimeDelta::seconds(1) && r.trigger == "schedule")
    })
    .await;
    daemon.signal("TERM");
    let after = triggers(&database)
        .await
        .iter()
        .filter(|(_, t)| t == "backfill")
        .count();
    assert_eq!(after, backfilled);
}
