//! `huntd token`: what a token is for and which permissions it carries, never the token.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::{Resource, Result, TokenSource};
use crate::config::Instance;

/// What `huntd token` prints about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Instance name.
    pub instance: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Client id.
    pub client_id: String,
    /// The resource the token is for, e.g. `https://graph.microsoft.com`.
    pub resource: String,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// Application permissions (`roles` claim).
    pub roles: Vec<String>,
    /// Delegated permissions (`scp` claim).
    pub scopes: Vec<String>,
    /// The signed-in user of a delegated token.
    pub user: Option<String>,
    /// The permission hunting needs with this resource.
    pub required_permission: Option<&'static str>,
    /// Whether the token carries it (`true` when nothing is required).
    pub has_required_permission: bool,
    /// Whether the token's claims could be read at all (emulators may issue opaque tokens).
    pub claims_readable: bool,
}

/// Gets a token for `resource` of `instance` and describes it.
pub async fn token_info(
    source: &dyn TokenSource,
    instance: &Instance,
    resource: Resource,
) -> Result<TokenInfo> {
    let token = source.token(instance, resource).await?;
    let claims = claims(token.token.expose());
    let strings = |name: &str| -> Vec<String> {
        let Some(value) = claims.as_ref().and_then(|c| c.get(name)) else {
            return Vec::new();
        };
        match value {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    };
    let roles = strings("roles");
    let scopes = strings("scp");
    let user = claims.as_ref().and_then(|c| {
        ["upn", "preferred_username", "unique_name"]
            .iter()
            .find_map(|name| c.get(*name)?.as_str().map(str::to_owned))
    });
    let required_permission = resource.required_permission();
    let has_required_permission = required_permission.is_none_or(|needed| {
        let delegated_mde =
            resource == Resource::Mde && scopes.iter().any(|s| s == "AdvancedQuery.Read");
        roles.iter().chain(&scopes).any(|p| p == needed) || delegated_mde
    });
    Ok(TokenInfo {
        instance: instance.name.clone(),
        tenant_id: instance.tenant_id.clone(),
        client_id: instance.client_id.clone(),
        resource: resource.uri(&instance.endpoints),
        expires_at: token.expires_at,
        roles,
        scopes,
        user,
        required_permission,
        has_required_permission,
        claims_readable: claims.is_some(),
    })
}

impl fmt::Display for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "instance: {}", self.instance)?;
        writeln!(f, "tenant:   {}", self.tenant_id)?;
        writeln!(f, "client:   {}", self.client_id)?;
        writeln!(f, "resource: {}", self.resource)?;
        writeln!(f, "expires:  {}", self.expires_at.to_rfc3339())?;
        if let Some(user) = &self.user {
            writeln!(f, "user:     {user}")?;
        }
        if !self.claims_readable {
            return writeln!(
                f,
                "warning: the token is not a JWT; its permissions cannot be shown"
            );
        }
        writeln!(f, "roles:    {}", list(&self.roles))?;
        writeln!(f, "scp:      {}", list(&self.scopes))?;
        if let Some(needed) = self.required_permission
            && !self.has_required_permission
        {
            writeln!(
                f,
                "warning: the token lacks {needed}: grant it to the app (API permissions) and \
                 give admin consent"
            )?;
        }
        Ok(())
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(" ")
    }
}

/// The payload claims of a JWT, read without verifying it (the API does that).
pub(crate) fn claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_from_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"roles":["ThreatHunting.Read.All"]}"#);
        let c = claims(&format!("eyJhbGciOiJub25lIn0.{payload}.sig")).unwrap();
        assert_eq!(c["roles"][0], "ThreatHunting.Read.All");
    }

    #[test]
    fn opaque_token_has_no_claims() {
        assert!(claims("opaque-token").is_none());
        assert!(claims("a.!!!.c").is_none());
    }
}
