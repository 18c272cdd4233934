//! Key Vault's secret endpoint.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::EmulatorState;
use crate::tokens::Refusal;

pub(super) fn vault_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

#[tracing::instrument(skip_all, fields(secret = %name))]
pub(super) async fn vault_secret(
    State(shared): State<Arc<EmulatorState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let claims = token.map(|t| shared.signer.verify(t));
    let (tenant, response) = match claims {
        None | Some(Err(Refusal::Invalid)) => (
            String::new(),
            vault_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
            ),
        ),
        Some(Err(Refusal::Expired)) => (
            String::new(),
            vault_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "AKV10022: Invalid audience or the token is expired.",
            ),
        ),
        Some(Ok(claims))
            if !claims.aud.contains("vault.azure.net")
                && !claims.aud.contains("vault.usgovcloudapi.net") =>
        {
            (
                claims.tid,
                vault_error(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    &format!(
                        "AKV10022: Invalid audience. Expected https://vault.azure.net, found: {}.",
                        claims.aud
                    ),
                ),
            )
        }
        Some(Ok(claims)) => {
            let found = shared
                .options
                .config
                .key_vault
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(&name));
            let response = match found {
                Some(secret) => axum::Json(json!({
                    "value": secret.value.expose(),
                    "id": format!("https://emulator.vault.azure.net/secrets/{}/0", secret.name),
                    "attributes": {"enabled": true},
                }))
                .into_response(),
                None => vault_error(
                    StatusCode::NOT_FOUND,
                    "SecretNotFound",
                    &format!(
                        "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command."
                    ),
                ),
            };
            (claims.tid, response)
        }
    };
    shared.log(&tenant, "/secrets", None, response.status());
    response
}
