//! `huntd run` with a job the API keeps rejecting: it backs off, says so in its systemd status,
//! keeps its pause over a reload that leaves it unchanged and restarts when it is edited.

#[path = "common/process.rs"]
mod common;
#[path = "common/daemon.rs"]
mod daemon_support;

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

use common::Daemon;
use daemon_support::{
    Fake, failed, job_yaml, notify_socket, receive_until, runs, setup, start_daemon_with, store,
    succeeded, wait_until,
};
use huntd::store::Store;

/// Starts a daemon on `probe` and `rejected`, a job the API rejects, that notifies a socket;
/// returns once `rejected` has failed three times.
async fn start_with_a_rejected_job(
    fake: &Fake,
) -> (tempfile::TempDir, Daemon, UnixDatagram, Arc<dyn Store>) {
    let dir = setup(fake);
    std::fs::write(dir.path().join("jobs/rejected.yaml"), job_yaml("rejected")).expect("write job");
    let (socket, notify) = notify_socket(dir.path(), Duration::from_secs(30));
    let daemon = start_daemon_with(
        dir.path(),
        &["--lease-secs", "3"],
        &[("NOTIFY_SOCKET", &notify)],
    );
    let store = store(dir.path()).await;
    wait_until("three rejected runs", &daemon, || async {
        failed(&store, "rejected").await >= 3
    })
    .await;
    (dir, daemon, socket, store)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_the_api_keeps_rejecting_backs_off_says_so_in_its_status_and_others_run_on() {
    let fake = Fake::start().await;
    let (_dir, mut daemon, socket, store) = start_with_a_rejected_job(&fake).await;
    let status = receive_until(&socket, "backing off");
    // The probe job may be mid-run when the status is sent: its running count is 0 or 1.
    assert!(
        [0, 1].iter().any(|running| status
            == format!("STATUS=2 jobs, {running} running, 1 backing off after repeated failures")),
        "{status}"
    );
    let probe_before = succeeded(&store, "probe").await;
    wait_until("the other job running on", &daemon, || async {
        succeeded(&store, "probe").await >= probe_before + 2
    })
    .await;
    // The first pause is a minute: the rejected job made no further call meanwhile.
    assert_eq!(failed(&store, "rejected").await, 3, "{}", daemon.log());
    let all = runs(&store, "rejected").await;
    assert!(
        all.iter()
            .all(|r| r.error_class.as_deref() == Some("query")),
        "{all:#?}"
    );
    assert!(daemon.log().contains("job backs off"), "{}", daemon.log());

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_keeps_an_unchanged_jobs_backoff_and_restarts_a_changed_job() {
    let fake = Fake::start().await;
    let (dir, mut daemon, socket, store) = start_with_a_rejected_job(&fake).await;
    let rejected = dir.path().join("jobs/rejected.yaml");
    wait_until("the rejected job backing off", &daemon, || async {
        daemon.log().contains("job backs off")
    })
    .await;

    // A new job: the rejected job's loop is unchanged and stays paused.
    std::fs::write(dir.path().join("jobs/second.yaml"), job_yaml("second")).expect("write job");
    daemon.signal("HUP");
    wait_until("the new job's first success", &daemon, || async {
        succeeded(&store, "second").await >= 1
    })
    .await;
    let status = receive_until(&socket, "3 jobs");
    assert!(status.contains("1 backing off"), "{status}");
    assert!(
        !daemon.log().contains("job changed"),
        "no job changed: {}",
        daemon.log()
    );
    // The first pause is a minute: the kept loop made no further call.
    assert_eq!(failed(&store, "rejected").await, 3, "{}", daemon.log());

    // The operator edits the rejected job: its loop restarts without the backoff.
    std::fs::write(
        &rejected,
        format!("{}description: edited\n", job_yaml("rejected")),
    )
    .expect("write job");
    daemon.signal("HUP");
    wait_until("the edited job run again", &daemon, || async {
        failed(&store, "rejected").await >= 4
    })
    .await;
    assert!(
        daemon.log().contains("job changed: its loop restarts"),
        "{}",
        daemon.log()
    );

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}
