//! Secret values: held redacted, resolved from where the config says they live.

use std::fmt;
use std::path::PathBuf;

/// A secret in memory. `Debug` and `Display` print `[redacted]`, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is sent to the service that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a secret setting (`ClientSecret`, `PrivateKeySecret`) gets its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the config file itself.
    Plain(Secret),
    /// `{EnvironmentVar: NAME}`.
    EnvironmentVar(String),
    /// `{File: path}`, relative paths already made absolute.
    File(PathBuf),
    /// `{Credential: name}`: a systemd credential, `$CREDENTIALS_DIRECTORY/name`.
    Credential(String),
    /// `{KeyVault: ...}`: resolved by the auth module at start and reload.
    KeyVault(KeyVaultRef),
}

/// A Key Vault secret reference, resolved like msticpy resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVaultRef {
    /// The vault name; `None` means the `KeyVault.VaultName` default vault.
    pub vault: Option<String>,
    /// The secret name, already derived from the setting path when the reference was empty.
    pub secret: String,
}
