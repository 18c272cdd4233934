//! `huntd emulate`'s receivers, fed by huntd's own outputs over loopback: a webhook that checks
//! the signature, the Logs Ingestion endpoint with its Azure Monitor token check and 1 MB limit,
//! a Splunk HEC endpoint with its token, and syslog over UDP and TCP; each writes the request
//! log and announces what it took.

#[path = "common/config.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Fixture;
use huntd::auth::Tokens;
use huntd::emulator::{self, DEMO_APP, DEMO_TENANT, EmulatorOptions, Received};
use huntd::outputs::{Finding, Notification, Sinks};

const RULE: &str = "dcr-0123456789abcdef0123456789abcdef";

/// The request log's lines as JSON.
fn log_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Statuses the request log recorded for `path`, in order.
fn statuses(lines: &[serde_json::Value], path: &str) -> Vec<u64> {
    lines
        .iter()
        .filter(|l| l["path"] == path)
        .map(|l| l["status"].as_u64().expect("a status"))
        .collect()
}

/// Outputs of every kind, all pointing at the emulator, and the demo app signing in.
fn config(fixture: &Fixture, base: &str, syslog: std::net::SocketAddr) -> huntd::config::Config {
    fixture.write("client-secret", emulator::DEMO_SECRET);
    fixture.write("hook-secret", emulator::DEMO_WEBHOOK_SECRET);
    fixture.write("wrong-secret", "not-the-emulators");
    fixture.write("hec-token", emulator::DEMO_HEC_TOKEN);
    let text = format!(
        "jobs: [jobs]\ninstances:\n  Demo:\n    TenantId: {DEMO_TENANT}\n    ClientId: {DEMO_APP}\n    \
         ClientSecret: {{File: client-secret}}\n    Endpoints: {{login: '{base}'}}\noutputs:\n  \
         hook: {{type: webhook, url: '{base}/sinks/webhook', secret: {{File: hook-secret}}}}\n  \
         forged: {{type: webhook, url: '{base}/sinks/webhook', secret: {{File: wrong-secret}}}}\n  \
         sentinel: {{type: log_analytics, instance: Demo, endpoint: '{base}', rule_id: {RULE}, stream: Custom-HuntdFindings_CL}}\n  \
         splunk: {{type: splunk_hec, url: '{base}', token: {{File: hec-token}}}}\n  \
         splunk-wrong: {{type: splunk_hec, url: '{base}', token: {{File: wrong-secret}}}}\n  \
         udp: {{type: syslog, address: 'udp://{syslog}'}}\n  \
         tcp: {{type: syslog, address: 'tcp://{syslog}', format: cef}}\n"
    );
    let (config, diags) = fixture.load(&text);
    config.unwrap_or_else(|| panic!("a valid config: {}", common::all(&diags)))
}

/// A notification of `n` findings with a `pad`-byte field each.
fn notification(n: usize, pad: usize) -> Notification {
    let mut notification = Notification::sample("any");
    notification.findings = (0..n)
        .map(|i| Finding {
            row_hash: format!("{i:064x}"),
            first_seen_at: chrono::Utc::now(),
            data: serde_json::json!({"DeviceName": format!("d{i}"), "Pad": "x".repeat(pad)}),
        })
        .collect();
    notification.new_findings = n;
    notification
}

/// Waits for the next announcement from a sink.
async fn next(received: &mut tokio::sync::broadcast::Receiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("an announcement within 10 s")
        .expect("the emulator runs")
}

#[tokio::test]
async fn the_emulators_sinks_take_what_huntds_outputs_send_and_refuse_what_a_real_receiver_would() {
    let fixture = Fixture::new();
    let log = fixture.path("requests.jsonl");
    let e = emulator::start(EmulatorOptions {
        request_log: Some(log.clone()),
        syslog_listen: Some("127.0.0.1:0".parse().expect("an address")),
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts");
    let mut received = e.received.subscribe();
    let syslog = e.syslog.expect("a syslog address");
    let config = config(&fixture, &e.base_url, syslog);
    let tokens = Arc::new(Tokens::new(fixture.path("state")));
    let sinks = Sinks::new(&config, "test-node", tokens).expect("outputs ready");
    let sent = notification(3, 10);

    sinks.send("hook", &sent).await.expect("a signed webhook");
    let hook = next(&mut received).await;
    assert_eq!(
        (hook.sink.as_str(), hook.key.as_deref()),
        ("webhook", Some(sent.idempotency_key.as_str()))
    );
    assert!(
        hook.summary
            .starts_with("3 new findings from job huntd-notify-test"),
        "{}",
        hook.summary
    );
    let forged = sinks
        .send("forged", &sent)
        .await
        .expect_err("a bad signature");
    assert!(
        forged.permanent && forged.message.contains("HTTP 401"),
        "{forged:?}"
    );

    // 30 findings of ~100 KB go out in calls of at most 1 MB, each taken.
    sinks
        .send("sentinel", &notification(30, 100_000))
        .await
        .expect("rows ingested");
    let mut rows = 0;
    while rows < 30 {
        let batch = next(&mut received).await;
        assert_eq!(batch.sink, "log_analytics");
        rows += batch.body.as_array().expect("rows").len();
    }
    assert_eq!(rows, 30);

    sinks.send("splunk", &sent).await.expect("HEC events");
    let events = next(&mut received).await;
    assert_eq!(
        (events.sink.as_str(), events.body.as_array().map(Vec::len)),
        ("splunk_hec", Some(3))
    );
    let wrong = sinks
        .send("splunk-wrong", &sent)
        .await
        .expect_err("a wrong token");
    assert!(
        wrong.permanent && wrong.message.contains("Invalid token"),
        "{wrong:?}"
    );

    sinks.send("udp", &sent).await.expect("datagrams");
    sinks.send("tcp", &sent).await.expect("frames");
    for _ in 0..6 {
        let message = next(&mut received).await;
        assert_eq!(message.sink, "syslog");
        assert_eq!(message.key.as_deref(), Some(sent.idempotency_key.as_str()));
    }

    let lines = log_lines(&log);
    assert_eq!(statuses(&lines, "/sinks/webhook"), [200, 401]);
    let ingested = statuses(&lines, "/dataCollectionRules/{rule}/streams/{stream}");
    assert!(
        ingested.len() >= 3 && ingested.iter().all(|s| *s == 204),
        "{ingested:?}"
    );
    assert_eq!(statuses(&lines, "/services/collector/event"), [200, 403]);
    assert_eq!(statuses(&lines, "syslog/udp"), [200; 3]);
    assert_eq!(statuses(&lines, "syslog/tcp"), [200; 3]);
}

#[tokio::test]
async fn logs_ingestion_refuses_calls_over_one_megabyte_and_tokens_for_another_api() {
    let e = emulator::start(EmulatorOptions::default())
        .await
        .expect("emulator starts");
    let client = reqwest::Client::new();
    let token = |scope: &'static str| {
        let (client, base) = (client.clone(), e.base_url.clone());
        async move {
            let answer: serde_json::Value = client
                .post(format!("{base}/{DEMO_TENANT}/oauth2/v2.0/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", DEMO_APP),
                    ("client_secret", emulator::DEMO_SECRET),
                    ("scope", scope),
                ])
                .send()
                .await
                .expect("token call")
                .json()
                .await
                .expect("JSON");
            answer["access_token"]
                .as_str()
                .expect("a token")
                .to_string()
        }
    };
    let url = format!(
        "{}/dataCollectionRules/{RULE}/streams/Custom-T_CL?api-version=2023-01-01",
        e.base_url
    );
    let post = |token: String, body: Vec<u8>| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("ingestion call");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
    };
    let monitor = token("https://monitor.azure.com//.default").await;
    let big = format!("[{{\"Pad\": \"{}\"}}]", "x".repeat(1_000_000)).into_bytes();
    let (status, body) = post(monitor.clone(), big).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("ContentLengthLimitExceeded"), "{body}");
    assert_eq!(
        post(monitor.clone(), b"{\"not\": \"an array\"}".to_vec())
            .await
            .0,
        400
    );
    assert_eq!(post(monitor, b"[{\"ok\": 1}]".to_vec()).await.0, 204);
    let graph = token("https://graph.microsoft.com/.default").await;
    let (status, body) = post(graph, b"[{\"ok\": 1}]".to_vec()).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("not https://monitor.azure.com"), "{body}");
}
