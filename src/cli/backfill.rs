//! `huntd backfill`: a past range of one job hunted into the database, with a progress bar on
//! a terminal and one line per step otherwise.

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use super::shared::{
    EXIT_RUNTIME, EXIT_USAGE, cancel_on_ctrl_c, load_with_job, runtime, tokens_for,
};
use crate::auth::TokenSource;
use crate::daemon::{self, backfill as plan};
use crate::hunt;
use crate::jobs::Job;
use crate::store;

/// What `huntd backfill` was asked to do.
#[derive(Debug)]
pub struct BackfillArgs<'a> {
    /// The job's name.
    pub job: &'a str,
    /// Only this instance of the job's; every one, in turn, when `None`.
    pub instance: Option<&'a str>,
    /// Range start.
    pub from: DateTime<Utc>,
    /// Range end; default now minus the job's `delay`.
    pub to: Option<DateTime<Utc>>,
    /// Only the gaps between the first and last covered windows.
    pub gaps_only: bool,
}

/// Runs `huntd backfill`.
pub fn backfill(config: Option<&Path>, args: &BackfillArgs<'_>) -> anyhow::Result<ExitCode> {
    let (mut config, job, instances) = match load_with_job(config, args.job, args.instance) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let job = &job;
    let now = Utc::now();
    let to = args
        .to
        .unwrap_or_else(|| now - chrono::Duration::from_std(job.delay).unwrap_or_default());
    let range = plan::Range {
        from: args.from,
        to,
        gaps_only: args.gaps_only,
    };
    let range = match range.check(now) {
        Ok(range) => range,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    runtime()?.block_on(async {
        let tokens: Arc<dyn TokenSource> = Arc::new(tokens_for(&mut config, None).await?);
        let store = store::open(&config.database).await?;
        let stop = cancel_on_ctrl_c();
        let mut summary = plan::Summary::default();
        for instance in &instances {
            eprintln!(
                "backfilling `{}` on {instance} for {} .. {}{}",
                job.name,
                range.from,
                range.to,
                if range.gaps_only {
                    " (coverage gaps only)"
                } else {
                    ""
                }
            );
            let mut progress = Progress::new(per_minute(&config, job, instance));
            let done = daemon::backfill(
                &config,
                (job, instance),
                Arc::clone(&store),
                Arc::clone(&tokens),
                range,
                stop.clone(),
                |event| progress.show(&event),
            )
            .await?;
            progress.finish();
            summary.succeeded += done.succeeded;
            summary.failed += done.failed;
            summary.interrupted |= done.interrupted;
            if summary.interrupted {
                break;
            }
        }
        store.close().await;
        eprintln!(
            "backfill {}: {} chunks hunted, {} failed{}",
            if summary.interrupted {
                "stopped"
            } else {
                "done"
            },
            summary.succeeded,
            summary.failed,
            if summary.interrupted {
                "; run it again to go on"
            } else if summary.failed > 0 {
                "; `huntd history` says why, and a new backfill tries them again"
            } else {
                ""
            }
        );
        Ok(if summary.failed > 0 || summary.interrupted {
            ExitCode::from(EXIT_RUNTIME)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Calls a minute the instance's tenant allows: what bounds a backfill's pace.
fn per_minute(config: &crate::config::Config, job: &Job, instance: &str) -> u32 {
    config
        .instances
        .get(instance)
        .and_then(|i| i.quota)
        .unwrap_or_else(|| hunt::default_quota(job.environment))
        .per_minute
}

/// A bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    per_minute: u32,
    done: u64,
}

impl Progress {
    fn new(per_minute: u32) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{bar:40} {pos}/{len} chunks, {elapsed} elapsed, ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self {
            bar,
            per_minute: per_minute.max(1),
            done: 0,
        }
    }

    fn show(&mut self, event: &plan::Event) {
        match event {
            plan::Event::Planned { chunks } => {
                let left = *chunks as u64;
                // Each chunk is at least one call: the quota alone sets this floor.
                let floor = left.div_ceil(u64::from(self.per_minute));
                let line = format!(
                    "{left} chunks to hunt; at least {floor} min at the tenant's {} calls a minute",
                    self.per_minute
                );
                match &self.bar {
                    Some(bar) => {
                        bar.set_length(self.done + left);
                        bar.set_message(format!("(quota floor {floor} min)"));
                    }
                    None => eprintln!("{line}"),
                }
            }
            plan::Event::Chunk { window, outcome } => {
                self.done += 1;
                let what = match outcome {
                    plan::ChunkOutcome::Succeeded => "hunted",
                    plan::ChunkOutcome::Failed => "failed",
                    plan::ChunkOutcome::NotOurs => "taken by another run",
                };
                match &self.bar {
                    Some(bar) => bar.set_position(self.done),
                    None => eprintln!("{} .. {}: {what}", window.0, window.1),
                }
            }
            plan::Event::Waiting { run_id } => {
                let line = format!("waiting for run {run_id} of the job to end");
                match &self.bar {
                    Some(bar) => bar.set_message(line),
                    None => eprintln!("{line}"),
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
