//! Clouds and the endpoints an instance talks to: each cloud's defaults and the per-instance
//! `Endpoints` overrides.

use std::fmt;

use super::fields::Fields;
use crate::diagnostic::did_you_mean;
use crate::yaml::{Checker, Node};

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
    /// Azure Monitor, the resource Logs Ingestion tokens are for, e.g. `https://monitor.azure.com`.
    pub monitor: String,
}

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
        let (vault_domain, monitor) = match self {
            Cloud::GccHigh | Cloud::Dod => ("vault.usgovcloudapi.net", "monitor.azure.us"),
            _ => ("vault.azure.net", "monitor.azure.com"),
        };
        Endpoints {
            login: format!("https://{login}"),
            graph: format!("https://{graph}"),
            mde: format!("https://{mde}"),
            keyvault: format!("https://{{vault}}.{vault_domain}"),
            monitor: format!("https://{monitor}"),
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

pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The `Cloud` setting of an instance; `Global` when absent or unknown (unknown is reported).
pub(crate) fn setting(check: &mut Checker<'_>, fields: &Fields<'_>, what: &str) -> Cloud {
    let Some(node) = fields.get("Cloud") else {
        return Cloud::Global;
    };
    let Some(given) = check.string(node, &format!("Cloud of {what}")) else {
        return Cloud::Global;
    };
    Cloud::parse(&given).unwrap_or_else(|| {
        let diag = check.error(node.location, format!("unknown cloud `{given}` for {what}"));
        match did_you_mean(&given, Cloud::ALL.map(Cloud::name)) {
            Some(s) => diag.hint(format!(
                "did you mean `{s}`? valid clouds: {}",
                Cloud::names()
            )),
            None => diag.hint(format!("valid clouds: {}", Cloud::names())),
        };
        Cloud::Global
    })
}

/// Applies an instance's `Endpoints` mapping to `endpoints`, reporting unusable URLs.
pub(crate) fn endpoint_overrides(
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
        &["login", "graph", "mde", "keyvault", "monitor"],
        &[],
        &format!("Endpoints of {what}"),
        strict,
    );
    for (key, slot) in [
        ("login", &mut endpoints.login),
        ("graph", &mut endpoints.graph),
        ("mde", &mut endpoints.mde),
        ("keyvault", &mut endpoints.keyvault),
        ("monitor", &mut endpoints.monitor),
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
}
