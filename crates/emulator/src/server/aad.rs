//! Entra ID's token request form and error shape, shared by the token and device code endpoints.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::state::EmulatorState;

/// A form body read as Entra ID reads it: URL-encoded whatever the `Content-Type` says, or
/// without one (msticpy 3.0.2 posts its token form without a `Content-Type`).
#[derive(Debug)]
pub(super) struct EntraForm<T>(pub(super) T);

/// The POST route of the Entra ID form endpoint `/{tenant}/oauth2/v2.0/<endpoint>`: `answer`
/// answers for the tenant in the path, and the call is logged.
pub(super) fn form_endpoint<F: DeserializeOwned + Send + 'static>(
    endpoint: &'static str,
    answer: fn(&EmulatorState, &str, &F) -> Response,
) -> MethodRouter<Arc<EmulatorState>> {
    post(
        move |State(shared): State<Arc<EmulatorState>>,
              Path(tenant): Path<String>,
              EntraForm(form): EntraForm<F>| async move {
            tracing::info_span!("entra", endpoint, %tenant).in_scope(|| {
                let response = answer(&shared, &tenant, &form);
                let path = format!("/oauth2/v2.0/{endpoint}");
                shared.log(&tenant, &path, None, response.status());
                response
            })
        },
    )
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for EntraForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        serde_urlencoded::from_bytes(&body)
            .map(EntraForm)
            .map_err(|e| {
                aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    9_002_313,
                    &format!("Invalid request. Request is malformed or invalid: {e}."),
                )
            })
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct TokenForm {
    pub(super) grant_type: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) device_code: Option<String>,
    pub(super) refresh_token: Option<String>,
    pub(super) client_assertion_type: Option<String>,
    pub(super) client_assertion: Option<String>,
}

pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(super) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub(super) fn aadsts(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let trace = uuid::Uuid::new_v4();
    let correlation = uuid::Uuid::new_v4();
    let now = Utc::now();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {}",
            now.format("%Y-%m-%d %H:%M:%SZ")
        ),
        "error_codes": [code],
        "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace.to_string(),
        "correlation_id": correlation.to_string(),
    });
    (status, axum::Json(body)).into_response()
}
