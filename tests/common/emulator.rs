//! Shared pieces of the emulator tests: a sample-data emulator, tokens from its endpoint, raw API calls.
// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use huntd::auth::{self, AccessToken, Resource, TokenSource};
use huntd::config::{Credential, Instance, Secret, SecretSource};
use huntd::emulator::{
    self, DEMO_APP, DEMO_SECRET, DEMO_TENANT, DataSource, Emulator, EmulatorOptions,
};
use huntd::hunt::{HuntError, HuntOutcome, Hunter, Window};
use huntd::jobs::Environment;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The Graph hunting API path.
pub const GRAPH: &str = "/v1.0/security/runHuntingQuery";
/// The MDE advanced queries API path.
pub const MDE: &str = "/api/advancedqueries/run";
/// The client-credentials scope for Graph.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The client-credentials scope for MDE.
pub const MDE_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

/// Emulator options with a fixed, seeded sample data set.
pub fn options() -> EmulatorOptions {
    EmulatorOptions {
        data: DataSource::Sample {
            seed: 42,
            rows_per_table: 2000,
        },
        ..EmulatorOptions::default()
    }
}

/// Starts an emulator on loopback.
pub async fn start(options: EmulatorOptions) -> Emulator {
    emulator::start(options).await.expect("emulator starts")
}

/// Fetches a token from the emulator's token endpoint on every call, like a cache-less client.
#[derive(Debug)]
pub struct EmulatorTokens;

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

/// An instance signed in to the emulator's demo tenant as `app` with `secret`.
pub fn demo_instance(name: &str, base: &str, app: &str, secret: &str) -> Instance {
    let mut instance = crate::common::instance(name, base);
    instance.tenant_id = DEMO_TENANT.to_string();
    instance.client_id = app.to_string();
    instance.credential = Credential::ClientSecret(SecretSource::Plain(Secret::new(secret)));
    instance
}

/// A hunt client fetching a fresh token from the emulator for every call.
pub fn hunter() -> Hunter {
    Hunter::new(Arc::new(EmulatorTokens), crate::common::fast_options())
}

/// Runs `query` on `environment` as the demo app, through huntd's hunt client.
pub async fn hunt(
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
pub async fn take_one(
    hunter: &Hunter,
    instance: &Instance,
    environment: Environment,
) -> Result<HuntOutcome, HuntError> {
    let cancel = CancellationToken::new();
    hunter
        .run(instance, environment, "DeviceInfo | take 1", None, &cancel)
        .await
}

/// A raw client-credentials token request: status and body.
pub async fn token_response(
    base: &str,
    tenant: &str,
    app: &str,
    secret: &str,
    scope: &str,
) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app),
        ("client_secret", secret),
        ("scope", scope),
    ];
    token_answer(&format!("{base}/{tenant}/oauth2/v2.0/token"), &form).await
}

/// What the token endpoint at `url` answers `form`: status and body.
pub async fn token_answer(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .form(form)
        .send()
        .await
        .expect("token endpoint answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("token answer is JSON"))
}

/// A token for the demo tenant, asserting the endpoint issued one.
pub async fn token(base: &str, app: &str, secret: &str, scope: &str) -> String {
    let (status, body) = token_response(base, DEMO_TENANT, app, secret, scope).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("a token").to_string()
}

/// A raw API call running `query`: status, `Retry-After`, body.
pub async fn call(
    base: &str,
    path: &str,
    token: &str,
    query: &str,
) -> (u16, Option<String>, Value) {
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

/// The repository root, where the fixtures and example jobs live.
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
