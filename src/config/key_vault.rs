//! The `KeyVault:` section, from huntd.yaml, msticpyconfig.yaml, or both merged key by key.

use std::path::PathBuf;

use super::cloud::{Cloud, check_endpoint};
use super::credential::{Credential, credential};
use super::fields::{Fields, Site, text};
use super::secret::Scope;
use crate::diagnostic::{Diagnostics, Location};
use crate::yaml::{Checker, Node};

/// Azure's instance metadata endpoint for managed identity tokens.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// The `KeyVault:` section (huntd.yaml or msticpyconfig.yaml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVaultSettings {
    /// Tenant of the vault.
    pub tenant_id: Option<String>,
    /// The default vault name.
    pub vault_name: Option<String>,
    /// How huntd signs in to the vault.
    pub auth: KeyVaultAuth,
    /// Cloud of the vault (sign-in host and vault domain).
    pub cloud: Cloud,
}

/// How huntd signs in to Key Vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVaultAuth {
    /// An app registration (client secret or certificate), same code as instances.
    App {
        /// The app's client id.
        client_id: String,
        /// Its credential.
        credential: Credential,
    },
    /// Azure managed identity through the instance metadata endpoint.
    ManagedIdentity {
        /// The metadata endpoint; overridable for tests.
        endpoint: String,
    },
}

const KEYS: [&str; 18] = [
    "TenantId",
    "VaultName",
    "ClientId",
    "ClientSecret",
    "Certificate",
    "Cert",
    "PrivateKey",
    "PrivateKeySecret",
    "AssertionAlg",
    "ManagedIdentity",
    "MetadataEndpoint",
    "Cloud",
    "Authority",
    // msticpy's own settings, meaningless to huntd but present in users' files.
    "SubscriptionId",
    "ResourceGroup",
    "AzureRegion",
    "UseKeyring",
    "AuthorityUri",
];

/// One file's `KeyVault:` section, every setting optional until the two files are merged.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    section: Option<(PathBuf, Location)>,
    tenant_id: Option<String>,
    /// The default vault, `KeyVault.VaultName`.
    pub vault_name: Option<String>,
    client_id: Option<String>,
    credential: Option<Credential>,
    managed_identity: Option<bool>,
    metadata_endpoint: Option<String>,
    cloud: Option<Cloud>,
}

impl Draft {
    /// Reads a `KeyVault:` mapping; unknown keys are errors when `strict`.
    pub fn parse(
        check: &mut Checker<'_>,
        at: Location,
        node: &Node,
        scope: &Scope<'_>,
        strict: bool,
    ) -> Draft {
        let mut draft = Draft {
            section: Some((check.file.to_path_buf(), at)),
            ..Draft::default()
        };
        let what = "the KeyVault section";
        let Some(entries) = check.map(node, what) else {
            return draft;
        };
        let fields = Fields::collect(
            check,
            entries,
            &KEYS,
            &[("Cert", "Certificate")],
            what,
            strict,
        );
        draft.tenant_id = text(check, &fields, "TenantId", what).map(|(t, _)| t);
        draft.vault_name = text(check, &fields, "VaultName", what).and_then(|(name, at)| {
            let valid = (3..=24).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if valid {
                Some(name)
            } else {
                check
                    .error(at, format!("`{name}` is not a Key Vault name"))
                    .hint("vault names are 3 to 24 letters, digits and dashes");
                None
            }
        });
        draft.client_id = text(check, &fields, "ClientId", what).map(|(t, _)| t);
        if fields.get("ClientSecret").is_some() || fields.get("Certificate").is_some() {
            let site = Site {
                name: "KeyVault",
                at,
                setting: vec!["KeyVault"],
                strict,
            };
            let scope = Scope {
                allow_key_vault: false,
                ..*scope
            };
            draft.credential = credential(check, &site, &fields, what, &scope, None);
        }
        if let Some(node) = fields.get("ManagedIdentity") {
            draft.managed_identity = check.boolean(node, "ManagedIdentity of the KeyVault section");
        }
        if let Some((url, at)) = text(check, &fields, "MetadataEndpoint", what) {
            // The real metadata endpoint is plain http on a link-local address.
            if url.starts_with("http://169.254.169.254/") {
                draft.metadata_endpoint = Some(url);
            } else {
                match check_endpoint(&url) {
                    Ok(url) => draft.metadata_endpoint = Some(url),
                    Err(problem) => {
                        check.error(
                            at,
                            format!("MetadataEndpoint of the KeyVault section: {problem}"),
                        );
                    }
                }
            }
        }
        draft.cloud = cloud(check, &fields);
        draft
    }

    /// Settings of `self` where given, of `fallback` elsewhere.
    pub fn or(self, fallback: Draft) -> Draft {
        Draft {
            section: self.section.or(fallback.section),
            tenant_id: self.tenant_id.or(fallback.tenant_id),
            vault_name: self.vault_name.or(fallback.vault_name),
            client_id: self.client_id.or(fallback.client_id),
            credential: self.credential.or(fallback.credential),
            managed_identity: self.managed_identity.or(fallback.managed_identity),
            metadata_endpoint: self.metadata_endpoint.or(fallback.metadata_endpoint),
            cloud: self.cloud.or(fallback.cloud),
        }
    }

    /// The usable settings, or `None` when the section does not say how to sign in.
    pub fn finish(self, diags: &mut Diagnostics) -> Option<KeyVaultSettings> {
        let (file, at) = self.section?;
        let auth = if self.managed_identity == Some(true) {
            KeyVaultAuth::ManagedIdentity {
                endpoint: self
                    .metadata_endpoint
                    .unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.to_string()),
            }
        } else {
            match (self.client_id, self.credential) {
                (Some(client_id), Some(credential)) => {
                    if self.tenant_id.is_none() {
                        diags
                            .error(
                                &file,
                                at,
                                "the KeyVault section signs in with an app but has no TenantId",
                            )
                            .hint("add `TenantId: <directory (tenant) id>`");
                        return None;
                    }
                    KeyVaultAuth::App {
                        client_id,
                        credential,
                    }
                }
                (Some(_), None) => {
                    diags
                        .error(&file, at, "the KeyVault section has a ClientId but no ClientSecret or Certificate")
                        .hint("add `ClientSecret: {Credential: <name>}`, or use `ManagedIdentity: true`");
                    return None;
                }
                (None, Some(_)) => {
                    diags
                        .error(
                            &file,
                            at,
                            "the KeyVault section has a credential but no ClientId",
                        )
                        .hint("add `ClientId: <application (client) id>`");
                    return None;
                }
                (None, None) => return None,
            }
        };
        Some(KeyVaultSettings {
            tenant_id: self.tenant_id,
            vault_name: self.vault_name,
            auth,
            cloud: self.cloud.unwrap_or(Cloud::Global),
        })
    }

    /// Whether the merged settings say how to sign in, so `{KeyVault: ...}` can be resolved.
    pub fn can_sign_in(&self) -> bool {
        self.managed_identity == Some(true)
            || (self.client_id.is_some() && self.credential.is_some())
    }
}

/// `Cloud`, or msticpy's `Authority` (`global`, `usgov`) when no `Cloud` is given.
fn cloud(check: &mut Checker<'_>, fields: &Fields<'_>) -> Option<Cloud> {
    if let Some((name, at)) = text(check, fields, "Cloud", "the KeyVault section") {
        let cloud = Cloud::parse(&name);
        if cloud.is_none() {
            check
                .error(
                    at,
                    format!("unknown cloud `{name}` in the KeyVault section"),
                )
                .hint(format!("valid clouds: {}", Cloud::names()));
        }
        return cloud;
    }
    let (authority, at) = text(check, fields, "Authority", "the KeyVault section")?;
    match authority.to_ascii_lowercase().as_str() {
        "global" => Some(Cloud::Global),
        "usgov" => Some(Cloud::GccHigh),
        _ => {
            check
                .error(
                    at,
                    format!("KeyVault Authority `{authority}` is not supported"),
                )
                .hint(format!(
                    "use `global` or `usgov`, or set `Cloud:` to one of {}",
                    Cloud::names()
                ));
            None
        }
    }
}
