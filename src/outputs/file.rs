//! The file sink: one JSON line per finding appended to a file, each with the delivery's key,
//! flushed to disk before the delivery counts as delivered.

use std::path::Path;

use serde::Serialize;
use tokio::io::AsyncWriteExt as _;

use super::{Finding, Notification, SendError};

/// One line of the file.
#[derive(Serialize)]
struct Line<'a> {
    idempotency_key: &'a str,
    delivery_id: i64,
    job: &'a str,
    instance: &'a str,
    run_id: i64,
    committed_at: chrono::DateTime<chrono::Utc>,
    #[serde(flatten)]
    finding: &'a Finding,
}

/// Appends the notification's findings to `path`, one line each, in one write.
pub(super) async fn append(path: &Path, notification: &Notification) -> Result<(), SendError> {
    let mut text = String::new();
    for finding in &notification.findings {
        let line = Line {
            idempotency_key: &notification.idempotency_key,
            delivery_id: notification.delivery_id,
            job: &notification.job,
            instance: &notification.instance,
            run_id: notification.run_id,
            committed_at: notification.committed_at,
            finding,
        };
        let json = serde_json::to_string(&line)
            .map_err(|e| SendError::transient(format!("cannot write the line: {e}")))?;
        text.push_str(&json);
        text.push('\n');
    }
    let failed = |e: std::io::Error| SendError::transient(format!("{}: {e}", path.display()));
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(failed)?;
    file.write_all(text.as_bytes()).await.map_err(failed)?;
    file.sync_data().await.map_err(failed)
}
