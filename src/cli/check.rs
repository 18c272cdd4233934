//! `huntd validate` and `huntd jobs`: what the input holds and whether it is valid.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use clap::ValueEnum;

use super::output::{self, counted};
use super::shared::{EXIT_INVALID, print_diagnostics};
use crate::hunt::{self, costs::TenantDemand};
use crate::jobs::{self, JobSummary};
use crate::load::{Loaded, Scope};

/// Output format of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for people.
    Table,
    /// JSON for machines.
    Json,
}

/// Output format of `huntd validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// `file:line:column: severity: message` lines and a summary line, for people.
    Text,
    /// One JSON object per line for each problem, then a summary object, for machines.
    Json,
}

/// `huntd validate`: every problem with its line, then a one-line summary.
pub fn validate(config: Option<&Path>, format: ValidateFormat) -> anyhow::Result<ExitCode> {
    let loaded = Loaded::locate(config, Scope::Credentials);
    let mut out = std::io::stdout().lock();
    let instances = loaded.config.as_ref().map_or(0, |c| c.instances.len());
    if format == ValidateFormat::Json {
        return validate_json(&loaded, instances, &mut out);
    }
    print_diagnostics(&loaded.diagnostics, &mut out)?;
    let summary = format!(
        "{}, {}, {}: {}, {}",
        counted(instances, "instance", "instances"),
        counted(loaded.library.len(), "library query", "library queries"),
        counted(loaded.jobs.len(), "job", "jobs"),
        counted(loaded.diagnostics.error_count(), "error", "errors"),
        counted(loaded.diagnostics.warning_count(), "warning", "warnings"),
    );
    if loaded.diagnostics.has_errors() {
        writeln!(out, "invalid: {summary}")?;
        Ok(ExitCode::from(EXIT_INVALID))
    } else {
        writeln!(out, "ok: {summary}")?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `huntd validate --format json`: each problem as a JSON line (`file`, `line`, `column`,
/// `severity`, `code`, `message`, `hint`), then a summary object.
fn validate_json(
    loaded: &Loaded,
    instances: usize,
    out: &mut impl std::io::Write,
) -> anyhow::Result<ExitCode> {
    let diags = &loaded.diagnostics;
    for d in diags.sorted() {
        let line = serde_json::json!({
            "file": d.file.display().to_string(),
            "line": d.location.line,
            "column": d.location.column,
            "severity": d.severity,
            "code": d.code,
            "message": d.message,
            "hint": d.hint,
        });
        writeln!(out, "{line}")?;
    }
    let summary = serde_json::json!({
        "summary": {
            "valid": !diags.has_errors(),
            "instances": instances,
            "library_queries": loaded.library.len(),
            "jobs": loaded.jobs.len(),
            "errors": diags.error_count(),
            "warnings": diags.warning_count(),
        }
    });
    writeln!(out, "{summary}")?;
    Ok(if diags.has_errors() {
        ExitCode::from(EXIT_INVALID)
    } else {
        ExitCode::SUCCESS
    })
}

/// `huntd jobs`: each job with its next fire times, or with `costs` each tenant's demand, as
/// a table or JSON.
pub fn list_jobs(
    config: Option<&Path>,
    format: ListFormat,
    costs: bool,
    instance: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut loaded = Loaded::locate(config, Scope::Credentials);
    print_diagnostics(&loaded.diagnostics, &mut std::io::stderr().lock())?;
    if loaded.diagnostics.has_errors() {
        eprintln!("invalid input: run `huntd validate` for details");
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    if let Some(only) = instance {
        // A job hunting several instances is listed, and costed, on that one alone.
        loaded
            .jobs
            .retain(|job| job.instances.iter().any(|i| i == only));
        for job in &mut loaded.jobs {
            job.instances = vec![only.to_string()];
        }
    }
    let mut out = std::io::stdout().lock();
    if costs {
        let instances = loaded.config.map(|c| c.instances).unwrap_or_default();
        let demands = hunt::costs::demand(&loaded.jobs, &instances);
        match format {
            ListFormat::Table => write!(out, "{}", costs_table(&demands))?,
            ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&demands)?)?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = jobs::listing(&loaded.jobs, Utc::now());
    match format {
        ListFormat::Table => write!(out, "{}", jobs_table(&rows))?,
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `rows` as an aligned plain-text table with a header line.
pub fn jobs_table(rows: &[JobSummary]) -> String {
    let header = [
        "NAME",
        "INSTANCE",
        "ENVIRONMENT",
        "SCHEDULE",
        "TIMEZONE",
        "NEXT (UTC)",
        "ENABLED",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let next = if r.next.is_empty() {
                "-".to_string()
            } else {
                r.next
                    .iter()
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                r.name.clone(),
                r.instances.join(","),
                r.environment.clone(),
                r.schedule.clone(),
                r.timezone.clone(),
                next,
                if r.enabled { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    output::table_text(&header, &cells)
}

/// Each tenant's demand as a line, then its jobs as a table, costliest first.
pub fn costs_table(demands: &[TenantDemand]) -> String {
    let mut text = String::new();
    for tenant in demands {
        let hour = tenant.hour_quota.map_or(String::new(), |quota| {
            format!(", {:.0} MDE calls/hour of {quota}", tenant.mde_per_hour)
        });
        let _ = writeln!(
            text,
            "tenant {} ({}): {:.1} calls/min of {}{hour}: {:.0}% of its quota",
            tenant.tenant_id,
            tenant.instances.join(", "),
            tenant.per_minute,
            tenant.minute_quota,
            tenant.share() * 100.0,
        );
        let header = [
            "JOB",
            "INSTANCE",
            "API",
            "CALLS/RUN",
            "CALLS/MIN",
            "CALLS/HOUR",
        ];
        let cells: Vec<Vec<String>> = tenant
            .jobs
            .iter()
            .map(|cost| {
                vec![
                    cost.job.clone(),
                    cost.instance.clone(),
                    cost.api.to_string(),
                    cost.calls_per_run.to_string(),
                    format!("{:.2}", cost.per_minute),
                    format!("{:.1}", cost.per_hour),
                ]
            })
            .collect();
        text.push_str(&output::table_text(&header, &cells));
        text.push('\n');
    }
    text
}
