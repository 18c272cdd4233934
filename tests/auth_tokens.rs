//! App tokens over real loopback HTTP: client secret and certificate flows, Entra ID errors,
//! retries, the cache, single flight and the 401 retry.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod auth_support;
#[path = "common/memory.rs"]
mod memory;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use auth_support::*;
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use huntd::auth::{AccessToken, Error, Resource, TokenSource, Tokens, send_authorized, token_info};
use huntd::config::{AssertionAlg, Credential, Instance, Secret, SecretSource};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers every POST to `server`, whatever its path, with `responder`.
async fn answer_every_post(server: &MockServer, responder: impl Respond + 'static) {
    Mock::given(method("POST"))
        .respond_with(responder)
        .mount(server)
        .await;
}

#[tokio::test]
async fn client_secret_flow_posts_the_form_and_returns_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(format!("client_id={CLIENT}")))
        .and(body_string_contains("client_secret=s3cr%2Bt"))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("graph-token", None)))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = Tokens::with_options("/nonexistent", quick());
    let inst = instance("Prod", &server.uri(), secret_credential("s3cr+t"));
    let token = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(token.token.expose(), "graph-token");
    let lifetime = token.expires_at - chrono::Utc::now();
    assert!(lifetime > chrono::Duration::seconds(3500), "{lifetime}");
}

#[tokio::test]
async fn mde_tokens_use_the_mde_scope_and_their_own_cache_entry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("mde-token", None)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("graph.microsoft.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("graph-token", None)))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = Tokens::with_options("/nonexistent", quick());
    let inst = instance("Prod", &server.uri(), secret_credential("s"));
    let mde = tokens.token(&inst, Resource::Mde).await.unwrap();
    let graph = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(mde.token.expose(), "mde-token");
    assert_eq!(graph.token.expose(), "graph-token");
}

/// Plays Entra ID's side of a certificate sign-in: checks the assertion's header, claims and
/// signature, answering 400 with the reason when anything is off.
#[derive(Clone)]
struct AssertionChecker {
    public_key: Vec<u8>,
    cert_der: Vec<u8>,
    alg: AssertionAlg,
    audience: String,
    jtis: Shared<Vec<String>>,
}

impl AssertionChecker {
    fn check(&self, request: &Request) -> Result<(), String> {
        let form = form(request);
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err("client_assertion_type".into());
        }
        if form.contains_key("client_secret") {
            return Err("client_secret sent too".into());
        }
        let jwt = form.get("client_assertion").ok_or("no client_assertion")?;
        let parts: Vec<&str> = jwt.split('.').collect();
        let [h, c, s] = parts[..] else {
            return Err("not three parts".into());
        };
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string())?;
        let (alg_name, thumb_name, thumb, verify_alg): (
            _,
            _,
            _,
            &dyn signature::VerificationAlgorithm,
        ) = match self.alg {
            AssertionAlg::Ps256 => (
                "PS256",
                "x5t#S256",
                URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, &self.cert_der)),
                &signature::RSA_PSS_2048_8192_SHA256,
            ),
            AssertionAlg::Rs256 => (
                "RS256",
                "x5t",
                URL_SAFE_NO_PAD.encode(digest::digest(
                    &digest::SHA1_FOR_LEGACY_USE_ONLY,
                    &self.cert_der,
                )),
                &signature::RSA_PKCS1_2048_8192_SHA256,
            ),
        };
        if header["alg"] != alg_name || header["typ"] != "JWT" || header[thumb_name] != thumb {
            return Err(format!("header {header}"));
        }
        let other = if thumb_name == "x5t" {
            "x5t#S256"
        } else {
            "x5t"
        };
        if header.get(other).is_some() {
            return Err(format!("header has {other} too"));
        }
        UnparsedPublicKey::new(verify_alg, &self.public_key)
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| "bad signature".to_owned())?;
        let now = chrono::Utc::now().timestamp();
        let num = |name: &str| claims[name].as_i64().ok_or(format!("no {name}"));
        let (nbf, iat, exp) = (num("nbf")?, num("iat")?, num("exp")?);
        if claims["aud"] != self.audience.as_str()
            || claims["iss"] != CLIENT
            || claims["sub"] != CLIENT
            || (now - iat).abs() > 60
            || nbf > now + 5
            || exp <= now
            || exp - iat > 600
        {
            return Err(format!("claims {claims}"));
        }
        let jti = claims["jti"].as_str().ok_or("no jti")?;
        uuid::Uuid::parse_str(jti).map_err(|_| "jti is not a GUID".to_owned())?;
        self.jtis.lock().unwrap().push(jti.to_owned());
        Ok(())
    }
}

impl Respond for AssertionChecker {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match self.check(request) {
            Ok(()) => ResponseTemplate::new(200).set_body_json(token_body("cert-token", None)),
            Err(reason) => ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("fake rejected the assertion: {reason}"),
            })),
        }
    }
}

async fn certificate_flow(
    alg: AssertionAlg,
    files: impl FnOnce(&TestCert, &std::path::Path) -> Credential,
) {
    let server = MockServer::start().await;
    let cert = TestCert::new();
    let checker = AssertionChecker {
        public_key: cert.public_key.clone(),
        cert_der: cert.cert_der.clone(),
        alg,
        audience: format!("{}{}", server.uri(), token_path()),
        jtis: Shared::default(),
    };
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(checker.clone())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let inst = instance("Prod", &server.uri(), files(&cert, dir.path()));
    let tokens = Tokens::with_options("/nonexistent", quick());
    let first = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(first.token.expose(), "cert-token");
    tokens.invalidate(&inst, Resource::Graph).await;
    tokens.token(&inst, Resource::Graph).await.unwrap();
    let jtis = checker.jtis.lock().unwrap().clone();
    assert_eq!(jtis.len(), 2);
    assert_ne!(jtis[0], jtis[1], "every assertion needs a fresh jti");
}

#[tokio::test]
async fn certificate_flow_signs_ps256_with_sha256_thumbprint_by_default() {
    certificate_flow(AssertionAlg::Ps256, |cert, dir| Credential::Certificate {
        // msticpy users have DER certificates.
        certificate: write(dir, "cert.der", &cert.cert_der),
        private_key: Some(write(dir, "key.pem", &cert.key_pkcs8_pem)),
        private_key_secret: None,
        assertion_alg: AssertionAlg::Ps256,
    })
    .await;
}

#[tokio::test]
async fn certificate_flow_signs_rs256_with_sha1_thumbprint_when_asked() {
    certificate_flow(AssertionAlg::Rs256, |cert, dir| Credential::Certificate {
        certificate: write(dir, "cert.pem", &cert.cert_pem),
        private_key: Some(write(dir, "key.pem", cert.key_pkcs1_pem())),
        private_key_secret: None,
        assertion_alg: AssertionAlg::Rs256,
    })
    .await;
}

#[tokio::test]
async fn certificate_flow_unlocks_an_encrypted_key_with_its_password() {
    certificate_flow(AssertionAlg::Ps256, |cert, dir| Credential::Certificate {
        certificate: write(dir, "cert.pem", &cert.cert_pem),
        private_key: Some(write(
            dir,
            "key.pem",
            cert.key_encrypted_pem("correct horse"),
        )),
        private_key_secret: Some(SecretSource::Plain(Secret::new("correct horse"))),
        assertion_alg: AssertionAlg::Ps256,
    })
    .await;
}

#[tokio::test]
async fn certificate_flow_reads_key_and_certificate_from_one_pem_file() {
    certificate_flow(AssertionAlg::Ps256, |cert, dir| Credential::Certificate {
        certificate: write(
            dir,
            "both.pem",
            format!("{}{}", cert.cert_pem, cert.key_pkcs8_pem),
        ),
        private_key: None,
        private_key_secret: None,
        assertion_alg: AssertionAlg::Ps256,
    })
    .await;
}

#[test]
fn check_certificate_accepts_every_key_form_of_the_matching_key() {
    let cert = TestCert::new();
    let dir = tempfile::tempdir().unwrap();
    let der = write(dir.path(), "c.der", &cert.cert_der);
    let password = Secret::new("pw");
    for (name, key, pw) in [
        ("k8.pem", cert.key_pkcs8_pem.clone().into_bytes(), None),
        ("k8.der", cert.key_pkcs8_der.clone(), None),
        ("k1.pem", cert.key_pkcs1_pem().into_bytes(), None),
        (
            "ke.pem",
            cert.key_encrypted_pem("pw").into_bytes(),
            Some(&password),
        ),
    ] {
        let key = write(dir.path(), name, key);
        let info = huntd::auth::check_certificate(&der, Some(&key), pw)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(info.subject.contains("rcgen"), "{}", info.subject);
        assert_eq!(info.thumbprint_sha1.len(), 40);
        assert!(!info.expired());
    }
}

#[test]
fn check_certificate_rejects_a_key_that_is_not_the_certificates() {
    let cert = TestCert::new();
    let other = TestCert::new();
    let dir = tempfile::tempdir().unwrap();
    let c = write(dir.path(), "c.pem", &cert.cert_pem);
    let k = write(dir.path(), "other.pem", &other.key_pkcs8_pem);
    let err = huntd::auth::check_certificate(&c, Some(&k), None).unwrap_err();
    assert!(matches!(err, Error::Credential(_)));
    assert!(
        err.to_string().contains("does not match the certificate"),
        "{err}"
    );
}

#[test]
fn check_certificate_explains_missing_and_wrong_passwords() {
    let cert = TestCert::new();
    let dir = tempfile::tempdir().unwrap();
    let c = write(dir.path(), "c.pem", &cert.cert_pem);
    let k = write(dir.path(), "k.pem", cert.key_encrypted_pem("right"));
    let err = huntd::auth::check_certificate(&c, Some(&k), None).unwrap_err();
    assert!(err.to_string().contains("PrivateKeySecret"), "{err}");
    let err =
        huntd::auth::check_certificate(&c, Some(&k), Some(&Secret::new("wrong"))).unwrap_err();
    assert!(err.to_string().contains("cannot decrypt"), "{err}");
}

#[tokio::test]
async fn each_aadsts_error_gets_a_clear_message_with_its_code() {
    let cases: &[(u64, &str, &str)] = &[
        (
            7_000_215,
            "invalid_client",
            "client secret of instance Prod is wrong",
        ),
        (
            7_000_222,
            "invalid_client",
            "create a new one in the app registration",
        ),
        (700_016, "unauthorized_client", "no app with client id"),
        (
            90_002,
            "invalid_request",
            &format!("tenant {TENANT} not found"),
        ),
        (
            700_027,
            "invalid_client",
            "not the one registered for this app",
        ),
        (
            7_000_218,
            "invalid_client",
            "expected a client secret or certificate",
        ),
        (
            70_011,
            "invalid_scope",
            "scope https://graph.microsoft.com/.default is not valid",
        ),
        (
            700_082,
            "invalid_grant",
            "run `huntd login --instance Prod` again",
        ),
    ];
    for (code, error, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(entra_error(400, error, *code, "Entra's own words."))
            .mount(&server)
            .await;
        let tokens = Tokens::with_options("/nonexistent", quick());
        let inst = instance("Prod", &server.uri(), secret_credential("s"));
        let err = tokens.token(&inst, Resource::Graph).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(expected), "{code}: {text}");
        assert!(text.contains(&format!("AADSTS{code}")), "{code}: {text}");
        if *code == 700_082 {
            assert!(matches!(err, Error::LoginRequired(_)), "{err:?}");
        } else {
            assert!(matches!(err, Error::Rejected(_)), "{err:?}");
        }
        // A refusal is an answer, not an outage: it is not retried.
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn unreachable_token_endpoint_is_named() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let login = format!("http://127.0.0.1:{port}");
    let err = graph_token_error("Prod", &login).await;
    assert!(matches!(err, Error::Unreachable(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("{login}/{TENANT}/oauth2/v2.0/token")),
        "{err}"
    );
}

#[tokio::test]
async fn tls_failure_names_the_endpoint() {
    // An HTTP server spoken to over HTTPS fails the TLS handshake.
    let server = MockServer::start().await;
    let login = server.uri().replace("http://", "https://");
    let err = graph_token_error("Prod", &login).await;
    assert!(matches!(err, Error::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains(&login), "{err}");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_until_an_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("after-retry", None)))
        .with_priority(3)
        .mount(&server)
        .await;
    let tokens = Tokens::with_options("/nonexistent", quick());
    let inst = instance("Prod", &server.uri(), secret_credential("s"));
    let token = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(token.token.expose(), "after-retry");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = MockServer::start().await;
    answer_every_post(&server, ResponseTemplate::new(503)).await;
    let tokens = Tokens::with_options("/nonexistent", quick());
    let inst = instance("Prod", &server.uri(), secret_credential("s"));
    let err = tokens.token(&inst, Resource::Graph).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn timed_out_token_request_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_body("too-late", None))
                .set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("in-time", None)))
        .with_priority(2)
        .mount(&server)
        .await;
    let mut options = quick();
    options.timeout = Some(Duration::from_millis(300));
    let tokens = Tokens::with_options("/nonexistent", options);
    let inst = instance("Prod", &server.uri(), secret_credential("s"));
    let token = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(token.token.expose(), "in-time");
}

#[tokio::test(start_paused = true)]
async fn token_is_reused_until_ten_percent_of_its_life_remains_then_refreshed() {
    let server = MockServer::start().await;
    let counter = CountingTokens::default();
    answer_every_post(&server, counter.clone()).await;
    let tokens = Tokens::with_options("/nonexistent", paused());
    let inst = instance("Prod", &server.uri(), secret_credential("s"));

    let first = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(first.token.expose(), "token-1");
    // 3599 s lifetime: 10% is 360 s, more than the 5 minute floor.
    tokio::time::advance(Duration::from_secs(3599 - 361)).await;
    let still = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(still.token.expose(), "token-1");
    assert_eq!(counter.count.load(Ordering::SeqCst), 1);

    tokio::time::advance(Duration::from_secs(2)).await;
    let renewed = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(renewed.token.expose(), "token-2");
    assert_eq!(counter.count.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn failed_early_refresh_keeps_using_the_valid_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("first", None)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(entra_error(401, "invalid_client", 7_000_215, "bad"))
        .with_priority(2)
        .mount(&server)
        .await;
    let tokens = Tokens::with_options("/nonexistent", paused());
    let inst = instance("Prod", &server.uri(), secret_credential("s"));
    tokens.token(&inst, Resource::Graph).await.unwrap();
    tokio::time::advance(Duration::from_secs(3300)).await;
    let kept = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(kept.token.expose(), "first");
    tokio::time::advance(Duration::from_secs(300)).await;
    let err = tokens.token(&inst, Resource::Graph).await.unwrap_err();
    assert!(err.to_string().contains("AADSTS7000215"), "{err}");
}

/// Asks `tokens` for a Graph token for `inst` from 50 tasks at once; their answers.
async fn fifty_concurrent_graph_tokens(
    tokens: &Arc<Tokens>,
    inst: &Arc<Instance>,
) -> Vec<huntd::auth::Result<AccessToken>> {
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let tokens = Arc::clone(tokens);
            let inst = Arc::clone(inst);
            tokio::spawn(async move { tokens.token(&inst, Resource::Graph).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(handles.len());
    for handle in handles {
        answers.push(handle.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_callers_cause_one_token_request_and_share_its_answer() {
    let server = MockServer::start().await;
    let counter = CountingTokens {
        delay: Some(Duration::from_millis(200)),
        ..CountingTokens::default()
    };
    answer_every_post(&server, counter.clone()).await;
    let tokens = Arc::new(Tokens::with_options("/nonexistent", quick()));
    let inst = Arc::new(instance("Prod", &server.uri(), secret_credential("s")));
    for answer in fifty_concurrent_graph_tokens(&tokens, &inst).await {
        assert_eq!(answer.unwrap().token.expose(), "token-1");
    }
    assert_eq!(counter.count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn api_401_drops_the_token_fetches_a_new_one_and_retries_once() {
    let server = MockServer::start().await;
    let counter = CountingTokens::default();
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(counter.clone())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .and(header("authorization", "Bearer token-1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .and(header("authorization", "Bearer token-2"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&server)
        .await;
    let tokens = Tokens::with_options("/nonexistent", quick());
    let inst = instance("Prod", &server.uri(), secret_credential("s"));
    let http = reqwest::Client::new();
    let url = format!("{}/v1.0/security/runHuntingQuery", server.uri());
    let response = send_authorized(&tokens, &inst, Resource::Graph, || http.post(&url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(counter.count.load(Ordering::SeqCst), 2);
    // The new token is cached: the next call needs no token request.
    let next = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(next.token.expose(), "token-2");
    assert_eq!(counter.count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn invalidate_if_ignores_a_token_already_replaced() {
    let server = MockServer::start().await;
    let counter = CountingTokens::default();
    answer_every_post(&server, counter.clone()).await;
    let tokens = Tokens::with_options("/nonexistent", quick());
    let inst = instance("Prod", &server.uri(), secret_credential("s"));
    let stale = tokens.token(&inst, Resource::Graph).await.unwrap();
    tokens.invalidate_if(&inst, Resource::Graph, &stale).await;
    let fresh = tokens.token(&inst, Resource::Graph).await.unwrap();
    // A second caller holding the first token must not throw the second away.
    tokens.invalidate_if(&inst, Resource::Graph, &stale).await;
    let again = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(fresh.token.expose(), "token-2");
    assert_eq!(again.token.expose(), "token-2");
    assert_eq!(counter.count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn token_info_shows_roles_and_warns_about_a_missing_permission() {
    let server = MockServer::start().await;
    let graph = jwt(&serde_json::json!({"roles": ["ThreatHunting.Read.All"], "tid": TENANT}));
    let mde = jwt(&serde_json::json!({"roles": ["Machine.Read.All"]}));
    Mock::given(method("POST"))
        .and(body_string_contains("graph.microsoft.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(&graph, None)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("securitycenter"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(&mde, None)))
        .mount(&server)
        .await;
    let tokens = Tokens::with_options("/nonexistent", quick());
    let inst = instance("Prod", &server.uri(), secret_credential("s"));

    let info = token_info(&tokens, &inst, Resource::Graph).await.unwrap();
    assert_eq!(info.roles, vec!["ThreatHunting.Read.All"]);
    assert!(info.has_required_permission);
    assert_eq!(info.resource, "https://graph.microsoft.com");
    let shown = info.to_string();
    assert!(shown.contains(TENANT) && shown.contains(CLIENT), "{shown}");
    assert!(
        !shown.contains(&graph),
        "huntd token must never print the token"
    );
    assert!(!shown.contains("warning"), "{shown}");

    let info = token_info(&tokens, &inst, Resource::Mde).await.unwrap();
    assert!(!info.has_required_permission);
    let shown = info.to_string();
    assert!(
        shown.contains("warning: the token lacks AdvancedQuery.Read.All"),
        "{shown}"
    );
    assert!(!shown.contains(&mde));
}

#[tokio::test]
async fn secret_from_a_file_is_sent_without_its_newline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("client_secret=from-file"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("ok", None)))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "secret", "from-file\n");
    let tokens = Tokens::with_options("/nonexistent", quick());
    let inst = instance(
        "Prod",
        &server.uri(),
        Credential::ClientSecret(SecretSource::File(file)),
    );
    tokens.token(&inst, Resource::Graph).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_callers_share_one_refusal_too() {
    let server = MockServer::start().await;
    answer_every_post(
        &server,
        entra_error(
            401,
            "invalid_client",
            7_000_215,
            "Invalid client secret provided.",
        )
        .set_delay(Duration::from_millis(200)),
    )
    .await;
    let tokens = Arc::new(Tokens::with_options("/nonexistent", quick()));
    let inst = Arc::new(instance("Prod", &server.uri(), secret_credential("s")));
    for answer in fifty_concurrent_graph_tokens(&tokens, &inst).await {
        let err = answer.unwrap_err();
        assert!(err.to_string().contains("AADSTS7000215"), "{err}");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // A later caller asks again rather than being handed an old error.
    tokens.token(&inst, Resource::Graph).await.unwrap_err();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

/// Prints cached-token lookups per second against certificate sign-ins (assertion signing plus
/// a loopback token request) per second: the work the cache saves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
async fn bench_cached_lookups_against_certificate_sign_ins() {
    let server = MockServer::start().await;
    answer_every_post(&server, CountingTokens::default()).await;
    let cert = TestCert::new();
    let dir = tempfile::tempdir().unwrap();
    let inst = instance(
        "Prod",
        &server.uri(),
        Credential::Certificate {
            certificate: write(dir.path(), "c.pem", &cert.cert_pem),
            private_key: Some(write(dir.path(), "k.pem", &cert.key_pkcs8_pem)),
            private_key_secret: None,
            assertion_alg: AssertionAlg::Ps256,
        },
    );
    let tokens = Tokens::with_options("/nonexistent", quick());

    let sign_ins = 200;
    let started = std::time::Instant::now();
    for _ in 0..sign_ins {
        tokens.invalidate(&inst, Resource::Graph).await;
        tokens.token(&inst, Resource::Graph).await.unwrap();
    }
    let sign_in_rate = f64::from(sign_ins) / started.elapsed().as_secs_f64();

    let lookups = 200_000;
    let started = std::time::Instant::now();
    for _ in 0..lookups {
        tokens.token(&inst, Resource::Graph).await.unwrap();
    }
    let lookup_rate = f64::from(lookups) / started.elapsed().as_secs_f64();

    println!(
        "certificate sign-ins (PS256 assertion + loopback token request): {sign_in_rate:.0}/s"
    );
    println!("cached token lookups: {lookup_rate:.0}/s");
    println!("ratio cached/sign-in: {:.0}x", lookup_rate / sign_in_rate);
    println!("peak RSS: {} KiB", memory::status_kib("self", "VmHWM:"));
}

#[test]
fn check_instance_credential_finds_a_missing_secret_file_and_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = instance(
        "Prod",
        "http://127.0.0.1:9",
        Credential::ClientSecret(SecretSource::File(dir.path().join("absent"))),
    );
    let err = huntd::auth::check_instance_credential(&missing).unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");

    let cert = TestCert::new();
    let other = TestCert::new();
    let mismatched = instance(
        "Prod",
        "http://127.0.0.1:9",
        Credential::Certificate {
            certificate: write(dir.path(), "c.der", &cert.cert_der),
            private_key: Some(write(dir.path(), "k.pem", &other.key_pkcs8_pem)),
            private_key_secret: None,
            assertion_alg: AssertionAlg::Ps256,
        },
    );
    let err = huntd::auth::check_instance_credential(&mismatched).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");

    let matching = instance(
        "Prod",
        "http://127.0.0.1:9",
        Credential::Certificate {
            certificate: write(dir.path(), "c2.der", &cert.cert_der),
            private_key: Some(write(dir.path(), "k2.pem", &cert.key_pkcs8_pem)),
            private_key_secret: None,
            assertion_alg: AssertionAlg::Ps256,
        },
    );
    let info = huntd::auth::check_instance_credential(&matching)
        .unwrap()
        .unwrap();
    assert!(!info.expired());
}
