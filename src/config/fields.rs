//! Reading the settings of an instance-like mapping: where it sits, its keys looked up by
//! canonical name, and the small value checks the instance and `KeyVault` readers share; and
//! what makes a valid name for an output or a job.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::env::expand_path;
use super::secret;
use crate::diagnostic::{Location, did_you_mean};
use crate::yaml::{Checker, Key, Node};

const MAX_NAME_LEN: usize = 48;

/// Whether `name` matches `[a-z0-9][a-z0-9_-]{0,47}`.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

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
pub(crate) fn file_path(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    key: &str,
    what: &str,
    scope: &secret::Scope<'_>,
) -> Option<PathBuf> {
    let (value, at) = text(check, fields, key, what)?;
    let path = expand_path(&value, scope.base_dir, scope.env);
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
