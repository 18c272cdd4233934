//! Secret values: held redacted, resolved from where the config says they live.

use std::path::{Path, PathBuf};

/// A secret in memory, shared with the emulator, which checks the keys and tokens huntd sends.
pub use contract::Secret;

use super::env::{EnvVars, expand_path};
use crate::diagnostic::did_you_mean;
use crate::yaml::{Checker, Node, Value};

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

/// Why a secret value could not be read. Messages name where it was looked for, never the value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `{EnvironmentVar: NAME}` names a variable that is not set.
    #[error("environment variable `{0}` is not set")]
    EnvUnset(String),
    /// `{Credential: name}` without `$CREDENTIALS_DIRECTORY`.
    #[error(
        "secret is the systemd credential `{0}`, but $CREDENTIALS_DIRECTORY is not set (is huntd running under systemd with LoadCredential=?)"
    )]
    NoCredentialsDirectory(String),
    /// A secret file (or credential file) cannot be read.
    #[error("cannot read secret file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The value is not UTF-8 text.
    #[error("secret file {} is not UTF-8 text", .0.display())]
    NotText(PathBuf),
    /// The value is empty.
    #[error("the secret from {0} is empty")]
    Empty(String),
    /// Key Vault references are resolved by the auth module, which signs in to the vault.
    #[error("secret `{0}` lives in Key Vault and must be fetched by the auth module")]
    KeyVault(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

impl SecretSource {
    /// Reads the secret from the process environment and files; Key Vault references fail with
    /// [`Error::KeyVault`] because fetching them needs a signed-in client.
    pub fn resolve(&self) -> Result<Secret> {
        self.resolve_in(&EnvVars::current())
    }

    /// Like [`SecretSource::resolve`], with environment variables taken from `env`.
    pub fn resolve_in(&self, env: &EnvVars) -> Result<Secret> {
        let value = match self {
            SecretSource::Plain(secret) => return Ok(secret.clone()),
            SecretSource::EnvironmentVar(name) => env
                .var(name)
                .ok_or_else(|| Error::EnvUnset(name.clone()))?
                .to_string_lossy()
                .into_owned(),
            SecretSource::File(path) => read_secret_file(path)?,
            SecretSource::Credential(name) => {
                let dir = env
                    .var(CREDENTIALS_DIRECTORY)
                    .ok_or_else(|| Error::NoCredentialsDirectory(name.clone()))?;
                read_secret_file(&Path::new(dir).join(name))?
            }
            SecretSource::KeyVault(reference) => {
                return Err(Error::KeyVault(reference.secret.clone()));
            }
        };
        if value.is_empty() {
            return Err(Error::Empty(self.describe()));
        }
        Ok(Secret::new(value))
    }

    /// Where the value comes from, for messages (never the value itself).
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Plain(_) => "the config file".into(),
            SecretSource::EnvironmentVar(name) => format!("environment variable `{name}`"),
            SecretSource::File(path) => format!("file {}", path.display()),
            SecretSource::Credential(name) => format!("systemd credential `{name}`"),
            SecretSource::KeyVault(r) => match &r.vault {
                Some(vault) => format!("Key Vault secret `{vault}/{}`", r.secret),
                None => format!("Key Vault secret `{}` in the default vault", r.secret),
            },
        }
    }
}

/// The systemd variable naming the directory of `LoadCredential=` files.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

fn read_secret_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| Error::NotText(path.to_path_buf()))?;
    // Files written with `echo` or an editor end in a newline that is not part of the secret.
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// What a secret setting needs to know about its surroundings while it is checked.
#[derive(Debug)]
pub(crate) struct Scope<'a> {
    /// Environment variables as `huntd validate` or the daemon sees them.
    pub env: &'a EnvVars,
    /// Directory relative paths start from: the directory of the file being read.
    pub base_dir: &'a Path,
    /// The permission bits of the file being read, when group or others can read it.
    pub shared_mode: Option<u32>,
    /// `KeyVault.VaultName`, the default vault.
    pub default_vault: Option<&'a str>,
    /// Whether a `KeyVault:` section says how to sign in to the vault.
    pub vault_signin: bool,
    /// False inside the `KeyVault:` section: its own secret cannot come from the vault.
    pub allow_key_vault: bool,
}

const KINDS: [&str; 4] = ["EnvironmentVar", "File", "Credential", "KeyVault"];

/// Checks a secret value node. `setting` is the dotted path of the setting
/// (`DataProviders.MicrosoftDefender.Args.ClientSecret`), used to name default Key Vault
/// secrets; `what` describes it in messages.
pub(crate) fn parse(
    check: &mut Checker<'_>,
    node: &Node,
    setting: &[&str],
    what: &str,
    scope: &Scope<'_>,
) -> Option<SecretSource> {
    match &node.value {
        Value::Str(text) => {
            if text.is_empty() {
                check.error(node.location, format!("{what} is empty"));
                return None;
            }
            if let Some(mode) = scope.shared_mode {
                let file = check.file.display().to_string();
                check
                    .warning(
                        node.location,
                        format!(
                            "{what} is written in plain text in a file that group or others can read (mode {mode:03o})"
                        ),
                    )
                    .hint(format!(
                        "run `chmod 600 {file}`, or keep the secret elsewhere: {{Credential: name}} (systemd LoadCredential=), {{File: path}} or {{EnvironmentVar: NAME}}"
                    ));
            }
            Some(SecretSource::Plain(Secret::new(text.clone())))
        }
        Value::Map(entries) if entries.len() == 1 => {
            let (key, value) = &entries[0];
            let Some(kind) = KINDS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(&key.name))
                .copied()
            else {
                let diag = check.error(
                    key.location,
                    format!("unknown secret kind `{}` for {what}", key.name),
                );
                match did_you_mean(&key.name, KINDS) {
                    Some(s) => diag.hint(format!("did you mean `{s}`?")),
                    None => diag.hint(format!("use one of: {}", KINDS.join(", "))),
                };
                return None;
            };
            match kind {
                "EnvironmentVar" => env_var(check, value, what, scope),
                "File" => file(check, value, what, scope),
                "Credential" => credential(check, value, what, scope),
                _ => key_vault(check, value, setting, what, scope),
            }
        }
        _ => {
            check
                .error(
                    node.location,
                    format!(
                        "{what} must be a string or a mapping with one key, found {}",
                        node.kind()
                    ),
                )
                .hint(
                    "write {Credential: name}, {File: path}, {EnvironmentVar: NAME}, {KeyVault: vault/secret} or the value itself",
                );
            None
        }
    }
}

fn env_var(
    check: &mut Checker<'_>,
    node: &Node,
    what: &str,
    scope: &Scope<'_>,
) -> Option<SecretSource> {
    let name = check.string(node, &format!("the EnvironmentVar of {what}"))?;
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        check.error(
            node.location,
            format!("`{name}` is not an environment variable name"),
        );
        return None;
    }
    if scope.env.var(&name).is_none() {
        check
            .error(
                node.location,
                format!("environment variable `{name}` ({what}) is not set"),
            )
            .hint(format!(
                "export {name} before starting huntd, or set it in the systemd unit with Environment= or EnvironmentFile="
            ));
    }
    Some(SecretSource::EnvironmentVar(name))
}

fn file(
    check: &mut Checker<'_>,
    node: &Node,
    what: &str,
    scope: &Scope<'_>,
) -> Option<SecretSource> {
    let text = check.string(node, &format!("the File of {what}"))?;
    let path = expand_path(&text, scope.base_dir, scope.env);
    match std::fs::File::open(&path).and_then(|f| f.metadata()) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            check.error(
                node.location,
                format!(
                    "secret file {} ({what}) is not a regular file",
                    path.display()
                ),
            );
        }
        Err(e) => {
            check
                .error(
                    node.location,
                    format!(
                        "secret file {} ({what}) cannot be read: {e}",
                        path.display()
                    ),
                )
                .hint("relative paths start at the directory of the config file");
        }
    }
    Some(SecretSource::File(path))
}

fn credential(
    check: &mut Checker<'_>,
    node: &Node,
    what: &str,
    scope: &Scope<'_>,
) -> Option<SecretSource> {
    let name = check.string(node, &format!("the Credential of {what}"))?;
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        check.error(
            node.location,
            format!("`{name}` is not a systemd credential name"),
        );
        return None;
    }
    let hint = format!(
        "add `LoadCredential={name}:/path/to/secret` (or SetCredentialEncrypted=) to the huntd service unit"
    );
    match scope.env.var(CREDENTIALS_DIRECTORY) {
        None => {
            check
                .error(
                    node.location,
                    format!(
                        "{what} is the systemd credential `{name}`, but $CREDENTIALS_DIRECTORY is not set"
                    ),
                )
                .hint(format!(
                    "{hint}; outside systemd, export CREDENTIALS_DIRECTORY=<dir holding a file named {name}>"
                ));
        }
        Some(dir) => {
            let path = Path::new(dir).join(&name);
            if !path.is_file() {
                check
                    .error(
                        node.location,
                        format!(
                            "systemd credential `{name}` ({what}) not found: no file {}",
                            path.display()
                        ),
                    )
                    .hint(hint);
            }
        }
    }
    Some(SecretSource::Credential(name))
}

fn key_vault(
    check: &mut Checker<'_>,
    node: &Node,
    setting: &[&str],
    what: &str,
    scope: &Scope<'_>,
) -> Option<SecretSource> {
    if !scope.allow_key_vault {
        check.error(
            node.location,
            format!("{what} cannot come from Key Vault: it is needed to sign in to Key Vault"),
        );
        return None;
    }
    let text = match &node.value {
        Value::Null => String::new(),
        _ => check.string(node, &format!("the KeyVault reference of {what}"))?,
    };
    let text = text.trim();
    let reference = if text.is_empty() || text.eq_ignore_ascii_case("default") {
        KeyVaultRef {
            vault: None,
            secret: default_secret_name(setting),
        }
    } else if let Some((vault, secret)) = text.split_once('/') {
        KeyVaultRef {
            vault: Some(vault.to_string()),
            secret: secret.to_string(),
        }
    } else {
        KeyVaultRef {
            vault: None,
            secret: text.to_string(),
        }
    };
    if !is_vault_object_name(&reference.secret)
        || reference
            .vault
            .as_deref()
            .is_some_and(|v| !is_vault_object_name(v))
    {
        check
            .error(
                node.location,
                format!("`{text}` is not a Key Vault reference ({what})"),
            )
            .hint("write `vault/secret`, `secret` (in KeyVault.VaultName), or leave it empty for the name derived from the setting; names use only letters, digits and `-`");
        return None;
    }
    if reference.vault.is_none() && scope.default_vault.is_none() {
        check
            .error(
                node.location,
                format!(
                    "{what} refers to Key Vault secret `{}` in the default vault, but no KeyVault.VaultName is set",
                    reference.secret
                ),
            )
            .hint("add `KeyVault: {VaultName: <vault>}` to huntd.yaml or msticpyconfig.yaml, or write `vault/secret`");
    } else if !scope.vault_signin {
        check
            .error(
                node.location,
                format!("{what} is a Key Vault secret, but the KeyVault section does not say how to sign in to the vault"),
            )
            .hint("add `ManagedIdentity: true`, or `TenantId`, `ClientId` and `ClientSecret`, to the KeyVault section");
    }
    Some(SecretSource::KeyVault(reference))
}

/// msticpy's default secret name: the setting path with every character outside
/// `[0-9a-zA-Z-]` turned into `-`.
pub(crate) fn default_secret_name(setting: &[&str]) -> String {
    setting
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn is_vault_object_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        let source = SecretSource::Plain(s);
        assert!(!format!("{source:?}").contains("hunter2"));
    }

    #[test]
    fn default_secret_names_follow_msticpy() {
        assert_eq!(
            default_secret_name(&["DataProviders", "MicrosoftDefender", "Args", "ClientSecret"]),
            "DataProviders-MicrosoftDefender-Args-ClientSecret"
        );
        assert_eq!(
            default_secret_name(&["instances", "Contoso_EU.x", "ClientSecret"]),
            "instances-Contoso-EU-x-ClientSecret"
        );
    }

    #[test]
    fn resolves_files_without_their_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        std::fs::write(&path, "abc\n").expect("write");
        let got = SecretSource::File(path).resolve().expect("readable");
        assert_eq!(got.expose(), "abc");
    }

    #[test]
    fn resolves_systemd_credentials_from_the_credentials_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("contoso"), "s3cret").expect("write");
        let env = EnvVars::from_vars([(CREDENTIALS_DIRECTORY, dir.path().as_os_str())]);
        let source = SecretSource::Credential("contoso".into());
        assert_eq!(source.resolve_in(&env).expect("present").expose(), "s3cret");
        let err = source
            .resolve_in(&EnvVars::from_vars::<&str, &str>([]))
            .expect_err("no directory");
        assert!(matches!(err, Error::NoCredentialsDirectory(_)), "{err}");
    }

    #[test]
    fn resolve_errors_never_contain_the_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("write");
        let err = SecretSource::File(empty).resolve().expect_err("empty");
        assert!(matches!(err, Error::Empty(_)), "{err}");
        let env = EnvVars::from_vars([("HUNTD_T_SET", "value")]);
        let err = SecretSource::EnvironmentVar("HUNTD_T_UNSET".into())
            .resolve_in(&env)
            .expect_err("unset");
        assert_eq!(
            err.to_string(),
            "environment variable `HUNTD_T_UNSET` is not set"
        );
        let kv = SecretSource::KeyVault(KeyVaultRef {
            vault: None,
            secret: "x".into(),
        });
        assert!(matches!(kv.resolve_in(&env), Err(Error::KeyVault(_))));
    }
}
