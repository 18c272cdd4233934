//! What every job's loop and run share: the [`Context`], and each job's [`JobSpec`].

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::window::WindowSettings;
use crate::config::Instance;
use crate::hunt::Hunter;
use crate::jobs::Job;
use crate::store::{DeliveryRoute, JobRecord, Store, Suppression, Trigger};

/// Jobs looking up where they resume at once. Thousands of loops start together; unbounded,
/// their lookups queue on the store's few connections, each holding a query in memory, and
/// delay everything else that needs a connection.
pub const RESUME_LOOKUPS: usize = 4;

/// What every job's loop shares.
#[derive(Debug)]
pub struct Context {
    /// The result store.
    pub store: Arc<dyn Store>,
    /// The hunting client with its per-tenant quotas.
    pub hunter: Arc<Hunter>,
    /// This node's id.
    pub node: String,
    /// `max_concurrent_runs` permits.
    pub permits: Arc<Semaphore>,
    /// Cancelled when the shutdown grace is over: running hunts stop.
    pub hard_cancel: CancellationToken,
    /// Lease length.
    pub lease: Duration,
    /// Runs in flight.
    pub running: AtomicUsize,
    /// Jobs backing off after repeated non-retryable failures.
    pub backing_off: AtomicUsize,
    /// [`RESUME_LOOKUPS`] permits.
    pub resume_lookups: Semaphore,
    /// What starts the runs claimed through this context.
    pub trigger: Trigger,
    /// Notified when a run commits deliveries, waking the delivery loop.
    pub committed: Arc<tokio::sync::Notify>,
}

impl Context {
    /// A context of no runs yet, allowing `max_concurrent_runs` (at least one) at once; runs
    /// stop when `hard_cancel` is cancelled.
    pub fn new(
        store: Arc<dyn Store>,
        hunter: Hunter,
        node: String,
        max_concurrent_runs: usize,
        lease: Duration,
        hard_cancel: CancellationToken,
    ) -> Self {
        Self {
            store,
            hunter: Arc::new(hunter),
            node,
            permits: Arc::new(Semaphore::new(max_concurrent_runs.max(1))),
            hard_cancel,
            lease,
            running: AtomicUsize::new(0),
            backing_off: AtomicUsize::new(0),
            resume_lookups: Semaphore::new(RESUME_LOOKUPS),
            trigger: Trigger::Schedule,
            committed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// A context sharing this one's store, hunting client (and so its quotas), permits, hard
    /// cancel and delivery wake-up, its runs recorded as started by `trigger`.
    #[must_use]
    pub fn sibling(&self, trigger: Trigger) -> Self {
        Self {
            store: Arc::clone(&self.store),
            hunter: Arc::clone(&self.hunter),
            node: self.node.clone(),
            permits: Arc::clone(&self.permits),
            hard_cancel: self.hard_cancel.clone(),
            lease: self.lease,
            running: AtomicUsize::new(0),
            backing_off: AtomicUsize::new(0),
            resume_lookups: Semaphore::new(RESUME_LOOKUPS),
            trigger,
            committed: Arc::clone(&self.committed),
        }
    }

    /// The same context, its runs recorded as started by `trigger`.
    #[must_use]
    pub fn triggered_by(self, trigger: Trigger) -> Self {
        Self { trigger, ..self }
    }
}

/// One stream ready to schedule: a job on one of its instances, with its fire offset and
/// query hash. A job hunting several instances has a spec per instance, sharing the job.
#[derive(Debug)]
pub struct JobSpec {
    /// The job.
    pub job: Arc<Job>,
    /// The stream's instance, shared by the streams that use it.
    pub instance: Arc<Instance>,
    /// How long after each fire time the stream claims its slot: the job's splay, spread over
    /// its instances when it has several.
    pub offset: Duration,
    /// SHA-256 hex of the query template.
    pub query_sha256: String,
    /// SHA-256 hex of the job's definition, which the spec itself does not keep.
    pub definition_sha256: String,
    /// The outputs a committed run's new findings go to.
    pub notify: Vec<DeliveryRoute>,
}

/// A job hunting several instances spreads them over this share of its interval when it sets
/// no splay, so forty tenants do not fire in the same second.
const DEFAULT_SPREAD_SHARE: u32 = 4;
/// The longest default spread: the delay it adds to a stream's findings stays short.
const MAX_DEFAULT_SPREAD: Duration = Duration::from_secs(5 * 60);

impl JobSpec {
    /// Builds the spec of a job on one instance, and the job as `hunt_jobs` keeps it.
    pub fn new(job: Job, instance: Arc<Instance>, default_splay: Duration) -> (Self, JobRecord) {
        let (mut specs, record) = Self::streams(job, vec![instance], default_splay);
        let spec = specs
            .pop()
            .expect("one instance given, so one stream built");
        (spec, record)
    }

    /// Builds a spec per instance of the job (its streams, in the order given), and the job
    /// as `hunt_jobs` keeps it.
    ///
    /// The job's definition moves into the record: a job's loop never reads it, and with
    /// thousands of jobs a copy per loop would stay resident for nothing.
    pub fn streams(
        mut job: Job,
        instances: Vec<Arc<Instance>>,
        default_splay: Duration,
    ) -> (Vec<Self>, JobRecord) {
        let query_sha256 = hex::encode(Sha256::digest(job.query.text.as_bytes()));
        let definition =
            serde_json::Value::Object(std::mem::take(&mut job.definition).into_iter().collect());
        let definition_sha256 = hex::encode(Sha256::digest(definition.to_string().as_bytes()));
        let record = JobRecord {
            name: job.name.clone(),
            instance: job.instances.join(","),
            definition,
            query_sha256: query_sha256.clone(),
            enabled: job.enabled,
            dedup_columns: job.dedup_columns.clone(),
            retention: job.retention,
        };
        let notify: Vec<DeliveryRoute> = job
            .notify
            .outputs()
            .iter()
            .map(|output| DeliveryRoute {
                output: output.clone(),
                mode: job.notify.mode().as_str(),
                min_new: i64::from(job.notify.min_new()),
                suppress: job.notify.suppress.as_ref().map(|s| Suppression {
                    by: s.by.clone(),
                    span: super::window::delta(s.span),
                }),
            })
            .collect();
        let spread = spread(&job, instances.len(), default_splay);
        let job = Arc::new(job);
        let specs = instances
            .into_iter()
            .map(|instance| {
                // A single-instance job keeps the offset its name alone gives, as before jobs
                // could hunt several.
                let key = if job.instances.len() > 1 {
                    format!("{}/{}", job.name, instance.name)
                } else {
                    job.name.clone()
                };
                Self {
                    job: Arc::clone(&job),
                    offset: super::window::splay_offset(&key, spread),
                    instance,
                    query_sha256: query_sha256.clone(),
                    definition_sha256: definition_sha256.clone(),
                    notify: notify.clone(),
                }
            })
            .collect();
        (specs, record)
    }

    /// Whether a reload may keep this stream's loop for `other`: same query, schedule,
    /// windows, settings, instance (endpoints, credentials, quota) and offset.
    pub fn unchanged(&self, other: &JobSpec) -> bool {
        let (a, b) = (&self.job, &other.job);
        self.query_sha256 == other.query_sha256
            && a.query == b.query
            && self.definition_sha256 == other.definition_sha256
            && a.schedule.text == b.schedule.text
            && a.schedule.timezone == b.schedule.timezone
            && WindowSettings::of(a) == WindowSettings::of(b)
            && a.environment == b.environment
            && a.timespan == b.timespan
            && a.timeout == b.timeout
            && a.enabled == b.enabled
            && a.dedup_columns == b.dedup_columns
            && a.retention == b.retention
            && self.instance == other.instance
            && self.offset == other.offset
            && self.notify == other.notify
    }
}

/// The span a job's streams fire within: its splay (or the daemon's); for a job hunting several
/// instances with none, a share of its interval.
fn spread(job: &Job, streams: usize, default_splay: Duration) -> Duration {
    let splay = job.splay.unwrap_or(default_splay);
    if streams < 2 || !splay.is_zero() {
        return splay;
    }
    (job.schedule.interval() / DEFAULT_SPREAD_SHARE).min(MAX_DEFAULT_SPREAD)
}
