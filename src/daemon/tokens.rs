//! STAND-IN until the auth module merges: a minimal client-credentials token source so that
//! `huntd run` works with client secrets. The lead replaces [`token_source`]'s body with
//! `auth::Tokens` and deletes the rest of this file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};

use crate::auth::{AccessToken, Error, Resource, Result, TokenSource};
use crate::config::{Config, Credential, Instance, Secret};

/// The token source `huntd run` uses (stand-in: client secrets only, no Key Vault).
pub fn token_source(_config: &Config) -> Arc<dyn TokenSource> {
    Arc::new(ClientSecretTokens::default())
}

/// Client-credentials tokens cached per instance and resource until shortly before expiry.
#[derive(Debug, Default)]
struct ClientSecretTokens {
    http: reqwest::Client,
    cache: Mutex<HashMap<(String, Resource), AccessToken>>,
}

#[async_trait]
impl TokenSource for ClientSecretTokens {
    async fn token(&self, instance: &Instance, resource: Resource) -> Result<AccessToken> {
        let key = (instance.name.clone(), resource);
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(token) = cached.filter(|t| t.expires_at > Utc::now() + TimeDelta::minutes(5)) {
            return Ok(token);
        }
        let Credential::ClientSecret(source) = &instance.credential else {
            return Err(Error::Rejected(
                "only client secrets are supported by this build".into(),
            ));
        };
        let secret = source
            .resolve()
            .map_err(|e| Error::Rejected(e.to_string()))?;
        let base = match resource {
            Resource::Graph => &instance.endpoints.graph,
            Resource::Mde => &instance.endpoints.mde,
            Resource::KeyVault => "https://vault.azure.net",
        };
        let scope = format!("{}/.default", base.trim_end_matches('/'));
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            instance.endpoints.login.trim_end_matches('/'),
            instance.tenant_id
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", instance.client_id.as_str()),
            ("client_secret", secret.expose()),
            ("scope", scope.as_str()),
        ];
        let answer = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| Error::Unreachable(format!("token endpoint {url}: {e}")))?;
        let status = answer.status();
        let body: serde_json::Value = answer
            .json()
            .await
            .map_err(|e| Error::Unreachable(format!("token endpoint {url}: {e}")))?;
        let (Some(token), true) = (body["access_token"].as_str(), status.is_success()) else {
            return Err(Error::Rejected(format!(
                "token endpoint {url} answered HTTP {status}: {}",
                body["error_description"]
                    .as_str()
                    .unwrap_or("no description")
            )));
        };
        let expires_in = body["expires_in"]
            .as_i64()
            .or_else(|| body["expires_in"].as_str()?.parse().ok())
            .unwrap_or(3600);
        let token = AccessToken {
            token: Secret::new(token),
            expires_at: Utc::now() + TimeDelta::seconds(expires_in),
        };
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, token.clone());
        Ok(token)
    }

    async fn invalidate(&self, instance: &Instance, resource: Resource) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(instance.name.clone(), resource));
    }
}
