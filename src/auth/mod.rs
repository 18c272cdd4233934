//! Entra ID access tokens for every instance, kept fresh.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::{Instance, Secret};

/// The API a token is for; each has its own scope and cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Microsoft Graph (`runHuntingQuery`).
    Graph,
    /// Defender for Endpoint API (`advancedqueries/run`).
    Mde,
    /// Azure Key Vault.
    KeyVault,
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
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Entra ID refused the request; the message names the AADSTS code and what to do.
    #[error("{0}")]
    Rejected(String),
    /// The token endpoint could not be reached.
    #[error("{0}")]
    Unreachable(String),
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
}
