//! The Azure instance metadata service's managed identity token endpoint.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::state::EmulatorState;

#[derive(Debug, Deserialize)]
pub(super) struct IdentityQuery {
    pub(super) resource: Option<String>,
}

#[tracing::instrument(skip_all)]
pub(super) async fn managed_identity(
    State(shared): State<Arc<EmulatorState>>,
    headers: HeaderMap,
    Query(query): Query<IdentityQuery>,
) -> Response {
    let refuse = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let response = if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        )
    } else if let Some(identity) = &shared.options.config.managed_identity {
        match query.resource.filter(|r| !r.is_empty()) {
            None => refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Required query variable 'resource' is missing",
            ),
            Some(resource) => {
                let ttl = i64::try_from(shared.options.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
                let resource = resource.trim_end_matches('/').to_string();
                let token = shared.signer.issue(
                    &identity.tenant,
                    &identity.client_id,
                    &resource,
                    &identity.roles,
                    ttl,
                );
                axum::Json(json!({
                    "access_token": token,
                    "client_id": identity.client_id,
                    "expires_in": ttl.to_string(),
                    "expires_on": (Utc::now().timestamp() + ttl).to_string(),
                    "resource": resource,
                    "token_type": "Bearer",
                }))
                .into_response()
            }
        }
    } else {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found",
        )
    };
    shared.log(
        "",
        "/metadata/identity/oauth2/token",
        None,
        response.status(),
    );
    response
}
