//! The generic webhook: the notification as JSON, signed with HMAC-SHA256 over
//! `<timestamp>.<body>` (docs/outputs.md has the headers and a receiver's check).

use aws_lc_rs::hmac;
use chrono::Utc;

use super::http::post;
use super::{Notification, SendError};
use crate::config::{Secret, SinkUrl};

/// The signature headers, written once for this sender and the emulator's receiver.
pub use contract::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The header carrying the idempotency key.
pub const KEY_HEADER: &str = "Idempotency-Key";

/// Most findings one webhook body lists; the rest are counted in `findings_omitted`, so a run
/// with a huge answer still makes a body a receiver can take.
pub const LIST_CAP: usize = 1000;

/// The notification as a webhook's JSON: at most [`LIST_CAP`] findings, and
/// `findings_omitted` counting the rest.
pub(super) fn body(notification: &Notification) -> Result<Vec<u8>, SendError> {
    let failed =
        |e: serde_json::Error| SendError::transient(format!("cannot write the notification: {e}"));
    let mut body = serde_json::to_value(notification).map_err(failed)?;
    let omitted = notification.findings.len().saturating_sub(LIST_CAP);
    if let Some(findings) = body["findings"].as_array_mut() {
        findings.truncate(LIST_CAP);
    }
    body["findings_omitted"] = omitted.into();
    serde_json::to_vec(&body).map_err(failed)
}

/// Posts `notification`, signed with `secret`.
pub(super) async fn send(
    client: &reqwest::Client,
    url: &SinkUrl,
    secret: &Secret,
    notification: &Notification,
) -> Result<(), SendError> {
    let body = body(notification)?;
    let timestamp = Utc::now().timestamp().to_string();
    let signature = signature(secret, &timestamp, &body);
    let headers = [
        (KEY_HEADER, notification.idempotency_key.clone()),
        ("X-Huntd-Delivery", notification.delivery_id.to_string()),
        (TIMESTAMP_HEADER, timestamp),
        (SIGNATURE_HEADER, format!("sha256={signature}")),
    ];
    post(
        client,
        url.expose().clone(),
        url,
        body,
        "application/json",
        &headers,
    )
    .await
}

/// HMAC-SHA256 of `<timestamp>.<body>` under `secret`, in lowercase hex.
pub fn signature(secret: &Secret, timestamp: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.as_bytes());
    context.update(b".");
    context.update(body);
    hex::encode(context.sign().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_lists_at_most_the_cap_and_counts_the_rest() {
        let mut n = Notification::sample("hook");
        let one = n.findings[0].clone();
        n.findings = vec![one; LIST_CAP + 5];
        let body: serde_json::Value =
            serde_json::from_slice(&body(&n).expect("a body")).expect("JSON");
        assert_eq!(body["findings"].as_array().map(Vec::len), Some(LIST_CAP));
        assert_eq!(body["findings_omitted"], 5);
        assert_eq!(body["idempotency_key"], n.idempotency_key.as_str());
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let secret = Secret::new("key");
        let a = signature(&secret, "1700000000", b"{}");
        // Python: hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            a,
            "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_eq!(a, signature(&secret, "1700000000", b"{}"));
        assert_ne!(a, signature(&secret, "1700000001", b"{}"));
        assert_ne!(a, signature(&secret, "1700000000", b"{ }"));
        assert_ne!(a, signature(&Secret::new("other"), "1700000000", b"{}"));
    }
}
