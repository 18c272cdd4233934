//! Splunk's HTTP Event Collector: one event per finding, concatenated in one post to
//! `/services/collector/event`; the key is in each event, since HEC takes no header for it.

use serde_json::json;

use super::http::post;
use super::{Notification, SendError};
use crate::config::{Secret, SinkUrl};

/// Posts the notification's findings as HEC events.
pub(super) async fn send(
    client: &reqwest::Client,
    url: &SinkUrl,
    token: &Secret,
    index: Option<&str>,
    host: &str,
    notification: &Notification,
) -> Result<(), SendError> {
    let mut body = String::new();
    for finding in &notification.findings {
        #[allow(clippy::cast_precision_loss, reason = "HEC takes seconds as a float")]
        let time = finding.first_seen_at.timestamp_millis() as f64 / 1000.0;
        let mut event = json!({
            "time": time,
            "host": host,
            "source": "huntd",
            "sourcetype": "huntd:finding",
            "event": {
                "idempotency_key": notification.idempotency_key,
                "delivery_id": notification.delivery_id,
                "job": notification.job,
                "instance": notification.instance,
                "run_id": notification.run_id,
                "row_hash": finding.row_hash,
                "data": finding.data,
            },
        });
        if let Some(index) = index {
            event["index"] = json!(index);
        }
        body.push_str(&event.to_string());
    }
    let mut target = url.expose().clone();
    target.set_path("/services/collector/event");
    let headers = [("Authorization", format!("Splunk {}", token.expose()))];
    post(
        client,
        target,
        url,
        body.into_bytes(),
        "application/json",
        &headers,
    )
    .await
}
