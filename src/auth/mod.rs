//! Entra ID access tokens for every instance, kept fresh.
//!
//! [`Tokens`] is the daemon's token cache and the [`TokenSource`] the hunt clients use. The
//! concepts live in their own files: the token endpoint and its errors (`entra`), certificate
//! client assertions (`assertion`), the cache (`cache`), Key Vault secrets (`keyvault`),
//! delegated sign-in (`device`, `refresh`) and `huntd token` (`info`).

mod assertion;
mod cache;
mod device;
mod entra;
mod info;
mod keyvault;
mod refresh;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::{Endpoints, Instance, Secret, SecretSource};

pub use assertion::{CertificateInfo, check_certificate, check_instance_credential};
pub use cache::Tokens;
pub use device::LoginOutcome;
pub use info::{TokenInfo, token_info};
pub use keyvault::{KeyVaultClient, resolve_key_vault_secrets};
pub use refresh::refresh_token_path;

/// The API a token is for; each has its own scope and cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Microsoft Graph (`runHuntingQuery`).
    Graph,
    /// Defender for Endpoint API (`advancedqueries/run`).
    Mde,
    /// Azure Key Vault.
    KeyVault,
    /// Azure Monitor's Logs Ingestion API (the `log_analytics` output).
    Monitor,
}

impl Resource {
    /// The resource URI tokens are requested for (the scope without `/.default`).
    pub fn uri(self, endpoints: &Endpoints) -> String {
        match self {
            Resource::Graph => endpoints.graph.trim_end_matches('/').to_owned(),
            Resource::Mde => endpoints.mde.trim_end_matches('/').to_owned(),
            Resource::KeyVault => vault_resource(&endpoints.keyvault),
            // Azure Monitor's resource id ends in a slash, so its scope is
            // `https://monitor.azure.com//.default`, as Microsoft documents it.
            Resource::Monitor => format!("{}/", endpoints.monitor.trim_end_matches('/')),
        }
    }

    /// The OAuth scope for app-only tokens: `<resource>/.default`.
    pub fn scope(self, endpoints: &Endpoints) -> String {
        format!("{}/.default", self.uri(endpoints))
    }

    /// The permission a hunting token needs, or `None` for Key Vault and Azure Monitor
    /// (whose access is an Azure role on the resource, not a token permission).
    pub fn required_permission(self) -> Option<&'static str> {
        match self {
            Resource::Graph => Some("ThreatHunting.Read.All"),
            Resource::Mde => Some("AdvancedQuery.Read.All"),
            Resource::KeyVault | Resource::Monitor => None,
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resource::Graph => "graph",
            Resource::Mde => "mde",
            Resource::KeyVault => "keyvault",
            Resource::Monitor => "monitor",
        })
    }
}

/// A bearer token and when it stops working.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token; redacted in `Debug`.
    pub token: Secret,
    /// Expiry as the token endpoint gave it.
    pub expires_at: DateTime<Utc>,
}

/// Why a token could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Entra ID refused the request; the message names the AADSTS code and what to do.
    #[error("{0}")]
    Rejected(String),
    /// The token endpoint could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// The local credential (secret, certificate, key, password) cannot be used.
    #[error("{0}")]
    Credential(String),
    /// Delegated sign-in has no usable refresh token: a person must run `huntd login` again.
    #[error("{0}")]
    LoginRequired(String),
    /// A Key Vault secret could not be read.
    #[error("{0}")]
    KeyVault(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Something that hands out access tokens; the hunt clients depend on this, not on a cache.
#[async_trait]
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A valid token for `resource` of `instance`, from cache when it is fresh enough.
    async fn token(&self, instance: &Instance, resource: Resource) -> Result<AccessToken>;
    /// Drops the cached token after the API answered 401, so the next call fetches a new one.
    async fn invalidate(&self, instance: &Instance, resource: Resource);
    /// Drops the cached token only if it is still `stale`: when many calls get 401 for the same
    /// token at once, only the first one causes a new token request.
    async fn invalidate_if(&self, instance: &Instance, resource: Resource, stale: &AccessToken) {
        let _ = stale;
        self.invalidate(instance, resource).await;
    }
}

/// Why [`send_authorized`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No token could be had.
    #[error(transparent)]
    Token(#[from] Error),
    /// The API call itself failed before any HTTP answer.
    #[error("{}", describe_http_error(.0))]
    Http(reqwest::Error),
}

/// Sends the request `build` makes with a bearer token; on HTTP 401 drops the token, gets a new
/// one and sends once more, returning whatever that second answer is.
pub async fn send_authorized<F>(
    source: &dyn TokenSource,
    instance: &Instance,
    resource: Resource,
    build: F,
) -> std::result::Result<reqwest::Response, SendError>
where
    F: Fn() -> reqwest::RequestBuilder + Send + Sync,
{
    let token = source.token(instance, resource).await?;
    let response = build()
        .bearer_auth(token.token.expose())
        .send()
        .await
        .map_err(SendError::Http)?;
    if response.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Ok(response);
    }
    tracing::info!(instance = %instance.name, %resource, "API answered 401: fetching a new token");
    source.invalidate_if(instance, resource, &token).await;
    let token = source.token(instance, resource).await?;
    build()
        .bearer_auth(token.token.expose())
        .send()
        .await
        .map_err(SendError::Http)
}

/// Timeouts and retries of token endpoint, Key Vault and sign-in requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// Whole-request timeout (also bounds connecting); `None` waits forever, which only tests
    /// on tokio's paused clock want.
    pub timeout: Option<Duration>,
    /// Retries of 429, 5xx and timeouts.
    pub retry: RetryPolicy,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(30)),
            retry: RetryPolicy::default(),
        }
    }
}

/// Bounded exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first one included.
    pub attempts: u32,
    /// Wait before the first retry; doubles each time.
    pub first_delay: Duration,
    /// Longest wait, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before retry number `retry` (1-based), honouring `Retry-After`.
    fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        use rand::Rng;
        let exponential = self
            .first_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay);
        // Half fixed, half random: callers that failed together do not retry together.
        let half = exponential / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        let backoff = half + half.mul_f64(jitter);
        retry_after.map_or(backoff, |after| after.max(backoff).min(self.max_delay))
    }
}

/// A reqwest client that trusts the system roots plus `ca_file` (PEM, one or more certificates);
/// shared by the token, Key Vault and hunting clients so every call trusts the same CAs.
pub fn http_client(ca_file: Option<&Path>, options: &HttpOptions) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("huntd/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10));
    if let Some(timeout) = options.timeout {
        builder = builder
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)));
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            Error::Credential(format!("cannot read the CA file {}: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::Credential(format!(
                "the CA file {} is not PEM certificates: {}",
                path.display(),
                describe_http_error(&e)
            ))
        })?;
        if certs.is_empty() {
            return Err(Error::Credential(format!(
                "the CA file {} holds no certificate",
                path.display()
            )));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| Error::Credential(format!("cannot set up HTTPS: {}", describe_http_error(&e))))
}

/// The value of a non-Key Vault secret setting, as an auth error when it cannot be had.
/// Key Vault references must have been resolved by [`resolve_key_vault_secrets`].
pub(crate) fn resolve_secret(source: &SecretSource) -> Result<Secret> {
    source
        .resolve()
        .map_err(|e| Error::Credential(e.to_string()))
}

/// A reqwest error with its causes (TLS and connection details live in the source chain).
fn describe_http_error(error: &reqwest::Error) -> String {
    let mut text = crate::error_chain::one_line(error);
    if error.is_timeout() {
        text.push_str(" (timed out)");
    }
    text
}

/// The resource Key Vault tokens are for, from the vault URL template
/// (`https://{vault}.vault.azure.net` gives `https://vault.azure.net`).
fn vault_resource(template: &str) -> String {
    let trimmed = template.trim_end_matches('/');
    if let Some((scheme, rest)) = trimmed.split_once("://")
        && let Some(domain) = rest.strip_prefix("{vault}.")
        && !domain.contains('/')
    {
        return format!("{scheme}://{domain}");
    }
    // A test or proxy URL that does not name the vault domain: the public cloud's resource.
    "https://vault.azure.net".to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
mod tests {
    use super::*;

    #[test]
    fn vault_resource_follows_the_vault_domain() {
        assert_eq!(
            vault_resource("https://{vault}.vault.azure.net"),
            "https://vault.azure.net"
        );
        assert_eq!(
            vault_resource("https://{vault}.vault.usgovcloudapi.net/"),
            "https://vault.usgovcloudapi.net"
        );
        assert_eq!(
            vault_resource("http://127.0.0.1:9/{vault}"),
            "https://vault.azure.net"
        );
    }

    fn endpoints() -> Endpoints {
        Endpoints {
            login: "https://login.microsoftonline.com".into(),
            graph: "https://graph.microsoft.com/".into(),
            mde: "https://api-eu.securitycenter.microsoft.com".into(),
            keyvault: "https://{vault}.vault.usgovcloudapi.net".into(),
            monitor: "https://monitor.azure.us".into(),
        }
    }

    #[test]
    fn scopes_are_the_resource_with_default_suffix() {
        let e = endpoints();
        for (resource, scope) in [
            (Resource::Graph, "https://graph.microsoft.com/.default"),
            (
                Resource::Mde,
                "https://api-eu.securitycenter.microsoft.com/.default",
            ),
            (
                Resource::KeyVault,
                "https://vault.usgovcloudapi.net/.default",
            ),
            (Resource::Monitor, "https://monitor.azure.us//.default"),
        ] {
            assert_eq!(resource.scope(&e), scope, "{resource}");
        }
    }

    #[test]
    fn retry_delay_doubles_stays_bounded_and_honours_retry_after() {
        let policy = RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(5),
        };
        let first = policy.delay(1, None);
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2));
        let third = policy.delay(3, None);
        assert!(third >= Duration::from_millis(2500) && third <= Duration::from_secs(5));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
        assert!(policy.delay(1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
    }

    #[test]
    fn secret_files_lose_their_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "hunter2\n").unwrap();
        let secret = resolve_secret(&SecretSource::File(path)).unwrap();
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn missing_environment_variable_is_named() {
        let err = resolve_secret(&SecretSource::EnvironmentVar(
            "HUNTD_TEST_SURELY_UNSET_VARIABLE".into(),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("HUNTD_TEST_SURELY_UNSET_VARIABLE"));
    }
}
