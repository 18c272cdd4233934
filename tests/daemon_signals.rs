//! `huntd run` as a real process under signals: SIGTERM and SIGKILL mid-hunt then a restart,
//! SIGHUP reloads with a broken and with a new job file.

#[path = "common/process.rs"]
mod common;
#[path = "common/daemon.rs"]
mod daemon_support;

use std::path::Path;
use std::sync::Arc;

use common::{Daemon, coverage_gaps};
use daemon_support::{Fake, job_yaml, runs, setup, start_daemon, store, succeeded, wait_until};
use huntd::store::{RunRecord, RunStatus, Store};

/// Starts a daemon on the config in `dir` and waits for `probe`'s first success.
async fn start_after_a_first_success(dir: &Path, store: &Arc<dyn Store>) -> Daemon {
    let daemon = start_daemon(dir);
    wait_until("a first success", &daemon, || async {
        succeeded(store, "probe").await >= 1
    })
    .await;
    daemon
}

/// Starts a daemon, lets `probe` succeed once, then leaves a hunt hanging in flight.
async fn start_then_hang(fake: &Fake, dir: &Path, store: &Arc<dyn Store>) -> Daemon {
    let daemon = start_after_a_first_success(dir, store).await;
    fake.slow(true);
    let calls = fake.hunt_calls().await;
    wait_until("a hunt in flight", &daemon, || async {
        fake.hunt_calls().await > calls
    })
    .await;
    daemon
}

/// Where a test's daemon is when the test gets it.
enum Start {
    /// Its first hunt is in flight and the fake API holds the answer.
    MidHunt,
    /// Its first run has succeeded.
    AfterAFirstSuccess,
}

/// A fresh setup with its daemon started as `start` says: the fake API, the config folder,
/// the store and the daemon.
async fn started(start: Start) -> (Fake, tempfile::TempDir, Arc<dyn Store>, Daemon) {
    let fake = Fake::start().await;
    let dir = setup(&fake);
    let store = store(dir.path()).await;
    let daemon = match start {
        Start::MidHunt => start_then_hang(&fake, dir.path(), &store).await,
        Start::AfterAFirstSuccess => start_after_a_first_success(dir.path(), &store).await,
    };
    (fake, dir, store, daemon)
}

/// The runs of `all` in `status`.
fn in_status(all: &[RunRecord], status: RunStatus) -> Vec<&RunRecord> {
    all.iter().filter(|r| r.status == status).collect()
}

/// After a restart with a fast API: the stopped run's window ends up inside a success, every
/// window is hunted exactly once (one finding per window) and no coverage gap remains.
async fn assert_rehunted(fake: &Fake, dir: &Path, store: &Arc<dyn Store>, stopped: &RunRecord) {
    fake.slow(false);
    let mut daemon = start_daemon(dir);
    wait_until("the stopped window hunted again", &daemon, || async {
        runs(store, "probe").await.iter().any(|r| {
            r.status == RunStatus::Succeeded
                && r.window_start <= stopped.window_start
                && r.window_end >= stopped.window_end
        })
    })
    .await;
    let before = succeeded(store, "probe").await;
    wait_until("two more successes", &daemon, || async {
        succeeded(store, "probe").await >= before + 2
    })
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());

    let all = runs(store, "probe").await;
    let wins = all
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .count();
    let findings = store.findings("probe", None, None).await.expect("findings");
    assert_eq!(findings.len(), wins, "one finding per succeeded window");
    assert!(
        findings.iter().all(|f| f.times_seen == 1),
        "no window was committed twice"
    );
    assert_eq!(coverage_gaps(dir).await, 0, "runs: {all:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_hunt_marks_the_run_interrupted_exits_zero_and_the_window_is_hunted_after_restart()
 {
    let (fake, dir, store, mut daemon) = started(Start::MidHunt).await;

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
    let all = runs(&store, "probe").await;
    let interrupted = in_status(&all, RunStatus::Interrupted);
    assert_eq!(interrupted.len(), 1, "runs: {all:#?}");
    assert!(all.iter().all(|r| r.status != RunStatus::Running));
    let stopped = interrupted[0].clone();

    assert_rehunted(&fake, dir.path(), &store, &stopped).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_hunt_then_restart_rehunts_the_window_without_duplicate_findings() {
    let (fake, dir, store, mut daemon) = started(Start::MidHunt).await;

    daemon.signal("KILL");
    assert_eq!(daemon.exit_code().await, None, "killed by a signal");
    let all = runs(&store, "probe").await;
    let running = in_status(&all, RunStatus::Running);
    assert_eq!(running.len(), 1, "the killed run is left running: {all:#?}");
    let stopped = running[0].clone();

    assert_rehunted(&fake, dir.path(), &store, &stopped).await;
    let rerun = runs(&store, "probe")
        .await
        .into_iter()
        .find(|r| r.id == stopped.id)
        .expect("the killed run's row remains");
    assert_eq!(rerun.status, RunStatus::Succeeded, "{rerun:#?}");
    assert_eq!(rerun.attempt, 2, "re-run as a second attempt");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_with_a_broken_job_file_keeps_the_old_jobs_running() {
    let (_fake, dir, store, mut daemon) = started(Start::AfterAFirstSuccess).await;

    std::fs::write(
        dir.path().join("jobs/broken.yaml"),
        "name: broken\ninstance: Nowhere\nshedule: x\n",
    )
    .expect("write job");
    daemon.signal("HUP");
    wait_until("the reload rejected", &daemon, || async {
        daemon.log().contains("reload rejected")
    })
    .await;
    assert!(
        daemon.log().contains("unknown key `shedule`"),
        "{}",
        daemon.log()
    );
    let before = succeeded(&store, "probe").await;
    wait_until("the old job running on", &daemon, || async {
        succeeded(&store, "probe").await >= before + 2
    })
    .await;
    assert!(runs(&store, "broken").await.is_empty());

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_with_a_new_job_starts_it_and_keeps_the_old_one() {
    let (_fake, dir, store, mut daemon) = started(Start::AfterAFirstSuccess).await;

    std::fs::write(dir.path().join("jobs/second.yaml"), job_yaml("second")).expect("write job");
    daemon.signal("HUP");
    wait_until("the new job's first success", &daemon, || async {
        succeeded(&store, "second").await >= 1
    })
    .await;
    let before = succeeded(&store, "probe").await;
    wait_until("the old job running on", &daemon, || async {
        succeeded(&store, "probe").await > before
    })
    .await;

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_runs_waiting_for_quota_at_once_as_interrupted() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    daemon_support::write_config(
        &fake,
        dir.path(),
        &daemon_support::sqlite_url(dir.path()),
        "node: test-node\n  shutdown_grace: 30s",
    );
    // Two calls a minute for four jobs every 2 s: most runs queue behind the quota.
    daemon_support::edit_config(dir.path(), |text| {
        text.replace(
            "Quota: {per_minute: 100000}",
            "Quota: {per_minute: 2}\n    AllowOvercommit: true",
        )
    });
    for n in 0..4 {
        let name = format!("probe{n}");
        std::fs::write(
            dir.path().join(format!("jobs/{name}.yaml")),
            job_yaml(&name),
        )
        .expect("write job");
    }
    let store = store(dir.path()).await;
    let mut daemon = start_daemon(dir.path());
    wait_until("two hunts sent and two runs queued", &daemon, || async {
        let all = daemon_support::runs_all(&store).await;
        fake.hunt_calls().await == 2
            && all
                .iter()
                .filter(|r| r.status == RunStatus::Running)
                .count()
                >= 2
    })
    .await;
    let asked = std::time::Instant::now();
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
    let took = asked.elapsed();
    assert!(
        took < std::time::Duration::from_secs(10),
        "stopped after {took:?}, not at once: the 30 s grace is for calls in flight"
    );
    assert_eq!(fake.hunt_calls().await, 2, "no call sent after SIGTERM");
    let all = daemon_support::runs_all(&store).await;
    assert!(
        all.iter().all(|r| r.status != RunStatus::Running),
        "{all:#?}"
    );
    let interrupted = all
        .iter()
        .filter(|r| r.status == RunStatus::Interrupted)
        .count();
    assert!(
        interrupted >= 2,
        "queued runs recorded interrupted: {all:#?}"
    );
}
