//! Azure Monitor's Logs Ingestion API: each finding becomes a row of a Log Analytics table (a
//! Sentinel custom table), posted as JSON arrays of at most 1 MB to the data collection rule's
//! stream with a token for Azure Monitor, signed in as one of the config's instances.
//!
//! A delivery larger than one call goes out in several; when a later call fails the delivery
//! is tried again whole, so rows carry `IdempotencyKey` and `RowHash` for the table's queries
//! to drop repeats.

use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use super::http::{answer, unsent};
use super::{Notification, SendError};
use crate::auth::{self, Resource, TokenSource};
use crate::config::{Instance, SinkUrl};

/// The call limit, written once for this sender and the emulator's endpoint.
pub use contract::MAX_CALL_BYTES;

/// The API version huntd speaks.
const API_VERSION: &str = "2023-01-01";

/// Where a `log_analytics` output's rows go and who signs in.
#[derive(Debug)]
pub(super) struct Target<'a> {
    /// The instance whose app signs in.
    pub instance: &'a Instance,
    /// The data collection endpoint.
    pub endpoint: &'a SinkUrl,
    /// The rule's immutable id.
    pub rule_id: &'a str,
    /// The rule's stream.
    pub stream: &'a str,
}

/// The table rows of a notification, one per finding.
pub(super) fn rows(notification: &Notification) -> Vec<serde_json::Value> {
    notification
        .findings
        .iter()
        .map(|finding| {
            json!({
                "TimeGenerated": notification.committed_at.to_rfc3339(),
                "Job": notification.job,
                "Instance": notification.instance,
                "RunId": notification.run_id,
                "DeliveryId": notification.delivery_id,
                "IdempotencyKey": notification.idempotency_key,
                "RowHash": finding.row_hash,
                "FirstSeenAt": finding.first_seen_at.to_rfc3339(),
                "Finding": finding.data,
            })
        })
        .collect()
}

/// `rows` as JSON array bodies of at most `max` bytes each, in order. A row that cannot fit
/// in any call is refused for good: sending it again cannot help.
pub(super) fn batches(rows: &[serde_json::Value], max: usize) -> Result<Vec<Vec<u8>>, SendError> {
    let mut bodies = Vec::new();
    let mut body = Vec::with_capacity(max.min(64 * 1024));
    for row in rows {
        let text = row.to_string();
        // `[` + row + `]` alone must fit.
        if text.len() + 2 > max {
            return Err(SendError {
                message: format!(
                    "finding {} is {} bytes as a row, more than the {max} bytes one Logs Ingestion call carries",
                    row["RowHash"].as_str().unwrap_or_default(),
                    text.len()
                ),
                permanent: true,
                retry_after: None,
            });
        }
        // The `,` before it and the closing `]`.
        if !body.is_empty() && body.len() + 1 + text.len() + 1 > max {
            body.push(b']');
            bodies.push(std::mem::take(&mut body));
        }
        body.push(if body.is_empty() { b'[' } else { b',' });
        body.extend_from_slice(text.as_bytes());
    }
    if !body.is_empty() {
        body.push(b']');
        bodies.push(body);
    }
    Ok(bodies)
}

/// Posts the notification's rows to the stream, in calls of at most [`MAX_CALL_BYTES`].
pub(super) async fn send(
    client: &reqwest::Client,
    tokens: &dyn TokenSource,
    target: &Target<'_>,
    notification: &Notification,
) -> Result<(), SendError> {
    let mut url = target.endpoint.expose().clone();
    url.path_segments_mut()
        .map_err(|()| SendError::transient("the endpoint cannot take a path"))?
        .pop_if_empty()
        .extend([
            "dataCollectionRules",
            target.rule_id,
            "streams",
            target.stream,
        ]);
    url.query_pairs_mut()
        .append_pair("api-version", API_VERSION);
    for body in batches(&rows(notification), MAX_CALL_BYTES)? {
        let response = auth::send_authorized(tokens, target.instance, Resource::Monitor, || {
            client
                .post(url.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
        .await
        .map_err(|e| match e {
            auth::SendError::Token(e) => SendError::transient(format!(
                "cannot sign in to Azure Monitor as instance `{}`: {e}",
                target.instance.name
            )),
            auth::SendError::Http(e) => unsent(target.endpoint, &e),
        })?;
        answer(target.endpoint, response).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_packed_in_order_into_json_arrays_no_larger_than_the_limit() {
        let rows: Vec<serde_json::Value> = (0..50)
            .map(|i| json!({"RowHash": format!("h{i}"), "Pad": "x".repeat(40)}))
            .collect();
        let bodies = batches(&rows, 300).expect("every row fits");
        assert!(bodies.len() > 1);
        let mut seen = Vec::new();
        for body in &bodies {
            assert!(body.len() <= 300, "{}", body.len());
            let array: Vec<serde_json::Value> = serde_json::from_slice(body).expect("an array");
            seen.extend(array);
        }
        assert_eq!(seen, rows);
    }

    #[test]
    fn a_row_larger_than_one_call_is_refused_for_good() {
        let rows = vec![json!({"RowHash": "big", "Pad": "x".repeat(400)})];
        let e = batches(&rows, 300).expect_err("too big");
        assert!(e.permanent);
        assert!(e.message.contains("finding big"), "{}", e.message);
        assert!(batches(&[], 300).expect("nothing").is_empty());
    }
}
