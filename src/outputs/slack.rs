//! A Slack incoming webhook message: Block Kit with a plain-text fallback. Slack takes no
//! idempotency header, so the key is in the message's last block.

use serde_json::{Value, json};

use super::{CHAT_LIST_CAP, Notification, one_line};

/// Slack's limit on a header block's text.
const HEADER_MAX: usize = 150;
/// Characters of one finding's row shown (a section's text may hold 3,000).
const ROW_MAX: usize = 600;

/// The message body.
pub(super) fn body(notification: &Notification) -> Value {
    let headline = notification.headline();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&headline, HEADER_MAX)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
            "*Job* {} · *Instance* {} · *Run* {} · {}",
            escape(&notification.job),
            escape(&notification.instance),
            notification.run_id,
            notification.committed_at.format("%Y-%m-%d %H:%M:%S UTC"),
        )}}),
    ];
    for finding in notification.findings.iter().take(CHAT_LIST_CAP) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!("```{}```", escape(&one_line(finding, ROW_MAX)))}}));
    }
    let listed = notification.findings.len().min(CHAT_LIST_CAP);
    if notification.new_findings > listed {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": format!("and {} more", notification.new_findings - listed)}]}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn",
        "text": format!("huntd delivery `{}`", notification.idempotency_key)}]}));
    json!({"text": headline, "blocks": blocks})
}

/// Text with the three characters Slack's mrkdwn reads as markup escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_escaped_and_the_key_is_in_the_last_block() {
        let mut n = Notification::sample("s");
        n.findings[0].data = json!({"Cmd": "a<b> & c"});
        let body = body(&n);
        let blocks = body["blocks"].as_array().expect("blocks");
        assert_eq!(body["text"], "1 new finding from job huntd-notify-test");
        let row = blocks[2]["text"]["text"].as_str().expect("row");
        assert!(row.contains("a&lt;b&gt; &amp; c"), "{row}");
        let last = blocks.last().expect("a block")["elements"][0]["text"]
            .as_str()
            .expect("text");
        assert!(last.contains(&n.idempotency_key), "{last}");
    }
}
