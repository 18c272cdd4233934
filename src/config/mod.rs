//! The daemon configuration (`huntd.yaml`), the instances it names, and msticpy's config.

pub mod instance;
pub mod secret;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use instance::{AssertionAlg, Cloud, Credential, Endpoints, Instance, Quota};
pub use secret::{KeyVaultRef, Secret, SecretSource};

/// A validated `huntd.yaml` with every instance it can use.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Database URL: `sqlite://...` or `postgres://...`.
    pub database: String,
    /// Job files and directories, absolute.
    pub jobs: Vec<PathBuf>,
    /// msticpy-format query library directories, absolute.
    pub query_library: Vec<PathBuf>,
    /// Instances by name: native ones and those read from msticpyconfig.yaml.
    pub instances: BTreeMap<String, Instance>,
    /// The `KeyVault:` settings used to resolve `{KeyVault: ...}` secrets.
    pub key_vault: Option<KeyVaultSettings>,
    /// Daemon tuning.
    pub daemon: DaemonSettings,
}

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

/// The `daemon:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSettings {
    /// Runs in flight at once across all jobs.
    pub max_concurrent_runs: usize,
    /// How long running hunts may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// This node's id in `hunt_runs.node`; default hostname plus pid.
    pub node: Option<String>,
    /// Default splay for jobs that set none.
    pub splay: Duration,
    /// Where `/metrics` and `/healthz` listen, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// State directory (refresh tokens, default SQLite database).
    pub state_dir: PathBuf,
}
