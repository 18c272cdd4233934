//! `huntd run`: the scheduler daemon.
//!
//! [`run`] keeps every enabled job's loop running ([`loops`]), takes over runs whose node
//! died, reloads on request, keeps systemd informed ([`notify`]) and stops gracefully. Imports
//! run one way: [`context`] (what loops and runs share) <- [`worker`] (claims, runs and ends
//! one slot, its failures built by [`failure`]) <- [`scheduler`] (one job's loop: when and
//! which windows are due) <- [`loops`] <- this module. Windows are planned by the pure
//! functions in [`window`]. Beside the loops, [`delivery`] sends what the runs' commits left in
//! the outbox.

pub mod backfill;
pub mod context;
pub mod delivery;
pub mod failure;
pub mod lease;
pub mod loops;
pub mod metrics;
pub mod notify;
pub mod page;
pub mod scheduler;
pub mod signals;
pub mod window;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::auth::{self, TokenSource, Tokens};
use crate::config::Config;
use crate::diagnostic::Diagnostics;
use crate::hunt::{Hunter, HunterOptions};
use crate::jobs::Job;
use crate::load::{Loaded, Scope};
use crate::outputs::Sinks;
use crate::store::{self, Store, Trigger};
use context::{Context, JobSpec};
use loops::Loops;
use window::delta;
pub use worker::Outcome;

/// Why the daemon could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed at start-up.
    #[error("{0}")]
    Store(#[from] store::Error),
    /// An output's secret could not be read.
    #[error("{0}")]
    Outputs(#[from] crate::outputs::Error),
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

/// Runs one window of `job` on `instance` now as a claimed slot, the way the scheduler runs
/// one (`huntd once --store`): recorded in `hunt_runs`, results and findings committed together.
pub async fn run_one(
    config: &Config,
    (job, instance): (&Job, &str),
    store: Arc<dyn Store>,
    tokens: Arc<dyn TokenSource>,
    planned: window::PlannedRun,
    cancel: CancellationToken,
) -> Result<Outcome> {
    let one_off = one_off(
        config,
        (job, instance),
        store,
        tokens,
        Trigger::Manual,
        cancel,
    );
    let Some((ctx, spec)) = one_off.await? else {
        return Ok(Outcome::Stopped);
    };
    Ok(worker::claim_and_run(&ctx, &spec, planned, &CancellationToken::new()).await)
}

/// Backfills `range` of `job` on `instance` from this process (`huntd backfill`), through the
/// same claims as the daemon's runs, recorded with trigger `backfill`; `report` hears each step.
pub async fn backfill(
    config: &Config,
    stream: (&Job, &str),
    store: Arc<dyn Store>,
    tokens: Arc<dyn TokenSource>,
    range: backfill::Range,
    stop: CancellationToken,
    report: impl FnMut(backfill::Event),
) -> Result<backfill::Summary> {
    let one_off = one_off(
        config,
        stream,
        store,
        tokens,
        Trigger::Backfill,
        stop.clone(),
    )
    .await?;
    let Some((ctx, spec)) = one_off else {
        return Ok(backfill::Summary::default());
    };
    Ok(backfill::run(&ctx, &spec, range, &stop, report).await?)
}

/// The context and spec of a command that runs `job` on `instance` outside the daemon, its
/// runs recorded as started by `trigger` from a node of its own (`<node>-once-<pid>`,
/// `<node>-backfill-<pid>`), the job registered; `None` when the instance is not in the config.
async fn one_off(
    config: &Config,
    (job, instance): (&Job, &str),
    store: Arc<dyn Store>,
    tokens: Arc<dyn TokenSource>,
    trigger: Trigger,
    cancel: CancellationToken,
) -> Result<Option<(Arc<Context>, Arc<JobSpec>)>> {
    let Some(instance) = config.instances.get(instance) else {
        return Ok(None);
    };
    let (spec, record) = JobSpec::new(job.clone(), Arc::new(instance.clone()), Duration::ZERO);
    store.upsert_job(&record).await?;
    let node = match trigger {
        Trigger::Backfill => format!("{}-backfill-{}", node_id(config), std::process::id()),
        Trigger::Manual | Trigger::Schedule => one_off_node_id(config),
    };
    let ctx = Context::new(
        store,
        Hunter::new(tokens, spooling_in(config, HunterOptions::default())),
        node,
        1,
        DEFAULT_LEASE,
        cancel,
    )
    .triggered_by(trigger);
    Ok(Some((Arc::new(ctx), Arc::new(spec))))
}

/// The config and jobs for a reload, with Key Vault secrets resolved again so rotated secrets are picked up.
async fn reload_config(
    options: &Options,
) -> std::result::Result<(Config, Vec<Job>, Diagnostics), Diagnostics> {
    let (mut config, jobs, mut diags) =
        Loaded::from_path(&options.config_path, Scope::Jobs).into_valid()?;
    if let Some(tokens) = &options.key_vault
        && let Err(e) = auth::resolve_key_vault_secrets(&mut config, tokens).await
    {
        let at = crate::diagnostic::Location::START;
        diags.error(&config.path, at, e.to_string());
        return Err(diags);
    }
    Ok((config, jobs, diags))
}

/// This node's id: `daemon.node`, or the hostname and a digest of the machine id and the
/// state directory.
///
/// The default is stable across restarts on purpose: a restarted daemon (every restart under
/// systemd) must recognise the runs it left `running` and end them at once, instead of waiting
/// out their lease as a stranger and then re-running a window later runs already covered.
/// Two daemons on one machine with different state directories stay two nodes.
pub fn node_id(config: &Config) -> String {
    if let Some(node) = &config.daemon.node {
        return node.clone();
    }
    // systemd's ProcSubset=pid hides /proc/sys, so /etc/hostname is the fallback.
    let read = |files: &[&str]| {
        files.iter().find_map(|file| {
            let text = std::fs::read_to_string(file).ok()?;
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_string())
        })
    };
    let host =
        read(&["/proc/sys/kernel/hostname", "/etc/hostname"]).unwrap_or_else(|| "localhost".into());
    let machine = read(&["/etc/machine-id", "/var/lib/dbus/machine-id"]).unwrap_or_default();
    let state_dir = std::fs::canonicalize(&config.daemon.state_dir)
        .unwrap_or_else(|_| config.daemon.state_dir.clone());
    let mut digest = Sha256::new();
    digest.update(machine.as_bytes());
    digest.update([0]);
    digest.update(state_dir.as_os_str().as_encoded_bytes());
    let digest = hex::encode(digest.finalize());
    format!("{host}-{}", &digest[..8])
}

/// `options` with answers spooled in the state directory, which the service may write.
pub fn spooling_in(config: &Config, options: HunterOptions) -> HunterOptions {
    HunterOptions {
        spool_dir: config.daemon.state_dir.clone(),
        ..options
    }
}

/// The node id of a one-off run (`huntd once --store`) beside a daemon on the same machine:
/// its own process, so a daemon starting meanwhile does not take its run for a leftover.
fn one_off_node_id(config: &Config) -> String {
    format!("{}-once-{}", node_id(config), std::process::id())
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
    let sinks = Arc::new(delivery::SinksCell::new(Sinks::new(
        &config,
        &node,
        Arc::clone(&tokens),
    )?));
    let ctx = Arc::new(Context::new(
        Arc::clone(&store),
        Hunter::new(tokens, spooling_in(&config, options.hunter.clone()))
            .stop_waiting_on(shutdown.clone()),
        node.clone(),
        config.daemon.max_concurrent_runs,
        options.lease,
        CancellationToken::new(),
    ));
    let interrupted = store.mark_interrupted(&node, Utc::now()).await?;
    if interrupted > 0 {
        info!(
            runs = interrupted,
            "runs this node left running are now interrupted"
        );
    }
    let delivering = tokio::spawn(delivery::run(
        Arc::clone(&store),
        Arc::clone(&sinks),
        delivery::Loop {
            node: node.clone(),
            claim: options.lease,
            committed: Arc::clone(&ctx.committed),
        },
        shutdown.clone(),
    ));
    let page = Arc::new(metrics::PageSource {
        store: Arc::clone(&store),
        loaded: std::sync::RwLock::new(Arc::new((config.clone(), jobs.clone()))),
    });
    let mut loops = Loops::default();
    let mut grace = config.daemon.shutdown_grace;
    let new_jobs = backfill::new_jobs_to_backfill(&store, &jobs).await;
    loops.replace(&ctx, &config, jobs, &shutdown).await;
    take_over(&loops, &ctx).await;
    let backfills = backfill::on_create(&ctx, &config, new_jobs, &shutdown);
    let tick = notifier
        .watchdog_every()
        .unwrap_or(Duration::MAX)
        .min(options.lease / 2)
        .max(Duration::from_millis(100));
    let health = serve_health(&config, &store, &page, tick, &shutdown).await?;
    info!(node = %node, jobs = loops.current.len(), "huntd running");
    notifier.notify(&format!("READY=1\n{}", status(&loops, &ctx)));

    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reload = options.reload.take();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(()) = async { match reload.as_mut() { Some(r) => r.recv().await, None => None } } => {
                if let Some(new_grace) = reload_loops(&options, &config, (&page, &sinks), &mut loops, &ctx, &shutdown).await {
                    grace = new_grace;
                }
            }
            _ = ticker.tick() => {
                health.beat();
                if notifier.watchdog_every().is_some() {
                    notifier.notify("WATCHDOG=1");
                }
                notifier.notify(&status(&loops, &ctx));
                take_over(&loops, &ctx).await;
            }
        }
    }

    notifier.notify("STOPPING=1");
    stop(loops, &ctx, grace).await;
    for task in backfills {
        task.await.ok();
    }
    // The loop stopped claiming at the signal; sends under way end within their timeout. One
    // cut short is sent again, with the same key, after the next start.
    if tokio::time::timeout(grace, delivering).await.is_err() {
        info!("grace period over: deliveries still being sent are sent again after the next start");
    }
    Ok(())
}

/// Takes over the runs of nodes whose lease expired and hands them to their job's loop.
async fn take_over(loops: &Loops, ctx: &Context) {
    let now = Utc::now();
    match ctx
        .store
        .take_over_expired(&ctx.node, now + delta(ctx.lease), now)
        .await
    {
        Ok(leases) => loops.route(&ctx.store, leases).await,
        Err(e) => warn!(error = %e, "cannot take over expired runs"),
    }
}

/// Opens `/metrics`, `/healthz` and the status page when `daemon.metrics_listen` asks for them;
/// the returned health is beaten every `tick`.
async fn serve_health(
    config: &Config,
    store: &Arc<dyn Store>,
    page: &Arc<metrics::PageSource>,
    tick: Duration,
    shutdown: &CancellationToken,
) -> Result<Arc<metrics::Health>> {
    let health = Arc::new(metrics::Health {
        last_tick_ms: std::sync::atomic::AtomicI64::new(Utc::now().timestamp_millis()),
        max_silence: tick * 3 + Duration::from_secs(5),
        store: Arc::clone(store),
    });
    if let Some(addr) = config.daemon.metrics_listen {
        let bound = metrics::serve(
            addr,
            Arc::clone(&health),
            Arc::clone(page),
            shutdown.clone(),
        )
        .await
        .map_err(|source| Error::MetricsListen { addr, source })?;
        info!(%bound, "serving the status page at /, /metrics and /healthz");
        if !addr.ip().is_loopback() {
            warn!(%bound, "the status page shows job names and error messages to anyone who can reach this address; `metrics_listen: 127.0.0.1:PORT` keeps it on this host");
        }
    }
    Ok(health)
}

/// The systemd `STATUS=` line.
fn status(loops: &Loops, ctx: &Context) -> String {
    let backing_off = match ctx.backing_off.load(Ordering::Relaxed) {
        0 => String::new(),
        n => format!(", {n} backing off after repeated failures"),
    };
    let jobs = loops.current.len();
    let plural = if jobs == 1 { "" } else { "s" };
    format!(
        "STATUS={jobs} job{plural}, {} running{backing_off}",
        ctx.running.load(Ordering::Relaxed)
    )
}

/// Reloads the config and jobs and brings the loops in line; returns the new shutdown grace,
/// or `None` when the new set is invalid and the old one keeps running.
async fn reload_loops(
    options: &Options,
    config: &Config,
    (page, sinks): (&metrics::PageSource, &delivery::SinksCell),
    loops: &mut Loops,
    ctx: &Arc<Context>,
    shutdown: &CancellationToken,
) -> Option<Duration> {
    match reload_config(options).await {
        Ok((new_config, new_jobs, diags)) => {
            for d in diags.sorted() {
                warn!("{d}");
            }
            if new_config.database != config.database {
                warn!("a changed `database:` takes effect only after a restart");
            }
            if let Err(e) = sinks.reload(&new_config) {
                warn!("{e}; the outputs keep their previous settings");
            }
            page.replace(new_config.clone(), new_jobs.clone());
            loops.replace(ctx, &new_config, new_jobs, shutdown).await;
            info!(jobs = loops.current.len(), "reloaded");
            Some(new_config.daemon.shutdown_grace)
        }
        Err(diags) => {
            for d in diags.sorted() {
                warn!("{d}");
            }
            warn!("reload rejected: the new config or jobs are invalid; the old set keeps running");
            None
        }
    }
}

/// Waits up to `grace` for the loops to end, then interrupts the hunts still running.
async fn stop(loops: Loops, ctx: &Context, grace: Duration) {
    info!(grace = ?grace, "stopping: no new runs; waiting for running hunts");
    let mut all = tokio::spawn(futures_util::future::join_all(loops.all_tasks()));
    if tokio::time::timeout(grace, &mut all).await.is_err() {
        info!("grace period over: interrupting running hunts");
        ctx.hard_cancel.cancel();
        let _ = all.await;
    }
    info!("stopped");
}
