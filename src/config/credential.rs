//! How an instance signs in: a client secret, a certificate or a delegated user, and the
//! `ConnectionString` msticpy users write the ids and secret in.

use std::path::PathBuf;

use super::fields::{Fields, Site, file_path};
use super::secret::{self, SecretSource};
use crate::yaml::Checker;

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

/// Values read from a `ConnectionString`, with quotes stripped.
#[derive(Debug, Default)]
pub(crate) struct Connection {
    /// `tenant_id`.
    pub tenant_id: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret`.
    pub client_secret: Option<String>,
}

/// The section's `ConnectionString`, empty when there is none; `None` when it is given but
/// cannot be read, which is reported here.
pub(crate) fn connection_string(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    what: &str,
) -> Option<Connection> {
    if let Some(node) = fields.get("ConnectionString")
        && let Some(cs) = check.string(node, &format!("ConnectionString of {what}"))
    {
        return match parse_connection_string(&cs) {
            Ok(parsed) => Some(parsed),
            Err(problem) => {
                check
                    .error(node.location, format!("ConnectionString of {what}: {problem}"))
                    .hint("write it as tenant_id='<tenant>'; client_id='<app id>'; client_secret='<secret>'");
                None
            }
        };
    }
    Some(Connection::default())
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
    let secret_node = fields.get("ClientSecret");
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
    let given = given_credentials(fields, connection_secret.is_some());
    if given.len() > 1 {
        check
            .error(
                site.at,
                format!("{what} has more than one credential: {}", given.join(", ")),
            )
            .hint("keep exactly one: ClientSecret, Certificate (with PrivateKey) or UserName");
        return None;
    }
    if fields.get("Certificate").is_none() {
        warn_certificate_settings_ignored(check, fields, what);
    }
    match given.first().copied() {
        Some("ClientSecret") => client_secret(check, site, fields, what, scope, connection_secret),
        Some("Certificate") => certificate(check, site, fields, what, scope),
        Some(_) => delegated(check, fields, what),
        None => {
            check
                .error(site.at, format!("{what} has no credential"))
                .hint("add `ClientSecret: {Credential: <name>}` (or {File: path}, {EnvironmentVar: NAME}), `Certificate: <path>` with `PrivateKey: <path>`, or `UserName: <upn>` for delegated sign-in");
            None
        }
    }
}

/// The kinds of credential a section gives, in the order they are named to users.
fn given_credentials(fields: &Fields<'_>, has_connection_secret: bool) -> Vec<&'static str> {
    let mut given = Vec::new();
    if fields.get("ClientSecret").is_some() || has_connection_secret {
        given.push("ClientSecret");
    }
    if fields.get("Certificate").is_some() {
        given.push("Certificate");
    }
    if fields.get("UserName").is_some() {
        given.push("UserName");
    }
    given
}

/// Certificate settings without a `Certificate` are likely a mistake, but harmless.
fn warn_certificate_settings_ignored(check: &mut Checker<'_>, fields: &Fields<'_>, what: &str) {
    for key in ["PrivateKey", "PrivateKeySecret", "AssertionAlg"] {
        if let Some((k, _)) = fields.entry(key) {
            check.warning(
                k.location,
                format!("{} of {what} is ignored: it has no Certificate", k.name),
            );
        }
    }
}

/// The secret setting `key` of the section, when given; its path inside the section names its
/// default Key Vault secret.
fn secret_setting(
    check: &mut Checker<'_>,
    site: &Site<'_>,
    fields: &Fields<'_>,
    key: &'static str,
    what: &str,
    scope: &secret::Scope<'_>,
) -> Option<SecretSource> {
    let node = fields.get(key)?;
    let mut setting = site.setting.clone();
    setting.push(key);
    secret::parse(check, node, &setting, &format!("{key} of {what}"), scope)
}

/// A client secret from the connection string or from `ClientSecret`.
fn client_secret(
    check: &mut Checker<'_>,
    site: &Site<'_>,
    fields: &Fields<'_>,
    what: &str,
    scope: &secret::Scope<'_>,
    connection_secret: Option<String>,
) -> Option<Credential> {
    if let Some(value) = connection_secret {
        if let Some(mode) = scope.shared_mode {
            let at = fields
                .get("ConnectionString")
                .map_or(site.at, |n| n.location);
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
    secret_setting(check, site, fields, "ClientSecret", what, scope).map(Credential::ClientSecret)
}

/// A certificate with its optional private key, key password and assertion style.
fn certificate(
    check: &mut Checker<'_>,
    site: &Site<'_>,
    fields: &Fields<'_>,
    what: &str,
    scope: &secret::Scope<'_>,
) -> Option<Credential> {
    let certificate = file_path(check, fields, "Certificate", what, scope);
    let private_key = file_path(check, fields, "PrivateKey", what, scope);
    let private_key_secret = secret_setting(check, site, fields, "PrivateKeySecret", what, scope);
    let assertion_alg = assertion_alg(check, fields, what)?;
    Some(Credential::Certificate {
        certificate: certificate?,
        private_key,
        private_key_secret,
        assertion_alg,
    })
}

/// The `AssertionAlg` setting, PS256 when absent; `None` when it is given but unusable.
fn assertion_alg(check: &mut Checker<'_>, fields: &Fields<'_>, what: &str) -> Option<AssertionAlg> {
    let Some(node) = fields.get("AssertionAlg") else {
        return Some(AssertionAlg::default());
    };
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
    Some(alg)
}

/// Delegated sign-in as the user named by `UserName`.
fn delegated(check: &mut Checker<'_>, fields: &Fields<'_>, what: &str) -> Option<Credential> {
    let node = fields.get("UserName")?;
    let user_name = check.string(node, &format!("UserName of {what}"))?;
    if user_name.trim().is_empty() {
        check.error(node.location, format!("UserName of {what} is empty"));
        return None;
    }
    Some(Credential::Delegated {
        user_name: user_name.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
