//! The Entra ID token endpoint: form posts with bounded retries, and its errors made readable.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use super::{Error, Result, RetryPolicy, describe_http_error};
use crate::config::Secret;

/// `https://{login}/{tenant}/oauth2/v2.0/{what}` for `what` = `token`, `devicecode`, `authorize`.
pub(crate) fn oauth_url(login: &str, tenant: &str, what: &str) -> String {
    format!(
        "{}/{tenant}/oauth2/v2.0/{what}",
        login.trim_end_matches('/')
    )
}

/// Who asked for a token, so error messages can name the setting to fix.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// Instance name (or `KeyVault`).
    pub instance: &'a str,
    /// Tenant id.
    pub tenant: &'a str,
    /// Client id.
    pub client: &'a str,
    /// Requested scope.
    pub scope: &'a str,
}

/// A successful token answer.
#[derive(Debug)]
pub(crate) struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// Lifetime the endpoint announced.
    pub expires_in: Duration,
    /// A refresh token, in delegated flows.
    pub refresh_token: Option<Secret>,
}

/// The wire form; never `Debug`, it holds the tokens in clear.
#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: String,
    expires_in: NumberOrString,
    refresh_token: Option<String>,
}

/// The managed identity endpoint sends `expires_in` as a string, Entra ID as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    Text(String),
}

impl NumberOrString {
    fn seconds(&self) -> Option<u64> {
        match self {
            NumberOrString::Number(n) => Some(*n),
            NumberOrString::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// Parses a token answer body.
pub(crate) fn parse_token_response(body: &[u8], url: &str) -> Result<TokenResponse> {
    // serde's message could quote a value from the body, so it is not passed on.
    let raw: RawTokenResponse = serde_json::from_slice(body).map_err(|_| {
        Error::Rejected(format!(
            "{url} answered with a body that is not a token response"
        ))
    })?;
    let seconds = raw
        .expires_in
        .seconds()
        .ok_or_else(|| Error::Rejected(format!("{url} answered with an unreadable expires_in")))?;
    Ok(TokenResponse {
        access_token: Secret::new(raw.access_token),
        expires_in: Duration::from_secs(seconds),
        refresh_token: raw.refresh_token.map(Secret::new),
    })
}

/// An OAuth error answer: `{"error", "error_description", "error_codes", "trace_id"}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct EntraError {
    /// HTTP status of the answer.
    #[serde(skip)]
    pub status: u16,
    /// OAuth error, e.g. `invalid_client`, `authorization_pending`.
    #[serde(default)]
    pub error: String,
    /// Human text starting with `AADSTSnnn:`.
    #[serde(default)]
    pub error_description: String,
    /// The AADSTS codes.
    #[serde(default)]
    pub error_codes: Vec<u64>,
    /// Entra ID's trace id, for support requests.
    #[serde(default)]
    pub trace_id: Option<String>,
}

impl EntraError {
    fn from_body(status: StatusCode, body: &[u8]) -> Self {
        let mut parsed: EntraError = serde_json::from_slice(body).unwrap_or_default();
        parsed.status = status.as_u16();
        parsed
    }

    /// The first AADSTS code, from `error_codes` or else from the description.
    pub fn code(&self) -> Option<u64> {
        self.error_codes.first().copied().or_else(|| {
            let rest = self.error_description.split("AADSTS").nth(1)?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    }

    /// A clear error for a person: what is wrong, the AADSTS code and what to do.
    pub fn into_error(self, ctx: Context<'_>) -> Error {
        let Context {
            instance,
            tenant,
            client,
            scope,
        } = ctx;
        let code = self.code();
        let trace = self
            .trace_id
            .as_deref()
            .map(|id| format!(" [trace id {id}]"))
            .unwrap_or_default();
        let text = match code {
            Some(7_000_215) => format!(
                "the client secret of instance {instance} is wrong (AADSTS7000215): give the \
                 secret's value (not its id) from app registration {client}"
            ),
            Some(7_000_222) => format!(
                "the client secret of instance {instance} has expired (AADSTS7000222): create a \
                 new one in the app registration {client} (Certificates & secrets) and update \
                 ClientSecret"
            ),
            Some(700_016) => format!(
                "no app with client id {client} in tenant {tenant} (AADSTS700016): check ClientId \
                 and TenantId of instance {instance}, and that the app is consented in that tenant"
            ),
            Some(90_002) => format!(
                "tenant {tenant} not found (AADSTS90002): check TenantId and Cloud of instance \
                 {instance}"
            ),
            Some(700_027) => format!(
                "the certificate is not the one registered for this app (AADSTS700027): upload \
                 the certificate of instance {instance} to app registration {client}, or check \
                 Certificate and PrivateKey"
            ),
            Some(7_000_218) => format!(
                "Entra ID expected a client secret or certificate from app {client} \
                 (AADSTS7000218): give instance {instance} a ClientSecret or Certificate; for \
                 `huntd login` turn on \"Allow public client flows\" in the app registration"
            ),
            Some(70_011) => format!(
                "the scope {scope} is not valid for app {client} (AADSTS70011): check the Cloud \
                 and endpoints of instance {instance}"
            ),
            Some(700_082) => {
                return Error::LoginRequired(format!(
                    "the sign-in of instance {instance} has expired (AADSTS700082): run `huntd \
                     login --instance {instance}` again{trace}"
                ));
            }
            _ => {
                let first_line = self.error_description.lines().next().unwrap_or("").trim();
                let what = if self.error.is_empty() {
                    format!("HTTP {}", self.status)
                } else {
                    self.error.clone()
                };
                if first_line.is_empty() {
                    format!("Entra ID refused the token request of instance {instance} ({what})")
                } else {
                    format!(
                        "Entra ID refused the token request of instance {instance} ({what}): \
                         {first_line}"
                    )
                }
            }
        };
        Error::Rejected(format!("{text}{trace}"))
    }
}

/// Sends `build()` until it gets an answer that is not 429/5xx, retrying those and timeouts with
/// backoff; returns the final status and body. `what` names the endpoint in errors.
pub(crate) async fn send_with_retry<F>(
    build: F,
    policy: &RetryPolicy,
    what: &str,
    url: &str,
) -> Result<(StatusCode, bytes::Bytes)>
where
    F: Fn() -> reqwest::RequestBuilder,
{
    let attempts = policy.attempts.max(1);
    let mut attempt = 1;
    loop {
        let failure = match build().send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                if retryable && attempt < attempts {
                    tracing::warn!(%status, attempt, endpoint = url, "{what} busy, retrying");
                    tokio::time::sleep(policy.delay(attempt, retry_after)).await;
                    attempt += 1;
                    continue;
                }
                match response.bytes().await {
                    Ok(body) => return Ok((status, body)),
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        let failure = failure.without_url();
        let description = describe_http_error(&failure);
        // A certificate the client does not trust will not be trusted on the next try either.
        let untrusted = description.contains("invalid peer certificate");
        let transient =
            !untrusted && (failure.is_timeout() || failure.is_connect() || failure.is_body());
        if transient && attempt < attempts {
            tracing::warn!(attempt, endpoint = url, error = %describe_http_error(&failure), "{what} unreachable, retrying");
            tokio::time::sleep(policy.delay(attempt, None)).await;
            attempt += 1;
            continue;
        }
        let hint = if untrusted {
            "; if the endpoint uses a private or self-signed certificate, set CaFile on the \
             instance to a PEM file holding its CA"
        } else {
            ""
        };
        return Err(Error::Unreachable(format!(
            "cannot reach the {what} {url} (after {attempt} tries): {description}{hint}"
        )));
    }
}

/// Posts an OAuth form to `url`; `Ok(Err(_))` is an OAuth error answer for the caller to judge
/// (device code polling waits on some of them), `Ok(Ok(body))` a success body.
pub(crate) async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    policy: &RetryPolicy,
) -> Result<std::result::Result<bytes::Bytes, EntraError>> {
    let (status, body) = send_with_retry(
        || http.post(url).form(form),
        policy,
        "Entra ID endpoint",
        url,
    )
    .await?;
    if status.is_success() {
        return Ok(Ok(body));
    }
    Ok(Err(EntraError::from_body(status, &body)))
}

/// Posts a token request and returns the token, or the mapped error.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    policy: &RetryPolicy,
    ctx: Context<'_>,
) -> Result<TokenResponse> {
    let (status, body) =
        send_with_retry(|| http.post(url).form(form), policy, "token endpoint", url).await?;
    if status.is_success() {
        return parse_token_response(&body, url);
    }
    Err(EntraError::from_body(status, &body).into_error(ctx))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        Context {
            instance: "Prod",
            tenant: "t-1",
            client: "c-1",
            scope: "https://graph.microsoft.com/.default",
        }
    }

    #[test]
    fn code_comes_from_description_when_error_codes_is_missing() {
        let e = EntraError {
            error_description: "AADSTS90002: Tenant 'x' not found.\r\nTrace ID: 1".into(),
            ..EntraError::default()
        };
        assert_eq!(e.code(), Some(90_002));
        assert!(
            e.into_error(ctx())
                .to_string()
                .contains("tenant t-1 not found")
        );
    }

    #[test]
    fn unknown_code_keeps_entra_first_line() {
        let e = EntraError::from_body(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_request","error_description":"AADSTS50059: No tenant.\r\nTrace ID: x","error_codes":[50059],"trace_id":"abc"}"#,
        );
        let text = e.into_error(ctx()).to_string();
        assert!(text.contains("invalid_request"), "{text}");
        assert!(text.contains("AADSTS50059: No tenant."), "{text}");
        assert!(text.contains("trace id abc"), "{text}");
        assert!(!text.contains("Trace ID: x"), "{text}");
    }

    #[test]
    fn non_json_error_names_the_status() {
        let e = EntraError::from_body(StatusCode::BAD_GATEWAY, b"<html>");
        assert!(e.into_error(ctx()).to_string().contains("HTTP 502"));
    }

    #[test]
    fn expires_in_may_be_a_string() {
        let t = parse_token_response(
            br#"{"access_token":"a","expires_in":"3599","token_type":"Bearer"}"#,
            "u",
        )
        .unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(3599));
    }
}
