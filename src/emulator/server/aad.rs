//! Entra ID's token request form and error shape, shared by the token and device code endpoints.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

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
