//! Entra ID's token endpoint: client secret, client assertion and the delegated grants.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::aad::{DEVICE_CODE_GRANT, JWT_BEARER, TokenForm, aadsts};
use super::device_code::{redeem_device_code, redeem_refresh_token};
use super::state::{EmulatorState, find_tenant};
use crate::{AppConfig, certs};

pub(super) fn issue_token(shared: &EmulatorState, tenant: &str, form: &TokenForm) -> Response {
    let Some(tenant_config) = find_tenant(shared, tenant) else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(DEVICE_CODE_GRANT) => return redeem_device_code(shared, tenant_config, form),
        Some("refresh_token") => return redeem_refresh_token(shared, tenant_config, form),
        _ => {
            return aadsts(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            );
        }
    }
    let client_id = form.client_id.as_deref().unwrap_or_default();
    let Some(app) = tenant_config.app(client_id) else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        );
    };
    if let Some(refusal) = client_refusal(shared, app, tenant, form) {
        return refusal;
    }
    let scope = form.scope.as_deref().unwrap_or_default();
    let Some(resource) = scope.strip_suffix("/.default").filter(|r| !r.is_empty()) else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{scope}'."
            ),
        );
    };
    let ttl = i64::try_from(shared.options.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let token = shared
        .signer
        .issue(&tenant_config.id, &app.client_id, resource, &app.roles, ttl);
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": ttl,
        "ext_expires_in": ttl,
        "access_token": token,
    }))
    .into_response()
}

/// Checks the app's credential: a client assertion signed by a registered certificate, else
/// the client secret. `None` when it holds, else Entra ID's refusal.
fn client_refusal(
    shared: &EmulatorState,
    app: &AppConfig,
    tenant: &str,
    form: &TokenForm,
) -> Option<Response> {
    if let (Some(JWT_BEARER), Some(assertion)) = (
        form.client_assertion_type.as_deref(),
        form.client_assertion.as_deref(),
    ) {
        let registered = shared
            .certificates
            .get(&app.client_id.to_ascii_lowercase())
            .map_or(&[][..], Vec::as_slice);
        if let Err((code, text)) =
            certs::verify_assertion(assertion, &app.client_id, tenant, registered)
        {
            return Some(aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                code,
                &text,
            ));
        }
    } else {
        let Some(secret) = &form.client_secret else {
            return Some(aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        };
        if app.secret.as_ref().is_none_or(|s| s.expose() != secret) {
            return Some(aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    app.client_id
                ),
            ));
        }
    }
    None
}
