//! `huntd once`: one job now, outside the schedule, printed or recorded like a scheduled run.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::records::{HistoryFormat, write_history};
use super::rows::{self, RowFormat};
use super::shared::{
    EXIT_RUNTIME, EXIT_USAGE, cancel_on_ctrl_c, find_instance, find_job, runtime, tokens_for, valid,
};
use crate::auth::TokenSource;
use crate::config::Config;
use crate::daemon;
use crate::hunt::{self, Hunter, HunterOptions};
use crate::jobs::Job;
use crate::load::{Loaded, Scope};
use crate::store;

/// What `huntd once` was asked to do.
#[derive(Debug)]
pub struct OnceArgs<'a> {
    /// The job's name.
    pub job: &'a str,
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

/// Runs `huntd once`.
pub fn once(config: Option<&Path>, args: &OnceArgs<'_>) -> anyhow::Result<ExitCode> {
    let (mut config, jobs) = match valid(Loaded::locate(config, Scope::Credentials)) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let job = match find_job(&jobs, args.job) {
        Ok(job) => job,
        Err(code) => return Ok(code),
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
    runtime()?.block_on(async {
        let tokens: Arc<dyn TokenSource> = Arc::new(tokens_for(&mut config, None).await?);
        let instance = match find_instance(&config, &job.instance) {
            Ok(instance) => instance,
            Err(code) => return Ok(code),
        };
        let hunter = Hunter::new(
            tokens,
            daemon::spooling_in(&config, HunterOptions::default()),
        );
        let cancel = cancel_on_ctrl_c();
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
        let planned = daemon::window::PlannedRun {
            slot_at: Utc::now(),
            start,
            end,
        };
        let cancel = cancel_on_ctrl_c();
        let outcome =
            daemon::run_one(config, job, Arc::clone(&store), tokens, planned, cancel).await?;
        let filter = store::HistoryFilter {
            job: Some(job.name.clone()),
            limit: Some(1),
            ..store::HistoryFilter::default()
        };
        if outcome == daemon::Outcome::NotOurs {
            eprintln!(
                "nothing hunted: another run of `{}` is running, or its window is already covered",
                job.name
            );
        }
        let runs = store.history(&filter).await?;
        let mut out = Vec::new();
        write_history(&mut out, &runs, HistoryFormat::Table)?;
        std::io::stdout().lock().write_all(&out)?;
        store.close().await;
        Ok(match outcome {
            daemon::Outcome::Succeeded => ExitCode::SUCCESS,
            _ => ExitCode::from(EXIT_RUNTIME),
        })
    })
}
