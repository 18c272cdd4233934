//! The outputs that need more than a plain receiver, each checked on loopback against what the
//! vendor or RFC documents: Azure Monitor's Logs Ingestion API (a token for Azure Monitor, JSON
//! arrays of at most 1 MB, 429 with `Retry-After`) and syslog over TLS (RFC 5425).

#[path = "common/config.rs"]
mod common;
#[path = "common/syslog.rs"]
mod syslog;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use common::Fixture;
use huntd::auth::Tokens;
use huntd::config::Config;
use huntd::outputs::{Finding, MAX_CALL_BYTES, Notification, Sinks};
use tokio::io::AsyncReadExt as _;
use wiremock::matchers::{body_string_contains, header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RULE: &str = "dcr-0123456789abcdef0123456789abcdef";
const STREAM: &str = "Custom-HuntdFindings_CL";

/// A notification of `n` findings, each with a `pad`-byte field.
fn notification(n: usize, pad: usize) -> Notification {
    let mut notification = Notification::sample("sentinel");
    notification.delivery_id = 42;
    notification.findings = (0..n)
        .map(|i| Finding {
            row_hash: format!("{i:064x}"),
            first_seen_at: Utc::now(),
            data: serde_json::json!({"DeviceName": format!("device-{i}"), "Pad": "x".repeat(pad)}),
        })
        .collect();
    notification.new_findings = n;
    notification
}

/// Loads a huntd.yaml with instance Contoso signing in at `login` and `outputs`.
fn config(fixture: &Fixture, login: &str, outputs: &str) -> Config {
    let text = format!(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    TenantId: {}\n    ClientId: {}\n    \
         ClientSecret: {{File: secret.txt}}\n    Endpoints: {{login: '{login}'}}\noutputs:\n{outputs}",
        common::TENANT,
        common::CLIENT
    );
    let (config, diags) = fixture.load(&text);
    config.unwrap_or_else(|| panic!("a valid config: {}", common::all(&diags)))
}

fn sinks(fixture: &Fixture, config: &Config) -> Sinks {
    let tokens = Arc::new(Tokens::new(fixture.path("state")));
    Sinks::new(config, "test-node", tokens).expect("outputs ready")
}

/// Entra ID's token endpoint on `server`, answering only the Azure Monitor scope.
async fn monitor_tokens(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path_regex(r"^/[^/]+/oauth2/v2\.0/token$"))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fmonitor.azure.com%2F%2F.default",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3600, "access_token": "monitor-token"
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn log_analytics_posts_every_finding_in_order_in_calls_of_at_most_one_megabyte() {
    let server = MockServer::start().await;
    monitor_tokens(&server).await;
    let stream_path = format!("/dataCollectionRules/{RULE}/streams/{STREAM}");
    Mock::given(method("POST"))
        .and(path(stream_path.as_str()))
        .and(query_param("api-version", "2023-01-01"))
        .and(header("authorization", "Bearer monitor-token"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let fixture = Fixture::new();
    let config = config(
        &fixture,
        &server.uri(),
        &format!(
            "  sentinel: {{type: log_analytics, instance: Contoso, endpoint: '{}', rule_id: {RULE}, stream: {STREAM}}}\n",
            server.uri()
        ),
    );
    // 30 findings of ~100 KB: about 3 MB, so at least three calls.
    let sent = notification(30, 100_000);
    sinks(&fixture, &config)
        .send("sentinel", &sent)
        .await
        .expect("delivered");

    let calls: Vec<_> = server
        .received_requests()
        .await
        .expect("recorded")
        .into_iter()
        .filter(|r| r.url.path() == stream_path)
        .collect();
    assert!(calls.len() >= 3, "{} calls", calls.len());
    let mut rows = Vec::new();
    for call in &calls {
        assert!(
            call.body.len() <= MAX_CALL_BYTES,
            "{} bytes",
            call.body.len()
        );
        let array: Vec<serde_json::Value> = serde_json::from_slice(&call.body).expect("an array");
        rows.extend(array);
    }
    assert_eq!(rows.len(), 30);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["RowHash"], format!("{i:064x}"), "in order");
        assert_eq!(row["IdempotencyKey"], sent.idempotency_key.as_str());
        assert_eq!(row["Job"], "huntd-notify-test");
        assert_eq!(row["Finding"]["DeviceName"], format!("device-{i}"));
        assert!(row["TimeGenerated"].as_str().is_some(), "{row}");
    }
}

#[tokio::test]
async fn log_analytics_throttling_is_retried_after_the_asked_wait_and_a_bad_rule_is_refused_for_good()
 {
    let server = MockServer::start().await;
    monitor_tokens(&server).await;
    Mock::given(method("POST"))
        .and(path_regex(
            "^/dataCollectionRules/.*/streams/Custom-Busy_CL$",
        ))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            "^/dataCollectionRules/.*/streams/Custom-Gone_CL$",
        ))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "error": {"code": "NotFound", "message": "Data collection rule not found"}
        })))
        .mount(&server)
        .await;
    let fixture = Fixture::new();
    let uri = server.uri();
    let config = config(
        &fixture,
        &uri,
        &format!(
            "  busy: {{type: log_analytics, instance: Contoso, endpoint: '{uri}', rule_id: {RULE}, stream: Custom-Busy_CL}}\n  \
             gone: {{type: log_analytics, instance: Contoso, endpoint: '{uri}', rule_id: {RULE}, stream: Custom-Gone_CL}}\n"
        ),
    );
    let sinks = sinks(&fixture, &config);
    let busy = sinks
        .send("busy", &notification(1, 10))
        .await
        .expect_err("throttled");
    assert!(!busy.permanent, "{busy:?}");
    assert_eq!(busy.retry_after, Some(Duration::from_secs(7)));
    let gone = sinks
        .send("gone", &notification(1, 10))
        .await
        .expect_err("refused");
    assert!(gone.permanent, "{gone:?}");
    assert!(gone.message.contains("HTTP 404"), "{}", gone.message);
}

/// A self-signed certificate for 127.0.0.1 written as PEM to `pem`, and a TLS acceptor
/// serving it.
fn tls_acceptor(pem: &std::path::Path) -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    std::fs::write(pem, certificate.pem()).expect("write PEM");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key DER"),
    )
    .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Accepts TLS connections and keeps each one's bytes.
async fn tls_receiver(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let (acceptor, received) = (acceptor.clone(), Arc::clone(&received));
        tokio::spawn(async move {
            let Ok(mut stream) = acceptor.accept(stream).await else {
                return;
            };
            let mut bytes = Vec::new();
            if stream.read_to_end(&mut bytes).await.is_ok() {
                received.lock().expect("lock").push(bytes);
            }
        });
    }
}

#[tokio::test]
async fn syslog_over_tls_sends_octet_counted_rfc5424_frames_only_to_a_trusted_receiver() {
    let fixture = Fixture::new();
    let pem = fixture.path("siem-ca.pem");
    let acceptor = tls_acceptor(&pem);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(tls_receiver(listener, acceptor, Arc::clone(&received)));
    let config = config(
        &fixture,
        "https://login.microsoftonline.com",
        &format!(
            "  siem: {{type: syslog, address: 'tls://{addr}', ca_file: siem-ca.pem}}\n  \
             untrusted: {{type: syslog, address: 'tls://{addr}'}}\n"
        ),
    );
    let sinks = sinks(&fixture, &config);
    let sent = notification(2, 10);
    sinks.send("siem", &sent).await.expect("delivered");
    // The system's roots do not know the receiver's self-signed certificate.
    let refused = sinks
        .send("untrusted", &sent)
        .await
        .expect_err("an unknown certificate");
    assert!(refused.message.contains("TLS"), "{}", refused.message);

    let bytes = received.lock().expect("lock")[0].clone();
    let frames = syslog::octet_frames(&bytes);
    assert_eq!(frames.len(), 2);
    for (i, frame) in frames.iter().enumerate() {
        assert!(frame.starts_with("<84>1 "), "{frame}");
        assert!(frame.contains(&format!("finding=\"{i:064x}\"")), "{frame}");
    }
}
