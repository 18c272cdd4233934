//! `huntd login`: delegated sign-in by device code, or by browser with PKCE and a loopback
//! redirect; either way the refresh token ends up in the state directory.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::entra::{Context, TokenResponse, oauth_url, parse_token_response, post_form};
use super::{Error, Resource, Result, Tokens};
use crate::config::{Credential, Instance};

/// `grant_type` of device code polling.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// How long the browser flow waits for the redirect.
const BROWSER_WAIT: Duration = Duration::from_secs(300);
/// Largest redirect request read from the browser.
const MAX_REQUEST: usize = 16 * 1024;

/// What a finished `huntd login` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    /// The file the refresh token was stored in.
    pub refresh_token_file: PathBuf,
    /// The signed-in user as the token names them, when it does.
    pub user: Option<String>,
    /// Expiry of the access token that came with the sign-in.
    pub expires_at: DateTime<Utc>,
}

/// The device code answer; never `Debug`, `device_code` is a credential while it lasts.
#[derive(Deserialize)]
#[allow(clippy::struct_field_names, reason = "the names are the wire format's")]
struct DeviceCode {
    device_code: String,
    user_code: String,
    verification_uri: String,
    expires_in: u64,
    interval: Option<u64>,
    message: Option<String>,
}

impl Tokens {
    /// Device code sign-in for `instance`: prints Microsoft's instructions to `out`, waits for
    /// the person to finish, and stores the refresh token.
    #[tracing::instrument(skip(self, instance, out), fields(instance = %instance.name, %resource))]
    pub async fn login_device_code(
        &self,
        instance: &Instance,
        resource: Resource,
        out: &mut (dyn Write + Send),
    ) -> Result<LoginOutcome> {
        let sign_in = self.delegated(instance, resource)?;
        let ctx = sign_in.context(instance);
        let device_url = oauth_url(&instance.endpoints.login, &instance.tenant_id, "devicecode");
        let form = [
            ("client_id", instance.client_id.as_str()),
            ("scope", sign_in.scopes.as_str()),
        ];
        let body = post_form(&sign_in.http, &device_url, &form, &self.options().retry)
            .await?
            .map_err(|e| e.into_error(ctx))?;
        let device: DeviceCode = serde_json::from_slice(&body).map_err(|_| {
            Error::Rejected(format!(
                "{device_url} answered with an unreadable device code"
            ))
        })?;
        let message = device.message.clone().unwrap_or_else(|| {
            format!(
                "To sign in, open {} and enter the code {}.",
                device.verification_uri, device.user_code
            )
        });
        print_line(out, &message)?;

        let token_url = oauth_url(&instance.endpoints.login, &instance.tenant_id, "token");
        let deadline = Instant::now() + Duration::from_secs(device.expires_in);
        let mut interval = Duration::from_secs(device.interval.unwrap_or(5).max(1));
        let poll = [
            ("grant_type", DEVICE_CODE_GRANT),
            ("client_id", instance.client_id.as_str()),
            ("device_code", device.device_code.as_str()),
        ];
        loop {
            tokio::time::sleep(interval).await;
            match post_form(&sign_in.http, &token_url, &poll, &self.options().retry).await? {
                Ok(body) => {
                    let response = parse_token_response(&body, &token_url)?;
                    return self.finish_login(instance, &response);
                }
                Err(e) if e.error == "authorization_pending" => {
                    tracing::debug!("sign-in not finished yet");
                }
                Err(e) if e.error == "slow_down" => interval += Duration::from_secs(5),
                Err(e) if e.error == "authorization_declined" => {
                    return Err(Error::Rejected(format!(
                        "the sign-in of instance {} was declined",
                        instance.name
                    )));
                }
                Err(e) if e.error == "expired_token" => return Err(code_expired(instance)),
                Err(e) => return Err(e.into_error(ctx)),
            }
            if Instant::now() >= deadline {
                return Err(code_expired(instance));
            }
        }
    }

    /// Browser sign-in for `instance` (authorization code with PKCE): prints the URL to open,
    /// receives the redirect on `http://localhost:<free port>`, and stores the refresh token.
    #[tracing::instrument(skip(self, instance, out), fields(instance = %instance.name, %resource))]
    pub async fn login_browser(
        &self,
        instance: &Instance,
        resource: Resource,
        out: &mut (dyn Write + Send),
    ) -> Result<LoginOutcome> {
        let sign_in = self.delegated(instance, resource)?;
        let ctx = sign_in.context(instance);

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| {
                Error::Credential(format!("cannot listen for the sign-in redirect: {e}"))
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Credential(format!("cannot listen for the sign-in redirect: {e}")))?
            .port();
        let redirect_uri = format!("http://localhost:{port}");
        let verifier = random_text(64);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_text(24);

        let authorize = oauth_url(&instance.endpoints.login, &instance.tenant_id, "authorize");
        let mut params = vec![
            ("client_id", instance.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri.as_str()),
            ("response_mode", "query"),
            ("scope", sign_in.scopes.as_str()),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Credential::Delegated { user_name } = &instance.credential {
            params.push(("login_hint", user_name.as_str()));
        }
        let url = reqwest::Url::parse_with_params(&authorize, &params).map_err(|e| {
            Error::Credential(format!("the sign-in URL {authorize} is not valid: {e}"))
        })?;
        print_line(
            out,
            &format!(
                "Open this URL in a browser to sign in instance {}:\n{url}",
                instance.name
            ),
        )?;

        let answer = tokio::time::timeout(BROWSER_WAIT, wait_for_redirect(&listener))
            .await
            .map_err(|_| {
                Error::Rejected(format!(
                    "no sign-in arrived within {} minutes: run `huntd login --instance {} \
                     --browser` again",
                    BROWSER_WAIT.as_secs() / 60,
                    instance.name
                ))
            })??;
        if answer.state.as_deref() != Some(state.as_str()) {
            return Err(Error::Rejected(
                "the sign-in answer does not belong to this login (state mismatch)".into(),
            ));
        }
        let Some(code) = answer.code else {
            return Err(Error::Rejected(format!(
                "the sign-in of instance {} failed: {}: {}",
                instance.name,
                answer.error.unwrap_or_default(),
                answer.error_description.unwrap_or_default()
            )));
        };
        let token_url = oauth_url(&instance.endpoints.login, &instance.tenant_id, "token");
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", instance.client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
            ("scope", sign_in.scopes.as_str()),
        ];
        let body = post_form(&sign_in.http, &token_url, &form, &self.options().retry)
            .await?
            .map_err(|e| e.into_error(ctx))?;
        let response = parse_token_response(&body, &token_url)?;
        self.finish_login(instance, &response)
    }

    fn delegated(&self, instance: &Instance, resource: Resource) -> Result<Delegated> {
        let scope = resource.scope(&instance.endpoints);
        Ok(Delegated {
            http: self.client(instance.ca_file.as_deref())?,
            scopes: format!("{scope} offline_access"),
            scope,
        })
    }

    fn finish_login(&self, instance: &Instance, response: &TokenResponse) -> Result<LoginOutcome> {
        let Some(refresh_token) = &response.refresh_token else {
            return Err(Error::Rejected(format!(
                "Entra ID sent no refresh token for instance {}: the app must allow the \
                 offline_access permission",
                instance.name
            )));
        };
        let refresh_token_file = super::refresh::save(self.state_dir(), instance, refresh_token)?;
        let user = super::info::claims(response.access_token.expose()).and_then(|claims| {
            ["upn", "preferred_username", "unique_name"]
                .iter()
                .find_map(|name| claims.get(*name)?.as_str().map(str::to_owned))
        });
        if let (Credential::Delegated { user_name }, Some(user)) = (&instance.credential, &user)
            && !user.eq_ignore_ascii_case(user_name)
        {
            tracing::warn!(instance = %instance.name, configured = %user_name, signed_in = %user, "signed in as another user than UserName");
        }
        tracing::info!(instance = %instance.name, file = %refresh_token_file.display(), "signed in");
        Ok(LoginOutcome {
            refresh_token_file,
            user,
            expires_at: Utc::now()
                + chrono::Duration::from_std(response.expires_in).unwrap_or(chrono::Duration::MAX),
        })
    }
}

/// What both sign-ins ask Entra ID with: the instance's HTTP client and the scope.
struct Delegated {
    http: reqwest::Client,
    scope: String,
    /// The scope and `offline_access`, which brings the refresh token `huntd login` stores.
    scopes: String,
}

impl Delegated {
    /// Who and what Entra ID's errors are about.
    fn context<'a>(&'a self, instance: &'a Instance) -> Context<'a> {
        Context {
            instance: &instance.name,
            tenant: &instance.tenant_id,
            client: &instance.client_id,
            scope: &self.scope,
        }
    }
}

fn code_expired(instance: &Instance) -> Error {
    Error::Rejected(format!(
        "the sign-in code expired before the sign-in finished: run `huntd login --instance {}` \
         again",
        instance.name
    ))
}

fn print_line(out: &mut (dyn Write + Send), text: &str) -> Result<()> {
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::Credential(format!("cannot print the sign-in instructions: {e}")))
}

/// URL-safe random text from `bytes` random bytes.
fn random_text(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The query of the redirect the browser was sent to.
#[derive(Debug, Default)]
struct RedirectAnswer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Serves the loopback redirect: answers stray requests (a favicon) with 404 until one carries
/// a `code` or an `error`.
async fn wait_for_redirect(listener: &tokio::net::TcpListener) -> Result<RedirectAnswer> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| Error::Credential(format!("the sign-in redirect failed: {e}")))?;
        let Some(target) = read_request_target(&mut stream).await else {
            continue;
        };
        let Ok(url) = reqwest::Url::parse(&format!("http://localhost{target}")) else {
            respond(&mut stream, "404 Not Found", "Not found.").await;
            continue;
        };
        let mut answer = RedirectAnswer::default();
        for (key, value) in url.query_pairs() {
            let value = Some(value.into_owned());
            match key.as_ref() {
                "code" => answer.code = value,
                "state" => answer.state = value,
                "error" => answer.error = value,
                "error_description" => answer.error_description = value,
                _ => {}
            }
        }
        if answer.code.is_none() && answer.error.is_none() {
            respond(&mut stream, "404 Not Found", "Not found.").await;
            continue;
        }
        let page = if answer.code.is_some() {
            "Signed in to huntd. You can close this window."
        } else {
            "The sign-in failed; see the terminal running huntd login."
        };
        respond(&mut stream, "200 OK", page).await;
        return Ok(answer);
    }
}

/// The request target (`/?code=...`) of a GET request, or `None` for anything unreadable.
async fn read_request_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut parts = text.lines().next()?.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_owned)
}

async fn respond(stream: &mut tokio::net::TcpStream, status: &str, text: &str) {
    let body = format!("<!doctype html><title>huntd</title><p>{text}</p>\n");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    // The browser going away early changes nothing for the sign-in.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
