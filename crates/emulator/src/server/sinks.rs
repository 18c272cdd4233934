//! The receivers huntd's outputs send to, so tests and the demo need no outside service: a
//! webhook that checks huntd's signature, Azure Monitor's Logs Ingestion endpoint with its
//! token check and 1 MB limit, and Splunk's HTTP Event Collector. Each answers as the real
//! service documents, writes the request log and announces what it took on
//! [`EmulatorState::received`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::EmulatorState;
use crate::tokens::Refusal;
use crate::{Received, WEBHOOK_MAX_SKEW_SECS};
use contract::{MAX_CALL_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The path of the webhook receiver.
pub const WEBHOOK_PATH: &str = "/sinks/webhook";
/// The path of the Logs Ingestion endpoint, under any data collection rule and stream.
pub const LOGS_INGESTION_PATH: &str = "/dataCollectionRules/{rule}/streams/{stream}";
/// The path of the HTTP Event Collector.
pub const HEC_PATH: &str = "/services/collector/event";

/// A header's value as text, empty when missing.
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Takes a signed webhook: 401 when the signature or its timestamp is wrong, 400 when the body
/// is not a notification.
pub(super) async fn webhook(
    State(shared): State<Arc<EmulatorState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = check_webhook(&shared, &headers, &body);
    let status = match &answer {
        Ok(notification) => {
            shared.announce(Received::notification("webhook", notification));
            StatusCode::OK
        }
        Err((status, _)) => *status,
    };
    shared.log("sink", WEBHOOK_PATH, None, status);
    match answer {
        Ok(_) => (status, "ok").into_response(),
        Err((status, message)) => (status, message).into_response(),
    }
}

fn check_webhook(
    shared: &EmulatorState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, (StatusCode, String)> {
    if let Some(secret) = &shared.options.config.sinks.webhook_secret {
        let timestamp = header_text(headers, TIMESTAMP_HEADER);
        let sent_at: i64 = timestamp.parse().map_err(|_| {
            (
                StatusCode::UNAUTHORIZED,
                format!("no Unix time in {TIMESTAMP_HEADER}"),
            )
        })?;
        if (chrono::Utc::now().timestamp() - sent_at).abs() > WEBHOOK_MAX_SKEW_SECS {
            return Err((
                StatusCode::UNAUTHORIZED,
                format!(
                    "{TIMESTAMP_HEADER} is more than {WEBHOOK_MAX_SKEW_SECS} s away: a replay?"
                ),
            ));
        }
        let signature = header_text(headers, SIGNATURE_HEADER)
            .strip_prefix("sha256=")
            .and_then(|hex_sig| hex::decode(hex_sig).ok())
            .ok_or_else(|| {
                (
                    StatusCode::UNAUTHORIZED,
                    format!("no sha256=<hex> in {SIGNATURE_HEADER}"),
                )
            })?;
        let mut signed = timestamp.as_bytes().to_vec();
        signed.push(b'.');
        signed.extend_from_slice(body);
        let key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.expose().as_bytes());
        aws_lc_rs::hmac::verify(&key, &signed, &signature).map_err(|_| {
            (
                StatusCode::UNAUTHORIZED,
                "the signature does not match the body and the webhook secret".to_string(),
            )
        })?;
    }
    let notification: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })?;
    if notification["idempotency_key"].as_str().is_none() {
        return Err((
            StatusCode::BAD_REQUEST,
            "the body has no idempotency_key: not a huntd notification".to_string(),
        ));
    }
    Ok(notification)
}

/// The query of a Logs Ingestion call.
#[derive(Debug, serde::Deserialize)]
pub(super) struct IngestionQuery {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

/// Takes rows for a data collection rule's stream: a token for Azure Monitor, at most 1 MB, a
/// JSON array of objects; `204 No Content` as the real endpoint answers.
pub(super) async fn logs_ingestion(
    State(shared): State<Arc<EmulatorState>>,
    Path((rule, stream)): Path<(String, String)>,
    Query(query): Query<IngestionQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = check_ingestion(&shared, query.api_version.as_deref(), &headers, &body);
    let (tenant, status) = match &answer {
        Ok((tenant, rows)) => {
            shared.announce(Received {
                sink: "log_analytics".into(),
                summary: format!("{} rows for {rule}/{stream}", rows.len()),
                key: rows
                    .first()
                    .and_then(|r| r["IdempotencyKey"].as_str())
                    .map(str::to_string),
                body: serde_json::Value::Array(rows.clone()),
            });
            (tenant.as_str(), StatusCode::NO_CONTENT)
        }
        Err((status, _, _)) => ("-", *status),
    };
    shared.log(tenant, LOGS_INGESTION_PATH, None, status);
    match answer {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err((status, code, message)) => (
            status,
            axum::Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response(),
    }
}

type IngestionRefusal = (StatusCode, &'static str, String);

fn check_ingestion(
    shared: &EmulatorState,
    api_version: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Vec<serde_json::Value>), IngestionRefusal> {
    if api_version != Some("2023-01-01") {
        return Err((
            StatusCode::BAD_REQUEST,
            "InvalidApiVersion",
            "api-version must be 2023-01-01".into(),
        ));
    }
    let unauthorized = |message: String| (StatusCode::UNAUTHORIZED, "InvalidToken", message);
    let token = header_text(headers, header::AUTHORIZATION.as_str())
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthorized("no bearer token".into()))?;
    let claims = shared.signer.verify(token).map_err(|refusal| {
        unauthorized(match refusal {
            Refusal::Expired => "the token is expired".into(),
            Refusal::Invalid => "the token's signature is invalid".into(),
        })
    })?;
    let audience = claims.aud.trim_end_matches('/');
    if !audience.starts_with("https://monitor.azure.") {
        return Err(unauthorized(format!(
            "the token is for '{}', not https://monitor.azure.com",
            claims.aud
        )));
    }
    if !header_text(headers, header::CONTENT_ENCODING.as_str()).is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            "UnsupportedContentEncoding",
            "Content-Encoding is not supported by huntd emulate".into(),
        ));
    }
    if body.len() > MAX_CALL_BYTES {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "ContentLengthLimitExceeded",
            format!(
                "the call carries {} bytes; at most {MAX_CALL_BYTES} are allowed",
                body.len()
            ),
        ));
    }
    let rows: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            "InvalidPayload",
            format!("the body is not a JSON array: {e}"),
        )
    })?;
    if rows.iter().any(|r| !r.is_object()) {
        return Err((
            StatusCode::BAD_REQUEST,
            "InvalidPayload",
            "every element must be an object of the stream's columns".into(),
        ));
    }
    Ok((claims.tid, rows))
}

/// Takes HEC events: `Authorization: Splunk <token>`, concatenated JSON objects each with an
/// `event`; Splunk's `{"text", "code"}` answers.
pub(super) async fn hec(
    State(shared): State<Arc<EmulatorState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = check_hec(&shared, &headers, &body);
    let status = match &answer {
        Ok(events) => {
            shared.announce(Received {
                sink: "splunk_hec".into(),
                summary: format!("{} events", events.len()),
                key: events
                    .first()
                    .and_then(|e| e["event"]["idempotency_key"].as_str())
                    .map(str::to_string),
                body: serde_json::Value::Array(events.clone()),
            });
            StatusCode::OK
        }
        Err((status, _)) => *status,
    };
    shared.log("sink", HEC_PATH, None, status);
    match answer {
        Ok(_) => axum::Json(json!({"text": "Success", "code": 0})).into_response(),
        Err((status, body)) => (status, axum::Json(body)).into_response(),
    }
}

fn check_hec(
    shared: &EmulatorState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<serde_json::Value>, (StatusCode, serde_json::Value)> {
    let given = header_text(headers, header::AUTHORIZATION.as_str())
        .strip_prefix("Splunk ")
        .ok_or_else(|| {
            (
                StatusCode::UNAUTHORIZED,
                json!({"text": "Token is required", "code": 2}),
            )
        })?;
    if let Some(token) = &shared.options.config.sinks.hec_token
        && given != token.expose()
    {
        return Err((
            StatusCode::FORBIDDEN,
            json!({"text": "Invalid token", "code": 4}),
        ));
    }
    let mut events = Vec::new();
    for (n, event) in serde_json::Deserializer::from_slice(body)
        .into_iter::<serde_json::Value>()
        .enumerate()
    {
        let Ok(event) = event else {
            return Err((
                StatusCode::BAD_REQUEST,
                json!({"text": "Invalid data format", "code": 6, "invalid-event-number": n}),
            ));
        };
        if event.get("event").is_none_or(serde_json::Value::is_null) {
            return Err((
                StatusCode::BAD_REQUEST,
                json!({"text": "Event field is required", "code": 12, "invalid-event-number": n}),
            ));
        }
        events.push(event);
    }
    if events.is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            json!({"text": "No data", "code": 5}),
        ));
    }
    Ok(events)
}
