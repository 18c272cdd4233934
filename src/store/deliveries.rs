//! The outbox: notifications a run's commit writes in `hunt_deliveries`, and the
//! [`Deliveries`] methods the delivery loop and `huntd deliveries` use to claim, end, list and
//! queue them again. The flows over them are in `outbox`; each backend's SQL is in
//! `sqlite/deliveries.rs` and `postgres/deliveries.rs`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Result;
use super::records::FindingRecord;

/// One output a run's new findings go to: what [`RunSuccess::notify`](super::RunSuccess)
/// lists, and what the commit turns into `hunt_deliveries` rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRoute {
    /// The output's name.
    pub output: String,
    /// `digest` (one delivery per run) or `each` (one per new finding).
    pub mode: &'static str,
    /// Only runs adding at least this many new findings make deliveries.
    pub min_new: i64,
    /// At most one notification per key per span, when set.
    pub suppress: Option<Suppression>,
}

/// A route's `suppress:` as the store applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppression {
    /// The columns of a finding's row whose values make its key.
    pub by: Vec<String>,
    /// How long a notified key stays quiet.
    pub span: chrono::TimeDelta,
}

/// What a suppressing route makes of a run's new findings.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct SuppressionPlan {
    /// The findings to notify, in the run's row order.
    pub notify: Vec<String>,
    /// The keys those findings make quiet.
    pub quiet: Vec<String>,
    /// How many findings were left out.
    pub suppressed: i64,
}

impl SuppressionPlan {
    /// Whether the run notifies: some findings are left to notify, at least `min_new`.
    pub(super) fn notifies(&self, min_new: i64) -> bool {
        let n = i64::try_from(self.notify.len()).unwrap_or(i64::MAX);
        n > 0 && n >= min_new
    }

    /// The deliveries a notifying run writes for a route in `mode`, each with its findings and
    /// suppressed count: `carried` (left out by earlier runs) and this run's are reported once,
    /// in the first.
    pub(super) fn messages(&self, mode: &str, carried: i64) -> Vec<(Vec<String>, i64)> {
        let total = carried + self.suppressed;
        if mode == "each" {
            self.notify
                .iter()
                .enumerate()
                .map(|(i, hash)| (vec![hash.clone()], if i == 0 { total } else { 0 }))
                .collect()
        } else {
            vec![(self.notify.clone(), total)]
        }
    }
}

impl Suppression {
    /// The key of a finding's row (JSON text): a digest of its `by` columns' values, a missing
    /// column counting as null.
    pub(super) fn key(&self, data: Option<&str>) -> String {
        use sha2::{Digest as _, Sha256};
        let row: serde_json::Value = data
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        let values: Vec<serde_json::Value> = self
            .by
            .iter()
            .map(|column| row.get(column).cloned().unwrap_or_default())
            .collect();
        let text = serde_json::Value::Array(values).to_string();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Splits `findings` (row hash and row, in row order): the first of each key that is not
    /// `active` is notified, the rest are suppressed.
    pub(super) fn plan(
        &self,
        findings: &[(String, Option<String>)],
        active: &std::collections::HashSet<String>,
    ) -> SuppressionPlan {
        let mut plan = SuppressionPlan::default();
        let mut seen = std::collections::HashSet::new();
        for (hash, data) in findings {
            let key = self.key(data.as_deref());
            if active.contains(&key) || !seen.insert(key.clone()) {
                plan.suppressed += 1;
            } else {
                plan.notify.push(hash.clone());
                plan.quiet.push(key);
            }
        }
        plan
    }
}

/// `hunt_deliveries.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not sent yet, or to be tried again at `next_attempt_at`.
    Pending,
    /// The receiver took it.
    Delivered,
    /// Given up: a permanent refusal, or still failing after the output's `max_age`.
    Dead,
}

impl DeliveryStatus {
    /// The text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = super::records::UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            other => return Err(super::records::UnknownStatus(other.to_string())),
        })
    }
}

impl TryFrom<String> for DeliveryStatus {
    type Error = super::records::UnknownStatus;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// One row of `hunt_deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    /// Delivery id, increasing in commit order.
    pub id: i64,
    /// The output it goes to.
    pub output: String,
    /// The job whose run made it.
    pub job: String,
    /// The run's instance.
    pub instance: String,
    /// The run.
    pub run_id: i64,
    /// `digest` or `each`.
    pub mode: String,
    /// The `row_hash`es of the findings it covers, in the run's row order.
    pub findings: Vec<String>,
    /// New findings `suppress:` left out since the output's last notification of the job.
    pub suppressed: i64,
    /// Pending, delivered or dead.
    pub status: DeliveryStatus,
    /// Sends tried so far.
    pub attempts: i32,
    /// When it is due (again).
    pub next_attempt_at: DateTime<Utc>,
    /// The node that holds it while sending.
    pub lease_owner: Option<String>,
    /// When that node's claim ends.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the run committed it.
    pub created_at: DateTime<Utc>,
    /// When it was queued: its commit, or the last `huntd deliveries retry`; `max_age` counts
    /// from here.
    pub queued_at: DateTime<Utc>,
    /// When the receiver took it.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl DeliveryRecord {
    /// The idempotency key every send of this delivery carries: its id and a digest of the
    /// finding hashes, so a repeat after a crash is recognisable and two databases' deliveries
    /// with the same id are not.
    pub fn key(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let mut digest = Sha256::new();
        for hash in &self.findings {
            digest.update(hash.as_bytes());
            digest.update(b"\n");
        }
        format!(
            "huntd-{}-{}",
            self.id,
            &hex::encode(digest.finalize())[..16]
        )
    }
}

/// Which deliveries [`Deliveries::deliveries`] lists, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Only this output.
    pub output: Option<String>,
    /// At most this many.
    pub limit: Option<u32>,
}

/// What a claimed delivery's attempt came to.
#[derive(Debug, Clone, Copy)]
pub enum DeliveryOutcome<'a> {
    /// The receiver took it at this time.
    Delivered(DateTime<Utc>),
    /// It failed and is tried again at `at`.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// Why it failed.
        error: &'a str,
    },
    /// It failed for good.
    Dead {
        /// Why.
        error: &'a str,
    },
}

/// Which deliveries [`Deliveries::retry_deliveries`] queues again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryTarget {
    /// The one with this id, whatever its status.
    Id(i64),
    /// Every dead one.
    Dead,
}

/// The outbox half of the store.
#[async_trait::async_trait]
pub trait Deliveries: Send + Sync {
    /// Claims up to `limit` due deliveries to `outputs` for `node` until `until`: for each
    /// output and job only its oldest pending delivery, so they go out in run order.
    async fn claim_deliveries(
        &self,
        node: &str,
        outputs: &[String],
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>>;

    /// Records how a claimed attempt ended, fenced on the claim: `false` (and nothing written)
    /// when the claim was lost meanwhile.
    async fn end_delivery(
        &self,
        claimed: &DeliveryRecord,
        outcome: DeliveryOutcome<'_>,
    ) -> Result<bool>;

    /// Ends `node`'s claims at start-up, so what it was sending when it stopped is due again
    /// now instead of when the claims would have ended.
    async fn release_deliveries(&self, node: &str) -> Result<u64>;

    /// The findings of `job` with these hashes, in the given order; pruned ones are left out.
    async fn findings_by_hash(
        &self,
        job: &str,
        instance: &str,
        hashes: &[String],
    ) -> Result<Vec<FindingRecord>>;

    /// Deliveries matching the filter, newest first.
    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>>;

    /// Queues deliveries again, due now with their age reset; returns how many.
    async fn retry_deliveries(&self, target: RetryTarget, now: DateTime<Utc>) -> Result<u64>;

    /// Pending deliveries per output.
    async fn pending_deliveries(&self) -> Result<Vec<(String, i64)>>;

    /// Deletes delivered and dead deliveries committed longer ago than their job's retention;
    /// returns how many. Pending ones are kept: they are still owed.
    async fn prune_deliveries(&self, now: DateTime<Utc>) -> Result<u64>;
}

/// A `hunt_deliveries` row as both backends select it: `findings` as JSON text.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct DeliveryRow {
    id: i64,
    output: String,
    job: String,
    instance: String,
    run_id: i64,
    mode: String,
    findings: String,
    suppressed: i64,
    status: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    lease_owner: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    queued_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = super::Error;

    fn try_from(row: DeliveryRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            output: row.output,
            job: row.job,
            instance: row.instance,
            run_id: row.run_id,
            mode: row.mode,
            findings: serde_json::from_str(&row.findings)?,
            suppressed: row.suppressed,
            status: row.status.parse()?,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            lease_owner: row.lease_owner,
            lease_expires_at: row.lease_expires_at,
            last_error: row.last_error,
            created_at: row.created_at,
            queued_at: row.queued_at,
            delivered_at: row.delivered_at,
        })
    }
}

/// The columns an outcome writes.
pub(super) struct OutcomeColumns<'a> {
    /// `status`.
    pub status: DeliveryStatus,
    /// `delivered_at`.
    pub delivered_at: Option<DateTime<Utc>>,
    /// `next_attempt_at`, unchanged when `None`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// `last_error`.
    pub last_error: Option<&'a str>,
}

impl<'a> From<DeliveryOutcome<'a>> for OutcomeColumns<'a> {
    fn from(outcome: DeliveryOutcome<'a>) -> Self {
        let (status, delivered_at, next_attempt_at, last_error) = match outcome {
            DeliveryOutcome::Delivered(at) => (DeliveryStatus::Delivered, Some(at), None, None),
            DeliveryOutcome::Retry { at, error } => {
                (DeliveryStatus::Pending, None, Some(at), Some(error))
            }
            DeliveryOutcome::Dead { error } => (DeliveryStatus::Dead, None, None, Some(error)),
        };
        Self {
            status,
            delivered_at,
            next_attempt_at,
            last_error,
        }
    }
}

/// `found` in the order of `hashes`.
pub(super) fn in_order(mut found: Vec<FindingRecord>, hashes: &[String]) -> Vec<FindingRecord> {
    let position: std::collections::HashMap<&str, usize> = hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| (hash.as_str(), i))
        .collect();
    found.sort_by_key(|f| position.get(f.row_hash.as_str()).copied());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_stable_and_names_the_delivery() {
        let record = |id, findings: &[&str]| DeliveryRecord {
            id,
            output: "o".into(),
            job: "j".into(),
            instance: "i".into(),
            run_id: 1,
            mode: "digest".into(),
            findings: findings.iter().map(ToString::to_string).collect(),
            suppressed: 0,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Utc::now(),
            lease_owner: None,
            lease_expires_at: None,
            last_error: None,
            created_at: Utc::now(),
            queued_at: Utc::now(),
            delivered_at: None,
        };
        let a = record(7, &["aa", "bb"]);
        assert_eq!(a.key(), record(7, &["aa", "bb"]).key());
        assert!(a.key().starts_with("huntd-7-"), "{}", a.key());
        assert_ne!(a.key(), record(7, &["aa"]).key());
        assert_ne!(a.key(), record(8, &["aa", "bb"]).key());
    }

    #[test]
    fn suppression_notifies_the_first_finding_of_each_quiet_key_and_counts_the_rest() {
        let by_device = Suppression {
            by: vec!["DeviceId".into()],
            span: chrono::TimeDelta::hours(6),
        };
        let row = |hash: &str, device: &str| {
            (
                hash.to_string(),
                Some(format!(r#"{{"DeviceId": "{device}", "Hash": "{hash}"}}"#)),
            )
        };
        let findings = [
            row("a", "d1"),
            row("b", "d2"),
            row("c", "d1"),
            row("d", "d3"),
        ];
        let active = std::collections::HashSet::from([by_device.key(findings[3].1.as_deref())]);
        let plan = by_device.plan(&findings, &active);
        assert_eq!(plan.notify, ["a", "b"]);
        assert_eq!(plan.suppressed, 2);
        assert_eq!(
            plan.quiet,
            [
                by_device.key(findings[0].1.as_deref()),
                by_device.key(findings[1].1.as_deref())
            ]
        );
        // A row without the column, or none at all, has the null key.
        assert_eq!(by_device.key(Some("{}")), by_device.key(None));
    }

    #[test]
    fn status_text_round_trips() {
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Dead,
        ] {
            assert_eq!(status.as_str().parse::<DeliveryStatus>().ok(), Some(status));
        }
        assert!("sent".parse::<DeliveryStatus>().is_err());
    }
}
