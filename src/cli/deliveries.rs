//! `huntd deliveries` (list, retry) and `huntd notify-test`: the outbox from the command line.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use clap::ValueEnum;

use super::output;
use super::records::{time, with_store};
use super::shared::{EXIT_INVALID, EXIT_RUNTIME, config_only, runtime, tokens_for};
use super::{DeliveriesArgs, DeliveriesCommand};
use crate::load::{Loaded, Scope};
use crate::outputs::Sinks;
use crate::store::{DeliveryFilter, DeliveryRecord, RetryTarget};

/// Errors longer than this are cut in the table.
const MAX_ERROR_CHARS: usize = 60;

/// Output format of `huntd deliveries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeliveriesFormat {
    /// Aligned columns for people.
    Table,
    /// A JSON array with every `hunt_deliveries` column and the idempotency key.
    Json,
}

/// `huntd deliveries [retry]`.
pub fn deliveries(config: Option<&Path>, args: DeliveriesArgs) -> anyhow::Result<ExitCode> {
    match args.retry {
        Some(DeliveriesCommand::Retry { id, .. }) => {
            retry(config, id.map_or(RetryTarget::Dead, RetryTarget::Id))
        }
        None => {
            let filter = DeliveryFilter {
                status: args.status,
                output: args.output,
                limit: Some(args.limit),
            };
            list(config, filter, args.format)
        }
    }
}

/// `huntd deliveries`: the outbox, newest first.
fn list(
    config: Option<&Path>,
    filter: DeliveryFilter,
    format: DeliveriesFormat,
) -> anyhow::Result<ExitCode> {
    with_store(config, async move |store, out| {
        let deliveries = store.deliveries(&filter).await?;
        write_deliveries(out, &deliveries, format)
    })
}

/// `huntd deliveries retry`: queues one delivery, or every dead one, again.
fn retry(config: Option<&Path>, target: RetryTarget) -> anyhow::Result<ExitCode> {
    with_store(config, async move |store, out| {
        let queued = store.retry_deliveries(target, Utc::now()).await?;
        match target {
            RetryTarget::Id(id) if queued == 0 => {
                anyhow::bail!("no delivery {id}, or it is being sent right now")
            }
            RetryTarget::Id(id) => writeln!(out, "delivery {id} queued again")?,
            RetryTarget::Dead => writeln!(out, "{queued} dead deliveries queued again")?,
        }
        Ok(())
    })
}

/// `huntd notify-test OUTPUT`: sends a sample notification and says how it went.
pub fn notify_test(config: Option<&Path>, output: &str) -> anyhow::Result<ExitCode> {
    let Some(mut config) = config_only(Loaded::locate(config, Scope::Config)) else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let Some(settings) = config.outputs.get(output) else {
        let known: Vec<&str> = config.outputs.keys().map(String::as_str).collect();
        eprintln!(
            "error: no output `{output}` in {}; outputs: {}",
            config.path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let kind = settings.sink.kind();
    runtime()?.block_on(async {
        let tokens = Arc::new(tokens_for(&mut config, None).await?);
        let sinks = Sinks::new(&config, &crate::daemon::node_id(&config), tokens)?;
        match sinks.send_sample(output).await? {
            Ok(()) => {
                println!("sent a sample notification to `{output}` ({kind})");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                let how = if e.permanent { "refused" } else { "failed" };
                eprintln!("error: the sample to `{output}` ({kind}) {how}: {e}");
                Ok(ExitCode::from(EXIT_RUNTIME))
            }
        }
    })
}

fn write_deliveries(
    out: &mut Vec<u8>,
    deliveries: &[DeliveryRecord],
    format: DeliveriesFormat,
) -> anyhow::Result<()> {
    if format == DeliveriesFormat::Json {
        let rows: Vec<serde_json::Value> = deliveries
            .iter()
            .map(|d| {
                let mut row = serde_json::to_value(d)?;
                row["idempotency_key"] = serde_json::Value::String(d.key());
                Ok(row)
            })
            .collect::<serde_json::Result<_>>()?;
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    if deliveries.is_empty() {
        writeln!(out, "no deliveries")?;
        return Ok(());
    }
    let header = [
        "ID", "OUTPUT", "JOB", "RUN", "FINDINGS", "STATUS", "ATTEMPTS", "CREATED", "NEXT", "ERROR",
    ];
    let rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            let next = match d.delivered_at {
                Some(at) => format!("delivered {}", time(at)),
                None if d.status == crate::store::DeliveryStatus::Pending => {
                    time(d.next_attempt_at)
                }
                None => "-".into(),
            };
            vec![
                d.id.to_string(),
                d.output.clone(),
                d.job.clone(),
                d.run_id.to_string(),
                d.findings.len().to_string(),
                d.status.to_string(),
                d.attempts.to_string(),
                time(d.created_at),
                next,
                d.last_error
                    .as_deref()
                    .map_or_else(|| "-".into(), |e| output::cut(e, MAX_ERROR_CHARS)),
            ]
        })
        .collect();
    output::write_table(out, &header, &rows, false)?;
    Ok(())
}
