//! Defender instances: one app registration in one tenant and cloud.
//!
//! Native `instances:` entries and msticpy `Args` sections are read by the same code: keys are
//! case-insensitive (msticpy users write `Cloud`, `cloud`, `Cert`...), and huntd's extras
//! (`Endpoints`, `Quota`, `AssertionAlg`, `CaFile`, `ConnectionString`) work in both places.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::secret::{self, SecretSource};
use crate::diagnostic::{Location, did_you_mean};
use crate::yaml::{Checker, Key, Node};

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

/// Default Defender API quota per tenant: 45 calls a minute.
const DEFAULT_PER_MINUTE: u32 = 45;

impl Cloud {
    /// Every cloud, in the order they are listed to users.
    pub const ALL: [Cloud; 7] = [
        Cloud::Global,
        Cloud::Us,
        Cloud::Eu,
        Cloud::Uk,
        Cloud::Gcc,
        Cloud::GccHigh,
        Cloud::Dod,
    ];

    /// The name users write: `global`, `us`, `eu`, `uk`, `gcc`, `gcc-high`, `dod`.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::Us => "us",
            Cloud::Eu => "eu",
            Cloud::Uk => "uk",
            Cloud::Gcc => "gcc",
            Cloud::GccHigh => "gcc-high",
            Cloud::Dod => "dod",
        }
    }

    /// Reads a cloud name, ignoring ASCII case; `None` for anything unknown.
    pub fn parse(text: &str) -> Option<Cloud> {
        let text = text.trim();
        Cloud::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(text))
    }

    /// The cloud's default endpoints.
    pub fn endpoints(self) -> Endpoints {
        let (login, graph, mde) = match self {
            Cloud::Global => (
                "login.microsoftonline.com",
                "graph.microsoft.com",
                "api.securitycenter.microsoft.com",
            ),
            Cloud::Us => (
                "login.microsoftonline.com",
                "graph.microsoft.com",
                "api-us.securitycenter.microsoft.com",
            ),
            Cloud::Eu => (
                "login.microsoftonline.com",
                "graph.microsoft.com",
                "api-eu.securitycenter.microsoft.com",
            ),
            Cloud::Uk => (
                "login.microsoftonline.com",
                "graph.microsoft.com",
                "api-uk.securitycenter.microsoft.com",
            ),
            Cloud::Gcc => (
                "login.microsoftonline.com",
                "graph.microsoft.com",
                "api-gcc.securitycenter.microsoft.us",
            ),
            Cloud::GccHigh => (
                "login.microsoftonline.us",
                "graph.microsoft.us",
                "api-gov.securitycenter.microsoft.us",
            ),
            Cloud::Dod => (
                "login.microsoftonline.us",
                "dod-graph.microsoft.us",
                "api-gov.securitycenter.microsoft.us",
            ),
        };
        // GCC lives in the commercial cloud; only GCC High and DoD use the government vaults.
        let vault_domain = match self {
            Cloud::GccHigh | Cloud::Dod => "vault.usgovcloudapi.net",
            _ => "vault.azure.net",
        };
        Endpoints {
            login: format!("https://{login}"),
            graph: format!("https://{graph}"),
            mde: format!("https://{mde}"),
            keyvault: format!("https://{{vault}}.{vault_domain}"),
        }
    }

    /// The valid names, comma-separated, for messages.
    pub fn names() -> String {
        Cloud::ALL.map(Cloud::name).join(", ")
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl AssertionAlg {
    /// Reads `PS256` or `RS256`, ignoring case.
    pub fn parse(text: &str) -> Option<AssertionAlg> {
        match text.trim().to_ascii_uppercase().as_str() {
            "PS256" => Some(AssertionAlg::Ps256),
            "RS256" => Some(AssertionAlg::Rs256),
            _ => None,
        }
    }
}

/// Checks an endpoint override: `https://`, or `http://` to a loopback host only.
/// Returns the URL without a trailing slash, or what is wrong with it.
pub fn check_endpoint(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    // `{vault}` is not valid in a host name; any label stands in for it while checking.
    let url = reqwest::Url::parse(&trimmed.replace("{vault}", "vault"))
        .map_err(|e| format!("`{trimmed}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "`{trimmed}` must use https:// (plain http is allowed only for loopback hosts: 127.0.0.0/8, ::1, localhost)"
            ));
        }
        other => {
            return Err(format!(
                "`{trimmed}` has scheme `{other}`, expected https://"
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{trimmed}` must not have a query or fragment"));
    }
    Ok(trimmed.to_string())
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The canonical instance keys; `Cert` is msticpy's alias of `Certificate`.
const KEYS: [&str; 14] = [
    "TenantId",
    "ClientId",
    "ClientSecret",
    "UserName",
    "Certificate",
    "Cert",
    "PrivateKey",
    "PrivateKeySecret",
    "Cloud",
    "Endpoints",
    "Quota",
    "AssertionAlg",
    "CaFile",
    "ConnectionString",
];

/// Where an instance definition sits, for messages and default Key Vault secret names.
#[derive(Debug)]
pub(crate) struct Site<'a> {
    /// The instance name.
    pub name: &'a str,
    /// The location of the name (or section) in the file.
    pub at: Location,
    /// The setting path of the `Args` mapping, e.g. `DataProviders.MicrosoftDefender.Args`.
    pub setting: Vec<&'a str>,
    /// Whether unknown keys are errors (huntd.yaml) or warnings (msticpyconfig.yaml).
    pub strict: bool,
}

/// Entries of a mapping looked up by canonical key, ignoring ASCII case.
pub(crate) struct Fields<'n> {
    found: BTreeMap<&'static str, (&'n Key, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// Sorts `entries` under the canonical names in `known` (`aliases` maps an alias to the
    /// canonical name); reports unknown and repeated keys.
    pub fn collect(
        check: &mut Checker<'_>,
        entries: &'n [(Key, Node)],
        known: &[&'static str],
        aliases: &[(&str, &'static str)],
        what: &str,
        strict: bool,
    ) -> Fields<'n> {
        let mut found: BTreeMap<&'static str, (&'n Key, &'n Node)> = BTreeMap::new();
        for (key, value) in entries {
            let Some(canonical) = known
                .iter()
                .find(|k| k.eq_ignore_ascii_case(&key.name))
                .copied()
            else {
                let message = format!("unknown key `{}` in {what}", key.name);
                let diag = if strict {
                    check.error(key.location, message)
                } else {
                    check.warning(key.location, format!("{message}; it is ignored"))
                };
                match did_you_mean(&key.name, known.iter().copied()) {
                    Some(s) => {
                        diag.hint(format!("did you mean `{s}`? (keys are case-insensitive)"))
                    }
                    None => diag.hint(format!("known keys: {}", known.join(", "))),
                };
                continue;
            };
            let canonical = aliases
                .iter()
                .find(|(alias, _)| *alias == canonical)
                .map_or(canonical, |(_, to)| *to);
            if let Some((first, _)) = found.get(canonical) {
                check
                    .error(
                        key.location,
                        format!(
                            "`{}` repeats `{}` (line {}) in {what}",
                            key.name, first.name, first.location.line
                        ),
                    )
                    .hint("keys are case-insensitive here; keep one of them");
                continue;
            }
            found.insert(canonical, (key, value));
        }
        Fields { found }
    }

    /// The value under a canonical key.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.found.get(key).map(|(_, v)| *v)
    }

    /// The key and value under a canonical key.
    pub fn entry(&self, key: &str) -> Option<(&'n Key, &'n Node)> {
        self.found.get(key).copied()
    }
}

/// Values read from a `ConnectionString`, with quotes stripped.
#[derive(Debug, Default)]
struct Connection {
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// Parses `tenant_id='...'; client_id='...'; client_secret='...'`. Errors never quote values.
fn parse_connection_string(text: &str) -> Result<Connection, String> {
    let mut out = Connection::default();
    for (index, part) in text.split(';').enumerate() {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("part {} has no `=`", index + 1));
        };
        let key = key.trim().to_ascii_lowercase();
        let value = strip_quotes(value.trim()).to_string();
        let slot = match key.as_str() {
            "tenant_id" | "tenantid" => &mut out.tenant_id,
            "client_id" | "clientid" => &mut out.client_id,
            "client_secret" | "clientsecret" => &mut out.client_secret,
            _ => {
                return Err(format!(
                    "unknown key `{key}` (known: tenant_id, client_id, client_secret)"
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("`{key}` is given twice"));
        }
        if value.is_empty() {
            return Err(format!("`{key}` is empty"));
        }
        *slot = Some(value);
    }
    Ok(out)
}

/// msticpy keeps the quotes of connection string values; huntd drops one matching pair.
fn strip_quotes(value: &str) -> &str {
    for quote in ['\'', '"'] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

/// Checks one instance's settings. Returns `None` when it cannot be used; every problem found
/// is recorded either way.
pub(crate) fn parse(
    check: &mut Checker<'_>,
    site: &Site<'_>,
    args: &Node,
    scope: &secret::Scope<'_>,
) -> Option<Instance> {
    let name = site.name;
    let what = format!("instance `{name}`");
    let errors_before = check.diags.error_count();
    let entries = check.map(args, &what)?;
    let fields = Fields::collect(
        check,
        entries,
        &KEYS,
        &[("Cert", "Certificate")],
        &what,
        site.strict,
    );
    let mut connection = Connection::default();
    let mut connection_broken = false;
    if let Some(node) = fields.get("ConnectionString")
        && let Some(cs) = check.string(node, &format!("ConnectionString of {what}"))
    {
        match parse_connection_string(&cs) {
            Ok(parsed) => connection = parsed,
            Err(problem) => {
                connection_broken = true;
                check
                    .error(node.location, format!("ConnectionString of {what}: {problem}"))
                    .hint("write it as tenant_id='<tenant>'; client_id='<app id>'; client_secret='<secret>'");
            }
        }
    }

    let required = |check: &mut Checker<'_>,
                    key: &str,
                    from_connection: Option<String>,
                    hint: &str|
     -> Option<String> {
        let given = text(check, &fields, key, &what);
        match (given, from_connection) {
            (Some((_, at)), Some(_)) => {
                check
                    .error(
                        at,
                        format!("{key} of {what} is also given in its ConnectionString"),
                    )
                    .hint("keep one of them");
                None
            }
            (Some((value, _)), None) | (None, Some(value)) => Some(value),
            (None, None) => {
                // A broken connection string was reported already and probably held the key.
                if fields.get(key).is_none() && !connection_broken {
                    check
                        .error(site.at, format!("{what} has no {key}"))
                        .hint(format!("add `{key}: {hint}`"));
                }
                None
            }
        }
    };
    let tenant_id = required(
        check,
        "TenantId",
        connection.tenant_id.take(),
        "<directory (tenant) id of the app registration>",
    );
    let client_id = required(
        check,
        "ClientId",
        connection.client_id.take(),
        "<application (client) id>",
    );
    if let Some(id) = &client_id
        && uuid::Uuid::parse_str(id).is_err()
    {
        let at = fields.get("ClientId").map_or(site.at, |n| n.location);
        check
            .error(at, format!("ClientId `{id}` of {what} is not a GUID"))
            .hint("use the application (client) id shown on the app registration's overview page");
    }

    let credential = credential(
        check,
        site,
        &fields,
        &what,
        scope,
        connection.client_secret.take(),
    );

    let cloud = match fields.get("Cloud") {
        None => Cloud::Global,
        Some(node) => match check.string(node, &format!("Cloud of {what}")) {
            None => Cloud::Global,
            Some(given) => Cloud::parse(&given).unwrap_or_else(|| {
                let diag =
                    check.error(node.location, format!("unknown cloud `{given}` for {what}"));
                match did_you_mean(&given, Cloud::ALL.map(Cloud::name)) {
                    Some(s) => diag.hint(format!(
                        "did you mean `{s}`? valid clouds: {}",
                        Cloud::names()
                    )),
                    None => diag.hint(format!("valid clouds: {}", Cloud::names())),
                };
                Cloud::Global
            }),
        },
    };
    let mut endpoints = cloud.endpoints();
    if let Some(node) = fields.get("Endpoints") {
        endpoint_overrides(check, node, &what, site.strict, &mut endpoints);
    }
    let quota = fields
        .get("Quota")
        .and_then(|node| quota(check, node, &what, site.strict));
    let ca_file = file_path(check, &fields, "CaFile", &what, scope);

    // An instance with any error is not handed out half-checked; the caller lists it as
    // invalid so jobs naming it are not reported a second time.
    let (Some(tenant_id), Some(client_id), Some(credential)) = (tenant_id, client_id, credential)
    else {
        return None;
    };
    if check.diags.error_count() > errors_before {
        return None;
    }
    Some(Instance {
        name: name.to_string(),
        tenant_id,
        client_id,
        credential,
        cloud,
        endpoints,
        quota,
        ca_file,
        source: check.file.to_path_buf(),
    })
}

/// A non-empty string setting, trimmed, with its location.
pub(crate) fn text(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    key: &str,
    what: &str,
) -> Option<(String, Location)> {
    let node = fields.get(key)?;
    let value = check.string(node, &format!("{key} of {what}"))?;
    let value = value.trim().to_string();
    if value.is_empty() {
        check.error(node.location, format!("{key} of {what} is empty"));
        return None;
    }
    Some((value, node.location))
}

/// A setting naming a file that must exist; relative to the file it is written in.
fn file_path(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    key: &str,
    what: &str,
    scope: &secret::Scope<'_>,
) -> Option<PathBuf> {
    let (value, at) = text(check, fields, key, what)?;
    let path = super::expand_path(&value, scope.base_dir, scope.env);
    if !path.is_file() {
        check
            .error(
                at,
                format!("{key} of {what}: no such file {}", path.display()),
            )
            .hint("relative paths start at the directory of the file they are written in");
    }
    Some(path)
}

/// Reads the credential settings (`ClientSecret`, `Certificate`..., `UserName`) of a section;
/// `connection_secret` is the `client_secret` of its connection string, if any.
pub(crate) fn credential(
    check: &mut Checker<'_>,
    site: &Site<'_>,
    fields: &Fields<'_>,
    what: &str,
    scope: &secret::Scope<'_>,
    connection_secret: Option<String>,
) -> Option<Credential> {
    let setting_of = |key: &'static str| -> Vec<&str> {
        let mut s = site.setting.clone();
        s.push(key);
        s
    };
    let secret_node = fields.get("ClientSecret");
    let cert_node = fields.get("Certificate");
    let user_node = fields.get("UserName");
    let cs_node = fields.get("ConnectionString");
    let mut given: Vec<&str> = Vec::new();
    if secret_node.is_some() || connection_secret.is_some() {
        given.push("ClientSecret");
    }
    if cert_node.is_some() {
        given.push("Certificate");
    }
    if user_node.is_some() {
        given.push("UserName");
    }
    if secret_node.is_some() && connection_secret.is_some() {
        let at = secret_node.map_or(site.at, |n| n.location);
        check
            .error(
                at,
                format!("ClientSecret of {what} is also given in its ConnectionString"),
            )
            .hint("keep one of them");
        return None;
    }
    if given.len() > 1 {
        check
            .error(
                site.at,
                format!("{what} has more than one credential: {}", given.join(", ")),
            )
            .hint("keep exactly one: ClientSecret, Certificate (with PrivateKey) or UserName");
        return None;
    }
    if cert_node.is_none() {
        for key in ["PrivateKey", "PrivateKeySecret", "AssertionAlg"] {
            if let Some((k, _)) = fields.entry(key) {
                check.warning(
                    k.location,
                    format!("{} of {what} is ignored: it has no Certificate", k.name),
                );
            }
        }
    }
    match given.first().copied() {
        Some("ClientSecret") => {
            if let Some(value) = connection_secret {
                if let Some(mode) = scope.shared_mode {
                    let at = cs_node.map_or(site.at, |n| n.location);
                    let file = check.file.display().to_string();
                    check
                        .warning(
                            at,
                            format!("the client_secret in the ConnectionString of {what} is in a file that group or others can read (mode {mode:03o})"),
                        )
                        .hint(format!("run `chmod 600 {file}`, or use ClientSecret: {{Credential: name}} instead"));
                }
                return Some(Credential::ClientSecret(SecretSource::Plain(
                    secret::Secret::new(value),
                )));
            }
            let node = secret_node?;
            secret::parse(
                check,
                node,
                &setting_of("ClientSecret"),
                &format!("ClientSecret of {what}"),
                scope,
            )
            .map(Credential::ClientSecret)
        }
        Some("Certificate") => {
            let certificate = file_path(check, fields, "Certificate", what, scope);
            let private_key = file_path(check, fields, "PrivateKey", what, scope);
            let private_key_secret = fields.get("PrivateKeySecret").and_then(|node| {
                secret::parse(
                    check,
                    node,
                    &setting_of("PrivateKeySecret"),
                    &format!("PrivateKeySecret of {what}"),
                    scope,
                )
            });
            let assertion_alg = match fields.get("AssertionAlg") {
                None => AssertionAlg::default(),
                Some(node) => {
                    let given = check.string(node, &format!("AssertionAlg of {what}"))?;
                    let Some(alg) = AssertionAlg::parse(&given) else {
                        check
                            .error(
                                node.location,
                                format!("unknown AssertionAlg `{given}` for {what}"),
                            )
                            .hint("use PS256 (current Entra ID) or RS256 (older tenants)");
                        return None;
                    };
                    alg
                }
            };
            Some(Credential::Certificate {
                certificate: certificate?,
                private_key,
                private_key_secret,
                assertion_alg,
            })
        }
        Some(_) => {
            let node = user_node?;
            let user_name = check.string(node, &format!("UserName of {what}"))?;
            if user_name.trim().is_empty() {
                check.error(node.location, format!("UserName of {what} is empty"));
                return None;
            }
            Some(Credential::Delegated {
                user_name: user_name.trim().to_string(),
            })
        }
        None => {
            check
                .error(site.at, format!("{what} has no credential"))
                .hint("add `ClientSecret: {Credential: <name>}` (or {File: path}, {EnvironmentVar: NAME}), `Certificate: <path>` with `PrivateKey: <path>`, or `UserName: <upn>` for delegated sign-in");
            None
        }
    }
}

fn endpoint_overrides(
    check: &mut Checker<'_>,
    node: &Node,
    what: &str,
    strict: bool,
    endpoints: &mut Endpoints,
) {
    let Some(entries) = check.map(node, &format!("Endpoints of {what}")) else {
        return;
    };
    let fields = Fields::collect(
        check,
        entries,
        &["login", "graph", "mde", "keyvault"],
        &[],
        &format!("Endpoints of {what}"),
        strict,
    );
    for (key, slot) in [
        ("login", &mut endpoints.login),
        ("graph", &mut endpoints.graph),
        ("mde", &mut endpoints.mde),
        ("keyvault", &mut endpoints.keyvault),
    ] {
        let Some(value) = fields.get(key) else {
            continue;
        };
        let Some(text) = check.string(value, &format!("Endpoints.{key} of {what}")) else {
            continue;
        };
        match check_endpoint(&text) {
            Ok(url) => *slot = url,
            Err(problem) => {
                check
                    .error(
                        value.location,
                        format!("Endpoints.{key} of {what}: {problem}"),
                    )
                    .hint(
                        "write a full base URL such as https://api-eu.securitycenter.microsoft.com",
                    );
            }
        }
    }
}

fn quota(check: &mut Checker<'_>, node: &Node, what: &str, strict: bool) -> Option<Quota> {
    let entries = check.map(node, &format!("Quota of {what}"))?;
    let fields = Fields::collect(
        check,
        entries,
        &["per_minute", "per_hour"],
        &[],
        &format!("Quota of {what}"),
        strict,
    );
    let number = |check: &mut Checker<'_>, key: &str, max: i64| -> Option<u32> {
        let node = fields.get(key)?;
        let n = check.integer(node, &format!("Quota.{key} of {what}"), 1..=max)?;
        u32::try_from(n).ok()
    };
    let per_minute = match fields.get("per_minute") {
        Some(_) => number(check, "per_minute", 100_000)?,
        None => DEFAULT_PER_MINUTE,
    };
    let per_hour = match fields.get("per_hour") {
        Some(_) => Some(number(check, "per_hour", 1_000_000)?),
        None => None,
    };
    Some(Quota {
        per_minute,
        per_hour,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_parse_in_any_case_and_reject_unknown_names() {
        assert_eq!(Cloud::parse("GCC-High"), Some(Cloud::GccHigh));
        assert_eq!(Cloud::parse(" eu "), Some(Cloud::Eu));
        assert_eq!(Cloud::parse("usgov"), None);
        for cloud in Cloud::ALL {
            assert_eq!(Cloud::parse(cloud.name()), Some(cloud));
        }
    }

    #[test]
    fn cloud_endpoints_follow_the_reference_table() {
        let eu = Cloud::Eu.endpoints();
        assert_eq!(eu.mde, "https://api-eu.securitycenter.microsoft.com");
        assert_eq!(eu.graph, "https://graph.microsoft.com");
        assert_eq!(eu.keyvault, "https://{vault}.vault.azure.net");
        let gcc = Cloud::Gcc.endpoints();
        assert_eq!(gcc.login, "https://login.microsoftonline.com");
        assert_eq!(gcc.mde, "https://api-gcc.securitycenter.microsoft.us");
        assert_eq!(gcc.keyvault, "https://{vault}.vault.azure.net");
        let dod = Cloud::Dod.endpoints();
        assert_eq!(dod.login, "https://login.microsoftonline.us");
        assert_eq!(dod.graph, "https://dod-graph.microsoft.us");
        assert_eq!(dod.keyvault, "https://{vault}.vault.usgovcloudapi.net");
        assert_eq!(
            Cloud::GccHigh.endpoints().mde,
            "https://api-gov.securitycenter.microsoft.us"
        );
    }

    #[test]
    fn endpoints_need_https_unless_the_host_is_loopback() {
        assert_eq!(
            check_endpoint("https://eu.api.security.microsoft.com/"),
            Ok("https://eu.api.security.microsoft.com".to_string())
        );
        assert!(check_endpoint("https://{vault}.vault.example.net").is_ok());
        for loopback in [
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://[::1]:9000/x",
            "http://LOCALHOST:1",
        ] {
            assert!(check_endpoint(loopback).is_ok(), "{loopback}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "http://localhost.example.com",
            "ftp://127.0.0.1",
            "not a url",
            "https://x.example?y=1",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_strings_lose_their_quotes() {
        let cs = parse_connection_string("tenant_id='t-1'; client_id=\"c-2\";client_secret='s=3';")
            .expect("valid");
        assert_eq!(cs.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(cs.client_id.as_deref(), Some("c-2"));
        assert_eq!(cs.client_secret.as_deref(), Some("s=3"));
    }

    #[test]
    fn connection_string_errors_do_not_repeat_values() {
        let err = parse_connection_string("tenant_id='t'; hunter2").expect_err("no =");
        assert_eq!(err, "part 2 has no `=`");
        let err = parse_connection_string("password='hunter2'").expect_err("unknown key");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(parse_connection_string("client_id=''").is_err());
    }
}
