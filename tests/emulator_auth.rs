//! The emulator's sign-in over real HTTP on loopback: Entra ID tokens and AADSTS errors, refused
//! tokens, managed identity, device code and certificate assertions.

#[path = "common/hunt.rs"]
mod common;
#[path = "common/emulator.rs"]
mod emu;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use emu::*;
use huntd::auth::{self, AccessToken, Resource, TokenSource};
use huntd::config::Instance;
use huntd::emulator::{self, DEMO_APP, DEMO_SECRET, DEMO_TENANT, EmulatorOptions};
use huntd::hunt::Hunter;
use huntd::jobs::Environment;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

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
async fn a_token_form_without_a_content_type_is_read_as_entra_id_reads_it() {
    let e = start(options()).await;
    let url = format!("{}/{DEMO_TENANT}/oauth2/v2.0/token", e.base_url);
    let form = format!(
        "grant_type=client_credentials&client_id={DEMO_APP}&client_secret={DEMO_SECRET}\
         &scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
    );
    let client = reqwest::Client::new();
    // msticpy 3.0.2 posts its form with no Content-Type header at all.
    let answer = client
        .post(&url)
        .body(form)
        .send()
        .await
        .expect("token request");
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("JSON");
    assert_eq!(body["token_type"], "Bearer");

    let answer = client
        .post(&url)
        .body("grant_type=client_credentials&grant_type=password")
        .send()
        .await
        .expect("token request");
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_codes"], json!([9_002_313]));
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

/// The JSON body `request` is answered with, whatever its status.
async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON")
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
    let answer = json_answer(client.get(&url).query(&query).header("Metadata", "true")).await;
    assert_eq!(answer["client_id"], emulator::DEMO_MANAGED_IDENTITY);
    assert_eq!(answer["expires_in"], "3600");
    let vault_token = answer["access_token"].as_str().expect("a token");

    let secret = |name: &str, token: &str| {
        client
            .get(format!("{}/secrets/{name}?api-version=7.4", e.base_url))
            .bearer_auth(token)
    };
    let found = json_answer(secret(emulator::DEMO_VAULT_SECRET, vault_token)).await;
    assert_eq!(found["value"], DEMO_SECRET);
    let missing = secret("nope", vault_token).send().await.expect("answers");
    assert_eq!(missing.status().as_u16(), 404);
    let missing: Value = missing.json().await.expect("JSON");
    assert_eq!(missing["error"]["code"], "SecretNotFound");

    let graph_token = token(&e.base_url, DEMO_APP, DEMO_SECRET, GRAPH_SCOPE).await;
    let wrong = secret(emulator::DEMO_VAULT_SECRET, &graph_token)
        .send()
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
    let device = json_answer(
        client
            .post(format!("{base}/devicecode"))
            .form(&[("client_id", DEMO_APP), ("scope", &scope)]),
    )
    .await;
    let code = device["device_code"]
        .as_str()
        .expect("a device code")
        .to_string();
    assert!(
        device["message"]
            .as_str()
            .is_some_and(|m| m.contains("devicelogin"))
    );
    let poll = async |form: &[(&str, &str)]| token_answer(&format!("{base}/token"), form).await;
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
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", "cert-app"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("scope", MDE_SCOPE),
        ];
        token_answer(&url, &form).await
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
