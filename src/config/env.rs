//! The environment variables config loading reads, and the paths they expand.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variables config loading looks at, captured once so tests can supply
/// their own. `Debug` lists only the names: values may be secrets.
#[derive(Clone, Default)]
pub struct EnvVars {
    vars: BTreeMap<String, OsString>,
}

impl EnvVars {
    /// The process environment.
    pub fn current() -> Self {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))))
    }

    /// A set holding exactly `vars`.
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

impl fmt::Debug for EnvVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

/// Expands a leading `~` to `$HOME` and makes relative paths relative to `base`.
pub(crate) fn expand_path(text: &str, base: &Path, env: &EnvVars) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_means_home_and_relative_means_beside_the_config() {
        let env = EnvVars::from_vars([("HOME", "/home/ann")]);
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
    fn environment_debug_shows_names_only() {
        let env = EnvVars::from_vars([("TOKEN", "hunter2")]);
        assert_eq!(format!("{env:?}"), "{\"TOKEN\"}");
    }
}
