//! The command line: parses arguments, sets up logging, and runs one command.
//!
//! This is the binary's edge, so errors here are `anyhow` and become exit codes:
//! 0 ok, 1 invalid input (config or jobs), 2 usage error, 3 runtime failure.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};

use chrono::DateTime;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Resource, TokenSource, Tokens};
use crate::config::{self, Config, Credential, Instance};
use crate::diagnostic::{Diagnostics, Location, did_you_mean};
use crate::hunt::{self, Hunter, HunterOptions, output};
use crate::jobs::{self, Job, Library};
use crate::store::{self, RunStatus, report};

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
    /// Try huntd without a tenant: the emulator, the example jobs on fast schedules, a summary.
    Demo {
        /// Leave the daemon and emulator running after the summary, until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
        /// Directory of jobs to run.
        #[arg(long, default_value = "jobs")]
        jobs: PathBuf,
        /// msticpy-format query library the jobs use.
        #[arg(long, default_value = "queries")]
        queries: PathBuf,
        /// SQLite file for the results; replaced at start.
        #[arg(long, default_value = "huntd-demo.db")]
        database: PathBuf,
        /// How often each job runs during the demo.
        #[arg(long, default_value = "5s", value_parser = parse_span)]
        every: std::time::Duration,
        /// How long the scheduler runs before the summary.
        #[arg(long, default_value = "20s", value_parser = parse_span)]
        run_for: std::time::Duration,
    },
    /// Run the scheduler daemon: every job on its schedule until SIGTERM (SIGHUP reloads).
    Run {
        /// Lease length in seconds: a dead node's runs are taken over this long after its last
        /// heartbeat.
        #[arg(long, hide = true, default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..=3600))]
        lease_secs: u64,
    },
    /// Run one job now, outside the schedule, and print what came back.
    Once {
        /// The job's name.
        job: String,
        /// Window start: RFC 3339 (`2026-01-31T08:00:00Z`) or a duration ago (`2h`).
        #[arg(long, value_parser = parse_time)]
        start: Option<DateTime<Utc>>,
        /// Window end: RFC 3339 or a duration ago; default now minus the job's `delay`.
        #[arg(long, value_parser = parse_time)]
        end: Option<DateTime<Utc>>,
        /// Print every row in this format instead of a summary and the first rows.
        #[arg(long, value_enum)]
        output: Option<RowFormat>,
        /// Print the rendered query and the request without sending it.
        #[arg(long)]
        dry_run: bool,
        /// Record the run in the database like a scheduled one (window from the job's
        /// high-water mark when --start is not given).
        #[arg(long, conflicts_with_all = ["dry_run", "output"])]
        store: bool,
    },
    /// Create or upgrade the database schema (the daemon also does this at start).
    Migrate,
    /// Recent runs: window, status, rows, new rows, duration, error class and message.
    History {
        /// Only this job.
        job: Option<String>,
        /// Only runs with this status (running, succeeded, failed, interrupted, skipped).
        #[arg(long, value_parser = parse_status)]
        status: Option<RunStatus>,
        /// Only runs started within this long (e.g. 24h, 7d).
        #[arg(long, value_parser = parse_span)]
        since: Option<std::time::Duration>,
        /// At most this many runs.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
        format: HistoryFormat,
    },
    /// A job's findings: distinct result rows with first and last seen times.
    Findings {
        /// The job.
        job: String,
        /// Only findings first seen within this long (e.g. 24h).
        #[arg(long, value_parser = parse_span)]
        new_since: Option<std::time::Duration>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FindingsFormat::Table)]
        format: FindingsFormat,
    },
    /// Delete results, runs and unseen findings older than each job's `retention`, in batches.
    Prune {
        /// Rows deleted per statement, so the database stays responsive.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
        batch_size: u32,
    },
    /// Get a token for an instance and show its tenant, app, expiry and permissions (never the token).
    Token {
        /// Instance name.
        #[arg(long)]
        instance: String,
        /// The API to get a token for.
        #[arg(long, value_enum, default_value_t = ApiName::M365dGraph)]
        environment: ApiName,
        /// State directory; default the config's, `$STATE_DIRECTORY` or /var/lib/huntd.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Sign in as a user (device code, or a browser with --browser) for an instance with `UserName`.
    Login {
        /// Instance name.
        #[arg(long)]
        instance: String,
        /// Use the browser sign-in (authorization code with PKCE) instead of a device code.
        #[arg(long)]
        browser: bool,
        /// The API the sign-in is for.
        #[arg(long, value_enum, default_value_t = ApiName::M365dGraph)]
        environment: ApiName,
        /// Where the refresh token is stored; default the config's state directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
}

/// Output format of `huntd history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    /// Aligned columns for people.
    Table,
    /// A JSON array with every `hunt_runs` column.
    Json,
}

/// Output format of `huntd findings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingsFormat {
    /// Aligned columns for people.
    Table,
    /// One JSON object per line, `data` exactly as stored.
    Jsonl,
    /// CSV with a header row, one column per result column.
    Csv,
}

/// Reads a `--since 24h` style duration.
fn parse_span(text: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse(text).map_err(|e| e.to_string())
}

/// Reads a run status name.
fn parse_status(text: &str) -> Result<RunStatus, String> {
    text.parse::<RunStatus>().map_err(|_| {
        format!("`{text}` is not a run status: running, succeeded, failed, interrupted or skipped")
    })
}

/// Reads `--start`/`--end`: an RFC 3339 time, or a duration meaning that long ago.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let ago = crate::duration::parse(text).map_err(|_| {
        format!(
            "`{text}` is neither an RFC 3339 time (2026-01-31T08:00:00Z) nor a duration ago (2h)"
        )
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|e| e.to_string())?;
    Ok(Utc::now() - ago)
}

/// Which API a token or sign-in is for, in the names jobs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiName {
    /// Microsoft Graph `runHuntingQuery`.
    #[value(name = "M365DGraph")]
    M365dGraph,
    /// Defender for Endpoint advanced queries (also `MDATP`, `M365D`).
    #[value(name = "MDE", alias = "MDATP", alias = "M365D")]
    Mde,
}

impl ApiName {
    fn resource(self) -> Resource {
        match self {
            ApiName::M365dGraph => Resource::Graph,
            ApiName::Mde => Resource::Mde,
        }
    }
}

/// How `huntd once` prints all rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RowFormat {
    /// One JSON object per line, values exactly as the API sent them.
    Jsonl,
    /// CSV with a header line.
    Csv,
    /// Aligned columns.
    Table,
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
    /// Serve HTTPS with a self-signed certificate for localhost, 127.0.0.1 and ::1.
    #[arg(long)]
    pub tls: bool,
    /// With --tls, write the certificate (PEM) here for clients to trust (an instance's CaFile).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "huntd-emulator.pem",
        requires = "tls"
    )]
    pub tls_cert: PathBuf,
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
    // The demo prints its own progress; daemon logs below warnings would drown it.
    let quiet = matches!(cli.command, Command::Demo { .. });
    init_logging(cli.log_format, cli.verbose, quiet);
    let outcome = match cli.command {
        Command::Validate => validate(&cli),
        Command::Jobs { format } => list_jobs(&cli, format),
        Command::Once {
            ref job,
            start,
            end,
            output,
            dry_run,
            store,
        } => once(
            &cli,
            &OnceArgs {
                job,
                start,
                end,
                output,
                dry_run,
                store,
            },
        ),
        // Opening the store applies any pending migration, under the backend's lock.
        Command::Migrate => with_store(&cli, async |store, out| {
            writeln!(out, "schema up to date ({:?})", store.backend()).map_err(store::Error::from)
        }),
        Command::History {
            ref job,
            status,
            since,
            limit,
            format,
        } => {
            let options = report::HistoryOptions {
                job: job.clone(),
                status,
                since,
                limit: Some(limit),
                format: match format {
                    HistoryFormat::Table => report::HistoryFormat::Table,
                    HistoryFormat::Json => report::HistoryFormat::Json,
                },
            };
            with_store(&cli, async move |store, out| {
                report::history(&*store, &options, Utc::now(), out).await
            })
        }
        Command::Findings {
            ref job,
            new_since,
            format,
        } => {
            let options = report::FindingsOptions {
                job: job.clone(),
                new_since,
                format: match format {
                    FindingsFormat::Table => report::FindingsFormat::Table,
                    FindingsFormat::Jsonl => report::FindingsFormat::Jsonl,
                    FindingsFormat::Csv => report::FindingsFormat::Csv,
                },
            };
            with_store(&cli, async move |store, out| {
                report::findings(&*store, &options, Utc::now(), out).await
            })
        }
        Command::Prune { batch_size } => with_store(&cli, async move |store, out| {
            let options = store::PruneOptions {
                now: Utc::now(),
                batch_size,
            };
            report::prune(&*store, &options, out).await.map(drop)
        }),
        Command::Token {
            ref instance,
            environment,
            ref state_dir,
        } => token(&cli, instance, environment, state_dir.as_deref()),
        Command::Login {
            ref instance,
            browser,
            environment,
            ref state_dir,
        } => login(&cli, instance, browser, environment, state_dir.as_deref()),
        Command::Run { lease_secs } => run_daemon(&cli, lease_secs),
        Command::Demo {
            keep_running,
            ref jobs,
            ref queries,
            ref database,
            every,
            run_for,
        } => {
            let options = crate::demo::Options {
                jobs: jobs.clone(),
                queries: queries.clone(),
                database: database.clone(),
                work_dir: std::env::temp_dir().join(format!("huntd-demo-{}", std::process::id())),
                every,
                run_for,
                keep_running,
            };
            demo(&options)
        }
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
            let (library, jobs) = jobs::load_for(config, &mut diags);
            check_credentials(config, &mut diags);
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

/// Opens each instance's certificate and key now, so a mismatch shows up in `validate`, not at
/// the first run at 3 a.m.
fn check_credentials(config: &Config, diags: &mut Diagnostics) {
    for instance in config.instances.values() {
        if !matches!(instance.credential, Credential::Certificate { .. }) {
            continue;
        }
        // The instance was defined in huntd.yaml or msticpyconfig.yaml; its exact line is not
        // kept past loading, so point at the top of that file and name the instance.
        let at = Location::START;
        match auth::check_instance_credential(instance) {
            Ok(Some(info)) if info.expired() => {
                diags
                    .warning(
                        &instance.source,
                        at,
                        format!(
                            "instance `{}`: certificate {} expired on {}",
                            instance.name, info.subject, info.not_after
                        ),
                    )
                    .hint("upload a new certificate to the app registration and point `Certificate` at it");
            }
            Ok(_) => {}
            Err(e) => {
                diags.error(
                    &instance.source,
                    at,
                    format!("instance `{}`: {e}", instance.name),
                );
            }
        }
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

/// A loaded, valid configuration with its jobs, or the exit code for invalid input.
fn load_valid(cli: &Cli) -> Result<(Config, Vec<Job>), ExitCode> {
    let loaded = load_all(cli);
    let _ = print_diagnostics(&loaded.diags, &mut std::io::stderr().lock());
    match loaded.config {
        Some(config) if !loaded.diags.has_errors() => Ok((config, loaded.jobs)),
        _ => {
            eprintln!("invalid input: run `huntd validate` for details");
            Err(ExitCode::from(EXIT_INVALID))
        }
    }
}

fn find_instance<'a>(config: &'a Config, name: &str) -> Result<&'a Instance, ExitCode> {
    config.instances.get(name).ok_or_else(|| {
        let hint = did_you_mean(name, config.instances.keys().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        eprintln!("error: no instance named `{name}`{hint}");
        ExitCode::from(EXIT_INVALID)
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Token cache for commands, with `{KeyVault: ...}` secrets resolved first.
async fn tokens_for(
    config: &mut Config,
    state_dir: Option<&std::path::Path>,
) -> auth::Result<Tokens> {
    let dir = state_dir.map_or_else(
        || config.daemon.state_dir.clone(),
        std::path::Path::to_path_buf,
    );
    let tokens = Tokens::new(dir);
    auth::resolve_key_vault_secrets(config, &tokens).await?;
    Ok(tokens)
}

struct OnceArgs<'a> {
    job: &'a str,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    output: Option<RowFormat>,
    dry_run: bool,
    store: bool,
}

fn once(cli: &Cli, args: &OnceArgs<'_>) -> anyhow::Result<ExitCode> {
    let (mut config, jobs) = match load_valid(cli) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let Some(job) = jobs.iter().find(|j| j.name == args.job) else {
        let hint = did_you_mean(args.job, jobs.iter().map(|j| j.name.as_str()))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        eprintln!("error: no job named `{}`{hint}", args.job);
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    // Without --end: the window a run fired now would cover, so no future time is hunted.
    let end = args
        .end
        .unwrap_or_else(|| Utc::now() - chrono::Duration::from_std(job.delay).unwrap_or_default());
    let lookback_start = end - chrono::Duration::from_std(job.lookback).unwrap_or_default();
    if args.store {
        return once_stored(&mut config, job, args.start, end, lookback_start);
    }
    let start = args.start.unwrap_or(lookback_start);
    if start >= end {
        eprintln!("error: the window start {start} is not before its end {end}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let query = job.render(start, end)?;
    let window = job.timespan.then_some((start, end));
    if args.dry_run {
        let instance = match find_instance(&config, &job.instance) {
            Ok(instance) => instance,
            Err(code) => return Ok(code),
        };
        println!("# window {start} .. {end}\n{query}\n");
        println!(
            "{}",
            hunt::dry_run(instance, job.environment, &query, window)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = runtime()?;
    runtime.block_on(async {
        let tokens: Arc<dyn TokenSource> = Arc::new(tokens_for(&mut config, None).await?);
        let instance = match find_instance(&config, &job.instance) {
            Ok(instance) => instance,
            Err(code) => return Ok(code),
        };
        let hunter = Hunter::new(tokens, HunterOptions::default());
        let cancel = CancellationToken::new();
        let ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                ctrl_c.cancel();
            }
        });
        eprintln!(
            "running `{}` on {} for {start} .. {end}",
            job.name, job.instance
        );
        match hunter
            .run(instance, job.environment, &query, window, &cancel)
            .await
        {
            Ok(outcome) => {
                let mut out = std::io::stdout().lock();
                let result = &outcome.result;
                if let Some(format) = args.output {
                    let format = row_format(format);
                    output::write_rows(&mut out, format, &result.columns, &result.rows)?;
                } else {
                    output::write_summary(&mut out, &outcome)?;
                    output::write_table(&mut out, &result.columns, &result.rows, Some(20))?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error ({}): {e}", e.class.as_str());
                if let Some(id) = e.client_request_id {
                    eprintln!("client-request-id: {id}");
                }
                Ok(ExitCode::from(EXIT_RUNTIME))
            }
        }
    })
}

/// Opens (and migrates) the configured database, runs `work` with it and stdout, and closes it.
fn with_store<F>(cli: &Cli, work: F) -> anyhow::Result<ExitCode>
where
    F: AsyncFnOnce(Arc<dyn store::Store>, &mut Vec<u8>) -> store::Result<()>,
{
    let Some(config) = load_config_only(cli) else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    runtime()?.block_on(async {
        let store = match store::open(&config.database).await {
            Ok(store) => store,
            Err(e) => {
                eprintln!("error: database {}: {e}", config.database_for_display());
                return Ok(ExitCode::from(EXIT_RUNTIME));
            }
        };
        // Output is buffered so a failed query prints an error, not half a table.
        let mut out = Vec::new();
        let outcome = work(Arc::clone(&store), &mut out).await;
        store.close().await;
        match outcome {
            Ok(()) => {
                std::io::stdout().lock().write_all(&out)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(EXIT_RUNTIME))
            }
        }
    })
}

/// Just the config, for commands that only need the database: job problems do not stop them.
fn load_config_only(cli: &Cli) -> Option<Config> {
    let mut diags = Diagnostics::new();
    let config = match config::locate(cli.config.as_deref()) {
        Ok(path) => config::load(&path, &mut diags),
        Err(diagnostic) => {
            diags.push(diagnostic);
            None
        }
    };
    let _ = print_diagnostics(&diags, &mut std::io::stderr().lock());
    if diags.has_errors() {
        eprintln!("invalid config: run `huntd validate` for details");
        return None;
    }
    config
}

/// `huntd once --store`: one run claimed, hunted and committed like a scheduled one.
fn once_stored(
    config: &mut Config,
    job: &Job,
    start: Option<DateTime<Utc>>,
    end: DateTime<Utc>,
    lookback_start: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let tokens: Arc<dyn TokenSource> = Arc::new(tokens_for(config, None).await?);
        let store = store::open(&config.database).await?;
        let start = match start {
            Some(start) => start,
            None => store
                .high_water_mark(&job.name)
                .await?
                .unwrap_or(lookback_start),
        };
        if start >= end {
            eprintln!("nothing to hunt: {} is covered up to {start}", job.name);
            store.close().await;
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "running `{}` on {} for {start} .. {end}, into the database",
            job.name, job.instance
        );
        let planned = crate::daemon::window::PlannedRun {
            slot_at: Utc::now(),
            start,
            end,
        };
        let cancel = CancellationToken::new();
        let ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                ctrl_c.cancel();
            }
        });
        let outcome =
            crate::daemon::run_one(config, job, Arc::clone(&store), tokens, planned, cancel)
                .await?;
        let filter = store::HistoryFilter {
            job: Some(job.name.clone()),
            limit: Some(1),
            ..store::HistoryFilter::default()
        };
        let runs = store.history(&filter).await?;
        let mut out = Vec::new();
        store::report::write_history(&mut out, &runs, report::HistoryFormat::Table)?;
        std::io::stdout().lock().write_all(&out)?;
        store.close().await;
        Ok(match outcome {
            crate::daemon::run::Outcome::Succeeded => ExitCode::SUCCESS,
            _ => ExitCode::from(EXIT_RUNTIME),
        })
    })
}

fn row_format(format: RowFormat) -> output::OutputFormat {
    match format {
        RowFormat::Jsonl => output::OutputFormat::Jsonl,
        RowFormat::Csv => output::OutputFormat::Csv,
        RowFormat::Table => output::OutputFormat::Table,
    }
}

/// Loads the config, signs in for instance `name` and runs `work`; an auth failure exits 3.
fn with_instance<F>(
    cli: &Cli,
    name: &str,
    state_dir: Option<&std::path::Path>,
    work: F,
) -> anyhow::Result<ExitCode>
where
    F: AsyncFnOnce(&Tokens, &Instance) -> auth::Result<()>,
{
    let (mut config, _) = match load_valid(cli) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    runtime()?.block_on(async {
        let tokens = tokens_for(&mut config, state_dir).await?;
        let instance = match find_instance(&config, name) {
            Ok(instance) => instance,
            Err(code) => return Ok(code),
        };
        match work(&tokens, instance).await {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("error (auth): {e}");
                Ok(ExitCode::from(EXIT_RUNTIME))
            }
        }
    })
}

fn token(
    cli: &Cli,
    instance: &str,
    environment: ApiName,
    state_dir: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    with_instance(cli, instance, state_dir, async |tokens, instance| {
        let info = auth::token_info(tokens, instance, environment.resource()).await?;
        print!("{info}");
        Ok(())
    })
}

fn login(
    cli: &Cli,
    instance: &str,
    browser: bool,
    environment: ApiName,
    state_dir: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    with_instance(cli, instance, state_dir, async |tokens, instance| {
        let mut out = std::io::stdout();
        let resource = environment.resource();
        let outcome = if browser {
            tokens.login_browser(instance, resource, &mut out).await?
        } else {
            tokens
                .login_device_code(instance, resource, &mut out)
                .await?
        };
        let user = outcome.user.as_deref().unwrap_or("the signed-in user");
        println!(
            "signed in as {user}; refresh token stored in {}",
            outcome.refresh_token_file.display()
        );
        Ok(())
    })
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
    let (mut config, jobs, diags) = match crate::daemon::load(&path) {
        Ok(loaded) => loaded,
        Err(diags) => {
            print_diagnostics(&diags, &mut std::io::stderr().lock())?;
            eprintln!("invalid input: run `huntd validate` for details");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    print_diagnostics(&diags, &mut std::io::stderr().lock())?;
    runtime()?.block_on(async {
        let tokens = Arc::new(tokens_for(&mut config, None).await?);
        let store = crate::store::open(&config.database).await?;
        let shutdown = CancellationToken::new();
        let mut options = crate::daemon::Options::new(path);
        options.reload = Some(crate::daemon::signals::listen(shutdown.clone())?);
        options.lease = std::time::Duration::from_secs(lease_secs);
        options.key_vault = Some(Arc::clone(&tokens));
        crate::daemon::run(config, jobs, Arc::clone(&store), tokens, shutdown, options).await?;
        store.close().await;
        anyhow::Ok(())
    })?;
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
        tls_certificate: args.tls.then(|| args.tls_cert.clone()),
        ..EmulatorOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // Registered before the (slow) data load, so an early SIGTERM still exits cleanly.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let emulator = crate::emulator::serve(options, listener)?;
        let stop = emulator.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stop.cancel();
        });
        eprintln!("huntd emulate: listening on {}", emulator.base_url);
        if let Some(path) = &emulator.certificate {
            eprintln!(
                "huntd emulate: certificate in {} (set it as the instances' CaFile)",
                std::path::absolute(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
            );
        }
        emulator.task.await??;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn demo(options: &crate::demo::Options) -> anyhow::Result<ExitCode> {
    if !options.jobs.is_dir() {
        eprintln!(
            "error: no jobs directory at {}: run the demo from the huntd source directory, or pass --jobs",
            options.jobs.display()
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    if options.every.is_zero() {
        eprintln!("error: --every must be at least 1s");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let outcome = runtime()?.block_on(async {
        let mut out = std::io::stdout();
        crate::demo::run(options, &mut out).await
    });
    let _ = std::fs::remove_dir_all(&options.work_dir);
    outcome?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(format: LogFormat, verbose: u8, quiet: bool) {
    let default = match verbose {
        0 if quiet => "warn",
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
