//! `huntd run`: the scheduler daemon.
//!
//! [`run`] starts every enabled job's loop ([`scheduler`]), takes over runs whose node died,
//! reloads on request, keeps systemd informed ([`notify`]) and stops gracefully. Windows are
//! planned by the pure functions in [`window`]; one run's life is in [`run`](mod@run).

pub mod lease;
pub mod metrics;
pub mod notify;
pub mod run;
pub mod scheduler;
pub mod signals;
pub mod window;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::auth::{self, TokenSource, Tokens};
use crate::config::{self, Config};
use crate::diagnostic::Diagnostics;
use crate::hunt::{Hunter, HunterOptions};
use crate::jobs::{self, Job};
use crate::store::{self, RunFailure, RunStatus, Store};
use scheduler::{JobHandle, JobSpec, Shared};
use window::delta;

/// Why the daemon could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed at start-up.
    #[error("{0}")]
    Store(#[from] store::Error),
    /// The metrics listener could not be opened.
    #[error("cannot listen on {addr} for metrics: {source}")]
    MetricsListen {
        /// `daemon.metrics_listen`.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Default lease length of a claimed run.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How the daemon runs, beyond `huntd.yaml`.
#[derive(Debug)]
pub struct Options {
    /// The config file, read again on reload.
    pub config_path: PathBuf,
    /// One message per reload request (SIGHUP); `None` disables reloading.
    pub reload: Option<mpsc::Receiver<()>>,
    /// Lease length: a dead node's runs are taken over this long after its last heartbeat.
    pub lease: Duration,
    /// The hunting client's tuning.
    pub hunter: HunterOptions,
    /// Signs in to Key Vault to resolve `{KeyVault: ...}` secrets of a reloaded config.
    pub key_vault: Option<Arc<Tokens>>,
}

impl Options {
    /// Defaults for a config file.
    pub fn new(config_path: PathBuf) -> Self {
        Self {
            config_path,
            reload: None,
            lease: DEFAULT_LEASE,
            hunter: HunterOptions::default(),
            key_vault: None,
        }
    }
}

/// Reads the config, query library and jobs; `Err` holds every problem when any is an error.
pub fn load(path: &Path) -> std::result::Result<(Config, Vec<Job>, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::new();
    let Some(config) = config::load(path, &mut diags) else {
        return Err(diags);
    };
    let (_, jobs) = jobs::load_for(&config, &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((config, jobs, diags))
    }
}

/// Runs one window of `job` now as a claimed slot, the way the scheduler runs one
/// (`huntd once --store`): recorded in `hunt_runs`, results and findings committed together.
pub async fn run_one(
    config: &Config,
    job: &Job,
    store: Arc<dyn Store>,
    tokens: Arc<dyn TokenSource>,
    planned: window::PlannedRun,
    cancel: CancellationToken,
) -> Result<run::Outcome> {
    let Some(instance) = config.instances.get(&job.instance) else {
        return Ok(run::Outcome::Stopped);
    };
    let (spec, record) = JobSpec::new(job.clone(), Arc::new(instance.clone()), Duration::ZERO);
    store.upsert_job(&record).await?;
    let spec = Arc::new(spec);
    let shared = Arc::new(Shared {
        store,
        hunter: Arc::new(Hunter::new(tokens, HunterOptions::default())),
        node: node_id(config),
        permits: Arc::new(Semaphore::new(1)),
        hard_cancel: cancel,
        lease: DEFAULT_LEASE,
        running: AtomicUsize::new(0),
        backing_off: AtomicUsize::new(0),
        resume_lookups: Semaphore::new(scheduler::RESUME_LOOKUPS),
    });
    Ok(run::claim_and_run(&shared, &spec, planned, &CancellationToken::new()).await)
}

/// [`load`] for a reload, with Key Vault secrets resolved again so rotated secrets are picked up.
async fn reload_config(
    options: &Options,
) -> std::result::Result<(Config, Vec<Job>, Diagnostics), Diagnostics> {
    let (mut config, jobs, mut diags) = load(&options.config_path)?;
    if let Some(tokens) = &options.key_vault
        && let Err(e) = auth::resolve_key_vault_secrets(&mut config, tokens).await
    {
        let at = crate::diagnostic::Location::START;
        diags.error(&config.path, at, e.to_string());
        return Err(diags);
    }
    Ok((config, jobs, diags))
}

/// This node's id: `daemon.node`, or the hostname and process id.
pub fn node_id(config: &Config) -> String {
    config.daemon.node.clone().unwrap_or_else(|| {
        // systemd's ProcSubset=pid hides /proc/sys, so /etc/hostname is the fallback.
        let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|file| {
                let name = std::fs::read_to_string(file).ok()?;
                let name = name.trim();
                (!name.is_empty()).then(|| name.to_string())
            })
            .unwrap_or_else(|| "localhost".into());
        format!("{host}-{}", std::process::id())
    })
}

/// The running job loops and the loops still finishing after a reload removed their job.
#[derive(Debug, Default)]
struct Jobs {
    current: BTreeMap<String, JobHandle>,
    retired: Vec<JoinHandle<()>>,
}

impl Jobs {
    /// Brings the loops in line with `jobs`: loops of unchanged jobs keep running, with their
    /// backoff; changed jobs' loops stop claiming and new ones start once their predecessor
    /// ended; removed jobs' loops stop; new jobs start.
    ///
    /// Only a changed job's backoff is reset: an operator fixing one job should not make every
    /// other failing job hammer the API again.
    async fn replace(
        &mut self,
        shared: &Arc<Shared>,
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
        let registered: Vec<JobSpec> = match shared.store.upsert_jobs(&records).await {
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
            let handle = scheduler::spawn(
                Arc::clone(shared),
                spec,
                shutdown.child_token(),
                predecessor,
            );
            self.current.insert(name, handle);
        }
        for (name, handle) in old {
            info!(job = %name, "job removed: no longer scheduled");
            self.retired.push(handle.task);
        }
    }

    /// Hands leases taken over from dead nodes to their job's loop.
    async fn route(&self, store: &Arc<dyn Store>, leases: Vec<store::Lease>) {
        for lease in leases {
            match self.current.get(&lease.job) {
                Some(handle) => {
                    if let Err(unsent) = handle.takeovers.unbounded_send(lease) {
                        give_back(store, &unsent.into_inner(), "the job's loop has ended").await;
                    }
                }
                None => give_back(store, &lease, "the job is not scheduled on this node").await,
            }
        }
    }

    fn all_tasks(self) -> Vec<JoinHandle<()>> {
        self.current
            .into_values()
            .map(|h| h.task)
            .chain(self.retired)
            .collect()
    }
}

/// Ends a taken-over run this node cannot run, as `interrupted`, so it can be claimed again.
async fn give_back(store: &Arc<dyn Store>, lease: &store::Lease, why: &str) {
    let failure = RunFailure {
        finished_at: Utc::now(),
        status: RunStatus::Interrupted,
        error_class: "interrupted",
        error_message: why,
        api: None,
        http_status: None,
        client_request_id: None,
    };
    if let Err(e) = store.fail_run(lease, &failure).await {
        warn!(run_id = lease.run_id, error = %e, "cannot give a taken-over run back");
    }
}

/// Runs the daemon until `shutdown` is cancelled, then lets hunts finish for the grace period,
/// interrupts the rest and returns.
pub async fn run(
    config: Config,
    jobs: Vec<Job>,
    store: Arc<dyn Store>,
    tokens: Arc<dyn TokenSource>,
    shutdown: CancellationToken,
    mut options: Options,
) -> Result<()> {
    let notifier = notify::Notifier::from_env();
    let node = node_id(&config);
    let shared = Arc::new(Shared {
        store: Arc::clone(&store),
        hunter: Arc::new(Hunter::new(tokens, options.hunter.clone())),
        node: node.clone(),
        permits: Arc::new(Semaphore::new(config.daemon.max_concurrent_runs.max(1))),
        hard_cancel: CancellationToken::new(),
        lease: options.lease,
        running: AtomicUsize::new(0),
        backing_off: AtomicUsize::new(0),
        resume_lookups: Semaphore::new(scheduler::RESUME_LOOKUPS),
    });
    let interrupted = store.mark_interrupted(&node, Utc::now()).await?;
    if interrupted > 0 {
        info!(
            runs = interrupted,
            "runs this node left running are now interrupted"
        );
    }
    let mut loops = Jobs::default();
    let mut grace = config.daemon.shutdown_grace;
    loops.replace(&shared, &config, jobs, &shutdown).await;
    let takeover = |store: Arc<dyn Store>| {
        let node = node.clone();
        let lease = options.lease;
        async move {
            let now = Utc::now();
            store
                .take_over_expired(&node, now + delta(lease), now)
                .await
        }
    };
    match takeover(Arc::clone(&store)).await {
        Ok(leases) => loops.route(&store, leases).await,
        Err(e) => warn!(error = %e, "cannot take over expired runs"),
    }
    let tick = notifier
        .watchdog_every()
        .unwrap_or(Duration::MAX)
        .min(options.lease / 2)
        .max(Duration::from_millis(100));
    let health = Arc::new(metrics::Health {
        last_tick_ms: std::sync::atomic::AtomicI64::new(Utc::now().timestamp_millis()),
        max_silence: tick * 3 + Duration::from_secs(5),
        store: Arc::clone(&store),
    });
    if let Some(addr) = config.daemon.metrics_listen {
        let bound = metrics::serve(addr, Arc::clone(&health), shutdown.clone())
            .await
            .map_err(|source| Error::MetricsListen { addr, source })?;
        info!(%bound, "serving /metrics and /healthz");
    }
    info!(node = %node, jobs = loops.current.len(), "huntd running");
    let status = |loops: &Jobs| {
        let backing_off = match shared.backing_off.load(Ordering::Relaxed) {
            0 => String::new(),
            n => format!(", {n} backing off after repeated failures"),
        };
        format!(
            "STATUS={} jobs, {} running{backing_off}",
            loops.current.len(),
            shared.running.load(Ordering::Relaxed)
        )
    };
    notifier.notify(&format!("READY=1\n{}", status(&loops)));

    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reload = options.reload.take();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(()) = async { match reload.as_mut() { Some(r) => r.recv().await, None => None } } => {
                match reload_config(&options).await {
                    Ok((new_config, new_jobs, diags)) => {
                        for d in diags.sorted() {
                            warn!("{d}");
                        }
                        if new_config.database != config.database {
                            warn!("a changed `database:` takes effect only after a restart");
                        }
                        grace = new_config.daemon.shutdown_grace;
                        loops.replace(&shared, &new_config, new_jobs, &shutdown).await;
                        info!(jobs = loops.current.len(), "reloaded");
                    }
                    Err(diags) => {
                        for d in diags.sorted() {
                            warn!("{d}");
                        }
                        warn!("reload rejected: the new config or jobs are invalid; the old set keeps running");
                    }
                }
            }
            _ = ticker.tick() => {
                health.beat();
                if notifier.watchdog_every().is_some() {
                    notifier.notify("WATCHDOG=1");
                }
                notifier.notify(&status(&loops));
                match takeover(Arc::clone(&store)).await {
                    Ok(leases) => loops.route(&store, leases).await,
                    Err(e) => warn!(error = %e, "cannot take over expired runs"),
                }
            }
        }
    }

    notifier.notify("STOPPING=1");
    info!(grace = ?grace, "stopping: no new runs; waiting for running hunts");
    let mut all = tokio::spawn(futures_util::future::join_all(loops.all_tasks()));
    if tokio::time::timeout(grace, &mut all).await.is_err() {
        info!("grace period over: interrupting running hunts");
        shared.hard_cancel.cancel();
        let _ = all.await;
    }
    info!("stopped");
    Ok(())
}
