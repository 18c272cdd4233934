//! The emulator over real HTTP on loopback: Entra ID tokens, both hunting APIs and their
//! shapes, errors, quotas, faults, the request log, and every example job finding its planted
//! activity, driven by huntd's own hunt client where it fits.

#[path = "common/hunt.rs"]
mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use huntd::auth::{self, AccessToken, Resource, TokenSource};
use huntd::config::{Credential, Instance, Secret, SecretSource};
use huntd::diagnostic::Diagnostics;
use huntd::emulator::{
    self, DEMO_APP, DEMO_GRAPH_ONLY_APP, DEMO_GRAPH_ONLY_SECRET, DEMO_SECRET, DEMO_TENANT,
    DataSource, Emulator, EmulatorOptions,
};
use huntd::hunt::{ErrorClass, HuntError, HuntOutcome, Hunter, Window};
use huntd::jobs::{self, Environment, Library};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const GRAPH: &str = "/v1.0/security/runHuntingQuery";
const MDE: &str = "/api/advancedqueries/run";
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
const MDE_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

fn options() -> EmulatorOptions {
    EmulatorOptions {
        data: DataSource::Sample {
            seed: 42,
            rows_per_table: 2000,
        },
        ..EmulatorOptions::default()
    }
}

async fn start(options: EmulatorOptions) -> Emulator {
    emulator::start(options).await.expect("emulator starts")
}

/// Fetches a token from the emulator's token endpoint on every call, like a cache-less client.
#[derive(Debug)]
struct EmulatorTokens;

#[async_trait]
impl TokenSource for EmulatorTokens {
    async fn token(&self, instance: &Instance, resource: Resource) -> auth::Result<AccessToken> {
        let Credential::ClientSecret(SecretSource::Plain(secret)) = &instance.credential else {
            return Err(auth::Error::Rejected(
                "test instances use plain secrets".into(),
            ));
        };
        let scope = match resource {
            Resource::Graph => GRAPH_SCOPE,
            _ => MDE_SCOPE,
        };
        let answer: Value = reqwest::Client::new()
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                instance.endpoints.login, instance.tenant_id
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &instance.client_id),
                ("client_secret", secret.expose()),
                ("scope", scope),
            ])
            .send()
            .await
            .map_err(|e| auth::Error::Unreachable(e.to_string()))?
            .json()
            .await
            .map_err(|e| auth::Error::Unreachable(e.to_string()))?;
        let Some(token) = answer["access_token"].as_str() else {
            return Err(auth::Error::Rejected(
                answer["error_description"].to_string(),
            ));
        };
        Ok(AccessToken {
            token: Secret::new(token),
            expires_at: Utc::now() + TimeDelta::seconds(answer["expires_in"].as_i64().unwrap_or(0)),
        })
    }

    async fn invalidate(&self, _instance: &Instance, _resource: Resource) {}
}

fn demo_instance(name: &str, base: &str, app: &str, secret: &str) -> Instance {
    let mut instance = common::instance(name, base);
    instance.tenant_id = DEMO_TENANT.to_string();
    instance.client_id = app.to_string();
    instance.credential = Credential::ClientSecret(SecretSource::Plain(Secret::new(secret)));
    instance
}

fn hunter() -> Hunter {
    Hunter::new(Arc::new(EmulatorTokens), common::fast_options())
}

async fn hunt(
    emulator: &Emulator,
    environment: Environment,
    query: &str,
    window: Option<Window>,
) -> Result<HuntOutcome, HuntError> {
    let instance = demo_instance("Contoso", &emulator.base_url, DEMO_APP, DEMO_SECRET);
    hunter()
        .run(
            &instance,
            environment,
            query,
            window,
            &CancellationToken::new(),
        )
        .await
}

/// Runs `DeviceInfo | take 1` on `environment` with `hunter`, signed in as `instance`.
async fn take_one(
    hunter: &Hunter,
    instance: &Instance,
    environment: Environment,
) -> Result<HuntOutcome, HuntError> {
    let cancel = CancellationToken::new();
    hunter
        .run(instance, environment, "DeviceInfo | take 1", None, &cancel)
        .await
}

async fn token_response(
    base: &str,
    tenant: &str,
    app: &str,
    secret: &str,
    scope: &str,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .expect("token endpoint answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("token answer is JSON"))
}

async fn token(base: &str, app: &str, secret: &str, scope: &str) -> String {
    let (status, body) = token_response(base, DEMO_TENANT, app, secret, scope).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("a token").to_string()
}

/// A raw API call running `query`: status, `Retry-After`, body.
async fn call(base: &str, path: &str, token: &str, query: &str) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&json!({"Query": query}))
        .send()
        .await
        .expect("API answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        retry_after,
        response.json().await.expect("API answer is JSON"),
    )
}

#[tokio::test]
async fn token_endpoint_issues_a_jwt_and_answers_aadsts_errors() {
    let e = start(options()).await;
    let (status, body) =
        token_response(&e.base_url, DEMO_TENANT, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(
        body["access_token"].as_str().map(|t| t.split('.').count()),
        Some(3)
    );

    let cases = [
        (
            DEMO_TENANT,
            DEMO_APP,
            "wrong",
            401,
            "invalid_client",
            7_000_215,
        ),
        (
            DEMO_TENANT,
            "unknown-app",
            DEMO_SECRET,
            400,
            "unauthorized_client",
            700_016,
        ),
        (
            "unknown-tenant",
            DEMO_APP,
            DEMO_SECRET,
            400,
            "invalid_tenant",
            90002,
        ),
    ];
    for (tenant, app, secret, want_status, error, code) in cases {
        let (status, body) = token_response(&e.base_url, tenant, app, secret, GRAPH_SCOPE).await;
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["error"], error);
        assert_eq!(body["error_codes"], json!([code]));
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with(&format!("AADSTS{code}: ")),
            "{description}"
        );
        assert!(
            !description.contains(DEMO_SECRET),
            "the secret never echoes"
        );
    }
}

#[tokio::test]
async fn graph_and_mde_answer_in_their_own_shapes() {
    let e = start(options()).await;
    let query = "DeviceProcessEvents | take 3 | project Timestamp, DeviceName, ProcessId";
    let graph_token = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    let (status, _, body) = call(&e.base_url, GRAPH, &graph_token, query).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["@odata.context"].as_str().is_some());
    assert_eq!(
        body["schema"],
        json!([
            {"name": "Timestamp", "type": "DateTime"},
            {"name": "DeviceName", "type": "String"},
            {"name": "ProcessId", "type": "Int64"}
        ])
    );
    assert_eq!(body["results"].as_array().map(Vec::len), Some(3));

    let mde_token = token(&e.base_url, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    let (status, _, body) = call(&e.base_url, MDE, &mde_token, query).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["Stats"].is_object());
    assert_eq!(
        body["Schema"][0],
        json!({"Name": "Timestamp", "Type": "DateTime"})
    );
    let first = &body["Results"][0];
    assert!(
        first["DeviceName"]
            .as_str()
            .is_some_and(|n| n.ends_with(".contoso.local"))
    );
    assert!(
        first["Timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}

#[tokio::test]
async fn the_hunt_client_reads_both_apis() {
    let e = start(options()).await;
    for environment in [Environment::Graph, Environment::Mde] {
        let outcome = hunt(
            &e,
            environment,
            "DeviceInfo | summarize n = count() by OSPlatform",
            None,
        )
        .await
        .expect("runs");
        assert_eq!(outcome.attempts, 1);
        let names: Vec<&str> = outcome
            .result
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["OSPlatform", "n"]);
        assert_eq!(outcome.result.rows.len(), 2, "{environment:?}");
    }
}

#[tokio::test]
async fn graph_timespan_bounds_every_timestamp() {
    let e = start(options()).await;
    let end = Utc::now() - TimeDelta::days(2);
    let start_at = end - TimeDelta::hours(12);
    let outcome = hunt(
        &e,
        Environment::Graph,
        "DeviceNetworkEvents | summarize First = min(Timestamp), Last = max(Timestamp), n = count()",
        Some((start_at, end)),
    )
    .await
    .expect("runs");
    let row: Value = serde_json::from_str(outcome.result.rows[0].get()).expect("JSON row");
    let at = |key: &str| {
        row[key]
            .as_str()
            .and_then(|t| t.parse::<chrono::DateTime<Utc>>().ok())
            .expect("a datetime")
    };
    assert!(row["n"].as_i64().is_some_and(|n| n > 0), "{row}");
    assert!(at("First") >= start_at && at("Last") <= end, "{row}");
    let all = hunt(&e, Environment::Graph, "DeviceNetworkEvents | count", None)
        .await
        .expect("runs");
    let all: Value = serde_json::from_str(all.result.rows[0].get()).expect("JSON row");
    assert!(all["Count"].as_i64() > row["n"].as_i64(), "{all} vs {row}");
}

#[tokio::test]
async fn bad_kql_is_a_400_with_its_position_and_a_query_error_for_huntd() {
    let e = start(options()).await;
    let mde_token = token(&e.base_url, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    let (status, _, body) = call(&e.base_url, MDE, &mde_token, "DeviceInfo\n| frobnicate x").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "BadRequest");
    assert!(body["error"]["target"].as_str().is_some());
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("line 2"), "{message}");

    let error = hunt(&e, Environment::Graph, "DeviceInfo | where", None)
        .await
        .expect_err("bad KQL");
    assert_eq!(error.class, ErrorClass::Query, "{error}");
    assert_eq!(error.attempts, 1, "a query error is not retried");
}

#[tokio::test]
async fn a_missing_role_is_403_and_a_permission_error() {
    let e = start(options()).await;
    let instance = demo_instance(
        "Contoso",
        &e.base_url,
        DEMO_GRAPH_ONLY_APP,
        DEMO_GRAPH_ONLY_SECRET,
    );
    take_one(&hunter(), &instance, Environment::Graph)
        .await
        .expect("the app has the Graph role");
    let error = take_one(&hunter(), &instance, Environment::Mde)
        .await
        .expect_err("no MDE role");
    assert_eq!(error.class, ErrorClass::Permission, "{error}");

    let mde_token = token(
        &e.base_url,
        DEMO_GRAPH_ONLY_APP,
        DEMO_GRAPH_ONLY_SECRET,
        MDE_SCOPE,
    )
    .await;
    let (status, _, body) = call(&e.base_url, MDE, &mde_token, "DeviceInfo").await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("AdvancedQuery.Read.All"))
    );
}

#[tokio::test]
async fn expired_wrong_audience_and_missing_tokens_are_401_in_each_shape() {
    let e = start(EmulatorOptions {
        token_ttl: Duration::from_secs(1),
        ..options()
    })
    .await;
    let graph_token = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    let (status, _, body) = call(&e.base_url, MDE, &graph_token, "DeviceInfo").await;
    assert_eq!(status, 401, "a Graph token on MDE: {body}");
    assert!(body["error"]["target"].is_string());
    let (status, _, body) = call(&e.base_url, GRAPH, "not-a-jwt", "DeviceInfo").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(body["error"]["innerError"]["request-id"].is_string());

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, body) = call(&e.base_url, GRAPH, &graph_token, "DeviceInfo").await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{body}"
    );
}

#[tokio::test]
async fn the_per_minute_and_mde_hourly_quotas_answer_429_with_retry_after() {
    let e = start(EmulatorOptions {
        per_minute: 2,
        ..options()
    })
    .await;
    let t = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    for _ in 0..2 {
        let (status, _, body) = call(&e.base_url, GRAPH, &t, "DeviceInfo | take 1").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, retry_after, body) = call(&e.base_url, GRAPH, &t, "DeviceInfo | take 1").await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "TooManyRequests");
    let secs: u64 = retry_after
        .and_then(|r| r.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&secs), "{secs}");

    let e = start(EmulatorOptions {
        mde_per_hour: 1,
        ..options()
    })
    .await;
    let t = token(&e.base_url, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    let (status, _, _) = call(&e.base_url, MDE, &t, "DeviceInfo | take 1").await;
    assert_eq!(status, 200);
    let (status, retry_after, _) = call(&e.base_url, MDE, &t, "DeviceInfo | take 1").await;
    assert_eq!(status, 429);
    let secs: u64 = retry_after
        .and_then(|r| r.parse().ok())
        .expect("Retry-After in seconds");
    assert!(
        secs > 60,
        "an hourly quota waits longer than a minute: {secs}"
    );
}

#[tokio::test]
async fn fail_first_fails_each_distinct_query_n_times_then_answers() {
    let e = start(EmulatorOptions {
        fail_first: 2,
        ..options()
    })
    .await;
    let t = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    let statuses = async |query: &str| {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(call(&e.base_url, GRAPH, &t, query).await.0);
        }
        out
    };
    assert_eq!(statuses("DeviceInfo | take 1").await, [503, 503, 200]);
    assert_eq!(statuses("DeviceInfo | take 2").await, [503, 503, 200]);
    let outcome = hunt(&e, Environment::Graph, "DeviceInfo | take 3", None)
        .await
        .expect("the client retries through the failures");
    assert_eq!(outcome.attempts, 3);
}

#[tokio::test]
async fn cpu_quota_after_n_calls_answers_the_services_message() {
    let e = start(EmulatorOptions {
        cpu_quota_after: Some(1),
        ..options()
    })
    .await;
    let t = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    let (status, _, _) = call(&e.base_url, GRAPH, &t, "DeviceInfo | take 1").await;
    assert_eq!(status, 200);
    let (status, retry_after, body) = call(&e.base_url, GRAPH, &t, "DeviceInfo | take 1").await;
    assert_eq!(status, 429);
    assert_eq!(retry_after.as_deref(), Some("120"));
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("exceeded processing resources"),
        "{message}"
    );
    assert_eq!(
        huntd::hunt::parse_retry_in(message),
        Some(Duration::from_secs(120))
    );
}

#[tokio::test]
async fn the_request_log_has_one_json_line_per_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("requests.jsonl");
    let e = start(EmulatorOptions {
        request_log: Some(log.clone()),
        ..options()
    })
    .await;
    let t = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    call(&e.base_url, GRAPH, &t, "DeviceInfo | take 1").await;
    call(&e.base_url, GRAPH, &t, "DeviceInfo | nope").await;
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .expect("log written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["path"], "/oauth2/v2.0/token");
    assert_eq!(lines[1]["path"], GRAPH);
    assert_eq!(lines[1]["tenant"], DEMO_TENANT);
    assert_eq!(lines[1]["status"], 200);
    assert_eq!(lines[2]["status"], 400);
    assert!(lines[1]["time"].is_string());
    assert!(lines[1]["query_hash"].is_string());
    assert_ne!(lines[1]["query_hash"], lines[2]["query_hash"]);
}

#[tokio::test]
async fn answers_stop_at_100000_rows_and_oversized_ones_are_too_large() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rows = String::new();
    for i in 0..100_005 {
        writeln!(rows, "{{\"N\":{i}}}").expect("writing to a String cannot fail");
    }
    std::fs::write(dir.path().join("Numbers.jsonl"), rows).expect("write");
    let e = start(EmulatorOptions {
        data: DataSource::Dir(dir.path().to_path_buf()),
        ..options()
    })
    .await;
    let outcome = hunt(&e, Environment::Mde, "Numbers", None)
        .await
        .expect("runs");
    assert_eq!(outcome.result.rows.len(), 100_000);
    assert!(outcome.result.truncated);

    let e = start(EmulatorOptions {
        max_result_bytes: 10_000,
        ..options()
    })
    .await;
    let error = hunt(&e, Environment::Graph, "DeviceProcessEvents", None)
        .await
        .expect_err("too large");
    assert_eq!(error.class, ErrorClass::TooLarge, "{error}");
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn every_example_job_finds_its_planted_activity() {
    let mut diags = Diagnostics::new();
    let library = Library::load(&[repo().join("queries")], &mut diags);
    let instances: BTreeSet<String> = ["Contoso", "Fabrikam"].map(String::from).into();
    let jobs = jobs::load(&[repo().join("jobs")], &library, &instances, &mut diags);
    assert!(diags.is_empty(), "{:?}", diags.sorted());
    assert!(jobs.len() >= 6, "{} jobs", jobs.len());
    let e = start(options()).await;
    let now = Utc::now();
    for job in &jobs {
        let planted = match job.name.as_str() {
            "encoded-powershell" => "-enc",
            "known-bad-hash" => emulator::data::KNOWN_BAD_SHA256,
            "logon-new-country" => emulator::data::TRAVELLER_UPN,
            "rare-parent-child" => "winword.exe",
            name if name.starts_with("rare-ports") => "4444",
            other => panic!("no planted activity known for job {other}"),
        };
        let own_end = now - TimeDelta::from_std(job.delay).expect("small delay");
        let own_start = own_end - TimeDelta::from_std(job.lookback).expect("small lookback");
        for (start_at, end) in [(now - TimeDelta::days(7), now), (own_start, own_end)] {
            let query = job.render(start_at, end).expect("renders");
            let window = job.timespan.then_some((start_at, end));
            let outcome = hunt(&e, job.environment, &query, window)
                .await
                .unwrap_or_else(|error| panic!("{}: {error}", job.name));
            let rows: Vec<&str> = outcome.result.rows.iter().map(|r| r.get()).collect();
            assert!(
                rows.iter().any(|r| r.contains(planted)),
                "{} over {start_at}..{end} misses {planted}: {rows:?}",
                job.name
            );
        }
    }
}

/// The msticpy reference queries: how many the engine runs, how many it rejects (printed).
#[tokio::test]
#[ignore = "reads msticpy's query files from $HUNTD_MSTICPY_QUERIES; run from .ci/run"]
async fn msticpy_reference_queries_run_or_are_rejected_as_unsupported() {
    let root = PathBuf::from(
        std::env::var_os("HUNTD_MSTICPY_QUERIES").expect("HUNTD_MSTICPY_QUERIES names the folder"),
    );
    let mut diags = Diagnostics::new();
    let library = Library::load(&[root], &mut diags);
    let e = start(EmulatorOptions {
        per_minute: u32::MAX,
        ..options()
    })
    .await;
    let end = Utc::now();
    let start_at = end - TimeDelta::days(7);
    let (mut ran, mut rejected, mut unrendered) = (0, 0, 0);
    for query in library.iter() {
        let Some(text) = render_with_samples(query, start_at, end) else {
            unrendered += 1;
            continue;
        };
        match hunt(&e, Environment::Graph, &text, Some((start_at, end))).await {
            Ok(_) => ran += 1,
            Err(error) => {
                rejected += 1;
                println!("{}: {error}", query.name);
            }
        }
    }
    println!(
        "msticpy queries: {} total, {ran} run, {rejected} rejected, {unrendered} not rendered",
        library.len()
    );
    assert_eq!(library.len(), 99, "the reference library has 99 queries");
    assert_eq!(ran + rejected + unrendered, library.len());
    assert!(
        ran >= 60,
        "at least 60 of the msticpy queries must run, {ran} did"
    );
}

fn render_with_samples(
    query: &huntd::jobs::library::LibraryQuery,
    start: chrono::DateTime<Utc>,
    end: chrono::DateTime<Utc>,
) -> Option<String> {
    use huntd::jobs::template::{ParamType, ParamValue, QueryTemplate};
    let params = query
        .parameters
        .iter()
        .map(|(name, spec)| {
            let value = spec.default.clone().unwrap_or(match spec.param_type {
                ParamType::Int => ParamValue::Int(1),
                ParamType::DateTime => ParamValue::DateTime(start),
                ParamType::List => ParamValue::List(vec!["sample".to_string()]),
                ParamType::Str => ParamValue::Str("sample".to_string()),
            });
            (name.clone(), value)
        })
        .collect();
    QueryTemplate::new(query.query.clone(), params)
        .render(start, end)
        .ok()
}

#[tokio::test]
async fn huntd_emulate_serves_until_sigterm_and_exits_0() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_huntd"))
        .args([
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--rows-per-table",
            "200",
        ])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("huntd starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut base = None;
    while let Some(line) = lines.next_line().await.expect("stderr readable") {
        if let Some(url) = line.split("listening on ").nth(1) {
            base = Some(url.trim().to_string());
            break;
        }
    }
    let base = base.expect("huntd emulate prints its address");
    let t = token(&base, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    let (status, _, body) = call(&base, MDE, &t, "AlertInfo | count").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Results"][0]["Count"], 200);
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().await.expect("huntd exits");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn managed_identity_tokens_read_key_vault_secrets() {
    let e = start(options()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/metadata/identity/oauth2/token", e.base_url);
    let query = [
        ("api-version", "2018-02-01"),
        ("resource", "https://vault.azure.net"),
    ];
    let refused = client
        .get(&url)
        .query(&query)
        .send()
        .await
        .expect("answers");
    assert_eq!(
        refused.status().as_u16(),
        400,
        "the Metadata header is required"
    );
    let answer: Value = client
        .get(&url)
        .query(&query)
        .header("Metadata", "true")
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["client_id"], emulator::DEMO_MANAGED_IDENTITY);
    assert_eq!(answer["expires_in"], "3600");
    let vault_token = answer["access_token"].as_str().expect("a token");

    let secret = |name: &str, token: &str| {
        client
            .get(format!("{}/secrets/{name}?api-version=7.4", e.base_url))
            .bearer_auth(token)
            .send()
    };
    let found: Value = secret(emulator::DEMO_VAULT_SECRET, vault_token)
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(found["value"], DEMO_SECRET);
    let missing = secret("nope", vault_token).await.expect("answers");
    assert_eq!(missing.status().as_u16(), 404);
    let missing: Value = missing.json().await.expect("JSON");
    assert_eq!(missing["error"]["code"], "SecretNotFound");

    let graph_token = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    let wrong = secret(emulator::DEMO_VAULT_SECRET, &graph_token)
        .await
        .expect("answers");
    assert_eq!(
        wrong.status().as_u16(),
        401,
        "a Graph token is not for the vault"
    );
}

#[tokio::test]
async fn device_code_sign_in_is_pending_once_then_gives_delegated_and_refresh_tokens() {
    let e = start(options()).await;
    let client = reqwest::Client::new();
    let base = format!("{}/{DEMO_TENANT}/oauth2/v2.0", e.base_url);
    let scope = format!("{GRAPH_SCOPE} offline_access");
    let device: Value = client
        .post(format!("{base}/devicecode"))
        .form(&[("client_id", DEMO_APP), ("scope", &scope)])
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let code = device["device_code"]
        .as_str()
        .expect("a device code")
        .to_string();
    assert!(
        device["message"]
            .as_str()
            .is_some_and(|m| m.contains("devicelogin"))
    );
    let poll = async |form: &[(&str, &str)]| {
        let response = client
            .post(format!("{base}/token"))
            .form(form)
            .send()
            .await
            .expect("answers");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON"))
    };
    let grant = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", DEMO_APP),
        ("device_code", &code),
    ];
    let (status, pending) = poll(&grant).await;
    assert_eq!(
        (status, pending["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (status, signed_in) = poll(&grant).await;
    assert_eq!(status, 200, "{signed_in}");
    let access = signed_in["access_token"].as_str().expect("a token");
    let (status, _, body) = call(&e.base_url, GRAPH, access, "DeviceInfo | take 1").await;
    assert_eq!(status, 200, "a delegated token reads Graph: {body}");

    let refresh = signed_in["refresh_token"]
        .as_str()
        .expect("offline_access gives one");
    let renew = [
        ("grant_type", "refresh_token"),
        ("client_id", DEMO_APP),
        ("refresh_token", refresh),
    ];
    let (status, renewed) = poll(&renew).await;
    assert_eq!(status, 200, "{renewed}");
    assert_ne!(
        renewed["refresh_token"], signed_in["refresh_token"],
        "refresh tokens rotate"
    );
    let (status, reused) = poll(&renew).await;
    assert_eq!(
        (status, reused["error_codes"].clone()),
        (400, json!([700_082]))
    );
}

#[tokio::test]
async fn fail_rate_one_fails_every_call_with_a_5xx_and_latency_delays_answers() {
    let e = start(EmulatorOptions {
        fail_rate: 1.0,
        latency: Duration::from_millis(200),
        ..options()
    })
    .await;
    let t = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    let started = std::time::Instant::now();
    let (status, _, body) = call(&e.base_url, GRAPH, &t, "DeviceInfo | take 1").await;
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "the answer waits for --latency"
    );
    assert!([500, 503].contains(&status), "{status}: {body}");
    assert_eq!(body["error"]["code"], "UnknownError");
    let error = hunt(&e, Environment::Mde, "DeviceInfo | take 1", None)
        .await
        .expect_err("every call fails");
    assert_eq!(error.class, ErrorClass::Transient, "{error}");
    assert_eq!(error.attempts, 3, "retried up to the policy's limit");
}

/// Caches one token until the API refuses it, like huntd's token cache.
#[derive(Debug, Default)]
struct CachingTokens {
    cached: tokio::sync::Mutex<Option<AccessToken>>,
    fetched: std::sync::atomic::AtomicU32,
}

#[async_trait]
impl TokenSource for CachingTokens {
    async fn token(&self, instance: &Instance, resource: Resource) -> auth::Result<AccessToken> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let token = EmulatorTokens.token(instance, resource).await?;
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *cached = Some(token.clone());
        Ok(token)
    }

    async fn invalidate(&self, _instance: &Instance, _resource: Resource) {
        *self.cached.lock().await = None;
    }
}

#[tokio::test]
async fn an_expired_token_is_refused_and_the_hunt_client_recovers_with_a_fresh_one() {
    let e = start(EmulatorOptions {
        token_ttl: Duration::from_secs(1),
        ..options()
    })
    .await;
    let tokens = Arc::new(CachingTokens::default());
    let hunter = Hunter::new(tokens.clone(), common::fast_options());
    let instance = demo_instance("Contoso", &e.base_url, DEMO_APP, DEMO_SECRET);
    let first = take_one(&hunter, &instance, Environment::Graph)
        .await
        .expect("runs");
    assert_eq!(first.attempts, 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = take_one(&hunter, &instance, Environment::Graph)
        .await
        .expect("runs after refreshing the token");
    assert_eq!(second.result.rows.len(), 1);
    assert_eq!(
        tokens.fetched.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "the 401 made the client fetch a second token"
    );
}

/// A client assertion signed with the fixture key, naming it by `x5t#S256` or by `x5t`.
fn assertion(alg: Algorithm, x5t_s256: bool, aud: &str, exp_in: i64) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use sha2::Digest as _;
    let fixtures = repo().join("tests/fixtures/emulator");
    let pem = std::fs::read_to_string(fixtures.join("app-cert.pem")).expect("fixture cert");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).expect("PEM base64");
    let mut header = jsonwebtoken::Header::new(alg);
    if x5t_s256 {
        header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der)));
    } else {
        let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        header.x5t = Some(URL_SAFE_NO_PAD.encode(sha1.as_ref()));
    }
    let now = Utc::now().timestamp();
    let claims = json!({
        "aud": aud, "iss": "cert-app", "sub": "cert-app", "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now, "iat": now, "exp": now + exp_in,
    });
    let key = std::fs::read(fixtures.join("app-key.der")).expect("fixture key");
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(&key),
    )
    .expect("signs")
}

#[tokio::test]
async fn certificate_assertions_are_checked_against_registered_certificates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("emulator.yaml");
    let cert = repo().join("tests/fixtures/emulator/app-cert.pem");
    std::fs::write(
        &config,
        format!(
            "tenants:\n  - id: t1\n    apps:\n      - client_id: cert-app\n        certificates: [{}]\n        \
             roles: [AdvancedQuery.Read.All]\n",
            cert.display()
        ),
    )
    .expect("write");
    let e = start(EmulatorOptions {
        config: emulator::EmulatorConfig::load(&config).expect("valid config"),
        ..options()
    })
    .await;
    let url = format!("{}/t1/oauth2/v2.0/token", e.base_url);
    let ask = async |assertion: &str| {
        let response = reqwest::Client::new()
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "cert-app"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("scope", MDE_SCOPE),
            ])
            .send()
            .await
            .expect("answers");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON"))
    };
    for (alg, s256) in [(Algorithm::PS256, true), (Algorithm::RS256, false)] {
        let (status, body) = ask(&assertion(alg, s256, &url, 600)).await;
        assert_eq!(status, 200, "{alg:?}: {body}");
        let token = body["access_token"].as_str().expect("a token");
        let (status, _, _) = call(&e.base_url, MDE, token, "DeviceInfo | take 1").await;
        assert_eq!(status, 200);
    }
    let (status, body) = ask(&assertion(
        Algorithm::PS256,
        true,
        "https://elsewhere/t2/oauth2/v2.0/token",
        600,
    ))
    .await;
    assert_eq!(
        (status, body["error_codes"].clone()),
        (401, json!([700_027])),
        "{body}"
    );
    let (status, body) = ask(&assertion(Algorithm::PS256, true, &url, -10)).await;
    assert_eq!(
        (status, body["error_codes"].clone()),
        (401, json!([700_024])),
        "{body}"
    );
    let mut forged = assertion(Algorithm::RS256, false, &url, 600);
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    let (status, body) = ask(&forged).await;
    assert_eq!(
        (status, body["error_codes"].clone()),
        (401, json!([700_027])),
        "{body}"
    );
}
