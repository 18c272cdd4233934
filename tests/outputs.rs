//! Findings delivered through the outbox, end to end: `huntd run` against the loopback fake of
//! Graph, sending to receivers written here on loopback sockets (a webhook that checks the
//! HMAC, Slack, Teams, a file), on SQLite and PostgreSQL, with a receiver that goes down and a
//! daemon killed with SIGKILL.

#[path = "common/process.rs"]
mod common;
#[path = "common/daemon.rs"]
mod daemon_support;
#[path = "common/postgres.rs"]
mod postgres;
#[path = "common/syslog.rs"]
mod syslog;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use daemon_support::{
    Fake, edit_config, job_yaml, sqlite_url, start_daemon_with, succeeded, wait_until,
    wait_until_for, write_config,
};
use huntd::store::{self, DeliveryFilter, DeliveryStatus, Store};

/// The webhook's shared secret.
const HOOK_SECRET: &str = "not-a-real-hook-secret";

/// One request a receiver took.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A loopback HTTP receiver: answers `status` after `delay_ms` and keeps what it answered 2xx.
#[derive(Clone, Default)]
struct Receiver {
    taken: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    /// Every request that arrived, answered or not (a sender killed mid-send never hears).
    arrived: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Starts answering 200 on a free loopback port.
    async fn start() -> (Self, SocketAddr) {
        let receiver = Self::default();
        receiver.status.store(200, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(take).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }

    /// Answers each request `ms` after it arrives, from now on.
    fn delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    fn taken(&self, path: &str) -> Vec<Received> {
        on(&self.taken, path)
    }

    fn arrived(&self, path: &str) -> Vec<Received> {
        on(&self.arrived, path)
    }
}

fn on(list: &Mutex<Vec<Received>>, path: &str) -> Vec<Received> {
    list.lock()
        .expect("lock")
        .iter()
        .filter(|r| r.path == path)
        .cloned()
        .collect()
}

async fn take(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let request = Received {
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    };
    receiver.arrived.lock().expect("lock").push(request.clone());
    tokio::time::sleep(Duration::from_millis(
        receiver.delay_ms.load(Ordering::SeqCst),
    ))
    .await;
    let status =
        StatusCode::from_u16(receiver.status.load(Ordering::SeqCst)).expect("a valid status");
    if status.is_success() {
        receiver.taken.lock().expect("lock").push(request);
    }
    status
}

/// Appends `outputs:` (webhook, Slack, Teams and a file, all on `addr`) to the config in `dir`.
fn add_outputs(dir: &Path, addr: SocketAddr) {
    let base = format!("http://{addr}");
    edit_config(dir, |text| {
        text + &format!(
            "outputs:\n\
             \x20 hook: {{type: webhook, url: {base}/hook, secret: {{EnvironmentVar: HOOK_SECRET}}}}\n\
             \x20 chat: {{type: slack, url: {base}/slack/T0/B0/x}}\n\
             \x20 teams: {{type: teams, url: {base}/teams?sig=x}}\n\
             \x20 archive: {{type: file, path: ./findings.jsonl}}\n"
        )
    });
}

/// A config directory on `database` with job `probe` notifying `to`.
fn setup(fake: &Fake, dir: &Path, database: &str, addr: SocketAddr, to: &str) {
    write_config(
        fake,
        dir,
        database,
        &format!("node: test-node\n  shutdown_grace: 2s\n  notify: {{to: [{to}]}}"),
    );
    add_outputs(dir, addr);
    std::fs::write(dir.join("jobs/probe.yaml"), job_yaml("probe")).expect("write job");
}

fn start(dir: &Path) -> common::Daemon {
    start_daemon_with(dir, &[], &[("HOOK_SECRET", HOOK_SECRET)])
}

/// Runs a `huntd` command on the config in `dir`.
fn huntd(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_huntd"))
        .args(args)
        .arg("--config")
        .arg(dir.join("huntd.yaml"))
        .envs([daemon_support::SECRET_ENV, ("HOOK_SECRET", HOOK_SECRET)])
        .output()
        .expect("huntd runs")
}

/// Whether `request` carries a valid signature over its timestamp and body.
fn signed(request: &Received) -> bool {
    let timestamp = request.header("X-Huntd-Timestamp");
    let Some(hex_sig) = request.header("X-Huntd-Signature").strip_prefix("sha256=") else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_sig) else {
        return false;
    };
    let mut message = timestamp.as_bytes().to_vec();
    message.push(b'.');
    message.extend_from_slice(&request.body);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, HOOK_SECRET.as_bytes());
    aws_lc_rs::hmac::verify(&key, &message, &signature).is_ok()
}

async fn deliveries(store: &Arc<dyn Store>) -> Vec<huntd::store::DeliveryRecord> {
    store
        .deliveries(&DeliveryFilter::default())
        .await
        .unwrap_or_default()
}

async fn delivered(store: &Arc<dyn Store>) -> usize {
    deliveries(store)
        .await
        .iter()
        .filter(|d| d.status == DeliveryStatus::Delivered)
        .count()
}

/// The webhook's requests, checked: signed, keyed in header and body alike, each carrying its
/// job's finding.
fn checked_hooks(receiver: &Receiver) -> Vec<serde_json::Value> {
    receiver
        .taken("/hook")
        .iter()
        .map(|request| {
            assert!(signed(request), "bad signature: {request:?}");
            let body = request.json();
            assert_eq!(
                body["idempotency_key"].as_str(),
                Some(request.header("Idempotency-Key"))
            );
            let job = body["job"].as_str().expect("a job").to_string();
            assert!(
                body["findings"][0]["data"]["Query"]
                    .as_str()
                    .is_some_and(|q| q.contains(&format!("'{job}'"))),
                "the job's own finding: {body}"
            );
            body
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn new_findings_reach_a_signed_webhook_slack_teams_and_a_file_each_once() {
    let fake = Fake::start().await;
    let (receiver, addr) = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    setup(
        &fake,
        dir.path(),
        &sqlite_url(dir.path()),
        addr,
        "hook, chat, teams, archive",
    );
    let mut daemon = start(dir.path());
    let store = store::open(&sqlite_url(dir.path())).await.expect("store");
    wait_until("two runs' findings on every output", &daemon, || async {
        receiver.taken("/hook").len() >= 2
            && receiver.taken("/slack/T0/B0/x").len() >= 2
            && receiver.taken("/teams").len() >= 2
    })
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());

    let hooks = checked_hooks(&receiver);
    let keys: Vec<&str> = hooks
        .iter()
        .filter_map(|b| b["idempotency_key"].as_str())
        .collect();
    let mut distinct = keys.clone();
    distinct.dedup();
    assert_eq!(keys, distinct, "no delivery twice, in commit order");
    let runs: Vec<i64> = hooks.iter().filter_map(|b| b["run_id"].as_i64()).collect();
    assert!(runs.windows(2).all(|w| w[0] < w[1]), "run order: {runs:?}");

    for slack in receiver.taken("/slack/T0/B0/x") {
        let body = slack.json();
        assert_eq!(body["text"], "1 new finding from job probe", "{body}");
        let blocks = body["blocks"].as_array().expect("blocks");
        let last = blocks.last().expect("a block").to_string();
        assert!(
            last.contains("huntd-"),
            "the key is in the last block: {last}"
        );
    }
    for teams in receiver.taken("/teams") {
        let body = teams.json();
        assert_eq!(body["type"], "message");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(attachment["content"]["type"], "AdaptiveCard");
        assert_eq!(attachment["content"]["version"], "1.4");
    }
    let file = std::fs::read_to_string(dir.path().join("findings.jsonl")).expect("the file");
    let lines: Vec<serde_json::Value> = file
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(lines.len() >= 2, "{file}");
    assert!(
        lines
            .iter()
            .all(|l| l["idempotency_key"].is_string() && l["row_hash"].is_string())
    );

    let all = deliveries(&store).await;
    let sent: Vec<_> = all
        .iter()
        .filter(|d| d.output == "hook" && d.status == DeliveryStatus::Delivered)
        .collect();
    assert_eq!(sent.len(), hooks.len(), "{all:#?}");
    let listed = huntd(dir.path(), &["deliveries", "--output", "hook"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", common::printed(&listed));
    assert!(text.contains("delivered"), "{text}");
    assert!(!text.contains(HOOK_SECRET) && !daemon.log().contains(HOOK_SECRET));
}

/// The keys of `requests`, in arrival order.
fn keys(requests: &[Received]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.header("Idempotency-Key").to_string())
        .collect()
}

/// How many different keys `keys` holds.
fn distinct(keys: &[String]) -> usize {
    keys.iter().collect::<std::collections::BTreeSet<_>>().len()
}

/// `n` empty temporary folders, one a node.
fn temp_dirs(n: usize) -> Vec<tempfile::TempDir> {
    (0..n)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_down_for_a_minute_then_up_gets_every_finding_in_order_while_hunts_go_on() {
    let fake = Fake::start().await;
    let (receiver, addr) = Receiver::start().await;
    receiver.status.store(503, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("tempdir");
    setup(&fake, dir.path(), &sqlite_url(dir.path()), addr, "hook");
    let down_since = tokio::time::Instant::now();
    let mut daemon = start(dir.path());
    let store = store::open(&sqlite_url(dir.path())).await.expect("store");
    wait_until("three runs while the receiver is down", &daemon, || async {
        succeeded(&store, "probe").await >= 3 && receiver.arrived("/hook").len() >= 3
    })
    .await;
    // Down for a whole minute, while the job runs every two seconds.
    tokio::time::sleep_until(down_since + Duration::from_secs(60)).await;
    assert!(receiver.taken("/hook").is_empty());
    let hunted = succeeded(&store, "probe").await;
    assert!(hunted >= 15, "hunts went on: {hunted} runs in the minute");
    let owed = deliveries(&store).await.len();
    assert!(owed >= 3, "every run left a delivery");
    receiver.status.store(200, Ordering::SeqCst);
    // After a minute of failures a delivery's next try can be up to two minutes away (the
    // backoff doubles from 1 s, jittered): the receiver hears again within that.
    wait_until_for(
        "what was owed delivered",
        &daemon,
        Duration::from_secs(180),
        || async { receiver.taken("/hook").len() >= owed },
    )
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());

    let hooks = checked_hooks(&receiver);
    let ids: Vec<i64> = hooks
        .iter()
        .filter_map(|b| b["delivery_id"].as_i64())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, each once: {ids:?}"
    );
    let all = deliveries(&store).await;
    let last = *ids.last().expect("one at least");
    assert!(
        all.iter()
            .filter(|d| d.id <= last)
            .all(|d| d.status == DeliveryStatus::Delivered),
        "{all:#?}"
    );
    assert!(
        all.iter().any(|d| d.attempts > 1),
        "some were retried: {all:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_killed_mid_send_delivers_after_restart_repeating_only_the_cut_send_with_its_key()
{
    let fake = Fake::start().await;
    let (receiver, addr) = Receiver::start().await;
    // The first send hangs: the daemon is killed with it in flight, and the runs committed
    // meanwhile wait behind it, committed but not sent.
    receiver.delay(120_000);
    let dir = tempfile::tempdir().expect("tempdir");
    setup(&fake, dir.path(), &sqlite_url(dir.path()), addr, "hook");
    let first = start(dir.path());
    let store = store::open(&sqlite_url(dir.path())).await.expect("store");
    wait_until("a send in flight and runs behind it", &first, || async {
        !receiver.arrived("/hook").is_empty() && deliveries(&store).await.len() >= 3
    })
    .await;
    first.signal("KILL");
    drop(first);
    let owed: Vec<i64> = deliveries(&store).await.iter().map(|d| d.id).collect();
    let cut = keys(&receiver.arrived("/hook"));
    assert_eq!(cut.len(), 1, "one send was under way");

    receiver.delay(0);
    let mut second = start(dir.path());
    wait_until(
        "everything owed delivered after the restart",
        &second,
        || async {
            let all = deliveries(&store).await;
            owed.iter().all(|id| {
                all.iter()
                    .any(|d| d.id == *id && d.status == DeliveryStatus::Delivered)
            })
        },
    )
    .await;
    second.signal("TERM");
    assert_eq!(second.exit_code().await, Some(0), "{}", second.log());

    let arrived = keys(&receiver.arrived("/hook"));
    assert_eq!(arrived[0], cut[0]);
    assert_eq!(
        arrived[1], cut[0],
        "the cut send is repeated first, with its key"
    );
    let mut rest = arrived[1..].to_vec();
    let before = rest.len();
    rest.dedup();
    assert_eq!(rest.len(), before, "no other duplicates: {arrived:?}");
    checked_hooks(&receiver);
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_are_delivered_from_postgres_and_refusals_die_until_retried() {
    postgres::with_database("huntd_outputs", |url| async move {
        let fake = Fake::start().await;
        let (receiver, addr) = Receiver::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        setup(&fake, dir.path(), &url, addr, "hook");
        let mut daemon = start(dir.path());
        let store = store::open(&url).await.expect("store");
        wait_until("two deliveries", &daemon, || async {
            receiver.taken("/hook").len() >= 2
        })
        .await;
        // A refusal other than 408 and 429 is final: the delivery is dead at once.
        receiver.status.store(400, Ordering::SeqCst);
        wait_until("a dead delivery", &daemon, || async {
            deliveries(&store)
                .await
                .iter()
                .any(|d| d.status == DeliveryStatus::Dead)
        })
        .await;
        daemon.signal("TERM");
        assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
        let dead: Vec<_> = deliveries(&store)
            .await
            .into_iter()
            .filter(|d| d.status == DeliveryStatus::Dead)
            .collect();
        assert_eq!(dead[0].attempts, 1);
        assert!(
            dead[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("HTTP 400") && !e.contains("/hook")),
            "{dead:?}"
        );
        let out = huntd(dir.path(), &["deliveries", "retry", "--dead"]);
        assert!(out.status.success(), "{}", common::printed(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .contains(&format!("{} dead deliveries queued again", dead.len())),
            "{}",
            common::printed(&out)
        );
        receiver.status.store(200, Ordering::SeqCst);
        let before = delivered(&store).await;
        let mut again = start(dir.path());
        wait_until("the retried ones delivered", &again, || async {
            delivered(&store).await >= before + dead.len()
        })
        .await;
        again.signal("TERM");
        assert_eq!(again.exit_code().await, Some(0), "{}", again.log());
        checked_hooks(&receiver);
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_names_the_line_of_an_unknown_output_and_notify_test_sends_a_sample() {
    let fake = Fake::start().await;
    let (receiver, addr) = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    setup(&fake, dir.path(), &sqlite_url(dir.path()), addr, "hook");
    std::fs::write(
        dir.path().join("jobs/other.yaml"),
        format!("{}notify:\n  to: [hoook]\n", job_yaml("other")),
    )
    .expect("write job");
    let out = huntd(dir.path(), &["validate"]);
    let text = common::printed(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("other.yaml:7:")
            && text.contains("notify.to names `hoook`, which is no output"),
        "{text}"
    );
    assert!(text.contains("did you mean `hook`?"), "{text}");
    std::fs::remove_file(dir.path().join("jobs/other.yaml")).expect("remove");

    let out = huntd(dir.path(), &["notify-test", "hook"]);
    assert!(out.status.success(), "{}", common::printed(&out));
    let sample = receiver.taken("/hook");
    assert_eq!(sample.len(), 1);
    assert!(signed(&sample[0]));
    assert!(
        sample[0]
            .header("Idempotency-Key")
            .starts_with("huntd-test-")
    );
    receiver.status.store(404, Ordering::SeqCst);
    let out = huntd(dir.path(), &["notify-test", "chat"]);
    let text = common::printed(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("refused") && text.contains("HTTP 404"),
        "{text}"
    );
    assert!(
        !text.contains("/slack"),
        "the URL's path is never shown: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_on_postgres_send_each_delivery_once_and_each_job_in_run_order() {
    postgres::with_database("huntd_outputs_nodes", |url| async move {
        let fake = Fake::start().await;
        let (receiver, addr) = Receiver::start().await;
        // Slow answers keep sends in flight while the other nodes claim.
        receiver.delay(200);
        let dirs = temp_dirs(3);
        let mut nodes = Vec::new();
        for (n, dir) in dirs.iter().enumerate() {
            write_config(
                &fake,
                dir.path(),
                &url,
                &format!(
                    "node: node-{n}\n  shutdown_grace: 2s\n  notify: {{to: [hook], mode: each}}"
                ),
            );
            add_outputs(dir.path(), addr);
            for job in ["alpha", "bravo", "charlie"] {
                std::fs::write(dir.path().join(format!("jobs/{job}.yaml")), job_yaml(job))
                    .expect("write job");
            }
            nodes.push(start(dir.path()));
        }
        let store = store::open(&url).await.expect("store");
        wait_until("twelve deliveries", &nodes[0], || async {
            receiver.taken("/hook").len() >= 12
        })
        .await;
        for node in &mut nodes {
            node.signal("TERM");
            assert_eq!(node.exit_code().await, Some(0), "{}", node.log());
        }
        let sent = keys(&receiver.arrived("/hook"));
        assert_eq!(
            distinct(&sent),
            sent.len(),
            "a delivery sent twice: {sent:?}"
        );
        let all = deliveries(&store).await;
        let delivered: Vec<_> = all
            .iter()
            .filter(|d| d.status == DeliveryStatus::Delivered)
            .collect();
        assert_eq!(delivered.len(), sent.len(), "{all:#?}");
        let mut by_node = std::collections::BTreeMap::new();
        for d in &delivered {
            *by_node
                .entry(d.lease_owner.clone().unwrap_or_default())
                .or_insert(0) += 1;
        }
        eprintln!("deliveries sent per node: {by_node:?}");
        let hooks = checked_hooks(&receiver);
        for job in ["alpha", "bravo", "charlie"] {
            let ids: Vec<i64> = hooks
                .iter()
                .filter(|b| b["job"] == job)
                .filter_map(|b| b["delivery_id"].as_i64())
                .collect();
            assert!(
                ids.windows(2).all(|w| w[0] < w[1]),
                "{job} in run order: {ids:?}"
            );
        }
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_nodes_claimed_delivery_is_taken_over_by_another_node_when_its_claim_ends() {
    postgres::with_database("huntd_outputs_takeover", |url| async move {
        let fake = Fake::start().await;
        let (receiver, addr) = Receiver::start().await;
        // node-0's first send hangs: it is killed holding the claim.
        receiver.delay(120_000);
        let dirs = temp_dirs(3);
        for (n, dir) in dirs.iter().enumerate() {
            setup(&fake, dir.path(), &url, addr, "hook");
            edit_config(dir.path(), |text| {
                text.replace("node: test-node", &format!("node: node-{n}"))
            });
        }
        // A 3 s lease makes claims last the 10 s minimum.
        let lease = ["--lease-secs", "3"];
        let first = start_daemon_with(dirs[0].path(), &lease, &[("HOOK_SECRET", HOOK_SECRET)]);
        let store = store::open(&url).await.expect("store");
        wait_until("a send in flight and a run behind it", &first, || async {
            !receiver.arrived("/hook").is_empty() && deliveries(&store).await.len() >= 2
        })
        .await;
        first.signal("KILL");
        drop(first);
        let cut = keys(&receiver.arrived("/hook"));
        assert_eq!(cut.len(), 1, "one send was under way");
        let claimed = deliveries(&store)
            .await
            .into_iter()
            .find(|d| d.lease_owner.as_deref() == Some("node-0"))
            .expect("node-0's claim");
        let owed: Vec<i64> = deliveries(&store).await.iter().map(|d| d.id).collect();

        receiver.delay(0);
        let mut others: Vec<common::Daemon> = dirs[1..]
            .iter()
            .map(|dir| start_daemon_with(dir.path(), &lease, &[("HOOK_SECRET", HOOK_SECRET)]))
            .collect();
        wait_until("everything node-0 owed delivered", &others[0], || async {
            let all = deliveries(&store).await;
            owed.iter().all(|id| {
                all.iter()
                    .any(|d| d.id == *id && d.status == DeliveryStatus::Delivered)
            })
        })
        .await;
        for node in &mut others {
            node.signal("TERM");
            assert_eq!(node.exit_code().await, Some(0), "{}", node.log());
        }
        let taken = deliveries(&store)
            .await
            .into_iter()
            .find(|d| d.id == claimed.id)
            .expect("the claimed delivery");
        assert_ne!(taken.lease_owner.as_deref(), Some("node-0"), "{taken:#?}");
        let until = claimed.lease_expires_at.expect("a claim has an end");
        assert!(
            taken.delivered_at.is_some_and(|at| at >= until),
            "taken over only once node-0's claim ended: {taken:#?}"
        );
        let arrived = keys(&receiver.arrived("/hook"));
        let repeats = arrived.iter().filter(|k| **k == cut[0]).count();
        assert_eq!(
            repeats, 2,
            "the cut send repeated once, with its key: {arrived:?}"
        );
        assert_eq!(
            distinct(&arrived) + 1,
            arrived.len(),
            "no other duplicates: {arrived:?}"
        );
        checked_hooks(&receiver);
        store.close().await;
    })
    .await;
}

/// Reads RFC 6587 octet-counted frames (`LENGTH SP MESSAGE`) from every connection to
/// `listener` into `frames`.
async fn read_frames(listener: tokio::net::TcpListener, frames: Arc<Mutex<Vec<String>>>) {
    use tokio::io::AsyncReadExt as _;
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let frames = Arc::clone(&frames);
        tokio::spawn(async move {
            let mut bytes = Vec::new();
            stream.read_to_end(&mut bytes).await.expect("read");
            frames
                .lock()
                .expect("lock")
                .extend(syslog::octet_frames(&bytes));
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_carries_rfc5424_over_tcp_with_octet_counting_and_cef_over_udp() {
    let fake = Fake::start().await;
    let (_receiver, addr) = Receiver::start().await;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let tcp_addr = tcp.local_addr().expect("addr");
    let frames = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(read_frames(tcp, Arc::clone(&frames)));
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let udp_addr = udp.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    setup(
        &fake,
        dir.path(),
        &sqlite_url(dir.path()),
        addr,
        "siem, arcsight",
    );
    edit_config(dir.path(), |text| {
        text + &format!(
            "  siem: {{type: syslog, address: 'tcp://{tcp_addr}'}}\n  arcsight: {{type: syslog, address: 'udp://{udp_addr}', format: cef}}\n"
        )
    });
    let mut daemon = start(dir.path());
    let mut datagram = vec![0u8; 65_536];
    let n = tokio::time::timeout(Duration::from_secs(60), udp.recv(&mut datagram))
        .await
        .expect("a datagram within a minute")
        .expect("recv");
    let cef = String::from_utf8(datagram[..n].to_vec()).expect("UTF-8");
    wait_until("a framed message", &daemon, || async {
        !frames.lock().expect("lock").is_empty()
    })
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());

    let message = frames.lock().expect("lock")[0].clone();
    assert!(message.starts_with("<84>1 "), "{message}");
    assert!(message.contains(" huntd "), "{message}");
    assert!(
        message.contains("[huntd@32473 job=\"probe\" instance=\"Fake\" run=\""),
        "{message}"
    );
    let json = message.split_once("] \u{feff}").expect("BOM and JSON").1;
    let row: serde_json::Value = serde_json::from_str(json).expect("the finding as JSON");
    assert!(
        row["Query"].as_str().is_some_and(|q| q.contains("'probe'")),
        "{row}"
    );

    assert!(cef.starts_with("<84>1 "), "{cef}");
    let event = cef
        .split_once("] ")
        .expect("CEF after the structured data")
        .1;
    assert!(event.starts_with("CEF:0|huntd|huntd|"), "{event}");
    assert!(
        event.contains("|probe|new finding from job probe|5|"),
        "{event}"
    );
    assert!(event.contains("cs1Label=job cs1=probe"), "{event}");
    // KQL's `=` in the finding's query is escaped in the extension.
    assert!(event.contains(r"job \= 'probe'"), "{event}");
}
