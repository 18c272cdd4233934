//! Delegated sign-in over real loopback HTTP: device code, browser PKCE, refresh token storage,
//! rotation and expiry.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod auth_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth_support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use huntd::auth::{Error, Resource, TokenSource, Tokens, refresh_token_path};
use huntd::config::Instance;
use sha2::{Digest, Sha256};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const MESSAGE: &str = "To sign in, use a web browser to open the page \
                       https://microsoft.com/devicelogin and enter the code ABCD-EFGH to \
                       authenticate.";

/// Device code polling: `authorization_pending` `pending` times, then a token.
#[derive(Clone)]
struct Poll {
    pending: usize,
    count: Arc<AtomicUsize>,
    refresh_token: &'static str,
}

impl Respond for Poll {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form = form(request);
        assert_eq!(
            form["grant_type"],
            "urn:ietf:params:oauth:grant-type:device_code"
        );
        assert_eq!(form["device_code"], "dc-secret-123");
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        if n < self.pending {
            return entra_error(
                400,
                "authorization_pending",
                70_016,
                "OAuth 2.0 device flow error. Authorization is pending.",
            );
        }
        let access = jwt(
            &serde_json::json!({"upn": "analyst@contoso.com", "scp": "ThreatHunting.Read.All"}),
        );
        ResponseTemplate::new(200).set_body_json(token_body(&access, Some(self.refresh_token)))
    }
}

async fn mount_device_code(
    server: &MockServer,
    pending: usize,
    refresh_token: &'static str,
) -> Arc<AtomicUsize> {
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/devicecode")))
        .and(body_string_contains("offline_access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "device_code": "dc-secret-123",
            "user_code": "ABCD-EFGH",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900,
            "interval": 5,
            "message": MESSAGE,
        })))
        .mount(server)
        .await;
    let count = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("device_code"))
        .respond_with(Poll {
            pending,
            count: Arc::clone(&count),
            refresh_token,
        })
        .mount(server)
        .await;
    count
}

fn stored_refresh_token(state: &Path, instance: &str) -> String {
    let file = refresh_token_path(state, instance);
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    stored["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn device_code_login_waits_out_authorization_pending_and_stores_the_refresh_token() {
    let server = MockServer::start().await;
    let polls = mount_device_code(&server, 2, "rt-1").await;
    let (state, tokens, inst) = analyst(&server);
    let mut out = Vec::new();
    let started = tokio::time::Instant::now();
    let outcome = tokens
        .login_device_code(&inst, Resource::Graph, &mut out)
        .await
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap().trim(), MESSAGE);
    assert_eq!(polls.load(Ordering::SeqCst), 3);
    // Each poll waited the announced interval (on the paused clock).
    assert!(started.elapsed() >= Duration::from_secs(15));
    assert_eq!(outcome.user.as_deref(), Some("analyst@contoso.com"));
    assert_eq!(
        outcome.refresh_token_file,
        refresh_token_path(state.path(), "Analyst")
    );
    let mode = std::fs::metadata(&outcome.refresh_token_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(stored_refresh_token(state.path(), "Analyst"), "rt-1");
}

#[tokio::test(start_paused = true)]
async fn declined_device_code_sign_in_stops_polling() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/devicecode")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "device_code": "dc", "user_code": "U", "verification_uri": "https://x",
            "expires_in": 900, "interval": 5, "message": "m",
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(entra_error(
            400,
            "authorization_declined",
            70_000,
            "declined",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (state, tokens, inst) = analyst(&server);
    let err = tokens
        .login_device_code(&inst, Resource::Graph, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("declined"), "{err}");
    assert!(!refresh_token_path(state.path(), "Analyst").exists());
}

/// The delegated instance "Analyst" on `server`, with a fresh state directory.
fn analyst(server: &MockServer) -> (tempfile::TempDir, Tokens, Instance) {
    let state = tempfile::tempdir().unwrap();
    let tokens = Tokens::with_options(state.path(), paused());
    let inst = instance("Analyst", &server.uri(), delegated());
    (state, tokens, inst)
}

/// [`analyst`], signed in by device code against the mounted endpoints.
async fn signed_in(server: &MockServer) -> (tempfile::TempDir, Tokens, Instance) {
    let (state, tokens, inst) = analyst(server);
    tokens
        .login_device_code(&inst, Resource::Graph, &mut Vec::new())
        .await
        .unwrap();
    (state, tokens, inst)
}

/// Refresh token redemption: expects `expected` and answers with `next`.
fn redeem(expected: &str, access: &str, next: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(format!("refresh_token={expected}")))
        .and(body_string_contains("offline_access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(access, Some(next))))
        .expect(1)
}

#[tokio::test(start_paused = true)]
async fn delegated_instance_redeems_and_rotates_the_refresh_token() {
    let server = MockServer::start().await;
    mount_device_code(&server, 0, "rt-1").await;
    redeem("rt-1", "access-1", "rt-2").mount(&server).await;
    redeem("rt-2", "access-2", "rt-3").mount(&server).await;
    let (state, tokens, inst) = signed_in(&server).await;

    let first = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(first.token.expose(), "access-1");
    assert_eq!(stored_refresh_token(state.path(), "Analyst"), "rt-2");
    tokens.invalidate(&inst, Resource::Graph).await;
    let second = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(second.token.expose(), "access-2");
    assert_eq!(stored_refresh_token(state.path(), "Analyst"), "rt-3");
    let mode = std::fs::metadata(refresh_token_path(state.path(), "Analyst"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(start_paused = true)]
async fn expired_refresh_token_tells_to_run_huntd_login_again() {
    let server = MockServer::start().await;
    mount_device_code(&server, 0, "rt-old").await;
    Mock::given(method("POST"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(entra_error(
            400,
            "invalid_grant",
            700_082,
            "The refresh token has expired due to inactivity.",
        ))
        .mount(&server)
        .await;
    let (_state, tokens, inst) = signed_in(&server).await;
    let err = tokens.token(&inst, Resource::Graph).await.unwrap_err();
    assert!(matches!(err, Error::LoginRequired(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("AADSTS700082"), "{text}");
    assert!(text.contains("huntd login --instance Analyst"), "{text}");
}

#[tokio::test]
async fn delegated_instance_that_never_signed_in_asks_for_huntd_login() {
    let state = tempfile::tempdir().unwrap();
    let tokens = Tokens::with_options(state.path(), quick());
    let inst = instance("Analyst", "http://127.0.0.1:9", delegated());
    let err = tokens.token(&inst, Resource::Mde).await.unwrap_err();
    assert!(matches!(err, Error::LoginRequired(_)), "{err:?}");
    assert!(
        err.to_string().contains("huntd login --instance Analyst"),
        "{err}"
    );
}

/// Entra ID's side of the code redemption: checks the PKCE verifier against the challenge the
/// browser was sent with.
#[derive(Clone)]
struct CodeRedemption {
    challenge: Shared<Option<String>>,
    redirect_uri: Shared<Option<String>>,
}

impl Respond for CodeRedemption {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form = form(request);
        let challenge = self.challenge.lock().unwrap().clone().unwrap();
        let verifier_hash =
            URL_SAFE_NO_PAD.encode(Sha256::digest(form["code_verifier"].as_bytes()));
        let redirect = self.redirect_uri.lock().unwrap().clone().unwrap();
        if form["grant_type"] != "authorization_code"
            || form["code"] != "auth-code-42"
            || form["client_id"] != CLIENT
            || form["redirect_uri"] != redirect
            || verifier_hash != challenge
        {
            return entra_error(
                400,
                "invalid_grant",
                501_481,
                "The Code_Verifier does not match.",
            );
        }
        ResponseTemplate::new(200).set_body_json(token_body("browser-access", Some("rt-browser")))
    }
}

#[tokio::test]
async fn browser_login_uses_pkce_and_a_loopback_redirect() {
    let server = MockServer::start().await;
    let redemption = CodeRedemption {
        challenge: Shared::default(),
        redirect_uri: Shared::default(),
    };
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(redemption.clone())
        .expect(1)
        .mount(&server)
        .await;
    let state = tempfile::tempdir().unwrap();
    let tokens = Arc::new(Tokens::with_options(state.path(), quick()));
    let inst = instance("Analyst", &server.uri(), delegated());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let login = {
        let tokens = Arc::clone(&tokens);
        let inst = inst.clone();
        tokio::spawn(async move {
            let mut out = ChannelWriter(tx);
            tokens.login_browser(&inst, Resource::Mde, &mut out).await
        })
    };

    // Play the person: read the printed URL, "sign in", and let the browser follow the redirect.
    let mut printed = String::new();
    let url = loop {
        printed.push_str(&rx.recv().await.unwrap());
        if let Some(line) = printed.lines().find(|l| l.starts_with("http")) {
            break reqwest::Url::parse(line).unwrap();
        }
    };
    assert_eq!(url.path(), format!("/{TENANT}/oauth2/v2.0/authorize"));
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["login_hint"], "analyst@contoso.com");
    assert!(query["scope"].contains("offline_access"));
    assert!(query["scope"].contains("https://api.securitycenter.microsoft.com/.default"));
    let redirect = query["redirect_uri"].clone();
    assert!(redirect.starts_with("http://localhost:"), "{redirect}");
    *redemption.challenge.lock().unwrap() = Some(query["code_challenge"].clone());
    *redemption.redirect_uri.lock().unwrap() = Some(redirect.clone());

    let browser = reqwest::Client::new();
    let loopback = redirect.replace("localhost", "127.0.0.1");
    let favicon = browser
        .get(format!("{loopback}/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(favicon.status(), 404);
    let page = browser
        .get(format!(
            "{loopback}/?code=auth-code-42&state={}",
            query["state"]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Signed in"));

    let outcome = login.await.unwrap().unwrap();
    assert_eq!(stored_refresh_token(state.path(), "Analyst"), "rt-browser");
    let mode = std::fs::metadata(&outcome.refresh_token_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn browser_redirect_with_a_foreign_state_is_refused() {
    let state = tempfile::tempdir().unwrap();
    let tokens = Arc::new(Tokens::with_options(state.path(), quick()));
    let inst = instance("Analyst", "http://127.0.0.1:9", delegated());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let login = {
        let tokens = Arc::clone(&tokens);
        tokio::spawn(async move {
            tokens
                .login_browser(&inst, Resource::Graph, &mut ChannelWriter(tx))
                .await
        })
    };
    let mut printed = String::new();
    let url = loop {
        printed.push_str(&rx.recv().await.unwrap());
        if let Some(line) = printed.lines().find(|l| l.starts_with("http")) {
            break reqwest::Url::parse(line).unwrap();
        }
    };
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .replace("localhost", "127.0.0.1");
    reqwest::get(format!("{redirect}/?code=stolen&state=forged"))
        .await
        .unwrap();
    let err = login.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("state mismatch"), "{err}");
    assert!(!refresh_token_path(state.path(), "Analyst").exists());
}
