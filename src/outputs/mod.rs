//! Sending notifications to the sinks named under `outputs:`: what a notification holds, the
//! message each kind of receiver takes (`webhook`, `slack`, `teams`, `file`, `splunk`,
//! `syslog`), and how an answer counts (delivered, try again, or refused for good).
//!
//! The outbox itself (which notifications are owed, claims, retries) is the store's and the
//! daemon's; this module only turns one notification into one send.

mod file;
mod http;
mod log_analytics;
mod slack;
mod splunk;
mod syslog;
mod teams;
mod webhook;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::TokenSource;
use crate::config::{Config, Instance, Output, Secret, SecretSource, Sink};
use crate::store::{DeliveryRecord, FindingRecord};

pub use log_analytics::MAX_CALL_BYTES;
pub use webhook::{KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// How long one send may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Most findings a chat message (Slack, Teams) lists; the rest are counted.
pub const CHAT_LIST_CAP: usize = 10;

/// Why the sinks could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `secret` or `token` could not be read.
    #[error("output `{output}`: {source}")]
    Secret {
        /// The output.
        output: String,
        /// Why.
        source: crate::config::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up HTTP for the outputs: {0}")]
    Http(String),
    /// `notify-test` named an output the config does not have.
    #[error("no output `{0}` in huntd.yaml")]
    UnknownOutput(String),
    /// A `log_analytics` output names an instance the config does not have.
    #[error("output `{output}`: no instance `{instance}` to sign in with")]
    UnknownInstance {
        /// The output.
        output: String,
        /// The instance it names.
        instance: String,
    },
    /// A syslog output's TLS settings cannot be used.
    #[error("output `{output}`: {message}")]
    Tls {
        /// The output.
        output: String,
        /// Why.
        message: String,
    },
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why one send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What happened, without the URL's path or any secret.
    pub message: String,
    /// The receiver refused it for good (a 4xx other than 408 and 429).
    pub permanent: bool,
    /// How long the receiver asked to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl SendError {
    /// A failure trying again may cure.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
            retry_after: None,
        }
    }
}

/// One finding as a notification carries it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Its `row_hash`.
    pub row_hash: String,
    /// When it was first seen.
    pub first_seen_at: DateTime<Utc>,
    /// The row, as the API returned it.
    pub data: serde_json::Value,
}

/// What one delivery says: the run, its new findings and the key every send of it carries.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// Stable across every send of this delivery, so a receiver can drop repeats.
    pub idempotency_key: String,
    /// `hunt_deliveries.id`.
    pub delivery_id: i64,
    /// The output it goes to.
    pub output: String,
    /// The job.
    pub job: String,
    /// The job's instance.
    pub instance: String,
    /// The run that found them.
    pub run_id: i64,
    /// `digest` or `each`.
    pub mode: String,
    /// When the run committed.
    pub committed_at: DateTime<Utc>,
    /// How many new findings the delivery covers (some may since have been pruned).
    pub new_findings: usize,
    /// New findings `suppress:` left out since the output's last notification of the job.
    pub suppressed: i64,
    /// The findings still in the store, in the run's row order.
    pub findings: Vec<Finding>,
}

impl Notification {
    /// The notification of a claimed delivery, with the findings the store still has.
    pub fn new(delivery: &DeliveryRecord, findings: Vec<FindingRecord>) -> Self {
        let findings = findings
            .into_iter()
            .map(|f| Finding {
                // The store only holds JSON it checked on the way in; a row it cannot give back
                // as JSON is passed on as its text.
                data: serde_json::from_str(&f.data).unwrap_or(serde_json::Value::String(f.data)),
                row_hash: f.row_hash,
                first_seen_at: f.first_seen_at,
            })
            .collect();
        Self {
            idempotency_key: delivery.key(),
            delivery_id: delivery.id,
            output: delivery.output.clone(),
            job: delivery.job.clone(),
            instance: delivery.instance.clone(),
            run_id: delivery.run_id,
            mode: delivery.mode.clone(),
            committed_at: delivery.created_at,
            new_findings: delivery.findings.len(),
            suppressed: delivery.suppressed,
            findings,
        }
    }

    /// A made-up notification for `huntd notify-test`, with a key of its own.
    pub fn sample(output: &str) -> Self {
        let now = Utc::now();
        Self {
            idempotency_key: format!("huntd-test-{}", uuid::Uuid::new_v4().simple()),
            delivery_id: 0,
            output: output.to_string(),
            job: "huntd-notify-test".into(),
            instance: "none".into(),
            run_id: 0,
            mode: "digest".into(),
            committed_at: now,
            new_findings: 1,
            suppressed: 0,
            findings: vec![Finding {
                row_hash: "0".repeat(64),
                first_seen_at: now,
                data: serde_json::json!({
                    "Timestamp": now.to_rfc3339(),
                    "DeviceName": "test-device",
                    "Note": "a sample finding sent by huntd notify-test",
                }),
            }],
        }
    }

    /// "3 new findings from job x", and "(2 more suppressed)" when some were left out, for
    /// chat messages.
    fn headline(&self) -> String {
        let plural = if self.new_findings == 1 { "" } else { "s" };
        let mut text = format!(
            "{} new finding{plural} from job {}",
            self.new_findings, self.job
        );
        if self.suppressed > 0 {
            let _ = write!(text, " ({} more suppressed)", self.suppressed);
        }
        text
    }
}

/// One finding's row on one line, cut to `max` characters, for chat messages.
fn one_line(finding: &Finding, max: usize) -> String {
    let text = finding.data.to_string();
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An output ready to send to: its settings and secrets read.
#[derive(Debug)]
struct Ready {
    output: Output,
    /// The webhook `secret` or HEC `token`.
    secret: Option<Secret>,
    /// The instance a `log_analytics` output signs in as.
    instance: Option<Instance>,
    /// How a syslog output connects.
    link: Option<syslog::Link>,
}

/// Every configured output, ready to send to.
#[derive(Debug)]
pub struct Sinks {
    outputs: BTreeMap<String, Ready>,
    client: reqwest::Client,
    /// Tokens for the `log_analytics` outputs' instances.
    tokens: Arc<dyn TokenSource>,
    /// Names this node in the messages that have a host field.
    host: String,
}

impl Sinks {
    /// Reads every output's secrets and TLS settings; `host` names this node in messages and
    /// `tokens` signs in the `log_analytics` outputs' instances.
    pub fn new(config: &Config, host: &str, tokens: Arc<dyn TokenSource>) -> Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("huntd/", env!("CARGO_PKG_VERSION")))
            .timeout(SEND_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            // A redirect would carry a signed body, or a token, to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        let mut outputs = BTreeMap::new();
        for (name, output) in &config.outputs {
            let secret = output
                .sink
                .secret()
                .map(SecretSource::resolve)
                .transpose()
                .map_err(|source| Error::Secret {
                    output: name.clone(),
                    source,
                })?;
            let instance = match &output.sink {
                Sink::LogAnalytics { instance, .. } => {
                    Some(config.instances.get(instance).cloned().ok_or_else(|| {
                        Error::UnknownInstance {
                            output: name.clone(),
                            instance: instance.clone(),
                        }
                    })?)
                }
                _ => None,
            };
            let link = match &output.sink {
                Sink::Syslog {
                    transport, ca_file, ..
                } => Some(syslog::Link::new(*transport, ca_file.as_deref()).map_err(
                    |message| Error::Tls {
                        output: name.clone(),
                        message,
                    },
                )?),
                _ => None,
            };
            outputs.insert(
                name.clone(),
                Ready {
                    output: output.clone(),
                    secret,
                    instance,
                    link,
                },
            );
        }
        Ok(Self {
            outputs,
            client,
            tokens,
            host: host.to_string(),
        })
    }

    /// The outputs of `config`, for the same node and token source.
    pub fn reconfigured(&self, config: &Config) -> Result<Self> {
        Self::new(config, &self.host, Arc::clone(&self.tokens))
    }

    /// The names of the outputs, what the delivery loop claims deliveries for.
    pub fn names(&self) -> Vec<String> {
        self.outputs.keys().cloned().collect()
    }

    /// How long deliveries to `output` are retried; `None` when it is not configured.
    pub fn max_age(&self, output: &str) -> Option<Duration> {
        self.outputs.get(output).map(|r| r.output.max_age)
    }

    /// Sends `notification` to `output` once.
    #[tracing::instrument(skip_all, fields(output = %output, delivery = notification.delivery_id))]
    pub async fn send(
        &self,
        output: &str,
        notification: &Notification,
    ) -> std::result::Result<(), SendError> {
        let Some(ready) = self.outputs.get(output) else {
            return Err(SendError::transient(format!(
                "output `{output}` is not in the config this node runs"
            )));
        };
        let secret = ready.secret.as_ref();
        match (&ready.output.sink, secret) {
            (Sink::Webhook { url, .. }, Some(secret)) => {
                webhook::send(&self.client, url, secret, notification).await
            }
            (Sink::Slack { url }, _) => {
                http::post_json(&self.client, url, &slack::body(notification), &[]).await
            }
            (Sink::Teams { url }, _) => {
                http::post_json(&self.client, url, &teams::body(notification), &[]).await
            }
            (Sink::File { path }, _) => file::append(path, notification).await,
            (
                Sink::Syslog {
                    address, format, ..
                },
                _,
            ) => {
                let Some(link) = ready.link.as_ref() else {
                    return Err(SendError::transient(format!(
                        "output `{output}` has no connection settings"
                    )));
                };
                syslog::send(link, address, *format, &self.host, notification).await
            }
            (
                Sink::LogAnalytics {
                    endpoint,
                    rule_id,
                    stream,
                    ..
                },
                _,
            ) => {
                let Some(instance) = ready.instance.as_ref() else {
                    return Err(SendError::transient(format!(
                        "output `{output}` has no instance to sign in with"
                    )));
                };
                let target = log_analytics::Target {
                    instance,
                    endpoint,
                    rule_id,
                    stream,
                };
                log_analytics::send(&self.client, self.tokens.as_ref(), &target, notification).await
            }
            (Sink::SplunkHec { url, index, .. }, Some(token)) => {
                splunk::send(
                    &self.client,
                    url,
                    token,
                    index.as_deref(),
                    &self.host,
                    notification,
                )
                .await
            }
            (Sink::Webhook { .. } | Sink::SplunkHec { .. }, None) => Err(SendError {
                message: format!("output `{output}` has no secret"),
                permanent: true,
                retry_after: None,
            }),
        }
    }

    /// Sends a sample notification to `output` (`huntd notify-test`).
    pub async fn send_sample(&self, output: &str) -> Result<std::result::Result<(), SendError>> {
        if !self.outputs.contains_key(output) {
            return Err(Error::UnknownOutput(output.to_string()));
        }
        Ok(self.send(output, &Notification::sample(output)).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_headline_counts_the_new_findings_and_what_suppress_left_out() {
        let mut n = Notification::sample("o");
        assert_eq!(n.headline(), "1 new finding from job huntd-notify-test");
        n.new_findings = 3;
        n.suppressed = 2;
        assert_eq!(
            n.headline(),
            "3 new findings from job huntd-notify-test (2 more suppressed)"
        );
    }
}
