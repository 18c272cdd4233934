//! Defender instances: one app registration in one tenant and cloud.

use std::path::PathBuf;

use super::secret::SecretSource;

/// The national or regional cloud an instance lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// Commercial cloud, MDE in the default region.
    Global,
    /// Commercial cloud, MDE in the US region.
    Us,
    /// Commercial cloud, MDE in the EU region.
    Eu,
    /// Commercial cloud, MDE in the UK region.
    Uk,
    /// US Government Community Cloud.
    Gcc,
    /// US Government Community Cloud High.
    GccHigh,
    /// US Department of Defense.
    Dod,
}

/// The base URLs an instance talks to: from its cloud, each overridable per instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Entra ID sign-in, e.g. `https://login.microsoftonline.com`.
    pub login: String,
    /// Microsoft Graph, e.g. `https://graph.microsoft.com`.
    pub graph: String,
    /// Defender for Endpoint API, e.g. `https://api.securitycenter.microsoft.com`.
    pub mde: String,
    /// Key Vault base; `{vault}` is replaced by the vault name,
    /// e.g. `https://{vault}.vault.azure.net`.
    pub keyvault: String,
}

/// How an instance proves who it is to Entra ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// App registration with a client secret.
    ClientSecret(SecretSource),
    /// App registration with a certificate (PEM or DER) and its private key.
    Certificate {
        /// The certificate file.
        certificate: PathBuf,
        /// The private key file; `None` when the certificate file holds the key too.
        private_key: Option<PathBuf>,
        /// The password of an encrypted private key.
        private_key_secret: Option<SecretSource>,
        /// Which JWT header style the client assertion uses.
        assertion_alg: AssertionAlg,
    },
    /// Delegated sign-in as a user (`huntd login`), refresh token kept in the state directory.
    Delegated {
        /// The user principal name.
        user_name: String,
    },
}

/// JWT client assertion header style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlg {
    /// `alg: PS256` with `x5t#S256` (current Entra ID docs).
    #[default]
    Ps256,
    /// `alg: RS256` with `x5t` (older tenants, msal).
    Rs256,
}

/// Calls per time window an instance's tenant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Calls per rolling minute.
    pub per_minute: u32,
    /// Calls per rolling hour (MDE); `None` for no hourly limit.
    pub per_hour: Option<u32>,
}

/// A validated Defender instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The name jobs use in `instance:`; msticpy's default section is `Default`.
    pub name: String,
    /// Entra ID tenant id.
    pub tenant_id: String,
    /// App registration (client) id.
    pub client_id: String,
    /// How it signs in.
    pub credential: Credential,
    /// Its cloud.
    pub cloud: Cloud,
    /// Effective endpoints (cloud defaults plus overrides).
    pub endpoints: Endpoints,
    /// Quota override; `None` uses the API defaults.
    pub quota: Option<Quota>,
    /// Extra CA certificate (PEM) to trust, for emulators and TLS-inspecting proxies.
    pub ca_file: Option<PathBuf>,
    /// Where it was defined: a huntd.yaml or msticpyconfig.yaml path.
    pub source: PathBuf,
}
