//! msticpy's `msticpyconfig.yaml`: only the Defender provider sections and `KeyVault` matter.
//!
//! Users share this file with notebooks and other msticpy tools, so every other section
//! (`AzureSentinel`, `TIProviders`, other `DataProviders`...) is ignored without a word.

use crate::diagnostic::Location;
use crate::yaml::{Checker, Key, Node};

/// A Defender provider section that defines an instance.
#[derive(Debug)]
pub(crate) struct Section<'n> {
    /// The instance name: `Default`, or what follows `MicrosoftDefender-`.
    pub name: String,
    /// The section key as written (`MicrosoftDefender-Contoso`), for setting paths.
    pub key: &'n Key,
    /// The `Args` key as written and its mapping.
    pub args: (&'n Key, &'n Node),
}

/// The section name msticpy reads first, and its legacy alternative.
const CURRENT: &str = "MicrosoftDefender";
const LEGACY: &str = "MDATPApp";

/// The instance sections under `DataProviders`, current ones winning over legacy `MDATPApp`
/// ones of the same name.
pub(crate) fn sections<'n>(check: &mut Checker<'_>, root: &'n Node) -> Vec<Section<'n>> {
    let Some((_, providers)) = root.get_ignore_case("DataProviders") else {
        return Vec::new();
    };
    let Some(entries) = providers.as_map() else {
        return Vec::new();
    };
    let mut found: Vec<(bool, Section<'n>)> = Vec::new();
    for (key, node) in entries {
        let Some((name, legacy)) = instance_name(&key.name) else {
            continue;
        };
        if name.is_empty() {
            check
                .error(
                    key.location,
                    format!("section `{}` has no instance name after the dash", key.name),
                )
                .hint(format!(
                    "write `{CURRENT}` for the default instance or `{CURRENT}-<Name>`"
                ));
            continue;
        }
        let Some((args_key, args)) = node.get_ignore_case("Args") else {
            check
                .error(
                    key.location,
                    format!("section `{}` has no `Args`", key.name),
                )
                .hint("msticpy keeps TenantId, ClientId and the credential under `Args:`");
            continue;
        };
        if let Some(index) = found
            .iter()
            .position(|(_, s)| s.name.eq_ignore_ascii_case(&name))
        {
            let (other_legacy, other) = &found[index];
            let (kept, dropped) = if *other_legacy && !legacy {
                (key, other.key)
            } else {
                (other.key, key)
            };
            check.warning(
                dropped.location,
                format!(
                    "section `{}` is ignored: `{}` (line {}) defines instance `{name}` too",
                    dropped.name, kept.name, kept.location.line
                ),
            );
            if *other_legacy && !legacy {
                found.remove(index);
            } else {
                continue;
            }
        }
        found.push((
            legacy,
            Section {
                name,
                key,
                args: (args_key, args),
            },
        ));
    }
    found.into_iter().map(|(_, s)| s).collect()
}

/// The instance a `DataProviders` key defines, and whether it is the legacy name.
fn instance_name(key: &str) -> Option<(String, bool)> {
    for (prefix, legacy) in [(CURRENT, false), (LEGACY, true)] {
        let Some(head) = key.get(..prefix.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(prefix) {
            continue;
        }
        let rest = &key[prefix.len()..];
        if rest.is_empty() {
            return Some(("Default".to_string(), legacy));
        }
        if let Some(name) = rest.strip_prefix('-') {
            return Some((name.to_string(), legacy));
        }
    }
    None
}

/// The top-level `KeyVault` section, if any.
pub(crate) fn key_vault(root: &Node) -> Option<(Location, &Node)> {
    root.get_ignore_case("KeyVault")
        .map(|(key, node)| (key.location, node))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_names_map_to_instances() {
        assert_eq!(
            instance_name("MicrosoftDefender"),
            Some(("Default".into(), false))
        );
        assert_eq!(
            instance_name("MicrosoftDefender-Contoso"),
            Some(("Contoso".into(), false))
        );
        assert_eq!(instance_name("MDATPApp"), Some(("Default".into(), true)));
        assert_eq!(
            instance_name("microsoftdefender-x"),
            Some(("x".into(), false))
        );
        assert_eq!(instance_name("MicrosoftDefenderX"), None);
        assert_eq!(instance_name("AzureSentinel"), None);
        assert_eq!(instance_name("Mde"), None);
    }
}
