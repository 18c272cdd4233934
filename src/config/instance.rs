//! Defender instances: one app registration in one tenant and cloud.
//!
//! Native `instances:` entries and msticpy `Args` sections are read by the same code: keys are
//! case-insensitive (msticpy users write `Cloud`, `cloud`, `Cert`...), and huntd's extras
//! (`Endpoints`, `Quota`, `AssertionAlg`, `CaFile`, `ConnectionString`) work in both places.

use std::path::PathBuf;

use super::cloud::{self, Cloud, Endpoints};
use super::credential::{self, Credential};
use super::fields::{Fields, Site, file_path, text};
use super::secret;
use crate::yaml::{Checker, Node};

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
    /// Whether `validate` accepts jobs needing more calls than the quota (a known backlog).
    pub allow_overcommit: bool,
    /// Whether the user has seen that the MDE hunting API is being retired (no warning).
    pub mde_retirement_noticed: bool,
    /// Labels a job's `instances: {tags: [...]}` selects it by (`Tags:`).
    pub tags: Vec<String>,
    /// Where it was defined: a huntd.yaml or msticpyconfig.yaml path.
    pub source: PathBuf,
}

/// Default Defender API quota per tenant: 45 calls a minute.
const DEFAULT_PER_MINUTE: u32 = 45;

/// The canonical instance keys; `Cert` is msticpy's alias of `Certificate`.
const KEYS: [&str; 17] = [
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
    "AllowOvercommit",
    "MdeRetirementNoticed",
    "Tags",
];

/// Checks one instance's settings. Returns `None` when it cannot be used; every problem found
/// is recorded either way.
pub(crate) fn parse(
    check: &mut Checker<'_>,
    site: &Site<'_>,
    args: &Node,
    scope: &secret::Scope<'_>,
) -> Option<Instance> {
    let what = format!("instance `{}`", site.name);
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
    let connection = credential::connection_string(check, &fields, &what);
    let section = Section {
        site,
        fields: &fields,
        what: &what,
        connection_broken: connection.is_none(),
    };
    let mut connection = connection.unwrap_or_default();
    let tenant_id = section.required(
        check,
        "TenantId",
        connection.tenant_id.take(),
        "<directory (tenant) id of the app registration>",
    );
    let client_id = section.required(
        check,
        "ClientId",
        connection.client_id.take(),
        "<application (client) id>",
    );
    if let Some(id) = &client_id {
        section.check_client_id_is_guid(check, id);
    }
    let credential = credential::credential(
        check,
        site,
        &fields,
        &what,
        scope,
        connection.client_secret.take(),
    );
    let cloud = cloud::setting(check, &fields, &what);
    let mut endpoints = cloud.endpoints();
    if let Some(node) = fields.get("Endpoints") {
        cloud::endpoint_overrides(check, node, &what, site.strict, &mut endpoints);
    }
    let quota = fields
        .get("Quota")
        .and_then(|node| quota(check, node, &what, site.strict));
    let ca_file = file_path(check, &fields, "CaFile", &what, scope);
    let allow_overcommit = fields
        .get("AllowOvercommit")
        .and_then(|node| check.boolean(node, &format!("AllowOvercommit of {what}")))
        .unwrap_or(false);
    let mde_retirement_noticed = fields
        .get("MdeRetirementNoticed")
        .and_then(|node| check.boolean(node, &format!("MdeRetirementNoticed of {what}")))
        .unwrap_or(false);
    let tags = fields
        .get("Tags")
        .and_then(|node| check.strings(node, &format!("Tags of {what}")))
        .map(|tags| tags.into_iter().map(|(tag, _)| tag).collect())
        .unwrap_or_default();

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
        name: site.name.to_string(),
        tenant_id,
        client_id,
        credential,
        cloud,
        endpoints,
        quota,
        ca_file,
        allow_overcommit,
        mde_retirement_noticed,
        tags,
        source: check.file.to_path_buf(),
    })
}

/// The instance being checked, with what its messages call it.
struct Section<'a, 'n> {
    site: &'a Site<'a>,
    fields: &'a Fields<'n>,
    what: &'a str,
    /// Its connection string was given but could not be read (already reported).
    connection_broken: bool,
}

impl Section<'_, '_> {
    /// A setting every instance needs, given either as `key` or in the connection string.
    fn required(
        &self,
        check: &mut Checker<'_>,
        key: &str,
        from_connection: Option<String>,
        hint: &str,
    ) -> Option<String> {
        let what = self.what;
        let given = text(check, self.fields, key, what);
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
                if self.fields.get(key).is_none() && !self.connection_broken {
                    check
                        .error(self.site.at, format!("{what} has no {key}"))
                        .hint(format!("add `{key}: {hint}`"));
                }
                None
            }
        }
    }

    /// Reports a `ClientId` that is not a GUID, which every Entra ID application id is.
    fn check_client_id_is_guid(&self, check: &mut Checker<'_>, id: &str) {
        if uuid::Uuid::parse_str(id).is_ok() {
            return;
        }
        let at = self
            .fields
            .get("ClientId")
            .map_or(self.site.at, |n| n.location);
        check
            .error(
                at,
                format!("ClientId `{id}` of {} is not a GUID", self.what),
            )
            .hint("use the application (client) id shown on the app registration's overview page");
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
