//! The daemon configuration (`huntd.yaml`), the instances it names, and msticpy's config.
//!
//! [`load`] reads everything once into validated types and records every problem it finds as
//! a [`Diagnostic`]; nothing here stops at the first mistake or panics on input.

pub mod cloud;
pub mod credential;
mod env;
mod fields;
pub mod instance;
pub mod key_vault;
mod msticpy;
pub mod notify;
pub mod outputs;
pub mod redact;
pub mod secret;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cloud::{Cloud, Endpoints};
pub use credential::{AssertionAlg, Credential};
pub use env::EnvVars;
pub(crate) use env::expand_path;
pub use fields::is_valid_name;
pub use instance::{Instance, Quota};
pub use key_vault::{KeyVaultAuth, KeyVaultSettings};
pub use notify::{Notify, NotifyMode, Suppress};
pub use outputs::{DEFAULT_MAX_AGE, Output, Sink, SinkUrl, SyslogFormat, SyslogTransport};
pub use secret::{Error, KeyVaultRef, Result, Secret, SecretSource};

use crate::diagnostic::{Diagnostic, Diagnostics, Location, Severity};
use crate::yaml::{self, Checker, Key, Node};

/// A validated `huntd.yaml` with every instance it can use.
#[derive(Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Database URL: `sqlite://...` (path absolute) or `postgres://...`.
    pub database: String,
    /// Job files and directories, absolute.
    pub jobs: Vec<PathBuf>,
    /// msticpy-format query library directories, absolute.
    pub query_library: Vec<PathBuf>,
    /// The msticpyconfig.yaml that was read, if any.
    pub msticpyconfig: Option<PathBuf>,
    /// Instances by name: native ones and those read from msticpyconfig.yaml.
    pub instances: BTreeMap<String, Instance>,
    /// Instances that are defined but unusable because of errors already reported, so that
    /// jobs naming them do not get a second, misleading "unknown instance" error.
    pub invalid_instances: BTreeSet<String>,
    /// The `KeyVault:` settings used to resolve `{KeyVault: ...}` secrets.
    pub key_vault: Option<KeyVaultSettings>,
    /// Where findings can go, by name.
    pub outputs: BTreeMap<String, Output>,
    /// Outputs that are defined but unusable because of errors already reported, so that
    /// `notify.to` naming them gets no second "no output" error.
    pub invalid_outputs: BTreeSet<String>,
    /// Daemon tuning.
    pub daemon: DaemonSettings,
}

impl Config {
    /// The database URL with any password replaced, for logs and messages.
    pub fn database_for_display(&self) -> String {
        redact::redact_url(&self.database)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("database", &self.database_for_display())
            .field("jobs", &self.jobs)
            .field("query_library", &self.query_library)
            .field("msticpyconfig", &self.msticpyconfig)
            .field("instances", &self.instances)
            .field("invalid_instances", &self.invalid_instances)
            .field("key_vault", &self.key_vault)
            .field("outputs", &self.outputs)
            .field("invalid_outputs", &self.invalid_outputs)
            .field("daemon", &self.daemon)
            .finish()
    }
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
    /// The `notify:` settings of jobs that leave them out.
    pub notify: Notify,
}

/// Where the config file is looked for when neither `--config` nor `$HUNTD_CONFIG` is given.
pub const DEFAULT_PATHS: [&str; 2] = ["huntd.yaml", "/etc/huntd/huntd.yaml"];

/// Finds the config file: `--config`, then `$HUNTD_CONFIG`, then `./huntd.yaml`, then
/// `/etc/huntd/huntd.yaml`.
pub fn locate(explicit: Option<&Path>) -> std::result::Result<PathBuf, Diagnostic> {
    locate_in(explicit, &EnvVars::current())
}

/// Like [`locate`], reading `$HUNTD_CONFIG` from `env`.
pub fn locate_in(
    explicit: Option<&Path>,
    env: &EnvVars,
) -> std::result::Result<PathBuf, Diagnostic> {
    let missing = |path: &Path, message: String, hint: &str| Diagnostic {
        severity: Severity::Error,
        file: path.to_path_buf(),
        location: Location::START,
        message,
        hint: Some(hint.to_string()),
        code: Some("config-not-found"),
    };
    if let Some(path) = explicit {
        return if path.exists() {
            Ok(path.to_path_buf())
        } else {
            Err(missing(
                path,
                "config file given with --config does not exist".into(),
                "check the path; examples/huntd.yaml is a starting point",
            ))
        };
    }
    if let Some(value) = env.var("HUNTD_CONFIG") {
        let path = PathBuf::from(value);
        return if path.exists() {
            Ok(path)
        } else {
            Err(missing(
                &path,
                "config file named by $HUNTD_CONFIG does not exist".into(),
                "fix or unset HUNTD_CONFIG, or pass --config PATH",
            ))
        };
    }
    DEFAULT_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            missing(
                Path::new(DEFAULT_PATHS[0]),
                "no config file: looked for --config, $HUNTD_CONFIG, ./huntd.yaml and /etc/huntd/huntd.yaml".into(),
                "pass --config PATH or create /etc/huntd/huntd.yaml; examples/huntd.yaml is a starting point",
            )
        })
}

const TOP_KEYS: [&str; 8] = [
    "database",
    "outputs",
    "jobs",
    "query_library",
    "msticpyconfig",
    "instances",
    "KeyVault",
    "daemon",
];

const DAEMON_KEYS: [&str; 7] = [
    "notify",
    "max_concurrent_runs",
    "shutdown_grace",
    "node",
    "splay",
    "metrics_listen",
    "state_dir",
];

/// Reads and checks `huntd.yaml` (and the msticpyconfig.yaml it uses), recording every problem
/// in `diags`. `None` only when the file itself cannot be read as a YAML mapping.
pub fn load(path: &Path, diags: &mut Diagnostics) -> Option<Config> {
    load_in(path, &EnvVars::current(), diags)
}

/// Like [`load`], with environment variables taken from `env`.
pub fn load_in(path: &Path, env: &EnvVars, diags: &mut Diagnostics) -> Option<Config> {
    let root = match yaml::load_file(path) {
        Ok(root) => root,
        Err(diag) => {
            diags.push(diag);
            return None;
        }
    };
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();

    let mut check = Checker::new(path, diags);
    let entries = check.map(&root, "huntd.yaml")?;
    check.unknown_keys(entries, &TOP_KEYS, "huntd.yaml");
    let daemon = daemon(&mut check, root.get("daemon"), &base, env);
    let database = match root.get("database") {
        Some(node) => database(&mut check, node, &base),
        None => None,
    }
    .unwrap_or_else(|| format!("sqlite://{}", daemon.state_dir.join("huntd.db").display()));
    let jobs = paths(&mut check, root.get("jobs"), "jobs", &base, env, false);
    if root.get("jobs").is_none() {
        check
            .warning(
                Location::START,
                "no `jobs` configured: there is nothing to run",
            )
            .hint("add `jobs: [./jobs]` naming the directories or files that hold job definitions");
    }
    let query_library = paths(
        &mut check,
        root.get("query_library"),
        "query_library",
        &base,
        env,
        true,
    );
    let msticpy_path = msticpy_path(&mut check, root.get("msticpyconfig"), &base, env);
    let msticpy_root = msticpy_path
        .as_ref()
        .and_then(|p| match yaml::load_file(p) {
            Ok(node) => Some(node),
            Err(diag) => {
                check.diags.push(diag);
                None
            }
        });

    let (instances, key_vault) = instances_and_vault(
        &mut check,
        &root,
        path,
        &base,
        env,
        msticpy_path.as_deref(),
        msticpy_root.as_ref(),
    );
    let (outputs, invalid_outputs) = match root.get("outputs").filter(|n| !n.is_null()) {
        Some(node) => {
            let scope = secret::Scope {
                env,
                base_dir: &base,
                shared_mode: shared_mode(path),
                default_vault: key_vault.as_ref().and_then(|v| v.vault_name.as_deref()),
                vault_signin: key_vault.is_some(),
                allow_key_vault: true,
            };
            let names: BTreeSet<String> = instances
                .usable
                .keys()
                .chain(&instances.invalid)
                .cloned()
                .collect();
            outputs::outputs(&mut check, node, &scope, &names)
        }
        None => (BTreeMap::new(), BTreeSet::new()),
    };
    if let Some(node) = root.get("daemon").and_then(|d| d.get("notify")) {
        let names: BTreeSet<String> = outputs.keys().chain(&invalid_outputs).cloned().collect();
        notify::check_targets(&mut check, &daemon.notify, node.location, &names);
    }

    Some(Config {
        path: absolute,
        database,
        jobs,
        query_library,
        msticpyconfig: msticpy_root.is_some().then_some(msticpy_path).flatten(),
        instances: instances.usable,
        invalid_instances: instances.invalid,
        key_vault,
        outputs,
        invalid_outputs,
        daemon,
    })
}

/// The instances of huntd.yaml and of the msticpyconfig.yaml it uses, and the `KeyVault`
/// settings their `{KeyVault: ...}` secrets resolve with: huntd.yaml's where given, else
/// msticpyconfig.yaml's.
fn instances_and_vault(
    check: &mut Checker<'_>,
    root: &Node,
    path: &Path,
    base: &Path,
    env: &EnvVars,
    msticpy_path: Option<&Path>,
    msticpy_root: Option<&Node>,
) -> (Instances, Option<KeyVaultSettings>) {
    let native_mode = shared_mode(path);
    // `expand_path` made the msticpyconfig path absolute, so it has a parent.
    let msticpy_base = msticpy_path
        .and_then(Path::parent)
        .map_or_else(|| base.to_path_buf(), Path::to_path_buf);
    let msticpy_mode = msticpy_path.and_then(shared_mode);
    let scope_for = |base_dir, shared_mode| secret::Scope {
        env,
        base_dir,
        shared_mode,
        default_vault: None,
        vault_signin: false,
        allow_key_vault: false,
    };

    let native_vault = root
        .as_map()
        .and_then(|e| e.iter().find(|(k, _)| k.name == "KeyVault"))
        .map(|(key, node)| {
            key_vault::Draft::parse(
                check,
                key.location,
                node,
                &scope_for(base, native_mode),
                true,
            )
        })
        .unwrap_or_default();
    let (msticpy_vault, from_msticpy) = match (msticpy_path, msticpy_root) {
        (Some(mpath), Some(mroot)) => read_msticpy(
            check.diags,
            mpath,
            mroot,
            &scope_for(&msticpy_base, msticpy_mode),
        ),
        _ => (key_vault::Draft::default(), BTreeMap::new()),
    };
    let vault = native_vault.or(msticpy_vault);
    let scope_with_vault = |base_dir, shared_mode| secret::Scope {
        default_vault: vault.vault_name.as_deref(),
        vault_signin: vault.can_sign_in(),
        allow_key_vault: true,
        ..scope_for(base_dir, shared_mode)
    };

    let mut instances = Instances::default();
    let native_names: Vec<&str> = root
        .get("instances")
        .and_then(Node::as_map)
        .map(|entries| entries.iter().map(|(k, _)| k.name.trim()).collect())
        .unwrap_or_default();
    if let Some(mpath) = msticpy_path {
        let scope = scope_with_vault(&msticpy_base, msticpy_mode);
        msticpy_instances(
            check.diags,
            mpath,
            &from_msticpy,
            &native_names,
            &scope,
            &mut instances,
        );
    }
    if let Some(node) = root.get("instances") {
        let scope = scope_with_vault(base, native_mode);
        let msticpy = msticpy_path.map(|mpath| (mpath, &from_msticpy));
        native_instances(check, node, msticpy, &scope, &mut instances);
    }
    let key_vault = vault.finish(check.diags);
    (instances, key_vault)
}

/// The `KeyVault` settings and Defender instance sections of a msticpyconfig.yaml.
fn read_msticpy<'n>(
    diags: &mut Diagnostics,
    mpath: &Path,
    mroot: &'n Node,
    scope: &secret::Scope<'_>,
) -> (key_vault::Draft, BTreeMap<String, msticpy::Section<'n>>) {
    let mut mcheck = Checker::new(mpath, diags);
    if mroot.as_map().is_none() {
        mcheck.error(
            mroot.location,
            format!(
                "msticpyconfig.yaml must be a mapping, found {}",
                mroot.kind()
            ),
        );
    }
    let vault = match msticpy::key_vault(mroot) {
        Some((at, node)) => key_vault::Draft::parse(&mut mcheck, at, node, scope, false),
        None => key_vault::Draft::default(),
    };
    let sections = msticpy::sections(&mut mcheck, mroot)
        .into_iter()
        .map(|section| (section.name.clone(), section))
        .collect();
    (vault, sections)
}

/// Instances read so far: the usable ones and the names of those with errors.
#[derive(Default)]
struct Instances {
    usable: BTreeMap<String, Instance>,
    invalid: BTreeSet<String>,
}

impl Instances {
    /// Keeps `parsed` as usable, or its name as invalid when it had errors.
    fn record(&mut self, name: &str, parsed: Option<Instance>) {
        match parsed {
            Some(instance) => {
                self.usable.insert(name.to_string(), instance);
            }
            None => {
                self.invalid.insert(name.to_string());
            }
        }
    }
}

/// The instances of msticpyconfig.yaml's sections that no huntd.yaml instance replaces.
fn msticpy_instances(
    diags: &mut Diagnostics,
    mpath: &Path,
    sections: &BTreeMap<String, msticpy::Section<'_>>,
    native_names: &[&str],
    scope: &secret::Scope<'_>,
    out: &mut Instances,
) {
    let mut mcheck = Checker::new(mpath, diags);
    for (name, section) in sections {
        // A section replaced by a native instance is not checked: its problems do not matter.
        if native_names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            continue;
        }
        let site = fields::Site {
            name,
            at: section.key.location,
            setting: vec!["DataProviders", &section.key.name, &section.args.0.name],
            strict: false,
        };
        out.record(
            name,
            instance::parse(&mut mcheck, &site, section.args.1, scope),
        );
    }
}

/// The instances under huntd.yaml's `instances:`; `msticpy` is the msticpyconfig.yaml in use
/// and its sections, to warn about the ones a native instance replaces.
fn native_instances(
    check: &mut Checker<'_>,
    node: &Node,
    msticpy: Option<(&Path, &BTreeMap<String, msticpy::Section<'_>>)>,
    scope: &secret::Scope<'_>,
    out: &mut Instances,
) {
    let Some(entries) = check.map(node, "instances") else {
        return;
    };
    let mut seen: Vec<&Key> = Vec::new();
    for (key, args) in entries {
        let name = key.name.trim();
        if let Some(first) = seen
            .iter()
            .find(|k| k.name.trim().eq_ignore_ascii_case(name))
        {
            check
                .error(
                    key.location,
                    format!(
                        "instance `{name}` is defined twice (also `{}` on line {})",
                        first.name, first.location.line
                    ),
                )
                .hint("instance names are compared without regard to case; rename or remove one");
            continue;
        }
        seen.push(key);
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            check
                .error(key.location, format!("`{}` is not a usable instance name", key.name))
                .hint("instance names are what jobs write in `instance:`; use letters, digits, `-` and `_`");
            continue;
        }
        if let Some((mpath, sections)) = msticpy
            && let Some((_, section)) = sections
                .iter()
                .find(|(other, _)| other.eq_ignore_ascii_case(name))
        {
            check.warning(
                key.location,
                format!(
                    "instance `{name}` is also defined in {}:{}; the definition in huntd.yaml is used",
                    mpath.display(),
                    section.key.location.line
                ),
            );
        }
        let site = fields::Site {
            name,
            at: key.location,
            setting: vec!["instances", name],
            strict: true,
        };
        out.record(name, instance::parse(check, &site, args, scope));
    }
}

fn daemon(
    check: &mut Checker<'_>,
    node: Option<&Node>,
    base: &Path,
    env: &EnvVars,
) -> DaemonSettings {
    let state_dir = env
        .var("STATE_DIRECTORY")
        .and_then(|v| {
            // systemd joins several StateDirectory= entries with colons; the first is ours.
            v.to_string_lossy().split(':').next().map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("/var/lib/huntd"));
    let mut settings = DaemonSettings {
        max_concurrent_runs: 4,
        shutdown_grace: Duration::from_secs(30),
        node: None,
        splay: Duration::ZERO,
        metrics_listen: None,
        state_dir,
        notify: Notify::default(),
    };
    let Some(node) = node else {
        return settings;
    };
    let Some(entries) = check.map(node, "daemon") else {
        return settings;
    };
    check.unknown_keys(entries, &DAEMON_KEYS, "daemon");
    if let Some(n) = node.get("max_concurrent_runs")
        && let Some(value) = check.integer(n, "daemon.max_concurrent_runs", 1..=256)
    {
        settings.max_concurrent_runs =
            usize::try_from(value).expect("1..=256 fits in usize on every platform");
    }
    if let Some(n) = node.get("shutdown_grace")
        && let Some(value) = check.duration(
            n,
            "daemon.shutdown_grace",
            Duration::ZERO..=Duration::from_secs(3600),
        )
    {
        settings.shutdown_grace = value;
    }
    if let Some(n) = node.get("splay")
        && let Some(value) = check.duration(
            n,
            "daemon.splay",
            Duration::ZERO..=Duration::from_secs(3600),
        )
    {
        settings.splay = value;
    }
    if let Some(n) = node.get("node")
        && let Some(value) = check.string(n, "daemon.node")
    {
        let value = value.trim().to_string();
        if value.is_empty() || value.len() > 255 {
            check.error(n.location, "daemon.node must be 1 to 255 characters");
        } else {
            settings.node = Some(value);
        }
    }
    if let Some(n) = node.get("metrics_listen")
        && let Some(value) = check.string(n, "daemon.metrics_listen")
    {
        match value.trim().parse() {
            Ok(addr) => settings.metrics_listen = Some(addr),
            Err(_) => {
                check
                    .error(
                        n.location,
                        format!("daemon.metrics_listen `{value}` is not an address and port"),
                    )
                    .hint("write it as 127.0.0.1:9464 or [::1]:9464");
            }
        }
    }
    if let Some(n) = node.get("notify").filter(|n| !n.is_null())
        && let Some(notify) = notify::notify(check, n, "daemon.notify")
    {
        settings.notify = notify;
    }
    if let Some(n) = node.get("state_dir")
        && let Some(value) = check.string(n, "daemon.state_dir")
    {
        settings.state_dir = expand_path(value.trim(), base, env);
    }
    settings
}

fn database(check: &mut Checker<'_>, node: &Node, base: &Path) -> Option<String> {
    let url = check.string(node, "database")?;
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let hint = "use sqlite://path/to/huntd.db or postgres://user@host/database";
    if lower == "sqlite::memory:" {
        return Some(url.to_string());
    }
    if lower.starts_with("sqlite:") {
        let after = &url["sqlite:".len()..];
        let after = after.strip_prefix("//").unwrap_or(after);
        let (file, query) = after.split_at(after.find('?').unwrap_or(after.len()));
        if file.is_empty() {
            check
                .error(node.location, "database URL names no SQLite file")
                .hint(hint);
            return None;
        }
        // `sqlite:///var/lib/x.db` is absolute; `sqlite://x.db` is relative to huntd.yaml.
        let file = base.join(file);
        return Some(format!("sqlite://{}{query}", file.display()));
    }
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        if reqwest::Url::parse(url).is_err() {
            check
                .error(node.location, "database URL is not a valid postgres:// URL")
                .hint(hint);
            return None;
        }
        return Some(url.to_string());
    }
    // Only the scheme is repeated back: the rest may hold a password.
    let message = match url.split_once("://") {
        Some((scheme, _)) => format!("unsupported database URL scheme `{scheme}://`"),
        None => "database is not a URL".to_string(),
    };
    check.error(node.location, message).hint(format!(
        "huntd stores results in SQLite or PostgreSQL: {hint}"
    ));
    None
}

fn paths(
    check: &mut Checker<'_>,
    node: Option<&Node>,
    what: &str,
    base: &Path,
    env: &EnvVars,
    dirs_only: bool,
) -> Vec<PathBuf> {
    let Some(node) = node else {
        return Vec::new();
    };
    if node.is_null() {
        return Vec::new();
    }
    let Some(items) = check.strings(node, what) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (text, at) in items {
        let path = expand_path(text.trim(), base, env);
        if dirs_only && !path.is_dir() {
            check
                .error(at, format!("{what}: no such directory {}", path.display()))
                .hint("relative paths start at the directory of huntd.yaml");
        } else if !path.exists() {
            check
                .error(
                    at,
                    format!("{what}: no such file or directory {}", path.display()),
                )
                .hint("relative paths start at the directory of huntd.yaml");
        }
        out.push(path);
    }
    out
}

fn msticpy_path(
    check: &mut Checker<'_>,
    node: Option<&Node>,
    base: &Path,
    env: &EnvVars,
) -> Option<PathBuf> {
    if let Some(node) = node {
        if node.is_null() {
            return None;
        }
        let text = check.string(node, "msticpyconfig")?;
        let path = expand_path(text.trim(), base, env);
        if !path.is_file() {
            check
                .error(node.location, format!("msticpyconfig: no such file {}", path.display()))
                .hint("relative paths start at the directory of huntd.yaml; `~` is your home directory");
            return None;
        }
        return Some(path);
    }
    let value = env.var("MSTICPYCONFIG")?;
    let path = expand_path(&value.to_string_lossy(), base, env);
    if !path.is_file() {
        check
            .error(
                Location::START,
                format!(
                    "$MSTICPYCONFIG names {}, which is not a file",
                    path.display()
                ),
            )
            .hint("fix or unset MSTICPYCONFIG, or set `msticpyconfig:` in huntd.yaml");
        return None;
    }
    Some(path)
}

/// The permission bits of `path` when its group or others may read it.
fn shared_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_database(url: &str) -> (Option<String>, Diagnostics) {
        yaml::check_text("h.yaml", &format!("database: '{url}'"), |check, node| {
            database(
                check,
                node.get("database").expect("key"),
                Path::new("/etc/huntd"),
            )
        })
    }

    #[test]
    fn sqlite_paths_are_made_absolute_against_the_config_directory() {
        assert_eq!(
            check_database("sqlite://huntd.db").0.as_deref(),
            Some("sqlite:///etc/huntd/huntd.db")
        );
        assert_eq!(
            check_database("sqlite:///var/lib/h.db?mode=rwc")
                .0
                .as_deref(),
            Some("sqlite:///var/lib/h.db?mode=rwc")
        );
        assert_eq!(
            check_database("postgresql://u@db/h").0.as_deref(),
            Some("postgresql://u@db/h")
        );
    }

    #[test]
    fn unsupported_database_urls_do_not_echo_credentials() {
        let (got, diags) = check_database("mysql://root:hunter2@db/h");
        assert!(got.is_none());
        let d = diags.sorted()[0].to_string();
        assert!(
            d.contains("unsupported database URL scheme `mysql://`"),
            "{d}"
        );
        assert!(!d.contains("hunter2"), "{d}");
    }

    #[test]
    fn locate_prefers_explicit_then_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        let b = dir.path().join("b.yaml");
        std::fs::write(&a, "x: 1").expect("write");
        std::fs::write(&b, "x: 1").expect("write");
        let env = EnvVars::from_vars([("HUNTD_CONFIG", b.as_os_str())]);
        assert_eq!(locate_in(Some(&a), &env), Ok(a.clone()));
        assert_eq!(locate_in(None, &env), Ok(b));
        let missing = dir.path().join("missing.yaml");
        let err = locate_in(Some(&missing), &env).expect_err("missing");
        assert!(err.message.contains("--config"), "{err}");
        let env = EnvVars::from_vars([("HUNTD_CONFIG", missing.as_os_str())]);
        let err = locate_in(None, &env).expect_err("missing");
        assert!(err.message.contains("$HUNTD_CONFIG"), "{err}");
        assert!(err.hint.is_some());
    }
}
