//! Several `huntd run` nodes on one PostgreSQL database: every slot runs once, a killed
//! node's runs are taken over, and whatever is killed when, a job's succeeded windows never
//! overlap and one node left running heals every hole.

#[path = "common/process.rs"]
mod common;
#[path = "common/daemon.rs"]
mod daemon_support;
#[path = "common/postgres.rs"]
mod scratch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::Daemon;
use daemon_support::{
    Fake, job_yaml, rendered, runs_all, start_daemon_with, succeeded_all, wait_until,
    wait_until_for, write_config,
};
use huntd::store::{self, RunRecord, RunStatus, Store};

/// A fresh PostgreSQL database for one test, dropped at the end; `None` (with a notice) when
/// no server is configured.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> Option<Self> {
        let admin_url = scratch::server_url()?;
        let name = format!("huntd_test_{}", uuid::Uuid::new_v4().simple());
        Self::admin(&admin_url, &format!("create database {name}")).await;
        let root = &admin_url[..admin_url.rfind('/').expect("URL has a path")];
        let url = format!("{root}/{name}");
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    async fn admin(url: &str, sql: &str) {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(url)
            .await
            .expect("connect to HUNTD_TEST_POSTGRES_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut admin)
            .await
            .expect("admin statement");
    }

    async fn drop_database(self) {
        Self::admin(
            &self.admin_url,
            &format!("drop database if exists {} with (force)", self.name),
        )
        .await;
    }
}

/// How many jobs each node runs.
const JOBS: usize = 50;

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_on_postgres_run_every_slot_once_and_take_over_a_killed_nodes_runs() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let fake = Fake::start().await;
    fake.delay(Duration::from_millis(300));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes = start_nodes(&fake, dir.path(), &db.url, 3, JOBS);
    let store = store::open(&db.url).await.expect("store opens");

    let orphans = kill_node_0_mid_hunt(&mut nodes, &store).await;
    let survivor = nodes[1].as_ref().expect("started");
    wait_until(
        "the orphaned runs taken over and finished",
        survivor,
        || async {
            let all = runs_all(&store).await;
            orphans.iter().all(|o| {
                all.iter()
                    .any(|r| r.id == o.id && r.status == RunStatus::Succeeded && r.attempt >= 2)
            })
        },
    )
    .await;
    // About 30 s of slots in all: 50 jobs every 2 s make 25 slots a second.
    wait_until("the two survivors running on", survivor, || async {
        succeeded_all(&store).await >= JOBS * 15
    })
    .await;
    for daemon in nodes.iter_mut().flatten() {
        daemon.signal("TERM");
        assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
    }

    let all = runs_all(&store).await;
    assert!(all.len() >= JOBS * 15, "{} runs", all.len());
    let not_succeeded: Vec<&RunRecord> = all
        .iter()
        .filter(|r| r.status != RunStatus::Succeeded)
        .collect();
    assert!(not_succeeded.is_empty(), "{not_succeeded:#?}");
    assert_each_window_hunted_once_per_attempt(&all, &fake.hunt_queries().await);
    assert_no_overlapping_windows(&all);

    let gaps = coverage_gaps(&db.url).await;
    store.close().await;
    drop(nodes);
    db.drop_database().await;
    assert_eq!(gaps, 0);
}

/// Starts `count` nodes, `node-0`, `node-1`, ..., each with its own config directory under `dir`
/// holding the same `jobs` jobs, on one database with 3 s leases.
fn start_nodes(
    fake: &Fake,
    dir: &Path,
    database: &str,
    count: usize,
    jobs: usize,
) -> Vec<Option<Daemon>> {
    let node_dirs: Vec<PathBuf> = (0..count)
        .map(|n| {
            let node_dir = dir.join(format!("node{n}"));
            write_config(
                fake,
                &node_dir,
                database,
                &format!("node: node-{n}\n  shutdown_grace: 10s\n  max_concurrent_runs: 32"),
            );
            for j in 0..jobs {
                let name = format!("job-{j:02}");
                std::fs::write(node_dir.join(format!("jobs/{name}.yaml")), job_yaml(&name))
                    .expect("write job");
            }
            node_dir
        })
        .collect();
    node_dirs
        .iter()
        .map(|node_dir| Some(start_node(node_dir)))
        .collect()
}

/// Starts (or restarts) the node whose config directory is `node_dir`.
fn start_node(node_dir: &Path) -> Daemon {
    start_daemon_with(node_dir, &["--lease-secs", "3"], &[])
}

/// Lets every node win some slots, then kills `node-0` while it has hunts in flight; returns the
/// runs it left running.
async fn kill_node_0_mid_hunt(
    nodes: &mut [Option<Daemon>],
    store: &Arc<dyn Store>,
) -> Vec<RunRecord> {
    let first = nodes[0].as_ref().expect("started");
    wait_until("several slots of every job", first, || async {
        succeeded_all(store).await >= JOBS * 4
    })
    .await;
    wait_until("node-0 with a hunt in flight", first, || async {
        runs_all(store)
            .await
            .iter()
            .any(|r| r.node == "node-0" && r.status == RunStatus::Running)
    })
    .await;
    first.signal("KILL");
    let mut killed = nodes[0].take().expect("started");
    assert_eq!(killed.exit_code().await, None);
    let orphans: Vec<RunRecord> = runs_all(store)
        .await
        .into_iter()
        .filter(|r| r.node == "node-0" && r.status == RunStatus::Running)
        .collect();
    assert!(!orphans.is_empty(), "node-0 died with runs in flight");
    orphans
}

/// Every hunt the fake received belongs to a run, each run's window was hunted at least once and
/// at most once per attempt, and a first attempt's exactly once.
fn assert_each_window_hunted_once_per_attempt(all: &[RunRecord], queries: &[String]) {
    let mut calls: HashMap<&str, usize> = HashMap::new();
    for q in queries {
        *calls.entry(q.as_str()).or_default() += 1;
    }
    for run in all {
        let query = rendered(&run.job, run.window_start, run.window_end);
        let seen = calls.remove(query.as_str()).unwrap_or(0);
        let allowed = usize::try_from(run.attempt).expect("attempt is positive");
        assert!(
            (1..=allowed).contains(&seen),
            "run {} of {} (attempt {}) was hunted {seen} times",
            run.id,
            run.job,
            run.attempt
        );
        if run.attempt == 1 {
            assert_eq!(seen, 1, "slot {} of {} hunted once", run.slot_at, run.job);
        }
    }
    assert!(calls.is_empty(), "hunts no run accounts for: {calls:#?}");
}

/// How many rows the database's `hunt_coverage_gaps` view has.
async fn coverage_gaps(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.expect("pool");
    let gaps: i64 = sqlx::query_scalar(r"select count(*) from hunt_coverage_gaps")
        .fetch_one(&pool)
        .await
        .expect("view answers");
    pool.close().await;
    gaps
}

#[tokio::test(flavor = "multi_thread")]
async fn random_kills_leave_no_overlapping_windows_and_one_node_heals_every_hole() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let fake = Fake::start().await;
    fake.delay(Duration::from_millis(300));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes = start_nodes(&fake, dir.path(), &db.url, 3, 20);
    let store = store::open(&db.url).await.expect("store opens");
    // A fixed seed: the same kills every run, so a failure can be run again.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(3000 + next(5000))).await;
        let victim = usize::try_from(next(3)).expect("small");
        let mut killed = nodes[victim].take().expect("running");
        killed.signal("KILL");
        assert_eq!(killed.exit_code().await, None, "killed by the signal");
        tokio::time::sleep(Duration::from_millis(next(2000))).await;
        nodes[victim] = Some(start_node(&dir.path().join(format!("node{victim}"))));
    }
    for daemon in nodes.iter_mut().flatten() {
        // A TERM before the signal handlers are in place is the default kill, which is not
        // the clean stop this test is about: the node restarted last may still be starting.
        let up: &Daemon = daemon;
        wait_until("the node up", up, || async {
            up.log().contains("huntd running")
        })
        .await;
        daemon.signal("TERM");
        assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
    }
    let survivor = start_node(&dir.path().join("node0"));
    wait_until_for(
        "one node to take over every orphan and fill every hole",
        &survivor,
        Duration::from_secs(60),
        || async {
            running_elsewhere(&db.url, "node-0").await == 0 && coverage_gaps(&db.url).await == 0
        },
    )
    .await;
    let mut survivor = survivor;
    survivor.signal("TERM");
    assert_eq!(survivor.exit_code().await, Some(0), "{}", survivor.log());

    let all = runs_all(&store).await;
    assert_no_overlapping_windows(&all);
    let running: Vec<&RunRecord> = all
        .iter()
        .filter(|r| r.status == RunStatus::Running)
        .collect();
    assert!(running.is_empty(), "left running: {running:#?}");
    store.close().await;
    drop(nodes);
    db.drop_database().await;
}

/// Succeeded and skipped windows of each job, in order, each starting where the last ended
/// or later.
fn assert_no_overlapping_windows(all: &[RunRecord]) {
    let mut by_job: HashMap<&str, Vec<&RunRecord>> = HashMap::new();
    for run in all
        .iter()
        .filter(|r| matches!(r.status, RunStatus::Succeeded | RunStatus::Skipped))
    {
        by_job.entry(run.job.as_str()).or_default().push(run);
    }
    for (job, mut runs) in by_job {
        runs.sort_by_key(|r| (r.window_start, r.window_end));
        for pair in runs.windows(2) {
            assert!(
                pair[1].window_start >= pair[0].window_end,
                "{job}: run {} [{}, {}) overlaps run {} [{}, {})",
                pair[1].id,
                pair[1].window_start,
                pair[1].window_end,
                pair[0].id,
                pair[0].window_start,
                pair[0].window_end,
            );
        }
    }
}

/// Runs still `running` on a node other than `node`: a dead node's, not yet taken over, or a
/// stopped node's, which a clean stop must not leave.
async fn running_elsewhere(url: &str, node: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.expect("pool");
    let running: i64 = sqlx::query_scalar(
        "select count(*) from hunt_runs where status = 'running' and node <> $1",
    )
    .bind(node)
    .fetch_one(&pool)
    .await
    .expect("runs answer");
    pool.close().await;
    running
}
