//! The hunting clients against Graph and MDE fakes on loopback: answers, headers, error classes,
//! retries, token refresh and tenant pauses.

#[path = "common/hunt.rs"]
mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{FakeTokens, fast_options, instance};
use huntd::auth::Resource;
use huntd::hunt::{ErrorClass, HuntError, HuntOutcome, Hunter, HunterOptions, TenantKey, dry_run};
use huntd::jobs::Environment;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const GRAPH_PATH: &str = "/v1.0/security/runHuntingQuery";
const MDE_PATH: &str = "/api/advancedqueries/run";

fn hunter(tokens: &Arc<FakeTokens>) -> Hunter {
    Hunter::new(tokens.clone(), fast_options())
}

/// Runs a hunt of instance `lab`, whose endpoints are all `base`.
async fn run(
    hunter: &Hunter,
    base: &str,
    environment: Environment,
) -> Result<HuntOutcome, HuntError> {
    hunter
        .run(
            &instance("lab", base),
            environment,
            "DeviceEvents | take 1",
            None,
            &CancellationToken::new(),
        )
        .await
}

async fn answer(server: &MockServer, api_path: &str, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(api_path))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Answers the first Graph call with `response`; later calls fall through to other mocks.
async fn answer_once(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(GRAPH_PATH))
        .respond_with(response)
        .up_to_n_times(1)
        .mount(server)
        .await;
}

/// Runs a Graph hunt against `server` that must succeed.
async fn succeeds(server: &MockServer) -> HuntOutcome {
    run(&hunter(&Arc::default()), &server.uri(), Environment::Graph)
        .await
        .expect("the hunt succeeds")
}

/// Fails unless the error's message contains `words`.
fn assert_mentions(error: &HuntError, words: &str) {
    assert!(error.message.contains(words), "{}", error.message);
}

/// Every request `server` has received so far.
async fn received(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("wiremock records requests")
}

/// 2024-`month`-`day` at `hour`:00 UTC.
fn utc(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, month, day, hour, 0, 0)
        .single()
        .expect("a valid date")
}

fn json_body(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

async fn failure(environment: Environment, response: ResponseTemplate) -> (HuntError, u64) {
    let server = MockServer::start().await;
    let api_path = match environment {
        Environment::Graph => GRAPH_PATH,
        Environment::Mde => MDE_PATH,
    };
    answer(&server, api_path, response).await;
    let error = run(&hunter(&Arc::default()), &server.uri(), environment)
        .await
        .expect_err("the fake answers with a failure");
    let calls = received(&server).await.len() as u64;
    (error, calls)
}

fn graph_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"code": code, "message": message,
                  "innerError": {"date": "2024-01-01T00:00:00", "request-id": "r", "client-request-id": "c"}}
    }))
}

fn mde_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"code": code, "message": message, "target": "43f4cb08"}}))
}

#[tokio::test]
async fn graph_answer_with_lowercase_keys_becomes_columns_and_raw_rows() {
    let server = MockServer::start().await;
    answer(
        &server,
        GRAPH_PATH,
        json_body(
            r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
            "schema":[{"name":"Timestamp","type":"DateTime"},{"name":"DeviceName","type":"String"}],
            "results":[{"Timestamp":"2024-02-01T08:00:00.1234567Z","DeviceName":"pc1"},
                       {"Timestamp":"2024-02-01T08:00:01Z","DeviceName":"pc2"}]}"#,
        ),
    )
    .await;
    let outcome = succeeds(&server).await;
    let result = &outcome.result;
    let columns: Vec<(&str, &str)> = result
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.type_name.as_str()))
        .collect();
    assert_eq!(
        columns,
        [("Timestamp", "DateTime"), ("DeviceName", "String")]
    );
    assert_eq!(
        result.rows.to_vec().expect("spooled rows")[0].get(),
        r#"{"Timestamp":"2024-02-01T08:00:00.1234567Z","DeviceName":"pc1"}"#
    );
    assert_eq!(result.rows.len(), 2);
    assert!(!result.truncated);
    assert!(result.stats.is_none());
    assert_eq!(result.http_status, 200);
    assert_eq!(outcome.attempts, 1);
}

#[tokio::test]
async fn mde_answer_with_capitalised_keys_and_stats() {
    let server = MockServer::start().await;
    answer(
        &server,
        MDE_PATH,
        json_body(
            r#"{"Stats":{"ExecutionTime":0.75,"resourceUsage":{"cpu":1}},
            "Schema":[{"Name":"DeviceId","Type":"String"},{"Name":"Count","Type":"Int64"}],
            "Results":[{"DeviceId":"abc","Count":3}]}"#,
        ),
    )
    .await;
    let tokens = Arc::new(FakeTokens::default());
    let outcome = run(&hunter(&tokens), &server.uri(), Environment::Mde)
        .await
        .expect("the hunt succeeds");
    assert_eq!(outcome.result.columns[1].name, "Count");
    assert_eq!(outcome.result.columns[1].type_name, "Int64");
    assert_eq!(
        outcome.result.rows.to_vec().expect("spooled rows")[0].get(),
        r#"{"DeviceId":"abc","Count":3}"#
    );
    assert_eq!(
        outcome.result.stats.as_ref().expect("MDE sent Stats").get(),
        r#"{"ExecutionTime":0.75,"resourceUsage":{"cpu":1}}"#
    );
    assert_eq!(tokens.state().resources, [Resource::Mde]);
}

#[tokio::test]
async fn values_stay_exactly_as_sent_and_unknown_types_are_kept_as_text() {
    let row = r#"{"Big":9223372036854775807,"Huge":18446744073709551616,"Ratio":1.50,"T":"2024-02-01T08:00:00.1234567Z","D":{"a":[1,{"b":null}],"c":"x\u00e9"}}"#;
    let server = MockServer::start().await;
    answer(
        &server,
        GRAPH_PATH,
        json_body(&format!(
            r#"{{"schema":[{{"Name":"Big","Type":"Int64"}},{{"Name":"D","Type":"FancyNewType"}}],"results":[{row}]}}"#
        )),
    )
    .await;
    let outcome = succeeds(&server).await;
    assert_eq!(
        outcome.result.rows.to_vec().expect("spooled rows")[0].get(),
        row
    );
    assert_eq!(outcome.result.columns[1].type_name, "FancyNewType");
}

#[tokio::test]
async fn request_has_headers_body_window_and_the_returned_request_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GRAPH_PATH))
        .and(header("authorization", "Bearer token-1"))
        .and(header("content-type", "application/json; charset=utf-8"))
        .and(header(
            "user-agent",
            concat!("huntd/", env!("CARGO_PKG_VERSION")),
        ))
        .and(body_json(json!({
            "Query": "DeviceEvents | take 1",
            "Timespan": "2024-02-01T08:00:00Z/2024-02-15T08:00:00Z"
        })))
        .respond_with(json_body(r#"{"schema":[],"results":[]}"#))
        .mount(&server)
        .await;
    let window = (utc(2, 1, 8), utc(2, 15, 8));
    let hunter = hunter(&Arc::default());
    let lab = instance("lab", &server.uri());
    let cancel = CancellationToken::new();
    let hunt = async || {
        hunter
            .run(
                &lab,
                Environment::Graph,
                "DeviceEvents | take 1",
                Some(window),
                &cancel,
            )
            .await
            .expect("the hunt succeeds")
    };
    let first = hunt().await;
    let second = hunt().await;
    let requests = received(&server).await;
    let sent: Vec<String> = requests
        .iter()
        .map(|r| {
            r.headers
                .get("client-request-id")
                .expect("every call sends a client-request-id")
                .to_str()
                .expect("a GUID is ASCII")
                .to_string()
        })
        .collect();
    assert_eq!(
        sent,
        [
            first.result.client_request_id.to_string(),
            second.result.client_request_id.to_string()
        ]
    );
    assert_ne!(sent[0], sent[1], "each call gets a fresh GUID");
}

#[tokio::test]
async fn mde_body_is_only_the_query() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MDE_PATH))
        .and(body_json(json!({"Query": "DeviceEvents | take 1"})))
        .respond_with(json_body(r#"{"Schema":[],"Results":[]}"#))
        .mount(&server)
        .await;
    let window = (Utc::now() - chrono::Duration::hours(1), Utc::now());
    let outcome = hunter(&Arc::default())
        .run(
            &instance("lab", &server.uri()),
            Environment::Mde,
            "DeviceEvents | take 1",
            Some(window),
            &CancellationToken::new(),
        )
        .await
        .expect("the hunt succeeds");
    assert!(outcome.result.rows.is_empty());
}

#[tokio::test]
async fn exactly_100000_rows_are_flagged_truncated_and_one_less_is_not() {
    for (count, truncated) in [(100_000, true), (99_999, false)] {
        let mut body = String::from(r#"{"schema":[{"name":"N","type":"Int32"}],"results":["#);
        for i in 0..count {
            if i > 0 {
                body.push(',');
            }
            write!(body, r#"{{"N":{i}}}"#).expect("writing to a String cannot fail");
        }
        body.push_str("]}");
        let server = MockServer::start().await;
        answer(&server, GRAPH_PATH, json_body(&body)).await;
        let outcome = succeeds(&server).await;
        assert_eq!(outcome.result.rows.len(), count);
        assert_eq!(outcome.result.truncated, truncated, "{count} rows");
    }
}

#[tokio::test]
async fn graph_403_names_threathunting_permission_and_admin_consent_without_retry() {
    let (error, calls) = failure(
        Environment::Graph,
        graph_error(403, "Forbidden", "Missing role permissions on the request."),
    )
    .await;
    assert_eq!(error.class, ErrorClass::Permission);
    assert_eq!(error.class.as_str(), "permission");
    assert_eq!(
        error.message,
        "the app registration may not run hunting queries (HTTP 403 Forbidden: \"Missing role \
         permissions on the request.\"): it needs the application permission \
         ThreatHunting.Read.All on the Microsoft Graph API, and an administrator must grant \
         admin consent for it"
    );
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn mde_403_names_advancedquery_permission() {
    let (error, calls) = failure(
        Environment::Mde,
        mde_error(
            403,
            "Forbidden",
            "The application does not have any of the required application roles",
        ),
    )
    .await;
    assert_eq!(error.class, ErrorClass::Permission);
    assert_mentions(&error, "AdvancedQuery.Read.All");
    assert_mentions(&error, "admin consent");
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn bad_kql_is_a_query_error_with_the_api_message_and_no_retry() {
    let (error, calls) = failure(
        Environment::Graph,
        graph_error(
            400,
            "BadRequest",
            "'project' operator: Failed to resolve scalar expression named 'x'",
        ),
    )
    .await;
    assert_eq!(error.class, ErrorClass::Query);
    assert_eq!(
        error.message,
        "Microsoft Graph runHuntingQuery rejected the query (HTTP 400 BadRequest): 'project' \
         operator: Failed to resolve scalar expression named 'x'"
    );
    assert_eq!(error.http_status, Some(400));
    assert_eq!(error.api_code.as_deref(), Some("BadRequest"));
    assert!(error.client_request_id.is_some());
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn result_over_the_size_limit_suggests_summarize_or_a_shorter_window() {
    let (error, calls) = failure(
        Environment::Mde,
        mde_error(400, "BadRequest", "Query execution has exceeded the allowed result size. Optimize your query by limiting the number of results and try again."),
    )
    .await;
    assert_eq!(error.class, ErrorClass::TooLarge);
    assert_eq!(error.class.as_str(), "too_large");
    assert_mentions(&error, "`summarize`");
    assert_mentions(&error, "shorter window");
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn throttled_429_reads_retry_after_header_and_body_duration_then_gives_up() {
    let (error, calls) = failure(
        Environment::Mde,
        mde_error(
            429,
            "TooManyRequests",
            "Too many requests. You can run queries again in 2 minutes.",
        )
        .insert_header("Retry-After", "30"),
    )
    .await;
    assert_eq!(error.class, ErrorClass::Throttled);
    assert_eq!(
        error.retry_after,
        Some(Duration::from_secs(120)),
        "the longer of header and body wins"
    );
    assert!(error.message.starts_with(
        "the tenant is throttled by Defender for Endpoint advanced queries (HTTP 429 TooManyRequests"
    ));
    // The 2-minute wait is over the test policy's 60 s budget, so it stops after one call.
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn retry_after_is_waited_before_the_next_attempt() {
    let server = MockServer::start().await;
    answer_once(
        &server,
        graph_error(429, "TooManyRequests", "Too many requests").insert_header("Retry-After", "1"),
    )
    .await;
    answer(
        &server,
        GRAPH_PATH,
        json_body(r#"{"schema":[],"results":[]}"#),
    )
    .await;
    let outcome = succeeds(&server).await;
    assert_eq!(outcome.attempts, 2);
    assert_eq!(outcome.retry_wait, Duration::from_secs(1));
}

#[tokio::test]
async fn server_errors_are_transient_and_retried_up_to_the_attempt_limit() {
    let (error, calls) = failure(Environment::Graph, graph_error(500, "UnknownError", "")).await;
    assert_eq!(error.class, ErrorClass::Transient);
    assert_eq!(
        error.message,
        "Microsoft Graph runHuntingQuery failed on its side (HTTP 500 UnknownError: no message) \
         (gave up after 3 attempts)"
    );
    assert_eq!(error.attempts, 3);
    assert_eq!(calls, 3);
}

#[tokio::test]
async fn a_transient_failure_then_success_succeeds() {
    let server = MockServer::start().await;
    answer_once(&server, ResponseTemplate::new(504)).await;
    answer(
        &server,
        GRAPH_PATH,
        json_body(r#"{"schema":[],"results":[{"a":1}]}"#),
    )
    .await;
    let outcome = succeeds(&server).await;
    assert_eq!(outcome.attempts, 2);
    assert_eq!(outcome.result.rows.len(), 1);
}

#[tokio::test]
async fn truncated_json_body_is_transient() {
    let (error, _) = failure(
        Environment::Graph,
        json_body(r#"{"schema":[{"name":"a","type":"Int32"}],"results":[{"a":1},{"a""#),
    )
    .await;
    assert_eq!(error.class, ErrorClass::Transient);
    assert_mentions(&error, "the answer was cut off (truncated JSON)");
}

#[tokio::test]
async fn invalid_json_body_is_transient() {
    let (error, _) = failure(Environment::Mde, json_body("<html>gateway</html>")).await;
    assert_eq!(error.class, ErrorClass::Transient);
    assert_mentions(&error, "the answer is not the expected JSON");
}

#[tokio::test]
async fn connection_closed_mid_body_is_transient() {
    let (listener, base) = common::loopback().await;
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.expect("the client connects");
            let mut buf = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"schema\":[],\"results\":[{\"a\":1},")
                .await;
            // Dropping the socket cuts the promised 100000 bytes short.
        }
    });
    let error = run(&hunter(&Arc::default()), &base, Environment::Graph)
        .await
        .expect_err("the hunt fails");
    assert_eq!(error.class, ErrorClass::Transient);
    assert_eq!(error.attempts, 3);
}

#[tokio::test]
async fn no_answer_within_the_limit_is_a_timeout_retried_only_as_bounded() {
    let server = MockServer::start().await;
    answer(
        &server,
        GRAPH_PATH,
        json_body(r#"{"schema":[],"results":[]}"#).set_delay(Duration::from_secs(5)),
    )
    .await;
    let options = HunterOptions {
        graph_time_limit: Duration::from_millis(100),
        timeout_margin: Duration::from_millis(50),
        ..fast_options()
    };
    let hunter = Hunter::new(Arc::new(FakeTokens::default()), options);
    let error = run(&hunter, &server.uri(), Environment::Graph)
        .await
        .expect_err("the hunt fails");
    assert_eq!(error.class, ErrorClass::Timeout);
    assert_eq!(
        error.message,
        "Microsoft Graph runHuntingQuery did not answer within 0.150 s (its limit plus a margin); \
         the query may be too heavy: narrow it or use a shorter window"
    );
    assert_eq!(error.attempts, 1, "max_timeouts = 1");
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer token-1"))
        .respond_with(graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired.",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer token-2"))
        .respond_with(json_body(r#"{"schema":[],"results":[{"a":1}]}"#))
        .mount(&server)
        .await;
    let tokens = Arc::new(FakeTokens::default());
    let outcome = run(&hunter(&tokens), &server.uri(), Environment::Graph)
        .await
        .expect("the hunt succeeds");
    assert_eq!(outcome.result.rows.len(), 1);
    let state = tokens.state();
    assert_eq!((state.fetched, state.invalidated), (2, 1));
}

#[tokio::test]
async fn a_second_401_after_refresh_is_an_auth_error() {
    let tokens = Arc::new(FakeTokens::default());
    let server = MockServer::start().await;
    answer(
        &server,
        GRAPH_PATH,
        graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        ),
    )
    .await;
    let error = run(&hunter(&tokens), &server.uri(), Environment::Graph)
        .await
        .expect_err("the hunt fails");
    assert_eq!(error.class, ErrorClass::Auth);
    assert_eq!(
        error.message,
        "Microsoft Graph runHuntingQuery refused the access token even after a fresh one \
         (HTTP 401 InvalidAuthenticationToken: \"Access token validation failure.\"); check the \
         instance's tenant id, client id and cloud"
    );
    assert_eq!(tokens.state().invalidated, 1);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_token_that_cannot_be_had_is_an_auth_error_without_a_call() {
    let tokens = Arc::new(FakeTokens::failing("AADSTS7000215: invalid client secret"));
    let server = MockServer::start().await;
    let error = run(&hunter(&tokens), &server.uri(), Environment::Graph)
        .await
        .expect_err("the hunt fails");
    assert_eq!(error.class, ErrorClass::Auth);
    assert_eq!(
        error.message,
        "no access token for instance `lab`: AADSTS7000215: invalid client secret"
    );
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn cpu_quota_429_pauses_its_tenant_and_not_another() {
    let exhausted = MockServer::start().await;
    answer(
        &exhausted,
        GRAPH_PATH,
        graph_error(
            429,
            "TooManyRequests",
            "You have exceeded processing resources allocated to this tenant. You can run queries again in 00:05:00.",
        ),
    )
    .await;
    let healthy = MockServer::start().await;
    answer(
        &healthy,
        GRAPH_PATH,
        json_body(r#"{"schema":[],"results":[]}"#),
    )
    .await;
    let hunter = hunter(&Arc::default());
    let cancel = CancellationToken::new();
    let error = hunter
        .run(
            &instance("a", &exhausted.uri()),
            Environment::Graph,
            "T",
            None,
            &cancel,
        )
        .await
        .expect_err("the hunt fails");
    assert_eq!(error.class, ErrorClass::Throttled);
    assert!(error.cpu_exhausted);
    let a = instance("a", &exhausted.uri());
    let paused = hunter
        .quotas()
        .limiter(&TenantKey::of(&a))
        .paused_until()
        .expect("tenant a is paused");
    let left = paused - tokio::time::Instant::now();
    assert!(
        left > Duration::from_secs(290) && left <= Duration::from_secs(300),
        "{left:?}"
    );
    let mut b = instance("b", &healthy.uri());
    b.tenant_id = "00000000-0000-0000-0000-0000000000bb".into();
    let b_limiter = hunter.quotas().limiter(&TenantKey::of(&b));
    assert!(b_limiter.paused_until().is_none());
    let outcome = hunter
        .run(&b, Environment::Graph, "T", None, &cancel)
        .await
        .expect("the hunt succeeds");
    assert_eq!(outcome.quota_wait, Duration::ZERO);
}

#[tokio::test]
async fn rate_limit_429_waits_for_its_call_and_does_not_pause_the_tenant() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(GRAPH_PATH))
        .respond_with(graph_error(
            429,
            "TooManyRequests",
            "Rate limit is exceeded. Try again in 1 seconds.",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    answer(
        &server,
        GRAPH_PATH,
        json_body(r#"{"schema":[],"results":[]}"#),
    )
    .await;
    let hunter = hunter(&Arc::default());
    let lab = instance("lab", &server.uri());
    let outcome = hunter
        .run(
            &lab,
            Environment::Graph,
            "T",
            None,
            &CancellationToken::new(),
        )
        .await
        .expect("the retry succeeds");
    assert_eq!(outcome.attempts, 2);
    assert!(
        outcome.retry_wait >= Duration::from_secs(1),
        "{:?}",
        outcome.retry_wait
    );
    assert!(
        hunter
            .quotas()
            .limiter(&TenantKey::of(&lab))
            .paused_until()
            .is_none(),
        "a rate limit is not the tenant's CPU allocation"
    );
}

/// A Graph answer whose one row holds a value nested `depth` arrays deep.
fn nested_answer(depth: usize) -> String {
    format!(
        r#"{{"schema":[{{"name":"a","type":"Dynamic"}}],"results":[{{"a":{}1{}}}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[tokio::test]
async fn an_answer_nested_100000_levels_deep_is_a_transient_error_naming_the_limit() {
    let server = MockServer::start().await;
    answer(&server, GRAPH_PATH, json_body(&nested_answer(100_000))).await;
    let error = run(&hunter(&Arc::default()), &server.uri(), Environment::Graph)
        .await
        .expect_err("the hunt fails");
    assert_eq!(error.class, ErrorClass::Transient);
    assert!(
        error.message.contains(&format!(
            "nests deeper than {} levels",
            huntd::hunt::MAX_DEPTH
        )),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn an_answer_over_the_size_cap_is_refused_while_it_streams() {
    let (listener, base) = common::loopback().await;
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    tokio::spawn({
        let sent = Arc::clone(&sent);
        async move {
            let (mut socket, _) = listener.accept().await.expect("the client connects");
            let mut buf = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut buf).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        transfer-encoding: chunked\r\n\r\n";
            let _ = socket.write_all(head.as_bytes()).await;
            let start = b"{\"schema\":[],\"results\":[";
            let _ = socket
                .write_all(format!("{:x}\r\n", start.len()).as_bytes())
                .await;
            let _ = socket.write_all(start).await;
            let _ = socket.write_all(b"\r\n").await;
            // Rows of 1 MiB without end: only the client's cap stops this stream.
            let row = format!("{{\"a\":\"{}\"}},", "x".repeat(1024 * 1024 - 9));
            let chunk = format!("{:x}\r\n{row}\r\n", row.len());
            while socket.write_all(chunk.as_bytes()).await.is_ok() {
                sent.fetch_add(row.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let error = run(&hunter(&Arc::default()), &base, Environment::Graph)
        .await
        .expect_err("the hunt fails");
    assert_eq!(error.class, ErrorClass::TooLarge);
    assert_mentions(&error, "MiB, huntd's limit");
    // The server stopped soon after the cap: the client did not read on.
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        sent < huntd::hunt::MAX_ANSWER_BYTES + 64 * 1024 * 1024,
        "{sent} bytes were sent"
    );
}

#[tokio::test]
async fn cancelling_a_spawned_run_ends_it_as_cancelled() {
    let server = MockServer::start().await;
    answer(
        &server,
        GRAPH_PATH,
        json_body(r#"{"schema":[],"results":[]}"#).set_delay(Duration::from_secs(30)),
    )
    .await;
    let cancel = CancellationToken::new();
    let hunter = Arc::new(hunter(&Arc::default()));
    let lab = instance("lab", &server.uri());
    // The daemon spawns runs, so the run future must be `Send`.
    let run = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            hunter
                .run(&lab, Environment::Graph, "T", None, &cancel)
                .await
        }
    });
    while received(&server).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    let error = run
        .await
        .expect("the task does not panic")
        .expect_err("the hunt fails");
    assert_eq!(error.class, ErrorClass::Cancelled);
    assert_eq!(error.message, "the run was cancelled before it finished");
}

#[test]
fn dry_run_shows_the_request_without_the_token() {
    let window = (utc(2, 1, 8), utc(2, 1, 9));
    let request = dry_run(
        &instance("lab", "https://graph.example"),
        Environment::Graph,
        "T | take 1",
        Some(window),
    );
    assert_eq!(
        request.to_string(),
        format!(
            "POST https://graph.example/v1.0/security/runHuntingQuery\n\
             Authorization: Bearer [redacted]\n\
             Content-Type: application/json; charset=utf-8\n\
             User-Agent: huntd/{}\n\
             client-request-id: <new GUID per call>\n\n\
             {{\"Query\":\"T | take 1\",\"Timespan\":\"2024-02-01T08:00:00Z/2024-02-01T09:00:00Z\"}}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let mde = dry_run(
        &instance("lab", "https://mde.example"),
        Environment::Mde,
        "T",
        None,
    );
    assert_eq!(mde.url, "https://mde.example/api/advancedqueries/run");
}
