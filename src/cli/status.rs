//! `huntd status`: one screen of how the hunts are doing, read from the database, so it works
//! on any node and while the daemon runs.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::ValueEnum;

use super::output::{cut, write_table};
use super::shared::{EXIT_INVALID, EXIT_RUNTIME, open_store, print_diagnostics, runtime};
use crate::load::{Loaded, Scope};
use crate::status::text::{ago, backoff, millis, next_fire, span, time};
use crate::status::{Delivery, GapSummary, InstanceStatus, JobStatus, QuotaView, Recent, Status};

/// Failure messages are cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 100;
/// The table lists this many recent failures; JSON has them all.
const FAILURES_SHOWN: usize = 5;

/// Output format of `huntd status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// Tables for people.
    Table,
    /// One JSON object with every field.
    Json,
}

/// `huntd status`: reads the database and prints the status. Problems in job files are printed
/// and the jobs that loaded are used, so a broken file does not hide how the others are doing.
pub fn status(config: Option<&Path>, format: StatusFormat) -> anyhow::Result<ExitCode> {
    let loaded = Loaded::locate(config, Scope::Jobs);
    print_diagnostics(&loaded.diagnostics, &mut std::io::stderr().lock())?;
    let Some(config) = loaded.config else {
        eprintln!("invalid config: run `huntd validate` for details");
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    if loaded.diagnostics.has_errors() {
        eprintln!("warning: next fire times and quotas come from the jobs that loaded");
    }
    runtime()?.block_on(async {
        let Some(store) = open_store(&config).await else {
            return Ok(ExitCode::from(EXIT_RUNTIME));
        };
        let read = crate::status::read(&*store, &config, &loaded.jobs, Utc::now()).await;
        store.close().await;
        let status = match read {
            Ok(status) => status,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(EXIT_RUNTIME));
            }
        };
        let mut out = std::io::stdout().lock();
        match format {
            StatusFormat::Table => write_status(&mut out, &status)?,
            StatusFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&status)?)?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The status as tables: jobs, instances, recent failures and the delivery backlog.
pub fn write_status(out: &mut impl Write, status: &Status) -> std::io::Result<()> {
    writeln!(
        out,
        "huntd status at {} (read from the database; backoff derived from stored runs)\n",
        time(status.generated_at)
    )?;
    write_jobs(out, &status.jobs, status.generated_at)?;
    writeln!(out)?;
    write_instances(out, &status.instances)?;
    writeln!(out)?;
    if status.failures.is_empty() {
        writeln!(out, "no failed runs in the last 7 days")?;
    } else {
        writeln!(
            out,
            "recent failures ({} in the last 7 days):",
            status.failures.len()
        )?;
        for failure in status.failures.iter().take(FAILURES_SHOWN) {
            writeln!(
                out,
                "  {}  {}  {}: {}",
                time(failure.started_at),
                failure.job,
                failure.error_class.as_deref().unwrap_or("-"),
                cut(
                    failure.error_message.as_deref().unwrap_or(""),
                    MAX_MESSAGE_CHARS
                )
            )?;
        }
    }
    match status.delivery {
        Delivery::NoOutputs => writeln!(out, "delivery backlog: none (huntd has no outputs yet)"),
    }
}

fn write_jobs(out: &mut impl Write, jobs: &[JobStatus], now: DateTime<Utc>) -> std::io::Result<()> {
    if jobs.is_empty() {
        return writeln!(out, "no jobs loaded or in the database");
    }
    let header = [
        "JOB",
        "INSTANCE",
        "LAST RUN",
        "OUTCOME",
        "NEXT FIRE",
        "BACKOFF",
        "RUNS 24H",
        "ROWS 24H",
        "NEW 24H",
        "GAPS 7D",
    ];
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            let (last, outcome) = job.last_run.as_ref().map_or_else(
                || ("never".to_string(), "-".to_string()),
                |run| {
                    let outcome = match &run.error_class {
                        Some(class) if run.status.as_str() != "succeeded" => {
                            format!("{} ({class})", run.status)
                        }
                        _ => run.status.to_string(),
                    };
                    (ago(run.started_at, now), outcome)
                },
            );
            vec![
                job.name.clone(),
                job.instance.clone(),
                last,
                outcome,
                next_fire(job, now),
                backoff(&job.backoff, now),
                runs(&job.last_24h),
                job.last_24h.rows.to_string(),
                job.last_24h.new_findings.to_string(),
                gaps(&job.gaps),
            ]
        })
        .collect();
    write_table(out, &header, &rows, false)
}

fn write_instances(out: &mut impl Write, instances: &[InstanceStatus]) -> std::io::Result<()> {
    if instances.is_empty() {
        return writeln!(out, "no instances with jobs or recent runs");
    }
    let header = [
        "INSTANCE",
        "CALLS 1H",
        "QUOTA",
        "THROTTLE WAIT 1H",
        "RUNS 1H",
    ];
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            let calls = if i.uncounted_runs > 0 {
                format!("{} (+{} runs uncounted)", i.api_calls, i.uncounted_runs)
            } else {
                i.api_calls.to_string()
            };
            vec![
                i.name.clone(),
                calls,
                i.quota.as_ref().map_or_else(|| "-".into(), quota),
                millis(i.throttle_wait_ms),
                i.runs.to_string(),
            ]
        })
        .collect();
    write_table(out, &header, &rows, false)?;
    writeln!(
        out,
        "(instances on one tenant share its quota; calls count runs that finished)"
    )
}

fn runs(recent: &Recent) -> String {
    if recent.failed > 0 {
        format!("{} ({} failed)", recent.runs, recent.failed)
    } else {
        recent.runs.to_string()
    }
}

fn gaps(summary: &GapSummary) -> String {
    if summary.stretches == 0 {
        return "none".into();
    }
    format!("{} ({})", summary.stretches, span(summary.seconds))
}

fn quota(q: &QuotaView) -> String {
    let hourly = q.per_hour.map(|h| format!(", {h}/h")).unwrap_or_default();
    let default = if q.configured { "" } else { " (default)" };
    format!("{}/min{hourly}{default}", q.per_minute)
}
