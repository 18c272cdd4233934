//! The command line: parses arguments, sets up logging, and runs one command.
//!
//! This is the binary's edge, so errors here are `anyhow` and become exit codes:
//! 0 ok, 1 invalid input (config or jobs), 2 usage error, 3 runtime failure.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    match cli.command {
        Command::Validate => ExitCode::SUCCESS,
    }
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
