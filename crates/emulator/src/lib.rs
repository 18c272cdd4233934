//! `huntd emulate`: an offline Defender API. A local server speaking Entra ID's token endpoint
//! and both hunting APIs' wire formats, answering KQL over a sample dataset, and misbehaving on
//! request the way the real service does.

mod certs;
pub mod data;
mod fill;
mod generator;
pub mod jsonl;
pub mod live;
pub mod schema;
pub mod server;
mod tls;
mod tokens;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use server::{Emulator, serve, start};

/// Result size over which the APIs refuse an answer (MDE documents 124 MB).
pub const MAX_RESULT_BYTES: usize = 124 * 1024 * 1024;

/// Bodies `externaldata` fetches at most (Kusto documents reference tables up to 100 MB; the
/// emulator keeps a laptop's memory in mind).
pub const MAX_EXTERNAL_BYTES: u64 = 64 * 1024 * 1024;

/// Role that Graph `runHuntingQuery` requires.
pub const GRAPH_ROLE: &str = "ThreatHunting.Read.All";
/// Role that MDE `advancedqueries/run` requires.
pub const MDE_ROLE: &str = "AdvancedQuery.Read.All";

/// The built-in demo tenant's id.
pub const DEMO_TENANT: &str = "7e57d000-0000-4000-8000-00000000d3e0";
/// Demo app holding both hunting roles.
pub const DEMO_APP: &str = "7e57d000-0000-4000-8000-0000000000a1";
/// Secret of [`DEMO_APP`].
pub const DEMO_SECRET: &str = "demo-secret";
/// Demo app holding only the Graph role (MDE calls get 403).
pub const DEMO_GRAPH_ONLY_APP: &str = "7e57d000-0000-4000-8000-0000000000a2";
/// Secret of [`DEMO_GRAPH_ONLY_APP`].
pub const DEMO_GRAPH_ONLY_SECRET: &str = "demo-secret-graph-only";
/// The demo user who approves device code sign-ins.
pub const DEMO_USER: &str = "analyst@contoso.com";
/// Client id of the demo managed identity.
pub const DEMO_MANAGED_IDENTITY: &str = "7e57d000-0000-4000-8000-0000000000a3";
/// Name of the demo Key Vault secret holding [`DEMO_SECRET`].
pub const DEMO_VAULT_SECRET: &str = "huntd-demo-client-secret";
/// The demo webhook receiver's signing secret.
pub const DEMO_WEBHOOK_SECRET: &str = "demo-webhook-secret";
/// The demo HTTP Event Collector's token.
pub const DEMO_HEC_TOKEN: &str = "demo-hec-token";
/// How far a webhook's signed timestamp may be from the receiver's clock.
pub const WEBHOOK_MAX_SKEW_SECS: i64 = 300;

/// What one of the emulator's sinks took: announced to [`Emulator::received`]'s subscribers.
#[derive(Debug, Clone)]
pub struct Received {
    /// `webhook`, `log_analytics`, `splunk_hec` or `syslog`.
    pub sink: String,
    /// One line saying what arrived.
    pub summary: String,
    /// The idempotency key it carried.
    pub key: Option<String>,
    /// The body: the notification, the rows or events, or the syslog message.
    pub body: serde_json::Value,
}

impl Received {
    /// A webhook notification: its job, run and new findings in the summary.
    pub fn notification(sink: &str, body: &serde_json::Value) -> Self {
        let count = body["new_findings"].as_u64().unwrap_or_default();
        let mut summary = format!(
            "{count} new finding{} from job {} (run {})",
            if count == 1 { "" } else { "s" },
            body["job"].as_str().unwrap_or("?"),
            body["run_id"]
        );
        if let Some(suppressed) = body["suppressed"].as_u64().filter(|n| *n > 0) {
            let _ = write!(summary, ", {suppressed} more suppressed");
        }
        Received {
            sink: sink.to_string(),
            summary,
            key: body["idempotency_key"].as_str().map(str::to_string),
            body: body.clone(),
        }
    }
}

/// The secrets the emulator's sinks check (`sinks:` in its `--config` file).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSecrets {
    /// The key webhooks must be signed with; unsigned webhooks are taken when unset.
    #[serde(default, deserialize_with = "optional_secret")]
    pub webhook_secret: Option<contract::Secret>,
    /// The token HEC posts must carry; any token is taken when unset.
    #[serde(default, deserialize_with = "optional_secret")]
    pub hec_token: Option<contract::Secret>,
}

/// Why the emulator could not start or load its data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A data file holds something that is not a table row.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when not about a line).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The emulator's YAML configuration is invalid.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The server failed while serving.
    #[error("emulator server: {0}")]
    Serve(std::io::Error),
    /// The HTTPS certificate or TLS setup could not be made.
    #[error("emulator TLS: {0}")]
    Tls(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// An app registration the emulator accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Application (client) id.
    pub client_id: String,
    /// The client secret it may present.
    #[serde(default, deserialize_with = "optional_secret")]
    pub secret: Option<contract::Secret>,
    /// Certificates (PEM or DER files) whose keys may sign its client assertions.
    #[serde(default)]
    pub certificates: Vec<PathBuf>,
    /// Application roles granted: `ThreatHunting.Read.All`, `AdvancedQuery.Read.All`.
    #[serde(default)]
    pub roles: Vec<String>,
}

fn secret<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<contract::Secret, D::Error> {
    String::deserialize(deserializer).map(contract::Secret::new)
}

fn optional_secret<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<contract::Secret>, D::Error> {
    secret(deserializer).map(Some)
}

/// A tenant and its apps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant (directory) id as clients put it in the token URL.
    pub id: String,
    /// The registered apps.
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    /// UPN of the user who approves device code sign-ins (default `analyst@emulator.local`).
    #[serde(default)]
    pub user: Option<String>,
    /// How the user answers device code sign-ins.
    #[serde(default)]
    pub device_code: DeviceCodeOutcome,
}

impl TenantConfig {
    /// The registered app with `client_id`, which Entra ID compares without case.
    pub fn app(&self, client_id: &str) -> Option<&AppConfig> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }
}

/// What the emulated user does with a device code sign-in, by its second poll (the first is
/// always `authorization_pending`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceCodeOutcome {
    /// Signs in: the poll gets tokens.
    #[default]
    Approve,
    /// Refuses: the poll gets `authorization_declined`.
    Decline,
    /// Never finishes: the poll gets `expired_token`.
    Expire,
}

/// A Key Vault secret the emulator serves at `GET /secrets/{name}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSecret {
    /// Secret name.
    pub name: String,
    /// Its value.
    #[serde(deserialize_with = "secret")]
    pub value: contract::Secret,
}

/// The identity the managed-identity endpoint hands tokens for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedIdentityConfig {
    /// Tenant of the identity.
    pub tenant: String,
    /// Its client id.
    pub client_id: String,
    /// Application roles it holds.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The tenants the emulator knows (`--config FILE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Every tenant.
    pub tenants: Vec<TenantConfig>,
    /// Secrets of the (single) emulated Key Vault.
    #[serde(default)]
    pub key_vault: Vec<VaultSecret>,
    /// The machine's managed identity; without it the metadata endpoint refuses.
    #[serde(default)]
    pub managed_identity: Option<ManagedIdentityConfig>,
    /// What the sinks check.
    #[serde(default)]
    pub sinks: SinkSecrets,
}

impl EmulatorConfig {
    /// The built-in demo tenant: one app with both roles, one with only the Graph role, a
    /// managed identity, and a Key Vault holding the first app's secret.
    pub fn demo() -> EmulatorConfig {
        EmulatorConfig {
            tenants: vec![TenantConfig {
                id: DEMO_TENANT.to_string(),
                user: Some(DEMO_USER.to_string()),
                device_code: DeviceCodeOutcome::Approve,
                apps: vec![
                    AppConfig {
                        client_id: DEMO_APP.to_string(),
                        secret: Some(contract::Secret::new(DEMO_SECRET)),
                        certificates: Vec::new(),
                        roles: vec![GRAPH_ROLE.to_string(), MDE_ROLE.to_string()],
                    },
                    AppConfig {
                        client_id: DEMO_GRAPH_ONLY_APP.to_string(),
                        secret: Some(contract::Secret::new(DEMO_GRAPH_ONLY_SECRET)),
                        certificates: Vec::new(),
                        roles: vec![GRAPH_ROLE.to_string()],
                    },
                ],
            }],
            key_vault: vec![VaultSecret {
                name: DEMO_VAULT_SECRET.to_string(),
                value: contract::Secret::new(DEMO_SECRET),
            }],
            managed_identity: Some(ManagedIdentityConfig {
                tenant: DEMO_TENANT.to_string(),
                client_id: DEMO_MANAGED_IDENTITY.to_string(),
                roles: vec![GRAPH_ROLE.to_string(), MDE_ROLE.to_string()],
            }),
            sinks: SinkSecrets {
                webhook_secret: Some(contract::Secret::new(DEMO_WEBHOOK_SECRET)),
                hec_token: Some(contract::Secret::new(DEMO_HEC_TOKEN)),
            },
        }
    }

    /// Reads a YAML file: `tenants: [{id, apps: [{client_id, secret, certificates, roles}]}]`;
    /// relative certificate paths are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<EmulatorConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: EmulatorConfig =
            serde_saphyr::from_str(&text).map_err(|e| Error::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for app in config.tenants.iter_mut().flat_map(|t| &mut t.apps) {
            for certificate in &mut app.certificates {
                *certificate = base.join(&*certificate);
            }
        }
        Ok(config)
    }
}

/// Where the tables come from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// The generated sample dataset.
    Sample {
        /// Generator seed.
        seed: u64,
        /// Ordinary rows per table.
        rows_per_table: usize,
    },
    /// `<Table>.jsonl` files in a directory.
    Dir(PathBuf),
    /// Tables built by the caller (tests, benchmarks, `huntd demo`).
    Tables(std::sync::Arc<kql::Database>),
}

/// Everything `huntd emulate` can be told.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The tables to serve.
    pub data: DataSource,
    /// Tenants and apps.
    pub config: EmulatorConfig,
    /// Lifetime of issued tokens.
    pub token_ttl: Duration,
    /// Share of calls (0..=1) answered with a random 5xx.
    pub fail_rate: f64,
    /// Delay added before each API answer.
    pub latency: Duration,
    /// The first N calls of each distinct query fail with 503.
    pub fail_first: u32,
    /// After this many API calls per tenant, answer 429 for exhausted CPU.
    pub cpu_quota_after: Option<u32>,
    /// Calls per minute per tenant before 429.
    pub per_minute: u32,
    /// Calls per hour per tenant on the MDE path before 429.
    pub mde_per_hour: u32,
    /// JSON Lines request log.
    pub request_log: Option<PathBuf>,
    /// Answers larger than this (rendered JSON bytes) are refused as too large.
    pub max_result_bytes: usize,
    /// Serve HTTPS with a certificate made at start-up for `localhost`, `127.0.0.1` and `::1`,
    /// written as PEM to this file for clients to trust; plain HTTP without it.
    pub tls_certificate: Option<PathBuf>,
    /// Answer every MDE hunting call as a retired API would: 410 Gone, saying so.
    pub mde_retired: bool,
    /// With sample data: append new events (some of them what the example jobs hunt) this often.
    pub live_every: Option<Duration>,
    /// Receive syslog here, over UDP and TCP on the same port.
    pub syslog_listen: Option<std::net::SocketAddr>,
    /// What queries' `externaldata` may fetch.
    pub external_data: ExternalDataOptions,
}

/// How the emulator fetches the URLs a query's `externaldata` reads, before running it.
#[derive(Debug, Clone)]
pub struct ExternalDataOptions {
    /// Whether to fetch at all. On by default, because Defender's advanced hunting reads
    /// `externaldata` URLs and a hunt pulling an IOC list should answer here as it does there;
    /// off (`huntd emulate --no-external-data`) on a machine that must not reach out, where such
    /// a query is answered 400 saying external data is disabled.
    pub enabled: bool,
    /// How long one URL may take, answer and body together.
    pub timeout: Duration,
    /// Bodies larger than this are refused, cut off as they stream in.
    pub max_bytes: u64,
    /// Redirects followed per URL.
    pub max_redirects: usize,
}

impl Default for ExternalDataOptions {
    fn default() -> Self {
        ExternalDataOptions {
            enabled: true,
            timeout: Duration::from_secs(10),
            max_bytes: MAX_EXTERNAL_BYTES,
            max_redirects: 5,
        }
    }
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            data: DataSource::Sample {
                seed: 1,
                rows_per_table: 3000,
            },
            config: EmulatorConfig::demo(),
            token_ttl: Duration::from_secs(3600),
            fail_rate: 0.0,
            latency: Duration::ZERO,
            fail_first: 0,
            cpu_quota_after: None,
            per_minute: 45,
            mde_per_hour: 1500,
            request_log: None,
            max_result_bytes: MAX_RESULT_BYTES,
            tls_certificate: None,
            mde_retired: false,
            live_every: None,
            syslog_listen: None,
            external_data: ExternalDataOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_lists_tenants_apps_and_roles() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("emulator.yaml");
        std::fs::write(
            &path,
            "tenants:\n  - id: t1\n    apps:\n      - client_id: a1\n        secret: s3cret\n        \
             roles: [ThreatHunting.Read.All]\n",
        )
        .expect("write");
        let config = EmulatorConfig::load(&path).expect("valid");
        let app = &config.tenants[0].apps[0];
        assert_eq!(
            (config.tenants[0].id.as_str(), app.client_id.as_str()),
            ("t1", "a1")
        );
        assert_eq!(
            app.secret.as_ref().map(contract::Secret::expose),
            Some("s3cret")
        );
        assert_eq!(app.roles, [GRAPH_ROLE]);
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "Debug hides secrets"
        );

        assert_eq!(config.tenants[0].device_code, DeviceCodeOutcome::Approve);

        std::fs::write(&path, "tenants:\n  - id: t1\n    device_code: decline\n").expect("write");
        let config = EmulatorConfig::load(&path).expect("valid");
        assert_eq!(config.tenants[0].device_code, DeviceCodeOutcome::Decline);

        std::fs::write(&path, "tenants:\n  - id: t1\n    device_code: maybe\n").expect("write");
        assert!(EmulatorConfig::load(&path).is_err(), "unknown outcome");

        std::fs::write(&path, "tenants:\n  - id: t1\n    app: []\n").expect("write");
        let err = EmulatorConfig::load(&path).expect_err("unknown key");
        assert!(matches!(err, Error::Config { .. }), "{err}");
    }
}
