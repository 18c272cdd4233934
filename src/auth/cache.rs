//! The token cache: one entry per (instance, resource), refreshed shortly before expiry, with a
//! single token request in flight per entry however many hunts ask at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::time::Instant;

use super::assertion::ClientCertificate;
use super::entra::{Context, TokenResponse, oauth_url, request_token};
use super::{
    AccessToken, Error, HttpOptions, Resource, Result, TokenSource, http_client, resolve_secret,
};
use crate::config::{Credential, Instance};

/// `client_assertion_type` of a JWT client assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A token is refreshed when less than this remains...
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
/// ...or less than this share of its lifetime.
const REFRESH_FRACTION: f64 = 0.10;
/// A token this close to expiry is not handed out even when its refresh failed.
const MIN_USABLE: Duration = Duration::from_secs(30);
/// After a failed early refresh, the still-valid token is used this long before trying again.
const REFRESH_COOLDOWN: Duration = Duration::from_secs(30);

/// The daemon's token cache and [`TokenSource`]; also runs `huntd login` (delegated sign-in).
#[derive(Debug)]
pub struct Tokens {
    state_dir: PathBuf,
    options: HttpOptions,
    clients: Mutex<HashMap<Option<PathBuf>, reqwest::Client>>,
    slots: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Slot>>>>,
    /// Serialises refresh token redemption and rotation across resources.
    pub(crate) refresh_lock: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    instance: String,
    tenant: String,
    client: String,
    resource: Resource,
}

impl Key {
    fn new(instance: &Instance, resource: Resource) -> Self {
        Self {
            instance: instance.name.clone(),
            tenant: instance.tenant_id.clone(),
            client: instance.client_id.clone(),
            resource,
        }
    }
}

/// One cache entry: the token, and the last failure so that callers who waited for a failed
/// request share its error instead of each asking again.
#[derive(Debug, Default)]
struct Slot {
    cached: Option<Cached>,
    failure: Option<(Instant, Error)>,
}

#[derive(Debug)]
struct Cached {
    token: AccessToken,
    fetched: Instant,
    lifetime: Duration,
    /// Set after a failed early refresh: no new attempt before then.
    retry_not_before: Option<Instant>,
}

impl Cached {
    fn new(response: TokenResponse) -> Self {
        let expires_at = Utc::now()
            + chrono::Duration::from_std(response.expires_in).unwrap_or(chrono::Duration::MAX);
        Self {
            token: AccessToken {
                token: response.access_token,
                expires_at,
            },
            fetched: Instant::now(),
            lifetime: response.expires_in,
            retry_not_before: None,
        }
    }

    fn remaining(&self, now: Instant) -> Duration {
        self.lifetime
            .saturating_sub(now.saturating_duration_since(self.fetched))
    }

    /// Fresh enough to hand out without asking for a new one.
    fn is_fresh(&self, now: Instant) -> bool {
        // Capped at half the lifetime so that short-lived tokens are still reused.
        let margin = REFRESH_BEFORE
            .max(self.lifetime.mul_f64(REFRESH_FRACTION))
            .min(self.lifetime / 2);
        self.remaining(now) > margin
            || self.retry_not_before.is_some_and(|t| now < t) && self.is_usable(now)
    }

    fn is_usable(&self, now: Instant) -> bool {
        self.remaining(now) > MIN_USABLE
    }
}

impl Tokens {
    /// A cache with default timeouts and retries; `state_dir` holds delegated refresh tokens.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self::with_options(state_dir, HttpOptions::default())
    }

    /// A cache with the given timeouts and retries.
    pub fn with_options(state_dir: impl Into<PathBuf>, options: HttpOptions) -> Self {
        Self {
            state_dir: state_dir.into(),
            options,
            clients: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Where refresh tokens are kept.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Timeouts and retries in use.
    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// The HTTP client for an instance's CA file, built once.
    pub(crate) fn client(&self, ca_file: Option<&Path>) -> Result<reqwest::Client> {
        let key = ca_file.map(Path::to_path_buf);
        let mut clients = self
            .clients
            .lock()
            .expect("the client map lock is never held across a panic");
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = http_client(ca_file, &self.options)?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    fn slot(&self, key: Key) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots
            .lock()
            .expect("the slot map lock is never held across a panic")
            .entry(key)
            .or_default()
            .clone()
    }

    /// Asks the token endpoint for a new token, whatever the cache holds.
    async fn fetch(&self, instance: &Instance, resource: Resource) -> Result<TokenResponse> {
        let http = self.client(instance.ca_file.as_deref())?;
        let scope = resource.scope(&instance.endpoints);
        let url = oauth_url(&instance.endpoints.login, &instance.tenant_id, "token");
        let ctx = Context {
            instance: &instance.name,
            tenant: &instance.tenant_id,
            client: &instance.client_id,
            scope: &scope,
        };
        match &instance.credential {
            Credential::ClientSecret(source) => {
                let secret = resolve_secret(source)?;
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", instance.client_id.as_str()),
                    ("client_secret", secret.expose()),
                    ("scope", scope.as_str()),
                ];
                request_token(&http, &url, &form, &self.options.retry, ctx).await
            }
            Credential::Certificate {
                certificate,
                private_key,
                private_key_secret,
                assertion_alg,
            } => {
                let password = private_key_secret
                    .as_ref()
                    .map(resolve_secret)
                    .transpose()?;
                let cert = ClientCertificate::load(
                    certificate,
                    private_key.as_deref(),
                    password.as_ref(),
                )?;
                let assertion = cert.assertion(&instance.client_id, &url, *assertion_alg)?;
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", instance.client_id.as_str()),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.expose()),
                    ("scope", scope.as_str()),
                ];
                request_token(&http, &url, &form, &self.options.retry, ctx).await
            }
            Credential::Delegated { .. } => {
                super::refresh::redeem(self, &http, instance, &scope, ctx).await
            }
        }
    }
}

#[async_trait]
impl TokenSource for Tokens {
    #[tracing::instrument(skip(self, instance), fields(instance = %instance.name, %resource))]
    async fn token(&self, instance: &Instance, resource: Resource) -> Result<AccessToken> {
        let slot = self.slot(Key::new(instance, resource));
        let arrived = Instant::now();
        // Holding the entry's lock while fetching is the single flight: everyone else waits
        // here and then finds the fresh token, or the error of the request they waited for.
        let mut slot = slot.lock().await;
        let now = Instant::now();
        if let Some(entry) = slot.cached.as_ref()
            && entry.is_fresh(now)
        {
            tracing::trace!("token from cache");
            return Ok(entry.token.clone());
        }
        if let Some((failed_at, error)) = &slot.failure
            && *failed_at >= arrived
        {
            return Err(error.clone());
        }
        let fetched = self.fetch(instance, resource).await;
        let outcome = if fetched.is_ok() { "ok" } else { "error" };
        metrics::counter!(
            "huntd_token_refreshes_total",
            "instance" => instance.name.clone(),
            "outcome" => outcome
        )
        .increment(1);
        match fetched {
            Ok(response) => {
                let entry = Cached::new(response);
                tracing::debug!(
                    expires_in_secs = entry.lifetime.as_secs(),
                    "new token from Entra ID"
                );
                let token = entry.token.clone();
                slot.cached = Some(entry);
                slot.failure = None;
                Ok(token)
            }
            Err(error) => {
                slot.failure = Some((Instant::now(), error.clone()));
                match slot.cached.as_mut() {
                    Some(entry) if entry.is_usable(Instant::now()) => {
                        tracing::warn!(%error, "token refresh failed; the current token is still valid");
                        entry.retry_not_before = Some(Instant::now() + REFRESH_COOLDOWN);
                        Ok(entry.token.clone())
                    }
                    _ => Err(error),
                }
            }
        }
    }

    async fn invalidate(&self, instance: &Instance, resource: Resource) {
        let slot = self.slot(Key::new(instance, resource));
        slot.lock().await.cached = None;
        tracing::debug!(instance = %instance.name, %resource, "token dropped");
    }

    async fn invalidate_if(&self, instance: &Instance, resource: Resource, stale: &AccessToken) {
        let slot = self.slot(Key::new(instance, resource));
        let mut slot = slot.lock().await;
        if slot
            .cached
            .as_ref()
            .is_some_and(|entry| entry.token.token == stale.token)
        {
            slot.cached = None;
            tracing::debug!(instance = %instance.name, %resource, "token dropped");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn cached(lifetime_secs: u64) -> Cached {
        Cached::new(TokenResponse {
            access_token: Secret::new("t"),
            expires_in: Duration::from_secs(lifetime_secs),
            refresh_token: None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn hour_token_is_refreshed_when_ten_percent_remains() {
        let entry = cached(3600);
        tokio::time::advance(Duration::from_secs(3600 - 361)).await;
        assert!(entry.is_fresh(Instant::now()));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!entry.is_fresh(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn long_token_is_refreshed_when_ten_percent_remains_not_five_minutes() {
        let entry = cached(24 * 3600);
        tokio::time::advance(Duration::from_secs(22 * 3600)).await;
        assert!(!entry.is_fresh(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn short_token_is_still_reused_for_half_its_life() {
        let entry = cached(120);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(entry.is_fresh(Instant::now()));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!entry.is_fresh(Instant::now()));
    }
}
