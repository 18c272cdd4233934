//! The command line: parses arguments, sets up logging, and runs one command.
//!
//! This is the binary's edge, so errors here are `anyhow` and become exit codes:
//! 0 ok, 1 invalid input (config or jobs), 2 usage error, 3 runtime failure.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Serve an offline Defender API (token endpoint, Graph and MDE hunting) over sample data.
    ///
    /// The global --config names the emulator's tenants file here; without it a demo tenant.
    Emulate(EmulateArgs),
}

/// Flags of `huntd emulate`.
#[derive(Debug, clap::Args)]
pub struct EmulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    /// Load tables from `DIR/<Table>.jsonl` instead of the generated sample.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Ordinary rows per sample table.
    #[arg(long, default_value_t = 3000)]
    pub rows_per_table: usize,
    /// Seed of the sample data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl: u64,
    /// Share of API calls (0 to 1) answered with a random 5xx.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Delay before each API answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency: u64,
    /// The first N calls of each distinct query fail with 503.
    #[arg(long, default_value_t = 0)]
    pub fail_first: u32,
    /// After N API calls per tenant, answer 429 for exhausted CPU.
    #[arg(long, value_name = "N")]
    pub cpu_quota_after: Option<u32>,
    /// Append one JSON line per request to this file.
    #[arg(long, value_name = "FILE")]
    pub request_log: Option<PathBuf>,
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
        Command::Emulate(ref args) => emulate(&cli, args),
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

/// `huntd emulate`: serves until Ctrl-C or SIGTERM.
fn emulate(cli: &Cli, args: &EmulateArgs) -> anyhow::Result<ExitCode> {
    use crate::emulator::{DataSource, EmulatorConfig, EmulatorOptions};
    if !(0.0..=1.0).contains(&args.fail_rate) {
        anyhow::bail!("--fail-rate must be between 0 and 1");
    }
    let options = EmulatorOptions {
        data: match &args.data {
            Some(dir) => DataSource::Dir(dir.clone()),
            None => DataSource::Sample {
                seed: args.seed,
                rows_per_table: args.rows_per_table,
            },
        },
        config: match &cli.config {
            Some(path) => EmulatorConfig::load(path)?,
            None => EmulatorConfig::demo(),
        },
        token_ttl: std::time::Duration::from_secs(args.token_ttl),
        fail_rate: args.fail_rate,
        latency: std::time::Duration::from_millis(args.latency),
        fail_first: args.fail_first,
        cpu_quota_after: args.cpu_quota_after,
        request_log: args.request_log.clone(),
        ..EmulatorOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stop.cancel();
            std::io::Result::Ok(())
        });
        eprintln!(
            "huntd emulate: listening on http://{}",
            listener.local_addr()?
        );
        crate::emulator::serve(options, listener, shutdown).await?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
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
