//! Delegated sign-in: the device code endpoint and redeeming device codes and refresh tokens.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::aad::{TokenForm, aadsts};
use super::state::{EmulatorState, Grant, find_tenant, lock_sessions};
use crate::{DeviceCodeOutcome, TenantConfig};

pub(super) fn random_code(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(raw)
}

#[derive(Debug, Deserialize)]
pub(super) struct DeviceCodeForm {
    pub(super) client_id: Option<String>,
    pub(super) scope: Option<String>,
}

/// Starts a device code sign-in that the emulated user approves, declines or lets expire (the
/// tenant's `device_code`) by the second poll.
pub(super) fn start_device_code(
    shared: &EmulatorState,
    tenant: &str,
    form: &DeviceCodeForm,
) -> Response {
    let Some(tenant_config) = find_tenant(shared, tenant) else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    };
    let client_id = form.client_id.as_deref().unwrap_or_default();
    if tenant_config.app(client_id).is_none() {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    }
    let scope = form.scope.clone().unwrap_or_default();
    let Some(resource) = scope
        .split_whitespace()
        .find_map(|s| s.strip_suffix("/.default"))
        .map(str::to_string)
    else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!("The provided value for the input parameter 'scope' is not valid: '{scope}'."),
        );
    };
    let grant = Grant {
        tenant: tenant_config.id.clone(),
        client_id: client_id.to_string(),
        resource,
        offline: scope.split_whitespace().any(|s| s == "offline_access"),
        scope,
    };
    let device_code = random_code(24);
    let user_code = random_code(4).to_ascii_uppercase();
    lock_sessions(shared)
        .device_codes
        .insert(device_code.clone(), (grant, false));
    axum::Json(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900,
        "interval": 1,
        "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate."),
    }))
    .into_response()
}

/// A delegated token answer for `grant`, with a fresh refresh token when it asked for one.
pub(super) fn delegated_answer(
    shared: &EmulatorState,
    tenant: &TenantConfig,
    grant: Grant,
) -> Response {
    let ttl = i64::try_from(shared.options.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let roles: Vec<String> = tenant
        .app(&grant.client_id)
        .map(|a| a.roles.clone())
        .unwrap_or_default();
    let user = tenant
        .user
        .clone()
        .unwrap_or_else(|| "analyst@emulator.local".to_string());
    let access = shared.signer.issue_delegated(
        &grant.tenant,
        &grant.client_id,
        &grant.resource,
        &roles.join(" "),
        &user,
        ttl,
    );
    let mut body = json!({
        "token_type": "Bearer",
        "scope": grant.scope,
        "expires_in": ttl,
        "ext_expires_in": ttl,
        "access_token": access,
    });
    if grant.offline {
        let refresh = random_code(32);
        body["refresh_token"] = json!(refresh);
        lock_sessions(shared).refresh_tokens.insert(refresh, grant);
    }
    axum::Json(body).into_response()
}

pub(super) fn redeem_device_code(
    shared: &EmulatorState,
    tenant: &TenantConfig,
    form: &TokenForm,
) -> Response {
    let code = form.device_code.as_deref().unwrap_or_default();
    let mut sessions = lock_sessions(shared);
    let Some((grant, polled)) = sessions.device_codes.get_mut(code) else {
        return expired_device_code();
    };
    if !*polled {
        *polled = true;
        return aadsts(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        );
    }
    let grant = grant.clone();
    sessions.device_codes.remove(code);
    drop(sessions);
    match tenant.device_code {
        DeviceCodeOutcome::Approve => delegated_answer(shared, tenant, grant),
        DeviceCodeOutcome::Decline => aadsts(
            StatusCode::BAD_REQUEST,
            "authorization_declined",
            70000,
            "The user declined the sign-in request.",
        ),
        DeviceCodeOutcome::Expire => expired_device_code(),
    }
}

pub(super) fn expired_device_code() -> Response {
    aadsts(
        StatusCode::BAD_REQUEST,
        "expired_token",
        70020,
        "The provided value for the input parameter 'device_code' is not valid or has expired.",
    )
}

pub(super) fn redeem_refresh_token(
    shared: &EmulatorState,
    tenant: &TenantConfig,
    form: &TokenForm,
) -> Response {
    let token = form.refresh_token.as_deref().unwrap_or_default();
    // Refresh tokens rotate: each is good once, as Entra ID lets clients assume.
    let grant = lock_sessions(shared).refresh_tokens.remove(token);
    match grant {
        Some(grant) if grant.tenant == tenant.id => delegated_answer(shared, tenant, grant),
        _ => aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            700_082,
            "The refresh token has expired due to inactivity.",
        ),
    }
}
