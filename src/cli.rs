//! The command line: parses arguments, sets up logging, and runs one command.
//!
//! This is the binary's edge, so errors here are `anyhow` and become exit codes:
//! 0 ok, 1 invalid input (config or jobs), 2 usage error, 3 runtime failure.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Config};
use crate::diagnostic::Diagnostics;
use crate::jobs::{self, Job, Library};

/// Exit code: input (config or jobs) is invalid.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: something failed while running.
pub const EXIT_RUNTIME: u8 = 3;

/// Runs Microsoft Defender advanced hunting queries on a schedule and keeps the results in SQL.
#[derive(Debug, Parser)]
#[command(name = "huntd", version, about, long_about = None)]
pub struct Cli {
    /// Config file; default $HUNTD_CONFIG, then ./huntd.yaml, then /etc/huntd/huntd.yaml.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log line format: `text` for people, `json` for journald and log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// huntd's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config, instances, query library and jobs; report every problem with its line.
    Validate,
    /// List the jobs with their instance, API, schedule and next three fire times (UTC).
    Jobs {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Run the scheduler daemon: every job on its schedule until SIGTERM (SIGHUP reloads).
    Run {
        /// Lease length in seconds: a dead node's runs are taken over this long after its last
        /// heartbeat.
        #[arg(long, hide = true, default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..=3600))]
        lease_secs: u64,
    },
}

/// Output format of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for people.
    Table,
    /// JSON for machines.
    Json,
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout with exit 0; real mistakes exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.log_format, cli.verbose);
    let outcome = match cli.command {
        Command::Validate => validate(&cli),
        Command::Jobs { format } => list_jobs(&cli, format),
        Command::Run { lease_secs } => run_daemon(&cli, lease_secs),
    };
    outcome.unwrap_or_else(|e| {
        // A reader that stopped early (`huntd jobs | head`) is not a failure of ours.
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return ExitCode::SUCCESS;
        }
        eprintln!("error: {e:#}");
        ExitCode::from(EXIT_RUNTIME)
    })
}

/// Everything read from the user's files, with the problems found on the way.
struct Loaded {
    config: Option<Config>,
    library: Library,
    jobs: Vec<Job>,
    diags: Diagnostics,
}

/// Reads config, instances, the query library and jobs, collecting every problem.
fn load_all(cli: &Cli) -> Loaded {
    let mut diags = Diagnostics::new();
    let config = match config::locate(cli.config.as_deref()) {
        Ok(path) => config::load(&path, &mut diags),
        Err(diagnostic) => {
            diags.push(diagnostic);
            None
        }
    };
    let (library, jobs) = match &config {
        Some(config) => {
            let library = Library::load(&config.query_library, &mut diags);
            // Jobs naming an instance that failed validation already have its error; treat the
            // name as known so they do not also get a misleading "unknown instance".
            let instances: BTreeSet<String> = config
                .instances
                .keys()
                .chain(&config.invalid_instances)
                .cloned()
                .collect();
            let jobs = jobs::load(&config.jobs, &library, &instances, &mut diags);
            (library, jobs)
        }
        None => (Library::default(), Vec::new()),
    };
    Loaded {
        config,
        library,
        jobs,
        diags,
    }
}

fn print_diagnostics(diags: &Diagnostics, out: &mut impl std::io::Write) -> std::io::Result<()> {
    for diagnostic in diags.sorted() {
        writeln!(out, "{diagnostic}")?;
    }
    Ok(())
}

fn validate(cli: &Cli) -> anyhow::Result<ExitCode> {
    let loaded = load_all(cli);
    let mut out = std::io::stdout().lock();
    print_diagnostics(&loaded.diags, &mut out)?;
    let instances = loaded.config.as_ref().map_or(0, |c| c.instances.len());
    let summary = format!(
        "{instances} instances, {} library queries, {} jobs: {} errors, {} warnings",
        loaded.library.len(),
        loaded.jobs.len(),
        loaded.diags.error_count(),
        loaded.diags.warning_count(),
    );
    if loaded.diags.has_errors() {
        writeln!(out, "invalid: {summary}")?;
        Ok(ExitCode::from(EXIT_INVALID))
    } else {
        writeln!(out, "ok: {summary}")?;
        Ok(ExitCode::SUCCESS)
    }
}

fn list_jobs(cli: &Cli, format: ListFormat) -> anyhow::Result<ExitCode> {
    let loaded = load_all(cli);
    print_diagnostics(&loaded.diags, &mut std::io::stderr().lock())?;
    if loaded.diags.has_errors() {
        eprintln!("invalid input: run `huntd validate` for details");
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let rows = jobs::listing(&loaded.jobs, Utc::now());
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Table => write!(out, "{}", jobs::render_table(&rows))?,
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `huntd run`: loads everything, opens the store and runs the daemon until SIGTERM/SIGINT.
fn run_daemon(cli: &Cli, lease_secs: u64) -> anyhow::Result<ExitCode> {
    let path = match config::locate(cli.config.as_deref()) {
        Ok(path) => path,
        Err(diagnostic) => {
            eprintln!("{diagnostic}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let (config, jobs, diags) = match crate::daemon::load(&path) {
        Ok(loaded) => loaded,
        Err(diags) => {
            print_diagnostics(&diags, &mut std::io::stderr().lock())?;
            eprintln!("invalid input: run `huntd validate` for details");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    print_diagnostics(&diags, &mut std::io::stderr().lock())?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let store = crate::store::open(&config.database).await?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let mut options = crate::daemon::Options::new(path);
        options.reload = Some(crate::daemon::signals::listen(shutdown.clone())?);
        options.lease = std::time::Duration::from_secs(lease_secs);
        let tokens = crate::daemon::token_source(&config);
        crate::daemon::run(config, jobs, Arc::clone(&store), tokens, shutdown, options).await?;
        store.close().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(format: LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUNTD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
