//! `huntd once` as a user runs it, against a loopback fake of Entra ID and both hunting APIs.

#[path = "common/process.rs"]
mod common;

use std::path::Path;

use common::{LabSetup, huntd, printed};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// A temporary folder holding [`write_setup`]'s config for `server`.
fn lab_dir(server: &MockServer) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_setup(dir.path(), &server.uri());
    dir
}

/// A config with one Graph and one MDE job, both pointed at `server`.
fn write_setup(dir: &Path, server: &str) {
    LabSetup {
        tenant: TENANT,
        client_id: "11111111-1111-1111-1111-111111111111",
        secret: "fake-secret-value\n",
        base: server,
        ca_file: None,
        graph_query: "DeviceEvents | where Timestamp between (datetime({start}) .. datetime({end}))",
        mde_query: "DeviceInfo | where Timestamp > datetime({start})",
    }
    .write(dir);
}

async fn entra(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": "fake-access-token"
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn once_runs_a_graph_job_and_prints_a_summary_and_rows() {
    let server = MockServer::start().await;
    entra(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .and(header("authorization", "Bearer fake-access-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "schema": [{"name": "DeviceName", "type": "String"}, {"name": "Count", "type": "Int64"}],
            "results": [{"DeviceName": "ws-0042", "Count": 9_007_199_254_740_993_i64}]
        })))
        .expect(2)
        .mount(&server)
        .await;
    let dir = lab_dir(&server);

    let out = huntd(dir.path(), &["once", "graph-hunt", "--start", "2h"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    assert!(text.contains("rows: 1"), "{text}");
    assert!(text.contains("ws-0042"), "{text}");

    let out = huntd(dir.path(), &["once", "graph-hunt", "--output", "jsonl"]).await;
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        line.trim(),
        r#"{"DeviceName":"ws-0042","Count":9007199254740993}"#
    );
}

#[tokio::test]
async fn once_dry_run_prints_the_request_without_sending_it() {
    let server = MockServer::start().await;
    let dir = lab_dir(&server);

    let out = huntd(
        dir.path(),
        &[
            "once",
            "mde-hunt",
            "--start",
            "2026-01-01T00:00:00Z",
            "--end",
            "2026-01-02T00:00:00Z",
            "--dry-run",
        ],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("datetime(2026-01-01T00:00:00.0000000Z)"),
        "{text}"
    );
    assert!(text.contains("/api/advancedqueries/run"), "{text}");
    assert!(!text.contains("fake-secret-value"), "{text}");
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn once_shows_the_error_class_and_api_message_and_exits_three() {
    let server = MockServer::start().await;
    entra(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/advancedqueries/run"))
        .and(body_partial_json(serde_json::json!({})))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": {"code": "BadRequest", "message": "Syntax error near 'whre'", "target": "x"}
        })))
        .mount(&server)
        .await;
    let dir = lab_dir(&server);

    let out = huntd(dir.path(), &["once", "mde-hunt"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("error (query)"), "{err}");
    assert!(err.contains("Syntax error near 'whre'"), "{err}");
    assert!(err.contains("client-request-id:"), "{err}");
}

#[tokio::test]
async fn once_with_an_unknown_job_suggests_the_closest_name() {
    let server = MockServer::start().await;
    let dir = lab_dir(&server);
    let out = huntd(dir.path(), &["once", "graph-hnt"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `graph-hunt`?"));
}

#[tokio::test]
async fn token_shows_roles_and_warns_about_a_missing_permission_without_printing_the_token() {
    let server = MockServer::start().await;
    // A JWT whose payload carries roles without ThreatHunting.Read.All.
    let payload = base64_url(r#"{"tid":"t","appid":"a","roles":["User.Read.All"]}"#);
    let jwt = format!("eyJhbGciOiJub25lIn0.{payload}.c2ln");
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": jwt
        })))
        .mount(&server)
        .await;
    let dir = lab_dir(&server);

    let out = huntd(dir.path(), &["token", "--instance", "Lab"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("User.Read.All"), "{text}");
    assert!(text.contains("ThreatHunting.Read.All"), "{text}");
    assert!(!text.contains(&jwt), "{text}");
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn once_store_records_a_run_and_the_next_one_starts_at_its_window_end() {
    let server = MockServer::start().await;
    entra(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "schema": [{"name": "DeviceName", "type": "String"}],
            "results": [{"DeviceName": "ws-0042"}, {"DeviceName": "ws-0043"}]
        })))
        .mount(&server)
        .await;
    let dir = lab_dir(&server);

    let out = huntd(
        dir.path(),
        &["once", "graph-hunt", "--store", "--end", "1h"],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    assert!(text.contains("succeeded"), "{text}");

    let out = huntd(dir.path(), &["history", "graph-hunt", "--format", "json"]).await;
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    assert_eq!(runs[0]["row_count"], 2, "{runs}");
    assert_eq!(runs[0]["new_row_count"], 2, "{runs}");
    let first_end = runs[0]["window_end"].clone();

    // The same rows again: the next window starts where the first ended, and nothing is new.
    let out = huntd(dir.path(), &["once", "graph-hunt", "--store"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let out = huntd(dir.path(), &["history", "graph-hunt", "--format", "json"]).await;
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let latest = &runs[0];
    assert_eq!(latest["window_start"], first_end, "{runs}");
    assert_eq!(latest["new_row_count"], 0, "{runs}");
}

#[tokio::test]
async fn once_store_survives_an_answer_nested_100000_levels_deep_and_retries_it() {
    let server = MockServer::start().await;
    entra(&server).await;
    let depth = 100_000;
    let hostile = format!(
        r#"{{"schema":[{{"name":"a","type":"Dynamic"}}],"results":[{{"a":{}1{}}}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(hostile, "application/json"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "schema": [{"name": "a", "type": "Dynamic"}],
            "results": [{"a": [[1]]}]
        })))
        .mount(&server)
        .await;
    let dir = lab_dir(&server);

    let out = huntd(dir.path(), &["once", "graph-hunt", "--store", "-v"]).await;
    // The deep answer used to overflow the stack (exit 134); now it is a retried transient error.
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nests deeper than 100 levels"), "{err}");
    let out = huntd(dir.path(), &["history", "graph-hunt", "--format", "json"]).await;
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(runs[0]["status"], "succeeded", "{runs}");
    assert_eq!(runs[0]["row_count"], 1, "{runs}");
}

#[tokio::test]
async fn once_store_of_a_truncated_query_the_window_cannot_bound_calls_once_and_stores_each_row_once()
 {
    let server = MockServer::start().await;
    entra(&server).await;
    // Exactly the API's row cap: the answer was cut. The query has no `{start}`/`{end}` and MDE
    // sends no time span, so any window returns these same rows.
    let rows: Vec<serde_json::Value> = (0..100_000)
        .map(|i| serde_json::json!({"DeviceName": format!("ws-{i:06}")}))
        .collect();
    Mock::given(method("POST"))
        .and(path("/api/advancedqueries/run"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "Schema": [{"Name": "DeviceName", "Type": "String"}],
            "Results": rows
        })))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    LabSetup {
        tenant: TENANT,
        client_id: "11111111-1111-1111-1111-111111111111",
        secret: "fake-secret-value\n",
        base: &server.uri(),
        ca_file: None,
        graph_query: "DeviceEvents",
        mde_query: "DeviceProcessEvents | take 100000",
    }
    .write(dir.path());

    let out = huntd(
        dir.path(),
        &["once", "mde-hunt", "--store", "--start", "1h"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let calls = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/api/advancedqueries/run")
        .count();
    assert_eq!(calls, 1, "splitting the window cannot shrink this answer");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the window does not bound the query"), "{err}");
    let out = huntd(dir.path(), &["history", "mde-hunt", "--format", "json"]).await;
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(runs[0]["row_count"], 100_000, "{runs}");
    assert_eq!(runs[0]["truncated"], true, "{runs}");
}
