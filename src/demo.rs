//! `huntd demo`: a first run without a tenant.
//!
//! Starts the emulator in-process with its live feed (new events every few seconds), writes a
//! config whose two instances (one for Graph jobs, one for MDE jobs) sign in to it, and runs the
//! real daemon over the example jobs (built in, or a directory) on fast schedules into a SQLite
//! file. Every part is the production code path; only the schedules are sped up and the
//! ingestion delays dropped, since the emulator has none. Progress goes out as [`Event`]s, which
//! the CLI prints.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::{TokenSource, Tokens};
use crate::emulator::{self, EmulatorOptions};
use crate::load::{Loaded, Scope};
use crate::schedule::Schedule;
use crate::store::{self, FindingRecord, HistoryFilter, RunRecord, RunStatus, Store};
use crate::{daemon, examples, jobs};

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The emulator did not start.
    #[error("the emulator did not start: {0}")]
    Emulator(#[from] emulator::Error),
    /// The demo's files could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The generated config or the example jobs did not load.
    #[error("the demo config or jobs are invalid:\n{0}")]
    Invalid(String),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] store::Error),
    /// The daemon failed.
    #[error("daemon: {0}")]
    Daemon(#[from] daemon::Error),
    /// Reporting progress failed (the terminal went away), or the daemon task panicked.
    #[error("output: {0}")]
    Output(#[from] std::io::Error),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// What `huntd demo` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Directory of jobs; `None` runs the built-in examples ([`crate::examples`]).
    pub jobs: Option<PathBuf>,
    /// The msticpy-format query library the jobs use; `None` is the built-in one.
    pub queries: Option<PathBuf>,
    /// The SQLite file results go to; replaced at start.
    pub database: PathBuf,
    /// Where the generated config and secret are written.
    pub work_dir: PathBuf,
    /// The fast schedule every job gets.
    pub every: Duration,
    /// How long the scheduler runs before the summary.
    pub run_for: Duration,
    /// Leave the daemon and emulator running after the summary, until Ctrl-C.
    pub keep_running: bool,
}

/// What the demo reports as it goes; the CLI prints it.
#[derive(Debug)]
pub enum Event<'a> {
    /// The emulator serves at `base_url`.
    EmulatorStarted {
        /// Where the emulator listens.
        base_url: &'a str,
    },
    /// This many enabled jobs are loaded, on the demo's fast schedule.
    JobsReady {
        /// How many jobs run.
        count: usize,
    },
    /// The daemon runs for [`Options::run_for`].
    SchedulerStarted,
    /// A run finished (seen by polling the history once a second).
    RunFinished(&'a RunRecord),
    /// The emulator's webhook took a notification of new findings.
    Notified(&'a emulator::Received),
    /// The scheduler ran for its time: what it did.
    Summary(&'a Summary),
    /// With [`Options::keep_running`]: the emulator and daemon stay up until Ctrl-C.
    KeptRunning {
        /// Where the emulator listens.
        base_url: &'a str,
    },
}

/// Receives the demo's [`Event`]s; an error stops the demo.
pub type Sink<'s> = dyn FnMut(Event<'_>) -> std::io::Result<()> + Send + 's;

/// One stream's runs (a job on one of its instances) in the summary; runs still in flight at
/// the cut-off are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTally {
    /// The job.
    pub name: String,
    /// The instance it hunted.
    pub instance: String,
    /// Finished runs.
    pub runs: usize,
    /// Of those, succeeded.
    pub succeeded: usize,
    /// Rows returned over all runs.
    pub rows: i64,
    /// New rows over all runs.
    pub new_rows: i64,
    /// Mean duration of the runs that recorded one, in milliseconds.
    pub avg_ms: i64,
}

/// What the demo did, for its closing summary.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Each stream's runs, in job order, then instance order.
    pub jobs: Vec<JobTally>,
    /// Up to two findings, as examples.
    pub findings: Vec<FindingRecord>,
    /// The results view of a job that returned rows, to suggest querying.
    pub view: String,
}

/// How often the emulator's live feed adds events during the demo.
const LIVE_EVERY: Duration = Duration::from_secs(2);

/// Runs the demo, reporting progress and the summary to `sink`.
pub async fn run(options: &Options, sink: &mut Sink<'_>) -> Result<()> {
    let emulator = emulator::start(EmulatorOptions {
        live_every: Some(LIVE_EVERY),
        ..EmulatorOptions::default()
    })
    .await?;
    sink(Event::EmulatorStarted {
        base_url: &emulator.base_url,
    })?;

    let mut received = emulator.received.subscribe();
    let config_path = write_config(options, &emulator.base_url)?;
    let (config, mut jobs, _) = Loaded::from_path(&config_path, Scope::Jobs)
        .into_valid()
        .map_err(|diags| {
            let problems: Vec<String> = diags.sorted().iter().map(ToString::to_string).collect();
            Error::Invalid(problems.join("\n"))
        })?;
    for job in &mut jobs {
        job.schedule = Schedule::every(options.every, chrono_tz::UTC)
            .expect("the demo interval is a whole, non-zero number of seconds");
        // A splay of minutes would keep a job from running within the demo's seconds.
        job.splay = Some(Duration::ZERO);
        // The emulator's events are searchable at once: without the delay, each run sees the
        // live feed's latest events instead of minutes-old ones.
        job.delay = Duration::ZERO;
    }
    jobs.retain(|job| job.enabled);
    sink(Event::JobsReady { count: jobs.len() })?;

    let store = store::open(&config.database).await?;
    let tokens: Arc<dyn TokenSource> = Arc::new(Tokens::new(config.daemon.state_dir.clone()));
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(daemon::run(
        config,
        jobs.clone(),
        Arc::clone(&store),
        tokens,
        shutdown.clone(),
        daemon::Options::new(config_path),
    ));

    sink(Event::SchedulerStarted)?;
    let runs = follow(&*store, &mut received, options.run_for, sink).await?;

    let summary = summarize(&*store, &runs, &jobs).await?;
    sink(Event::Summary(&summary))?;
    if options.keep_running {
        sink(Event::KeptRunning {
            base_url: &emulator.base_url,
        })?;
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.cancel();
    match daemon.await {
        Ok(outcome) => outcome?,
        Err(e) => return Err(Error::Output(std::io::Error::other(e))),
    }
    store.close().await;
    emulator.shutdown.cancel();
    Ok(())
}

/// Writes the demo config: two instances signing in to the emulator's demo app.
fn write_config(options: &Options, base_url: &str) -> Result<PathBuf> {
    let write = |path: PathBuf, text: String| {
        std::fs::write(&path, text).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        Ok::<PathBuf, Error>(path)
    };
    std::fs::create_dir_all(&options.work_dir).map_err(|source| Error::Write {
        path: options.work_dir.clone(),
        source,
    })?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = options.database.clone().into_os_string();
        file.push(suffix);
        // A fresh database each time, so the demo's first windows are full lookbacks.
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
    let secret = write(
        options.work_dir.join("client-secret"),
        emulator::DEMO_SECRET.into(),
    )?;
    let hook_secret = write(
        options.work_dir.join("webhook-secret"),
        emulator::DEMO_WEBHOOK_SECRET.into(),
    )?;
    let instance = |cloud: &str| {
        format!(
            "    TenantId: {tenant}\n    ClientId: {app}\n    ClientSecret: {{File: {secret}}}\n    \
             Cloud: {cloud}\n    Endpoints: {{login: '{base_url}', graph: '{base_url}', mde: '{base_url}'}}\n",
            tenant = emulator::DEMO_TENANT,
            app = emulator::DEMO_APP,
            secret = secret.display(),
        )
    };
    let (jobs, queries) = example_dirs(options)?;
    let text = format!(
        "# Written by `huntd demo`: two instances signing in to the local emulator, and every\n\
         # job's new findings sent to the emulator's webhook receiver.\n\
         database: sqlite://{database}\njobs: ['{jobs}']\nquery_library: ['{queries}']\n\
         daemon: {{state_dir: '{state}', max_concurrent_runs: 4, notify: {{to: [soc-hook]}}}}\n\
         outputs:\n  soc-hook: {{type: webhook, url: '{base_url}{hook}', secret: {{File: {hook_secret}}}}}\n\
         instances:\n  Contoso:\n{graph}  Fabrikam:\n{mde}",
        database = absolute(&options.database).display(),
        jobs = absolute(&jobs).display(),
        queries = absolute(&queries).display(),
        state = options.work_dir.display(),
        graph = instance("global"),
        mde = instance("eu"),
        hook = emulator::server::WEBHOOK_PATH,
        hook_secret = hook_secret.display(),
    );
    write(options.work_dir.join("huntd.yaml"), text)
}

/// The jobs and query library directories: the options', or the built-in examples written
/// into the work directory.
fn example_dirs(options: &Options) -> Result<(PathBuf, PathBuf)> {
    if options.jobs.is_none() || options.queries.is_none() {
        for (relative, text) in examples::FILES {
            let path = options.work_dir.join(relative);
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, text));
            written.map_err(|source| Error::Write { path, source })?;
        }
    }
    let jobs = options
        .jobs
        .clone()
        .unwrap_or_else(|| options.work_dir.join(examples::JOBS_DIR));
    let queries = options
        .queries
        .clone()
        .unwrap_or_else(|| options.work_dir.join(examples::QUERIES_DIR));
    Ok((jobs, queries))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Reports each run as it finishes, until `run_for` has passed; returns every run seen.
async fn follow(
    store: &dyn Store,
    received: &mut tokio::sync::broadcast::Receiver<emulator::Received>,
    run_for: Duration,
    sink: &mut Sink<'_>,
) -> Result<Vec<RunRecord>> {
    let deadline = tokio::time::Instant::now() + run_for;
    let mut shown = std::collections::BTreeSet::new();
    let mut runs = Vec::new();
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        runs = store.history(&HistoryFilter::default()).await?;
        for run in runs.iter().rev() {
            if run.status == RunStatus::Running || !shown.insert(run.id) {
                continue;
            }
            sink(Event::RunFinished(run))?;
        }
        // A notification follows its run's commit, so runs are shown first.
        while let Ok(notice) = received.try_recv() {
            sink(Event::Notified(&notice))?;
        }
    }
    Ok(runs)
}

/// Runs per job, two findings, and the view to suggest.
async fn summarize(store: &dyn Store, runs: &[RunRecord], jobs: &[jobs::Job]) -> Result<Summary> {
    let streams = jobs
        .iter()
        .flat_map(|job| job.instances.iter().map(move |instance| (job, instance)));
    let tallies = streams
        .map(|(job, instance)| {
            let mine: Vec<&RunRecord> = runs
                .iter()
                .filter(|r| {
                    r.job == job.name && r.instance == *instance && r.status != RunStatus::Running
                })
                .collect();
            let durations: Vec<i64> = mine.iter().filter_map(|r| r.duration_ms).collect();
            let avg_ms = if durations.is_empty() {
                0
            } else {
                durations.iter().sum::<i64>() / i64::try_from(durations.len()).unwrap_or(1)
            };
            JobTally {
                name: job.name.clone(),
                instance: instance.clone(),
                runs: mine.len(),
                succeeded: mine
                    .iter()
                    .filter(|r| r.status == RunStatus::Succeeded)
                    .count(),
                rows: mine.iter().filter_map(|r| r.row_count).sum(),
                new_rows: mine.iter().filter_map(|r| r.new_row_count).sum(),
                avg_ms,
            }
        })
        .collect();
    let mut findings = Vec::new();
    for job in jobs {
        let wanted = 2 - findings.len();
        findings.extend(
            store
                .findings(&job.name, None, None)
                .await?
                .into_iter()
                .take(wanted),
        );
        if findings.len() == 2 {
            break;
        }
    }
    let view = jobs
        .iter()
        .find(|job| {
            runs.iter()
                .any(|r| r.job == job.name && r.row_count.unwrap_or(0) > 0)
        })
        .map_or_else(
            || "hunt_encoded_powershell".to_string(),
            |job| store::view_name(&job.name),
        );
    Ok(Summary {
        jobs: tallies,
        findings,
        view,
    })
}
