//! Fakes and fixtures shared by the auth tests: instances pointed at a loopback Entra ID fake,
//! test certificates made at test time, and responders that speak Entra ID's formats.
#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use huntd::auth::{HttpOptions, Resource, RetryPolicy, TokenSource as _, Tokens};
use huntd::config::{
    Cloud, Config, Credential, Endpoints, Instance, KeyVaultSettings, Secret, SecretSource,
};
use wiremock::{Request, Respond, ResponseTemplate};

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

/// The error of a Graph token request, with quick retries, for client-secret instance `name`
/// signing in at `login`.
pub async fn graph_token_error(name: &str, login: &str) -> huntd::auth::Error {
    Tokens::with_options("/nonexistent", quick())
        .token(
            &instance(name, login, secret_credential("s")),
            Resource::Graph,
        )
        .await
        .expect_err("the sign-in must fail")
}

/// Options that keep retries quick on the real clock.
pub fn quick() -> HttpOptions {
    HttpOptions {
        timeout: Some(Duration::from_secs(5)),
        retry: RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
    }
}

/// Options for tokio's paused clock: no request timeout, whose timer the auto-advancing clock
/// would fire while the test waits on real loopback I/O.
pub fn paused() -> HttpOptions {
    HttpOptions {
        timeout: None,
        retry: RetryPolicy::default(),
    }
}

/// An instance whose sign-in endpoint is the fake at `login`.
pub fn instance(name: &str, login: &str, credential: Credential) -> Instance {
    Instance {
        name: name.into(),
        tenant_id: TENANT.into(),
        client_id: CLIENT.into(),
        credential,
        cloud: Cloud::Global,
        endpoints: Endpoints {
            login: login.into(),
            graph: "https://graph.microsoft.com".into(),
            mde: "https://api.securitycenter.microsoft.com".into(),
            keyvault: "https://{vault}.vault.azure.net".into(),
            monitor: "https://monitor.azure.com".into(),
        },
        quota: None,
        ca_file: None,
        allow_overcommit: false,
        mde_retirement_noticed: false,
        tags: Vec::new(),
        source: PathBuf::from("/etc/huntd/huntd.yaml"),
    }
}

pub fn secret_credential(secret: &str) -> Credential {
    Credential::ClientSecret(SecretSource::Plain(Secret::new(secret)))
}

pub fn delegated() -> Credential {
    Credential::Delegated {
        user_name: "analyst@contoso.com".into(),
    }
}

/// A config holding `instances` and the Key Vault settings.
pub fn config(instances: Vec<Instance>, key_vault: Option<KeyVaultSettings>) -> Config {
    Config {
        path: PathBuf::from("/etc/huntd/huntd.yaml"),
        database: "sqlite:///tmp/x.db".into(),
        jobs: Vec::new(),
        query_library: Vec::new(),
        msticpyconfig: None,
        invalid_instances: std::collections::BTreeSet::new(),
        instances: instances
            .into_iter()
            .map(|i| (i.name.clone(), i))
            .collect::<BTreeMap<_, _>>(),
        key_vault,
        outputs: BTreeMap::new(),
        invalid_outputs: std::collections::BTreeSet::new(),
        daemon: huntd::config::DaemonSettings {
            max_concurrent_runs: 4,
            shutdown_grace: Duration::from_secs(30),
            node: None,
            splay: Duration::ZERO,
            metrics_listen: None,
            state_dir: PathBuf::from("/tmp"),
            notify: huntd::config::Notify::default(),
        },
    }
}

pub fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

/// A token answer as Entra ID sends it.
pub fn token_body(access_token: &str, refresh_token: Option<&str>) -> serde_json::Value {
    let mut body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token,
    });
    if let Some(rt) = refresh_token {
        body["refresh_token"] = rt.into();
    }
    body
}

/// An unsigned JWT-shaped access token carrying `claims`.
pub fn jwt(claims: &serde_json::Value) -> String {
    format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// An Entra ID error answer.
pub fn entra_error(status: u16, error: &str, code: u64, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0000\r\nCorrelation ID: 1111\r\nTimestamp: 2026-11-27 10:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-11-27 10:00:00Z",
        "trace_id": "0000-trace",
        "correlation_id": "1111",
    }))
}

/// The form fields of a request body.
pub fn form(request: &Request) -> BTreeMap<String, String> {
    let body = String::from_utf8_lossy(&request.body);
    reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Answers token requests with `token-1`, `token-2`, ... and counts them.
#[derive(Clone, Default)]
pub struct CountingTokens {
    pub count: Arc<AtomicUsize>,
    pub delay: Option<Duration>,
}

impl Respond for CountingTokens {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let response =
            ResponseTemplate::new(200).set_body_json(token_body(&format!("token-{n}"), None));
        match self.delay {
            Some(delay) => response.set_delay(delay),
            None => response,
        }
    }
}

/// A self-signed RSA certificate and its key, in the forms the tests write to files.
pub struct TestCert {
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    pub key_pkcs8_der: Vec<u8>,
    pub key_pkcs8_pem: String,
    /// PKCS#1 `RSAPublicKey`, for verifying signatures.
    pub public_key: Vec<u8>,
}

impl TestCert {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["huntd-test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        Self {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_pkcs8_der: key.serialize_der(),
            key_pkcs8_pem: key.serialize_pem(),
            public_key: key.public_key_raw().to_vec(),
        }
    }

    /// The key as PKCS#1 (`RSA PRIVATE KEY`) PEM.
    pub fn key_pkcs1_pem(&self) -> String {
        let info = pkcs8::PrivateKeyInfoRef::try_from(self.key_pkcs8_der.as_slice()).unwrap();
        pem("RSA PRIVATE KEY", info.private_key.as_bytes())
    }

    /// The key as encrypted PKCS#8 PEM.
    pub fn key_encrypted_pem(&self, password: &str) -> String {
        let info = pkcs8::PrivateKeyInfoRef::try_from(self.key_pkcs8_der.as_slice()).unwrap();
        let encrypted = info.encrypt(password).unwrap();
        pem("ENCRYPTED PRIVATE KEY", encrypted.as_bytes())
    }
}

pub fn pem(label: &str, der: &[u8]) -> String {
    pkcs8::der::pem::encode_string(label, pkcs8::LineEnding::LF, der).unwrap()
}

pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A `Write` that hands every write to a channel, so a test can read `huntd login`'s output
/// while the login runs.
pub struct ChannelWriter(pub tokio::sync::mpsc::UnboundedSender<String>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A shared value a responder fills in and the test reads afterwards.
pub type Shared<T> = Arc<Mutex<T>>;
