//! `huntd demo`: a first run without a tenant.
//!
//! Starts the emulator in-process, writes a config whose two instances (one for Graph jobs, one
//! for MDE jobs) sign in to it, and runs the real daemon over the example jobs on fast schedules
//! into a SQLite file. Every part is the production code path; only the schedules are sped up.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::auth::{TokenSource, Tokens};
use crate::diagnostic::Diagnostics;
use crate::emulator::{self, EmulatorOptions};
use crate::schedule::Schedule;
use crate::store::{self, HistoryFilter, RunRecord, RunStatus, Store};
use crate::{config, daemon, jobs};

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
    /// Writing to the terminal failed.
    #[error("output: {0}")]
    Output(#[from] std::io::Error),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// What `huntd demo` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Directory of example jobs (the repository's `jobs/`).
    pub jobs: PathBuf,
    /// The msticpy-format query library the jobs use (the repository's `queries/`).
    pub queries: PathBuf,
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

/// Runs the demo, printing progress and the summary to `out`.
pub async fn run(options: &Options, out: &mut (dyn Write + Send)) -> Result<()> {
    let emulator = emulator::start(EmulatorOptions::default()).await?;
    writeln!(
        out,
        "emulator: a Defender API with sample data at {}",
        emulator.base_url
    )?;

    let config_path = write_config(options, &emulator.base_url)?;
    let mut diags = Diagnostics::new();
    let config = config::load(&config_path, &mut diags);
    let (_, mut jobs) = match &config {
        Some(config) => jobs::load_for(config, &mut diags),
        None => Default::default(),
    };
    let Some(config) = config.filter(|_| !diags.has_errors()) else {
        let problems: Vec<String> = diags.sorted().iter().map(ToString::to_string).collect();
        return Err(Error::Invalid(problems.join("\n")));
    };
    for job in &mut jobs {
        job.schedule = Schedule::every(options.every, chrono_tz::UTC)
            .expect("the demo interval is a whole, non-zero number of seconds");
        // A splay of minutes would keep a job from running within the demo's seconds.
        job.splay = Some(Duration::ZERO);
    }
    jobs.retain(|job| job.enabled);
    writeln!(
        out,
        "jobs: {} from {}, each every {}s against 2 instances (Graph: Contoso, MDE: Fabrikam)",
        jobs.len(),
        options.jobs.display(),
        options.every.as_secs()
    )?;

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

    writeln!(
        out,
        "scheduler: running for {}s, results into {}",
        options.run_for.as_secs(),
        options.database.display()
    )?;
    let runs = follow(&*store, options.run_for, out).await?;

    write_summary(&*store, &runs, &jobs, options, out).await?;
    if options.keep_running {
        writeln!(
            out,
            "\nstill running (emulator at {}); Ctrl-C stops both",
            emulator.base_url
        )?;
        out.flush()?;
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
    let instance = |cloud: &str| {
        format!(
            "    TenantId: {tenant}\n    ClientId: {app}\n    ClientSecret: {{File: {secret}}}\n    \
             Cloud: {cloud}\n    Endpoints: {{login: '{base_url}', graph: '{base_url}', mde: '{base_url}'}}\n",
            tenant = emulator::DEMO_TENANT,
            app = emulator::DEMO_APP,
            secret = secret.display(),
        )
    };
    let text = format!(
        "# Written by `huntd demo`: two instances signing in to the local emulator.\n\
         database: sqlite://{database}\njobs: ['{jobs}']\nquery_library: ['{queries}']\n\
         daemon: {{state_dir: '{state}', max_concurrent_runs: 4}}\ninstances:\n  Contoso:\n{graph}  Fabrikam:\n{mde}",
        database = absolute(&options.database).display(),
        jobs = absolute(&options.jobs).display(),
        queries = absolute(&options.queries).display(),
        state = options.work_dir.display(),
        graph = instance("global"),
        mde = instance("eu"),
    );
    write(options.work_dir.join("huntd.yaml"), text)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Prints each run as it finishes, until `run_for` has passed; returns every run seen.
async fn follow(
    store: &dyn Store,
    run_for: Duration,
    out: &mut (dyn Write + Send),
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
            writeln!(
                out,
                "  {:<20} {:<10} {:>5} rows {:>4} new  window {} .. {}",
                run.job,
                run.status.as_str(),
                run.row_count.unwrap_or(0),
                run.new_row_count.unwrap_or(0),
                run.window_start.format("%m-%d %H:%M:%S"),
                run.window_end.format("%m-%d %H:%M:%S"),
            )?;
        }
        out.flush()?;
    }
    Ok(runs)
}

/// Runs per job, two findings, and queries to paste into `sqlite3`.
async fn write_summary(
    store: &dyn Store,
    runs: &[RunRecord],
    jobs: &[jobs::Job],
    options: &Options,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    writeln!(out, "\nruns by job:")?;
    writeln!(
        out,
        "  {:<20} {:>4} {:>9} {:>6} {:>7} {:>9}",
        "JOB", "RUNS", "SUCCEEDED", "ROWS", "NEW", "AVG MS"
    )?;
    for job in jobs {
        // Runs still in flight at the cut-off are left out: the table shows finished runs.
        let mine: Vec<&RunRecord> = runs
            .iter()
            .filter(|r| r.job == job.name && r.status != RunStatus::Running)
            .collect();
        let finished: Vec<&RunRecord> = mine
            .iter()
            .copied()
            .filter(|r| r.duration_ms.is_some())
            .collect();
        let avg_ms = if finished.is_empty() {
            0
        } else {
            finished.iter().filter_map(|r| r.duration_ms).sum::<i64>()
                / i64::try_from(finished.len()).unwrap_or(1)
        };
        writeln!(
            out,
            "  {:<20} {:>4} {:>9} {:>6} {:>7} {:>9}",
            job.name,
            mine.len(),
            mine.iter()
                .filter(|r| r.status == RunStatus::Succeeded)
                .count(),
            mine.iter().filter_map(|r| r.row_count).sum::<i64>(),
            mine.iter().filter_map(|r| r.new_row_count).sum::<i64>(),
            avg_ms,
        )?;
    }

    writeln!(out, "\ntwo findings:")?;
    let mut printed = 0;
    for job in jobs {
        for finding in store
            .findings(&job.name, None)
            .await?
            .iter()
            .take(2 - printed)
        {
            writeln!(
                out,
                "  [{}] seen {}x: {}",
                job.name, finding.times_seen, finding.data
            )?;
            printed += 1;
        }
        if printed == 2 {
            break;
        }
    }

    let db = options.database.display();
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
    writeln!(out, "\ntry these (sqlite3 is `apt-get install sqlite3`):")?;
    writeln!(
        out,
        "  sqlite3 -header -column {db} \"select * from {view} limit 5\""
    )?;
    writeln!(
        out,
        "  sqlite3 -header -column {db} \"select job, count(*) as findings, max(last_seen_at) \
         as last_seen from hunt_findings group by job\""
    )?;
    writeln!(
        out,
        "  sqlite3 -header -column {db} \"select job, status, count(*) as runs, sum(row_count) \
         as rows from hunt_runs group by job, status\""
    )?;
    writeln!(out, "\nfinished at {}", Utc::now().format("%H:%M:%S UTC"))?;
    Ok(())
}
