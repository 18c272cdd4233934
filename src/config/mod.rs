//! The daemon configuration (`huntd.yaml`), the instances it names, and msticpy's config.
//!
//! [`load`] reads everything once into validated types and records every problem it finds as
//! a [`Diagnostic`]; nothing here stops at the first mistake or panics on input.

pub mod instance;
pub mod key_vault;
mod msticpy;
pub mod secret;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use instance::{AssertionAlg, Cloud, Credential, Endpoints, Instance, Quota};
pub use key_vault::{KeyVaultAuth, KeyVaultSettings};
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
    /// Daemon tuning.
    pub daemon: DaemonSettings,
}

impl Config {
    /// The database URL with any password replaced, for logs and messages.
    pub fn database_for_display(&self) -> String {
        redact_url_password(&self.database)
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
}

/// The environment variables config loading looks at, captured once so tests can supply
/// their own. `Debug` lists only the names: values may be secrets.
#[derive(Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, OsString>,
}

impl Environment {
    /// The process environment.
    pub fn current() -> Self {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))))
    }

    /// An environment holding exactly `vars`.
    pub fn from_vars<K: Into<String>, V: Into<OsString>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; an empty value counts as unset.
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .get(name)
            .map(OsString::as_os_str)
            .filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

/// Where the config file is looked for when neither `--config` nor `$HUNTD_CONFIG` is given.
pub const DEFAULT_PATHS: [&str; 2] = ["huntd.yaml", "/etc/huntd/huntd.yaml"];

/// Finds the config file: `--config`, then `$HUNTD_CONFIG`, then `./huntd.yaml`, then
/// `/etc/huntd/huntd.yaml`.
pub fn locate(explicit: Option<&Path>) -> std::result::Result<PathBuf, Diagnostic> {
    locate_in(explicit, &Environment::current())
}

/// Like [`locate`], reading `$HUNTD_CONFIG` from `env`.
pub fn locate_in(
    explicit: Option<&Path>,
    env: &Environment,
) -> std::result::Result<PathBuf, Diagnostic> {
    let missing = |path: &Path, message: String, hint: &str| Diagnostic {
        severity: Severity::Error,
        file: path.to_path_buf(),
        location: Location::START,
        message,
        hint: Some(hint.to_string()),
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

const TOP_KEYS: [&str; 7] = [
    "database",
    "jobs",
    "query_library",
    "msticpyconfig",
    "instances",
    "KeyVault",
    "daemon",
];

const DAEMON_KEYS: [&str; 6] = [
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
    load_in(path, &Environment::current(), diags)
}

/// Like [`load`], with environment variables taken from `env`.
pub fn load_in(path: &Path, env: &Environment, diags: &mut Diagnostics) -> Option<Config> {
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

    let native_mode = shared_mode(path);
    // `expand_path` made the msticpyconfig path absolute, so it has a parent.
    let msticpy_base = msticpy_path
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(|| base.clone(), Path::to_path_buf);
    let msticpy_mode = msticpy_path.as_deref().and_then(shared_mode);
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
                &mut check,
                key.location,
                node,
                &scope_for(&base, native_mode),
                true,
            )
        })
        .unwrap_or_default();
    let mut msticpy_vault = key_vault::Draft::default();
    let mut from_msticpy = BTreeMap::new();
    if let (Some(mpath), Some(mroot)) = (&msticpy_path, &msticpy_root) {
        let mut mcheck = Checker::new(mpath, check.diags);
        if mroot.as_map().is_none() {
            mcheck.error(
                mroot.location,
                format!(
                    "msticpyconfig.yaml must be a mapping, found {}",
                    mroot.kind()
                ),
            );
        }
        if let Some((at, node)) = msticpy::key_vault(mroot) {
            msticpy_vault = key_vault::Draft::parse(
                &mut mcheck,
                at,
                node,
                &scope_for(&msticpy_base, msticpy_mode),
                false,
            );
        }
        for section in msticpy::sections(&mut mcheck, mroot) {
            from_msticpy.insert(section.name.clone(), section);
        }
    }
    let vault = native_vault.or(msticpy_vault);
    let scope_with_vault = |base_dir, shared_mode| secret::Scope {
        default_vault: vault.vault_name.as_deref(),
        vault_signin: vault.can_sign_in(),
        allow_key_vault: true,
        ..scope_for(base_dir, shared_mode)
    };

    let mut instances = BTreeMap::new();
    let mut invalid_instances = BTreeSet::new();
    let native_names: Vec<&str> = root
        .get("instances")
        .and_then(Node::as_map)
        .map(|entries| entries.iter().map(|(k, _)| k.name.trim()).collect())
        .unwrap_or_default();
    if let Some(mpath) = &msticpy_path {
        let mut mcheck = Checker::new(mpath, check.diags);
        let scope = scope_with_vault(&msticpy_base, msticpy_mode);
        for (name, section) in &from_msticpy {
            // A section replaced by a native instance is not checked: its problems do not matter.
            if native_names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                continue;
            }
            let site = instance::Site {
                name,
                at: section.key.location,
                setting: vec!["DataProviders", &section.key.name, &section.args.0.name],
                strict: false,
            };
            match instance::parse(&mut mcheck, &site, section.args.1, &scope) {
                Some(instance) => {
                    instances.insert(name.clone(), instance);
                }
                None => {
                    invalid_instances.insert(name.clone());
                }
            }
        }
    }
    if let Some(node) = root.get("instances")
        && let Some(entries) = check.map(node, "instances")
    {
        let scope = scope_with_vault(&base, native_mode);
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
                    .hint(
                        "instance names are compared without regard to case; rename or remove one",
                    );
                continue;
            }
            seen.push(key);
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                check
                    .error(key.location, format!("`{}` is not a usable instance name", key.name))
                    .hint("instance names are what jobs write in `instance:`; use letters, digits, `-` and `_`");
                continue;
            }
            if let (Some(mpath), Some((_, section))) = (
                &msticpy_path,
                from_msticpy
                    .iter()
                    .find(|(other, _)| other.eq_ignore_ascii_case(name)),
            ) {
                check.warning(
                    key.location,
                    format!(
                        "instance `{name}` is also defined in {}:{}; the definition in huntd.yaml is used",
                        mpath.display(),
                        section.key.location.line
                    ),
                );
            }
            let site = instance::Site {
                name,
                at: key.location,
                setting: vec!["instances", name],
                strict: true,
            };
            match instance::parse(&mut check, &site, args, &scope) {
                Some(instance) => {
                    instances.insert(name.to_string(), instance);
                }
                None => {
                    invalid_instances.insert(name.to_string());
                }
            }
        }
    }
    let key_vault = vault.finish(check.diags);

    Some(Config {
        path: absolute,
        database,
        jobs,
        query_library,
        msticpyconfig: msticpy_root.is_some().then_some(msticpy_path).flatten(),
        instances,
        invalid_instances,
        key_vault,
        daemon,
    })
}

fn daemon(
    check: &mut Checker<'_>,
    node: Option<&Node>,
    base: &Path,
    env: &Environment,
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
    env: &Environment,
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
    env: &Environment,
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

/// Expands a leading `~` to `$HOME` and makes relative paths relative to `base`.
pub(crate) fn expand_path(text: &str, base: &Path, env: &Environment) -> PathBuf {
    let home = env.var("HOME").map(PathBuf::from);
    let path = match (text.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home,
        (Some(rest), Some(home)) if rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(text),
    };
    let joined = if path.is_absolute() {
        path
    } else {
        base.join(path)
    };
    // Drop `.` parts so messages show `/etc/huntd/jobs/a.yaml`, not `/etc/huntd/./jobs/a.yaml`.
    joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// The permission bits of `path` when its group or others may read it.
fn shared_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

fn redact_url_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            if parsed.set_password(Some("[redacted]")).is_ok() {
                parsed.to_string()
            } else {
                "[unprintable database URL]".to_string()
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_database(url: &str) -> (Option<String>, Diagnostics) {
        let node = yaml::parse_bytes(Path::new("h.yaml"), format!("database: '{url}'").as_bytes())
            .expect("valid yaml");
        let mut diags = Diagnostics::new();
        let mut check = Checker::new(Path::new("h.yaml"), &mut diags);
        let got = database(
            &mut check,
            node.get("database").expect("key"),
            Path::new("/etc/huntd"),
        );
        (got, diags)
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
    fn database_passwords_are_redacted_for_display() {
        assert_eq!(
            redact_url_password("postgres://u:hunter2@db:5432/h"),
            "postgres://u:%5Bredacted%5D@db:5432/h"
        );
        assert_eq!(
            redact_url_password("postgres://u@db/h"),
            "postgres://u@db/h"
        );
    }

    #[test]
    fn tilde_means_home_and_relative_means_beside_the_config() {
        let env = Environment::from_vars([("HOME", "/home/ann")]);
        let base = Path::new("/etc/huntd");
        assert_eq!(
            expand_path("~/.msticpy/m.yaml", base, &env),
            PathBuf::from("/home/ann/.msticpy/m.yaml")
        );
        assert_eq!(
            expand_path("jobs", base, &env),
            PathBuf::from("/etc/huntd/jobs")
        );
        assert_eq!(expand_path("/abs", base, &env), PathBuf::from("/abs"));
    }

    #[test]
    fn locate_prefers_explicit_then_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.yaml");
        let b = dir.path().join("b.yaml");
        std::fs::write(&a, "x: 1").expect("write");
        std::fs::write(&b, "x: 1").expect("write");
        let env = Environment::from_vars([("HUNTD_CONFIG", b.as_os_str())]);
        assert_eq!(locate_in(Some(&a), &env), Ok(a.clone()));
        assert_eq!(locate_in(None, &env), Ok(b));
        let missing = dir.path().join("missing.yaml");
        let err = locate_in(Some(&missing), &env).expect_err("missing");
        assert!(err.message.contains("--config"), "{err}");
        let env = Environment::from_vars([("HUNTD_CONFIG", missing.as_os_str())]);
        let err = locate_in(None, &env).expect_err("missing");
        assert!(err.message.contains("$HUNTD_CONFIG"), "{err}");
        assert!(err.hint.is_some());
    }

    #[test]
    fn environment_debug_shows_names_only() {
        let env = Environment::from_vars([("TOKEN", "hunter2")]);
        assert_eq!(format!("{env:?}"), "{\"TOKEN\"}");
    }
}
