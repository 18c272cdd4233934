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

/// The running job loops and the loops still finishing after a reload removed their job.
#[derive(Debug, Default)]
pub struct Loops {
    /// The loops of the scheduled jobs, by job name.
    pub current: BTreeMap<String, JobHandle>,
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
            let Some(instance) = instances.get(job.instance.as_str()) else {
                warn!(job = %job.name, instance = %job.instance, "job's instance is unusable: not scheduled");
                continue;
            };
            let (spec, record) = JobSpec::new(job, Arc::clone(instance), config.daemon.splay);
            if let Some(handle) = old.remove(&spec.job.name) {
                if spec.unchanged(&handle.spec) && !handle.task.is_finished() {
                    self.current.insert(spec.job.name.clone(), handle);
                    continue;
                }
                info!(job = %spec.job.name, "job changed: its loop restarts");
                handle.stop.cancel();
                old.insert(spec.job.name.clone(), handle);
            }
            specs.push(spec);
            records.push(record);
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
            let predecessor = old.remove(&spec.job.name).map(|h| h.task);
            let name = spec.job.name.clone();
            let handle =
                scheduler::spawn(Arc::clone(ctx), spec, shutdown.child_token(), predecessor);
            self.current.insert(name, handle);
        }
        for (name, handle) in old {
            info!(job = %name, "job removed: no longer scheduled");
            self.retired.push(handle.task);
        }
    }

    /// Hands leases taken over from dead nodes to their job's loop.
    pub async fn route(&self, store: &Arc<dyn Store>, leases: Vec<store::Lease>) {
        for lease in leases {
            match self.current.get(&lease.job) {
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
