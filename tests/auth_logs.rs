//! Every log line of a full auth run, at trace level and including the HTTP libraries', is free
//! of secrets, tokens, refresh tokens and private keys.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod auth_support;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use auth_support::*;
use huntd::auth::{KeyVaultClient, Resource, TokenSource, Tokens, send_authorized, token_info};
use huntd::config::{
    AssertionAlg, Cloud, Credential, KeyVaultAuth, KeyVaultRef, KeyVaultSettings, Secret,
    SecretSource,
};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    /// Everything written so far.
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const CLIENT_SECRET: &str = "client-secret-Zq8~value";
const VAULT_APP_SECRET: &str = "vault-app-secret-Kx3~value";
const VAULT_SECRET: &str = "secret-read-from-vault-P9";
const KEY_PASSWORD: &str = "key-password-W4";
const SECRET_TOKEN: &str = "access-token-from-secret-flow";
const CERT_TOKEN: &str = "access-token-from-certificate-flow";
const VAULT_TOKEN: &str = "access-token-for-key-vault";
const DELEGATED_TOKEN: &str = "access-token-from-refresh";
const REFRESH_1: &str = "refresh-token-first-R1";
const REFRESH_2: &str = "refresh-token-rotated-R2";
const DEVICE_CODE: &str = "device-code-credential-D1";
const DEVICE_CODE_TOKEN: &str = "access-token-from-device-code";

#[tokio::test]
async fn trace_logs_of_a_full_run_hold_no_secret_token_or_key() {
    let logs = capture_trace_logs();
    let server = fake_entra_vault_and_api().await;
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::new();
    let encrypted_key = cert.key_encrypted_pem(KEY_PASSWORD);
    let tokens = Tokens::with_options(dir.path().join("state"), quick());

    sign_in_with_a_secret_and_retry_a_401(&tokens, &server).await;
    sign_in_with_a_certificate(&tokens, &server, dir.path(), &cert, &encrypted_key).await;
    resolve_a_vault_secret_then_be_refused(&tokens, &server).await;
    sign_in_with_a_device_code_then_redeem(&tokens, &server).await;

    let text = logs.text();
    // The capture works: huntd's own events and the HTTP stack's are in it.
    assert!(text.contains("new token from Entra ID"), "{text}");
    assert!(text.contains("refresh token rotated"), "{text}");
    assert!(text.contains("TRACE"), "{text}");
    let key_lines: Vec<&str> = encrypted_key
        .lines()
        .chain(cert.key_pkcs8_pem.lines())
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for needle in FORBIDDEN.iter().chain(&key_lines) {
        assert!(!text.contains(needle), "log output contains {needle:?}");
    }
}

/// Every secret, token and code the run handles; none may reach the logs.
const FORBIDDEN: [&str; 13] = [
    CLIENT_SECRET,
    VAULT_APP_SECRET,
    VAULT_SECRET,
    KEY_PASSWORD,
    SECRET_TOKEN,
    CERT_TOKEN,
    VAULT_TOKEN,
    DELEGATED_TOKEN,
    DEVICE_CODE_TOKEN,
    REFRESH_1,
    REFRESH_2,
    DEVICE_CODE,
    // A client assertion is a JWT: base64url of `{"` starts with `eyJ`.
    "eyJ",
];

/// Sends every event, at trace level and from every crate, to a buffer.
fn capture_trace_logs() -> Buffer {
    let logs = Buffer::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .try_init()
        .unwrap();
    logs
}

/// Entra ID answering each flow by what the request carries, a vault holding `app-secret`, and
/// an API refusing every token.
async fn fake_entra_vault_and_api() -> MockServer {
    let server = MockServer::start().await;
    let ok = |token: &str, refresh: Option<&str>| {
        ResponseTemplate::new(200).set_body_json(token_body(token, refresh))
    };
    let token_requests_carrying = [
        ("client_secret=client-secret", ok(SECRET_TOKEN, None)),
        ("client_secret=vault-app-secret", ok(VAULT_TOKEN, None)),
        (
            "client_secret=secret-read-from-vault",
            entra_error(
                401,
                "invalid_client",
                7_000_215,
                "Invalid client secret provided.",
            ),
        ),
        ("client_assertion=", ok(CERT_TOKEN, None)),
        ("device_code=", ok(DEVICE_CODE_TOKEN, Some(REFRESH_1))),
        (
            "grant_type=refresh_token",
            ok(DELEGATED_TOKEN, Some(REFRESH_2)),
        ),
    ];
    for (carried, answer) in token_requests_carrying {
        Mock::given(method("POST"))
            .and(body_string_contains(carried))
            .respond_with(answer)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/devicecode")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "device_code": DEVICE_CODE, "user_code": "ABCD-EFGH",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900, "interval": 1, "message": "Open the page and enter ABCD-EFGH.",
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/vaults/huntvault/secrets/app-secret"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": VAULT_SECRET})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/advancedqueries/run"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    server
}

/// Client secret, then a 401 from the API and the retry.
async fn sign_in_with_a_secret_and_retry_a_401(tokens: &Tokens, server: &MockServer) {
    let secret_instance = instance("Secret", &server.uri(), secret_credential(CLIENT_SECRET));
    tokens
        .token(&secret_instance, Resource::Graph)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let api = format!("{}/api/advancedqueries/run", server.uri());
    send_authorized(tokens, &secret_instance, Resource::Graph, || {
        http.post(&api)
    })
    .await
    .unwrap();
    token_info(tokens, &secret_instance, Resource::Graph)
        .await
        .unwrap();
}

/// Certificate with an encrypted key.
async fn sign_in_with_a_certificate(
    tokens: &Tokens,
    server: &MockServer,
    dir: &Path,
    cert: &TestCert,
    encrypted_key: &str,
) {
    let cert_instance = instance(
        "Cert",
        &server.uri(),
        Credential::Certificate {
            certificate: write(dir, "c.pem", &cert.cert_pem),
            private_key: Some(write(dir, "k.pem", encrypted_key)),
            private_key_secret: Some(SecretSource::Plain(Secret::new(KEY_PASSWORD))),
            assertion_alg: AssertionAlg::Ps256,
        },
    );
    tokens.token(&cert_instance, Resource::Mde).await.unwrap();
}

/// Key Vault, then a token request with the vault's (rejected) secret.
async fn resolve_a_vault_secret_then_be_refused(tokens: &Tokens, server: &MockServer) {
    let kv = KeyVaultSettings {
        tenant_id: Some(TENANT.into()),
        vault_name: Some("huntvault".into()),
        auth: KeyVaultAuth::App {
            client_id: "kv-client".into(),
            credential: secret_credential(VAULT_APP_SECRET),
        },
        cloud: Cloud::Global,
    };
    let vault_instance = instance(
        "Vault",
        &server.uri(),
        Credential::ClientSecret(SecretSource::KeyVault(KeyVaultRef {
            vault: None,
            secret: "app-secret".into(),
        })),
    );
    let mut config = config(vec![vault_instance], Some(kv.clone()));
    KeyVaultClient::new(&kv, tokens)
        .with_endpoints(server.uri(), format!("{}/vaults/{{vault}}", server.uri()))
        .resolve_config(&mut config)
        .await
        .unwrap();
    tracing::info!(config = ?config, "resolved config");
    let err = tokens
        .token(&config.instances["Vault"], Resource::Graph)
        .await
        .unwrap_err();
    tracing::error!(%err, "expected refusal");
}

/// Delegated: device code sign-in, then redemption with rotation.
async fn sign_in_with_a_device_code_then_redeem(tokens: &Tokens, server: &MockServer) {
    let delegated_instance = instance("Analyst", &server.uri(), delegated());
    tokens
        .login_device_code(&delegated_instance, Resource::Graph, &mut Vec::new())
        .await
        .unwrap();
    tokens
        .token(&delegated_instance, Resource::Graph)
        .await
        .unwrap();
}
