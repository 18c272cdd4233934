//! A Teams Workflows webhook message: one Adaptive Card (version 1.4) whose facts carry the
//! idempotency key, since the webhook takes no header for it.

use serde_json::{Value, json};

use super::{CHAT_LIST_CAP, Notification, one_line};

/// Characters of one finding's row shown.
const ROW_MAX: usize = 600;

/// The message body.
pub(super) fn body(notification: &Notification) -> Value {
    let mut card = vec![
        json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
            "text": notification.headline()}),
        json!({"type": "FactSet", "facts": [
            {"title": "Job", "value": notification.job},
            {"title": "Instance", "value": notification.instance},
            {"title": "Run", "value": notification.run_id.to_string()},
            {"title": "Committed", "value": notification.committed_at.to_rfc3339()},
            {"title": "Delivery", "value": notification.idempotency_key},
        ]}),
    ];
    for finding in notification.findings.iter().take(CHAT_LIST_CAP) {
        card.push(
            json!({"type": "TextBlock", "wrap": true, "fontType": "Monospace",
            "text": one_line(finding, ROW_MAX)}),
        );
    }
    let listed = notification.findings.len().min(CHAT_LIST_CAP);
    if notification.new_findings > listed {
        card.push(json!({"type": "TextBlock", "wrap": true, "isSubtle": true,
            "text": format!("and {} more", notification.new_findings - listed)}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": card,
            },
        }],
    })
}
