//! `huntd demo`: checks the flags, runs [`crate::demo`] and prints what it reports.

use std::io::Write;
use std::process::ExitCode;

use chrono::Utc;

use super::shared::{EXIT_USAGE, runtime};
use crate::demo::{Event, Options, Summary};

/// Runs the demo and removes its work directory afterwards.
pub fn demo(options: &Options) -> anyhow::Result<ExitCode> {
    for (flag, dir) in [("--jobs", &options.jobs), ("--queries", &options.queries)] {
        if let Some(dir) = dir.as_deref().filter(|dir| !dir.is_dir()) {
            eprintln!(
                "error: {flag} {}: no such directory (leave {flag} out to use the built-in examples)",
                dir.display()
            );
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    }
    if options.every.is_zero() {
        eprintln!("error: --every must be at least 1s");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let outcome = runtime()?.block_on(async {
        let mut out = std::io::stdout();
        let mut sink = |event: Event<'_>| {
            print_event(&mut out, options, &event)?;
            out.flush()
        };
        crate::demo::run(options, &mut sink).await
    });
    let _ = std::fs::remove_dir_all(&options.work_dir);
    outcome?;
    Ok(ExitCode::SUCCESS)
}

fn print_event(out: &mut impl Write, options: &Options, event: &Event<'_>) -> std::io::Result<()> {
    match event {
        Event::EmulatorStarted { base_url } => writeln!(
            out,
            "emulator: a Defender API at {base_url}, with sample data and new events every few seconds"
        ),
        Event::JobsReady { count } => writeln!(
            out,
            "jobs: {count} from {}, each every {}s against 2 instances (Graph: Contoso, MDE: Fabrikam)",
            options.jobs.as_deref().map_or_else(
                || "the built-in examples".to_string(),
                |dir| dir.display().to_string()
            ),
            options.every.as_secs()
        ),
        Event::SchedulerStarted => writeln!(
            out,
            "scheduler: running for {}s, results into {}",
            options.run_for.as_secs(),
            options.database.display()
        ),
        Event::RunFinished(run) => writeln!(
            out,
            "  {:<20} {:<9} {:<10} {:>5} rows {:>4} new  window {} .. {}",
            run.job,
            run.instance,
            run.status.as_str(),
            run.row_count.unwrap_or(0),
            run.new_row_count.unwrap_or(0),
            run.window_start.format("%m-%d %H:%M:%S"),
            run.window_end.format("%m-%d %H:%M:%S"),
        ),
        Event::Notified(notice) => writeln!(out, "    -> {}: {}", notice.sink, notice.summary),
        Event::Summary(summary) => print_summary(out, options, summary),
        Event::KeptRunning { base_url } => writeln!(
            out,
            "\nstill running (emulator at {base_url}); Ctrl-C stops both"
        ),
    }
}

/// Runs per job, two findings, and queries to paste into `sqlite3`.
fn print_summary(
    out: &mut impl Write,
    options: &Options,
    summary: &Summary,
) -> std::io::Result<()> {
    writeln!(out, "\nruns by job and instance:")?;
    writeln!(
        out,
        "  {:<20} {:<9} {:>4} {:>9} {:>6} {:>7} {:>9}",
        "JOB", "INSTANCE", "RUNS", "SUCCEEDED", "ROWS", "NEW", "AVG MS"
    )?;
    for job in &summary.jobs {
        writeln!(
            out,
            "  {:<20} {:<9} {:>4} {:>9} {:>6} {:>7} {:>9}",
            job.name, job.instance, job.runs, job.succeeded, job.rows, job.new_rows, job.avg_ms,
        )?;
    }
    writeln!(out, "\ntwo findings:")?;
    for finding in &summary.findings {
        writeln!(
            out,
            "  [{} on {}] seen {}x: {}",
            finding.job, finding.instance, finding.times_seen, finding.data
        )?;
    }
    let db = options.database.display();
    let view = &summary.view;
    writeln!(out, "\ntry these (sqlite3 is `apt-get install sqlite3`):")?;
    writeln!(
        out,
        "  sqlite3 -header -column {db} \"select * from {view} limit 5\""
    )?;
    writeln!(
        out,
        "  sqlite3 -header -column {db} \"select job, instance, count(*) as findings, \
         max(last_seen_at) as last_seen from hunt_findings group by job, instance\""
    )?;
    writeln!(
        out,
        "  sqlite3 -header -column {db} \"select job, status, count(*) as runs, sum(row_count) \
         as rows from hunt_runs group by job, status\""
    )?;
    writeln!(out, "\nfinished at {}", Utc::now().format("%H:%M:%S UTC"))
}
