//! `huntd once`: one job now, outside the schedule, printed or recorded like a scheduled run.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::records::{HistoryFormat, write_history};
use super::rows::{self, RowFormat};
use super::shared::{
    EXIT_RUNTIME, EXIT_USAGE, cancel_on_ctrl_c, find_instance, load_with_job, runtime, tokens_for,
};
use crate::auth::TokenSource;
use crate::config::Config;
use crate::daemon;
use crate::hunt::{self, Hunter, HunterOptions};
use crate::jobs::Job;
use crate::store;

/// What `huntd once` was asked to do.
#[derive(Debug)]
pub struct OnceArgs<'a> {
    /// The job's name.
    pub job: &'a str,
    /// Only this instance of the job's; every one when `None`.
    pub instance: Option<&'a str>,
    /// Window start; default the job's lookback (or, with `store`, its high-water mark).
    pub start: Option<DateTime<Utc>>,
    /// Window end; default now minus the job's `delay`.
    pub end: Option<DateTime<Utc>>,
    /// Print every row in this format instead of a summary and the first rows.
    pub output: Option<RowFormat>,
    /// Print the rendered query and the request without sending it.
    pub dry_run: bool,
    /// Record the run in the database like a scheduled one.
    pub store: bool,
}

/// Runs `huntd once`: on the job's one instance, the one `--instance` names, or each of its
/// instances in turn with a summary per instance.
pub fn once(config: Option<&Path>, args: &OnceArgs<'_>) -> anyhow::Result<ExitCode> {
    let (mut config, job, instances) = match load_with_job(config, args.job, args.instance) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let job = &job;
    if instances.len() > 1 && args.output.is_some() {
        eprintln!(
            "error: `{}` hunts {} instances: --output prints one instance's rows; add --instance",
            job.name,
            instances.len()
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    // Without --end: the window a run fired now would cover, so no future time is hunted.
    let end = args
        .end
        .unwrap_or_else(|| Utc::now() - chrono::Duration::from_std(job.delay).unwrap_or_default());
    let lookback_start = end - chrono::Duration::from_std(job.lookback).unwrap_or_default();
    if args.store {
        let window = (args.start, end, lookback_start);
        return once_stored(&mut config, job, &instances, window);
    }
    let start = args.start.unwrap_or(lookback_start);
    if start >= end {
        eprintln!("error: the window start {start} is not before its end {end}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let query = job.render(start, end)?;
    let window = job.timespan.then_some((start, end));
    if args.dry_run {
        println!("# window {start} .. {end}\n{query}\n");
        for name in &instances {
            let instance = match find_instance(&config, name) {
                Ok(instance) => instance,
                Err(code) => return Ok(code),
            };
            println!(
                "{}",
                hunt::dry_run(instance, job.environment, &query, window)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let window = ((start, end), window);
    runtime()?.block_on(hunt_each(
        &mut config,
        job,
        &instances,
        &query,
        window,
        args.output,
    ))
}

/// A window's start and end.
type Window = (DateTime<Utc>, DateTime<Utc>);

/// Hunts `query` on each instance in turn, printing what each answered; exit 3 when any failed.
async fn hunt_each(
    config: &mut Config,
    job: &Job,
    instances: &[String],
    query: &str,
    ((start, end), window): (Window, Option<Window>),
    output: Option<RowFormat>,
) -> anyhow::Result<ExitCode> {
    let tokens: Arc<dyn TokenSource> = Arc::new(tokens_for(config, None).await?);
    let hunter = Hunter::new(
        tokens,
        daemon::spooling_in(config, HunterOptions::default()),
    );
    let cancel = cancel_on_ctrl_c();
    let mut failed = 0;
    for name in instances {
        let instance = match find_instance(config, name) {
            Ok(instance) => instance,
            Err(code) => return Ok(code),
        };
        eprintln!("running `{}` on {name} for {start} .. {end}", job.name);
        if instances.len() > 1 {
            println!("== instance {name}");
        }
        match hunter
            .run(instance, job.environment, query, window, &cancel)
            .await
        {
            Ok(outcome) => {
                let mut out = std::io::stdout().lock();
                let result = &outcome.result;
                if let Some(format) = output {
                    let all = result.rows.to_vec()?;
                    rows::write_rows(&mut out, format, &result.columns, &all)?;
                } else {
                    rows::write_summary(&mut out, &outcome)?;
                    let first = result
                        .rows
                        .iter()
                        .take(20)
                        .collect::<std::io::Result<Vec<_>>>()?;
                    rows::write_table(&mut out, &result.columns, &first, Some(20))?;
                }
            }
            Err(e) => {
                failed += 1;
                let on = if instances.len() > 1 {
                    format!(" on {name}")
                } else {
                    String::new()
                };
                eprintln!("error{on} ({}): {e}", e.class.as_str());
                if let Some(id) = e.client_request_id {
                    eprintln!("client-request-id: {id}");
                }
            }
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    if instances.len() > 1 {
        eprintln!(
            "{} of {} instances hunted, {failed} failed",
            instances.len() - failed,
            instances.len()
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUNTIME)
    })
}

/// `huntd once --store`: on each instance, one run claimed, hunted and committed like a
/// scheduled one; `window` is the given start, the end and the lookback's start.
fn once_stored(
    config: &mut Config,
    job: &Job,
    instances: &[String],
    (start, end, lookback_start): (Option<DateTime<Utc>>, DateTime<Utc>, DateTime<Utc>),
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let tokens: Arc<dyn TokenSource> = Arc::new(tokens_for(config, None).await?);
        let store = store::open(&config.database).await?;
        let cancel = cancel_on_ctrl_c();
        let mut all_succeeded = true;
        for instance in instances {
            let start = match start {
                Some(start) => start,
                None => store
                    .high_water_mark(&job.name, instance)
                    .await?
                    .unwrap_or(lookback_start),
            };
            if start >= end {
                eprintln!(
                    "nothing to hunt: {} on {instance} is covered up to {start}",
                    job.name
                );
                continue;
            }
            eprintln!(
                "running `{}` on {instance} for {start} .. {end}, into the database",
                job.name
            );
            let planned = daemon::window::PlannedRun {
                slot_at: Utc::now(),
                start,
                end,
            };
            let stream = (job, instance.as_str());
            let outcome = daemon::run_one(
                config,
                stream,
                Arc::clone(&store),
                Arc::clone(&tokens),
                planned,
                cancel.clone(),
            )
            .await?;
            if outcome == daemon::Outcome::NotOurs {
                eprintln!(
                    "nothing hunted on {instance}: another run of `{}` is running there, or its \
                     window is already covered",
                    job.name
                );
            }
            all_succeeded &= outcome == daemon::Outcome::Succeeded;
            let filter = store::HistoryFilter {
                job: Some(job.name.clone()),
                instance: Some(instance.clone()),
                limit: Some(1),
                ..store::HistoryFilter::default()
            };
            let runs = store.history(&filter).await?;
            let mut out = Vec::new();
            write_history(&mut out, &runs, HistoryFormat::Table)?;
            std::io::stdout().lock().write_all(&out)?;
            if cancel.is_cancelled() {
                break;
            }
        }
        store.close().await;
        Ok(if all_succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_RUNTIME)
        })
    })
}
