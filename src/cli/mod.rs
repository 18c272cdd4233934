//! The command line: parses arguments, sets up logging, and runs one command.
//!
//! This is the binary's edge, so errors here are `anyhow` and become exit codes:
//! 0 ok, 1 invalid input (config or jobs), 2 usage error, 3 runtime failure. Each command
//! family has its module; this one holds the clap definitions and the dispatch.

mod auth;
mod backfill;
mod check;
mod daemon;
mod deliveries;
mod demo;
mod emulate;
mod generate;
mod logging;
mod once;
mod output;
mod records;
mod rows;
mod shared;
mod status;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::jobs::Environment;
use crate::store::{DeliveryStatus, RunStatus, report};

pub use check::{ListFormat, ValidateFormat, jobs_table};
pub use deliveries::DeliveriesFormat;
pub use emulate::EmulateArgs;
pub use generate::Generated;
pub use logging::LogFormat;
pub use records::{FindingsFormat, HistoryFormat};
pub use rows::RowFormat;
pub use shared::{EXIT_INVALID, EXIT_RUNTIME, EXIT_USAGE};
pub use status::{StatusFormat, write_status};

/// Runs Microsoft Defender advanced hunting queries on a schedule and keeps the results in SQL.
#[derive(Debug, Parser)]
#[command(name = "huntd", version, about, long_about = None, after_long_help = FILES_AND_EXIT_CODES)]
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

/// The end of `huntd --help` and of huntd(1): where huntd looks, and what its exit codes mean.
const FILES_AND_EXIT_CODES: &str = "\
Files:
  /etc/huntd/huntd.yaml    the config when neither --config nor $HUNTD_CONFIG names one
                           (after ./huntd.yaml); `huntd validate` checks it
  /usr/share/huntd/        the example jobs and query library
  /usr/share/doc/huntd/    README, the docs and the example config

Exit codes: 0 ok, 1 invalid input (config or jobs), 2 usage error, 3 runtime failure.";

/// huntd's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the config, instances, query library and jobs (also the KQL syntax of every
    /// query); report every problem with its line.
    Validate {
        /// Output format: `text` for people, `json` for CI and editors (one JSON object per
        /// problem, then a summary object).
        #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
        format: ValidateFormat,
    },
    /// Run the jobs' `tests:` offline through the KQL engine: pass or fail per case, with the
    /// rows a failing case got; exit 1 when one fails.
    Test {
        /// Only these jobs; every job when none is named.
        jobs: Vec<String>,
        /// Also write the results as JUnit XML to this file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// List the jobs with their instance, API, schedule and next three fire times (UTC).
    Jobs {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Instead, the API calls the enabled jobs need per tenant against its quota.
        #[arg(long)]
        costs: bool,
        /// Only the jobs that hunt this instance.
        #[arg(long)]
        instance: Option<String>,
    },
    /// One screen of how the hunts are doing, read from the database (any node, daemon running
    /// or not): each job's last run, next fire, backoff, last 24 h and coverage gaps; each
    /// instance's calls in the last hour against its quota; recent failures.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
        format: StatusFormat,
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
        /// Directory of jobs to run; default the built-in examples.
        #[arg(long, value_name = "DIR")]
        jobs: Option<PathBuf>,
        /// msticpy-format query library the jobs use; default the built-in one.
        #[arg(long, value_name = "DIR")]
        queries: Option<PathBuf>,
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
        /// Only this instance of the job's (default: each of them in turn).
        #[arg(long)]
        instance: Option<String>,
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
    /// Hunt a past range of a job (within the API's 30 days) where nothing covers it yet, in
    /// `max_window` chunks claimed like scheduled runs; run it again to go on after a stop.
    Backfill {
        /// The job's name.
        job: String,
        /// Only this instance of the job's (default: each of them in turn).
        #[arg(long)]
        instance: Option<String>,
        /// Range start: RFC 3339 or a duration ago.
        #[arg(long, default_value = "7d", value_parser = parse_time)]
        from: DateTime<Utc>,
        /// Range end: RFC 3339 or a duration ago; default now minus the job's `delay`.
        #[arg(long, value_parser = parse_time)]
        to: Option<DateTime<Utc>>,
        /// Only the coverage gaps between the job's first and last covered windows.
        #[arg(long)]
        gaps_only: bool,
    },
    /// Create or upgrade the database schema (the daemon also does this at start).
    Migrate,
    /// Recent runs: window, status, rows, new rows, duration, error class and message.
    History {
        /// Only this job.
        job: Option<String>,
        /// Only runs on this instance.
        #[arg(long)]
        instance: Option<String>,
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
        /// Only findings from this instance.
        #[arg(long)]
        instance: Option<String>,
        /// Only findings first seen within this long (e.g. 24h).
        #[arg(long, value_parser = parse_span)]
        new_since: Option<std::time::Duration>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FindingsFormat::Table)]
        format: FindingsFormat,
    },
    /// Delete results, runs, unseen findings and sent deliveries older than each job's `retention`.
    Prune {
        /// Rows deleted per statement, so the database stays responsive.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
        batch_size: u32,
    },
    /// The outbox: notifications of new findings owed to the outputs, newest first.
    #[command(args_conflicts_with_subcommands = true)]
    Deliveries(DeliveriesArgs),
    /// Send a sample notification to an output, to check its URL, secret and receiver.
    NotifyTest {
        /// The output's name under `outputs:`.
        output: String,
    },
    /// Get a token for an instance and show its tenant, app, expiry and permissions (never the token).
    Token {
        /// Instance name.
        #[arg(long)]
        instance: String,
        /// The API to get a token for.
        #[arg(long, value_enum, default_value_t = Environment::Graph)]
        environment: Environment,
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
        #[arg(long, value_enum, default_value_t = Environment::Graph)]
        environment: Environment,
        /// Where the refresh token is stored; default the config's state directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Write the man pages or the bash, zsh and fish completions into DIR (the package has them).
    Generate {
        /// What to write.
        #[arg(value_enum)]
        what: Generated,
        /// The directory to write into; created when missing.
        dir: PathBuf,
    },
}

/// `huntd deliveries`: list, or queue again.
#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    /// Queue deliveries again instead of listing them.
    #[command(subcommand)]
    pub retry: Option<DeliveriesCommand>,
    /// Only deliveries with this status (pending, delivered, dead).
    #[arg(long, value_parser = parse_delivery_status)]
    pub status: Option<DeliveryStatus>,
    /// Only deliveries to this output.
    #[arg(long)]
    pub output: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DeliveriesFormat::Table)]
    pub format: DeliveriesFormat,
}

/// What `huntd deliveries` does besides listing.
#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Queue a delivery again (any status), or every dead one with --dead; due at once.
    Retry {
        /// The delivery's id (`huntd deliveries` lists them).
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<i64>,
        /// Every dead delivery.
        #[arg(long)]
        dead: bool,
    },
}

/// Reads a delivery status name.
fn parse_delivery_status(text: &str) -> Result<DeliveryStatus, String> {
    text.parse::<DeliveryStatus>()
        .map_err(|_| format!("`{text}` is not a delivery status: pending, delivered or dead"))
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
    logging::init(cli.log_format, cli.verbose, quiet);
    dispatch(cli).unwrap_or_else(|e| {
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

/// Runs one of the commands that read the stored records.
fn records_command(config: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Migrate => records::migrate(config),
        Command::History {
            job,
            instance,
            status,
            since,
            limit,
            format,
        } => {
            let options = report::HistoryOptions {
                job,
                instance,
                status,
                since,
                limit: Some(limit),
            };
            records::history(config, options, format)
        }
        Command::Findings {
            job,
            instance,
            new_since,
            format,
        } => {
            let options = report::FindingsOptions {
                job,
                instance,
                new_since,
            };
            records::findings(config, options, format)
        }
        Command::Prune { batch_size } => records::prune(config, batch_size),
        _ => unreachable!("dispatch hands on only the records commands"),
    }
}

/// Runs the parsed command.
fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Validate { format } => check::validate(config, format),
        Command::Test {
            ref jobs,
            ref junit,
        } => test::test(config, jobs, junit.as_deref()),
        Command::Jobs {
            format,
            costs,
            ref instance,
        } => check::list_jobs(config, format, costs, instance.as_deref()),
        Command::Status { format } => status::status(config, format),
        Command::Once {
            ref job,
            ref instance,
            start,
            end,
            output,
            dry_run,
            store,
        } => once::once(
            config,
            &once::OnceArgs {
                job,
                instance: instance.as_deref(),
                start,
                end,
                output,
                dry_run,
                store,
            },
        ),
        Command::Backfill {
            ref job,
            ref instance,
            from,
            to,
            gaps_only,
        } => backfill::backfill(
            config,
            &backfill::BackfillArgs {
                job,
                instance: instance.as_deref(),
                from,
                to,
                gaps_only,
            },
        ),
        command @ (Command::Migrate
        | Command::History { .. }
        | Command::Findings { .. }
        | Command::Prune { .. }) => records_command(config, command),
        Command::Deliveries(args) => deliveries::deliveries(config, args),
        Command::NotifyTest { ref output } => deliveries::notify_test(config, output),
        Command::Token {
            ref instance,
            environment,
            ref state_dir,
        } => auth::token(config, instance, environment, state_dir.as_deref()),
        Command::Login {
            ref instance,
            browser,
            environment,
            ref state_dir,
        } => auth::login(config, instance, browser, environment, state_dir.as_deref()),
        Command::Run { lease_secs } => daemon::run(config, lease_secs),
        Command::Demo {
            keep_running,
            jobs,
            queries,
            database,
            every,
            run_for,
        } => demo::demo(&crate::demo::Options {
            jobs,
            queries,
            database,
            work_dir: std::env::temp_dir().join(format!("huntd-demo-{}", std::process::id())),
            every,
            run_for,
            keep_running,
        }),
        Command::Emulate(ref args) => emulate::emulate(config, args),
        Command::Generate { what, ref dir } => generate::generate(what, dir),
    }
}
