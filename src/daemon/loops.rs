//! The set of running job loops, kept in line with the jobs on every (re)load.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::context::{Context, JobSpec};
use super::scheduler::{self, JobHandle};
use super::worker;
use crate::config::{self, Config};
use crate::jobs::Job;
use crate::store::{self, Store};

/// A stream's key: its job's name and its instance's.
pub type StreamKey = (String, String);

/// The running stream loops and the loops still finishing after a reload removed their job.
#[derive(Debug, Default)]
pub struct Loops {
    /// The loops of the scheduled streams, by job and instance.
    pub current: BTreeMap<StreamKey, JobHandle>,
    /// Loops of removed or changed jobs, finishing their run in flight.
    retired: Vec<JoinHandle<()>>,
}

impl Loops {
    /// Brings the loops in line with `jobs`: loops of unchanged jobs keep running, with their
    /// backoff; changed jobs' loops stop claiming and new ones start once their predecessor
    /// ended; removed jobs' loops stop; new jobs start.
    ///
    /// Only a changed job's backoff is reset: an operator fixing one job should not make every
    /// other failing job hammer the API again.
    pub async fn replace(
        &mut self,
        ctx: &Arc<Context>,
        config: &Config,
        jobs: Vec<Job>,
        shutdown: &CancellationToken,
    ) {
        let mut old = std::mem::take(&mut self.current);
        let instances: BTreeMap<&str, Arc<config::Instance>> = config
            .instances
            .iter()
            .map(|(name, instance)| (name.as_str(), Arc::new(instance.clone())))
            .collect();
        let (mut specs, mut records) = (Vec::new(), Vec::new());
        for job in jobs.into_iter().filter(|j| j.enabled) {
            let mut usable = Vec::with_capacity(job.instances.len());
            for name in &job.instances {
                match instances.get(name.as_str()) {
                    Some(instance) => usable.push(Arc::clone(instance)),
                    None => {
                        warn!(job = %job.name, instance = %name, "job's instance is unusable: not scheduled there");
                    }
                }
            }
            if usable.is_empty() {
                continue;
            }
            let (streams, record) = JobSpec::streams(job, usable, config.daemon.splay);
            let starting = specs.len();
            for spec in streams {
                let key = stream_key(&spec);
                if let Some(handle) = old.remove(&key) {
                    if spec.unchanged(&handle.spec) && !handle.task.is_finished() {
                        self.current.insert(key, handle);
                        continue;
                    }
                    info!(job = %key.0, instance = %key.1, "job changed: its loop restarts");
                    handle.stop.cancel();
                    old.insert(key, handle);
                }
                specs.push(spec);
            }
            // Only a job with a new or changed stream is registered again: a reload of
            // thousands of unchanged jobs writes nothing.
            if specs.len() > starting {
                records.push(record);
            }
        }
        for handle in old.values() {
            handle.stop.cancel();
        }
        let registered: Vec<JobSpec> = match ctx.store.upsert_jobs(&records).await {
            Ok(clashes) => {
                let refused: HashSet<String> = clashes
                    .into_iter()
                    .map(|clash| {
                        let job = clash.job.clone();
                        let error = store::Error::from(clash);
                        warn!(job = %job, error = %error, "cannot register the job: not scheduled");
                        job
                    })
                    .collect();
                specs
                    .into_iter()
                    .filter(|spec| !refused.contains(&spec.job.name))
                    .collect()
            }
            Err(e) => {
                warn!(jobs = specs.len(), error = %e, "cannot register the jobs: none scheduled");
                Vec::new()
            }
        };
        for spec in registered {
            let key = stream_key(&spec);
            let predecessor = old.remove(&key).map(|h| h.task);
            let handle =
                scheduler::spawn(Arc::clone(ctx), spec, shutdown.child_token(), predecessor);
            self.current.insert(key, handle);
        }
        for ((name, instance), handle) in old {
            info!(job = %name, instance = %instance, "job removed: no longer scheduled there");
            self.retired.push(handle.task);
        }
    }

    /// Hands leases taken over from dead nodes to their stream's loop.
    pub async fn route(&self, store: &Arc<dyn Store>, leases: Vec<store::Lease>) {
        for lease in leases {
            match self
                .current
                .get(&(lease.job.clone(), lease.instance.clone()))
            {
                Some(handle) => {
                    if let Err(unsent) = handle.takeovers.unbounded_send(lease) {
                        worker::give_back(store, &unsent.into_inner(), "the job's loop has ended")
                            .await;
                    }
                }
                None => {
                    worker::give_back(store, &lease, "the job is not scheduled on this node").await;
                }
            }
        }
    }

    /// Every loop's task, to wait for at shutdown.
    pub fn all_tasks(self) -> Vec<JoinHandle<()>> {
        self.current
            .into_values()
            .map(|h| h.task)
            .chain(self.retired)
            .collect()
    }
}

fn stream_key(spec: &JobSpec) -> StreamKey {
    (spec.job.name.clone(), spec.instance.name.clone())
}
