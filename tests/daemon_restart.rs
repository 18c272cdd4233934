//! A daemon killed mid-run and started again recognises the run it left `running` as its own
//! and ends it at once, well inside the lease a stranger would have to wait out.

#[path = "common/process.rs"]
mod common;
#[path = "common/daemon.rs"]
mod daemon_support;

use daemon_support::{Fake, job_yaml, runs, sqlite_config_dir, start_daemon, store, wait_until};
use huntd::store::RunStatus;

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_daemon_ends_the_run_it_left_running_at_once() {
    let fake = Fake::start().await;
    // Every hunt hangs, so the first run is still `running` when its daemon is killed.
    fake.slow(true);
    // No `node:`: the default node id is what must survive the restart.
    let dir = sqlite_config_dir(&fake, "shutdown_grace: 1s");
    std::fs::write(dir.path().join("jobs/probe.yaml"), job_yaml("probe")).expect("write job");

    let first = start_daemon(dir.path());
    let store = store(dir.path()).await;
    wait_until("a run in flight", &first, || async {
        runs(&store, "probe")
            .await
            .iter()
            .any(|r| r.status == RunStatus::Running)
    })
    .await;
    let node = runs(&store, "probe").await[0].node.clone();
    first.signal("KILL");
    drop(first);

    // The default 60 s lease is far longer than this wait: only knowing its own run ends it.
    let second = start_daemon(dir.path());
    wait_until("the restarted daemon up", &second, || async {
        second.log().contains("huntd running")
    })
    .await;
    assert!(
        second
            .log()
            .contains("runs this node left running are now interrupted runs=1"),
        "the restarted daemon ends its own leftover at start; log:\n{}",
        second.log()
    );
    let nodes: Vec<String> = runs(&store, "probe")
        .await
        .into_iter()
        .map(|r| r.node)
        .collect();
    assert!(
        nodes.iter().all(|n| *n == node),
        "the node id survives the restart: {node} then {nodes:?}"
    );
}
