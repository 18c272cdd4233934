//! `{KeyVault: ...}` secret references: read from Azure Key Vault at start and reload, kept in
//! memory only.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::entra::{parse_token_response, send_with_retry};
use super::{AccessToken, Error, Resource, Result, TokenSource, Tokens};
use crate::config::{
    Cloud, Config, Credential, Endpoints, Instance, KeyVaultAuth, KeyVaultRef, KeyVaultSettings,
    Secret, SecretSource,
};

/// The Key Vault REST API version huntd speaks.
const API_VERSION: &str = "7.4";

/// Sign-in host and vault URL template of a cloud.
fn cloud_endpoints(cloud: Cloud) -> (&'static str, &'static str) {
    match cloud {
        Cloud::GccHigh | Cloud::Dod => (
            "https://login.microsoftonline.us",
            "https://{vault}.vault.usgovcloudapi.net",
        ),
        Cloud::Global | Cloud::Us | Cloud::Eu | Cloud::Uk | Cloud::Gcc => (
            "https://login.microsoftonline.com",
            "https://{vault}.vault.azure.net",
        ),
    }
}

/// Reads secrets from the vaults of a `KeyVault:` section.
#[derive(Debug)]
pub struct KeyVaultClient<'a> {
    settings: &'a KeyVaultSettings,
    tokens: &'a Tokens,
    login: String,
    vault_template: String,
    managed_identity_token: tokio::sync::Mutex<Option<AccessToken>>,
}

/// The secret answer; never `Debug`, it holds the secret.
#[derive(Deserialize)]
struct SecretBundle {
    value: String,
}

/// How the client signs in to the vault: as an app the token cache knows, or with the managed
/// identity's metadata endpoint.
enum SignIn<'a> {
    App(Box<Instance>),
    ManagedIdentity(&'a str),
}

impl<'a> KeyVaultClient<'a> {
    /// A client for the vaults of `settings`, with the endpoints of its cloud.
    pub fn new(settings: &'a KeyVaultSettings, tokens: &'a Tokens) -> Self {
        let (login, vault_template) = cloud_endpoints(settings.cloud);
        Self {
            settings,
            tokens,
            login: login.to_owned(),
            vault_template: vault_template.to_owned(),
            managed_identity_token: tokio::sync::Mutex::new(None),
        }
    }

    /// Overrides the sign-in base URL and the vault URL template (`{vault}` is replaced).
    #[must_use]
    pub fn with_endpoints(
        mut self,
        login: impl Into<String>,
        vault_template: impl Into<String>,
    ) -> Self {
        self.login = login.into();
        self.vault_template = vault_template.into();
        self
    }

    /// The app identity used to sign in to the vault, as an instance the token cache knows.
    fn app_instance(&self, client_id: &str, credential: &Credential) -> Result<Instance> {
        let Some(tenant_id) = self.settings.tenant_id.clone() else {
            return Err(Error::KeyVault(
                "KeyVault.TenantId is needed to sign in to Key Vault with ClientId".into(),
            ));
        };
        Ok(Instance {
            name: "KeyVault".into(),
            tenant_id,
            client_id: client_id.to_owned(),
            credential: credential.clone(),
            cloud: self.settings.cloud,
            endpoints: Endpoints {
                login: self.login.clone(),
                graph: String::new(),
                mde: String::new(),
                keyvault: self.vault_template.clone(),
                monitor: String::new(),
            },
            quota: None,
            ca_file: None,
            allow_overcommit: false,
            mde_retirement_noticed: false,
            tags: Vec::new(),
            source: PathBuf::from("KeyVault"),
        })
    }

    async fn token(&self) -> Result<AccessToken> {
        match self.sign_in()? {
            SignIn::App(instance) => self.tokens.token(&instance, Resource::KeyVault).await,
            SignIn::ManagedIdentity(endpoint) => {
                let mut cached = self.managed_identity_token.lock().await;
                if let Some(token) = cached.as_ref() {
                    return Ok(token.clone());
                }
                let token = self.managed_identity(endpoint).await?;
                *cached = Some(token.clone());
                Ok(token)
            }
        }
    }

    async fn drop_token(&self, stale: &AccessToken) -> Result<()> {
        match self.sign_in()? {
            SignIn::App(instance) => {
                self.tokens
                    .invalidate_if(&instance, Resource::KeyVault, stale)
                    .await;
            }
            SignIn::ManagedIdentity(_) => {
                *self.managed_identity_token.lock().await = None;
            }
        }
        Ok(())
    }

    /// How this client signs in to the vault.
    fn sign_in(&self) -> Result<SignIn<'_>> {
        Ok(match &self.settings.auth {
            KeyVaultAuth::App {
                client_id,
                credential,
            } => SignIn::App(Box::new(self.app_instance(client_id, credential)?)),
            KeyVaultAuth::ManagedIdentity { endpoint } => SignIn::ManagedIdentity(endpoint),
        })
    }

    /// A token from the Azure instance metadata endpoint (`Metadata: true`).
    async fn managed_identity(&self, endpoint: &str) -> Result<AccessToken> {
        // The metadata endpoint is link-local: a configured HTTP proxy must not see it.
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(timeout) = self.tokens.options().timeout {
            builder = builder.timeout(timeout);
        }
        let http = builder
            .build()
            .map_err(|e| Error::KeyVault(format!("cannot set up HTTP: {e}")))?;
        let resource = super::vault_resource(&self.vault_template);
        let url = reqwest::Url::parse_with_params(
            endpoint,
            &[
                ("api-version", "2018-02-01"),
                ("resource", resource.as_str()),
            ],
        )
        .map_err(|e| {
            Error::KeyVault(format!(
                "the managed identity endpoint {endpoint} is not a URL: {e}"
            ))
        })?;
        let (status, body) = send_with_retry(
            || http.get(url.clone()).header("Metadata", "true"),
            &self.tokens.options().retry,
            "managed identity endpoint",
            endpoint,
        )
        .await?;
        if !status.is_success() {
            return Err(Error::Rejected(format!(
                "the managed identity endpoint {endpoint} refused a token for {resource} (HTTP \
                 {status}): does this machine have a managed identity with access to the vault?"
            )));
        }
        let response = parse_token_response(&body, endpoint)?;
        tracing::debug!(
            expires_in_secs = response.expires_in.as_secs(),
            "managed identity token"
        );
        Ok(AccessToken {
            token: response.access_token,
            expires_at: chrono::Utc::now()
                + chrono::Duration::from_std(response.expires_in).unwrap_or(chrono::Duration::MAX),
        })
    }

    /// The value of one referenced secret.
    #[tracing::instrument(skip(self, reference), fields(secret = %reference.secret))]
    pub async fn secret(&self, reference: &KeyVaultRef) -> Result<Secret> {
        let vault = match (&reference.vault, &self.settings.vault_name) {
            (Some(vault), _) | (None, Some(vault)) => vault.as_str(),
            (None, None) => {
                return Err(Error::KeyVault(format!(
                    "the Key Vault secret {} names no vault and KeyVault.VaultName is not set",
                    reference.secret
                )));
            }
        };
        for (what, name) in [("vault", vault), ("secret", reference.secret.as_str())] {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(Error::KeyVault(format!(
                    "Key Vault {what} name {name:?} may only hold letters, digits and '-'"
                )));
            }
        }
        let base = self.vault_template.replace("{vault}", vault);
        let url = format!(
            "{}/secrets/{}?api-version={API_VERSION}",
            base.trim_end_matches('/'),
            reference.secret
        );
        let http = self.tokens.client(None)?;
        let mut token = self.token().await?;
        let mut retried = false;
        loop {
            let (status, body) = send_with_retry(
                || http.get(&url).bearer_auth(token.token.expose()),
                &self.tokens.options().retry,
                "Key Vault",
                &url,
            )
            .await?;
            if status.is_success() {
                let bundle: SecretBundle = serde_json::from_slice(&body).map_err(|_| {
                    Error::KeyVault(format!("{url} answered with an unreadable secret"))
                })?;
                tracing::debug!(vault, secret = %reference.secret, "secret read from Key Vault");
                return Ok(Secret::new(bundle.value));
            }
            if status == reqwest::StatusCode::UNAUTHORIZED && !retried {
                retried = true;
                self.drop_token(&token).await?;
                token = self.token().await?;
                continue;
            }
            let detail = vault_error_message(&body);
            return Err(Error::KeyVault(match status.as_u16() {
                404 => format!(
                    "secret {} not found in Key Vault {vault}{detail}",
                    reference.secret
                ),
                403 => format!(
                    "huntd may not read secret {} in Key Vault {vault}: give its identity the \
                     \"Key Vault Secrets User\" role or a Get secrets access policy{detail}",
                    reference.secret
                ),
                _ => format!(
                    "Key Vault {vault} answered HTTP {status} for secret {}{detail}",
                    reference.secret
                ),
            }));
        }
    }

    /// Replaces every `{KeyVault: ...}` secret of `config`'s instances and outputs with its
    /// value; returns how many settings were resolved.
    pub async fn resolve_config(&self, config: &mut Config) -> Result<usize> {
        let mut fetched: HashMap<(Option<String>, String), Secret> = HashMap::new();
        let mut resolved = 0;
        let instances = config.instances.iter_mut().filter_map(|(name, instance)| {
            instance_secret(&mut instance.credential).map(|s| (format!("instance {name}"), s))
        });
        let outputs = config.outputs.iter_mut().filter_map(|(name, output)| {
            output
                .sink
                .secret_mut()
                .map(|s| (format!("output {name}"), s))
        });
        for (what, source) in instances.chain(outputs).collect::<Vec<_>>() {
            let SecretSource::KeyVault(reference) = source else {
                continue;
            };
            let key = (reference.vault.clone(), reference.secret.clone());
            let secret = if let Some(secret) = fetched.get(&key) {
                secret.clone()
            } else {
                let secret = self
                    .secret(reference)
                    .await
                    .map_err(|e| Error::KeyVault(format!("{what}: {e}")))?;
                fetched.insert(key, secret.clone());
                secret
            };
            *source = SecretSource::Plain(secret);
            resolved += 1;
        }
        Ok(resolved)
    }
}

/// ` (message)` from a Key Vault error body `{"error": {"code", "message"}}`, or nothing.
fn vault_error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .map(|m| format!(" ({m})"))
        .unwrap_or_default()
}

/// The secret setting of an instance's credential, if it has one.
fn instance_secret(credential: &mut Credential) -> Option<&mut SecretSource> {
    match credential {
        Credential::ClientSecret(source)
        | Credential::Certificate {
            private_key_secret: Some(source),
            ..
        } => Some(source),
        Credential::Certificate { .. } | Credential::Delegated { .. } => None,
    }
}

/// Resolves every `{KeyVault: ...}` secret of `config` in place (at start and at reload); the
/// values stay in memory only. Returns how many settings were resolved.
pub async fn resolve_key_vault_secrets(config: &mut Config, tokens: &Tokens) -> Result<usize> {
    let uses_vault = config.instances.values().any(|instance| {
        matches!(
            &instance.credential,
            Credential::ClientSecret(SecretSource::KeyVault(_))
                | Credential::Certificate {
                    private_key_secret: Some(SecretSource::KeyVault(_)),
                    ..
                }
        )
    }) || config
        .outputs
        .values()
        .any(|output| matches!(output.sink.secret(), Some(SecretSource::KeyVault(_))));
    if !uses_vault {
        return Ok(0);
    }
    let Some(settings) = config.key_vault.clone() else {
        return Err(Error::KeyVault(
            "a secret refers to Key Vault but the config has no KeyVault section".into(),
        ));
    };
    if let KeyVaultAuth::App {
        credential:
            Credential::ClientSecret(SecretSource::KeyVault(_))
            | Credential::Certificate {
                private_key_secret: Some(SecretSource::KeyVault(_)),
                ..
            },
        ..
    } = &settings.auth
    {
        return Err(Error::KeyVault(
            "the KeyVault section's own secret cannot come from Key Vault".into(),
        ));
    }
    KeyVaultClient::new(&settings, tokens)
        .resolve_config(config)
        .await
}
