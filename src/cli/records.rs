//! `huntd history`, `findings`, `prune` and `migrate`: the commands that only need the database.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::ValueEnum;
use serde::Serialize;
use serde_json::value::RawValue;

use super::output;
use super::shared::{EXIT_INVALID, EXIT_RUNTIME, config_only, open_store, runtime};
use crate::load::{Loaded, Scope};
use crate::store::{self, FindingRecord, RunRecord, report};

/// Table cells longer than this are cut, so one long error does not stretch every row.
const MAX_CELL_CHARS: usize = 80;

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

/// `huntd migrate`: opening the store applies any pending migration, under the backend's lock.
pub fn migrate(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    with_store(config, async |store, out| {
        writeln!(out, "schema up to date ({:?})", store.backend())?;
        Ok(())
    })
}

/// `huntd history`: recent runs as a table or JSON.
pub fn history(
    config: Option<&Path>,
    options: report::HistoryOptions,
    format: HistoryFormat,
) -> anyhow::Result<ExitCode> {
    with_store(config, async move |store, out| {
        let runs = report::history(&*store, &options, Utc::now()).await?;
        write_history(out, &runs, format)
    })
}

/// `huntd findings`: a job's findings as a table, JSON lines or CSV.
pub fn findings(
    config: Option<&Path>,
    options: report::FindingsOptions,
    format: FindingsFormat,
) -> anyhow::Result<ExitCode> {
    with_store(config, async move |store, out| {
        let found = report::findings(&*store, &options, Utc::now()).await?;
        write_findings(out, &found, format)
    })
}

/// `huntd prune`: deletes what each job's retention no longer keeps and prints the counts.
pub fn prune(config: Option<&Path>, batch_size: u32) -> anyhow::Result<ExitCode> {
    with_store(config, async move |store, out| {
        let options = store::PruneOptions {
            now: Utc::now(),
            batch_size,
        };
        let report = store.prune(&options).await?;
        let deliveries = store.prune_deliveries(options.now).await?;
        writeln!(
            out,
            "pruned {} results, {} runs, {} findings, {} gaps in {} batches, {deliveries} deliveries",
            report.results, report.runs, report.findings, report.gaps, report.batches
        )?;
        Ok(())
    })
}

/// Opens (and migrates) the configured database, runs `work` with it and stdout, and closes it.
pub(super) fn with_store<F>(config: Option<&Path>, work: F) -> anyhow::Result<ExitCode>
where
    F: AsyncFnOnce(Arc<dyn store::Store>, &mut Vec<u8>) -> anyhow::Result<()>,
{
    let Some(config) = config_only(Loaded::locate(config, Scope::Config)) else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    runtime()?.block_on(async {
        let Some(store) = open_store(&config).await else {
            return Ok(ExitCode::from(EXIT_RUNTIME));
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

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `1.234s`, `2m5s`, `350ms`.
fn human_ms(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    } else {
        let secs = u64::try_from(ms / 1000).unwrap_or(0);
        crate::duration::format(Duration::from_secs(secs))
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The cells of a table, each cut to [`MAX_CELL_CHARS`].
fn cut_rows(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|row| {
            row.iter()
                .map(|cell| output::cut(cell, MAX_CELL_CHARS))
                .collect()
        })
        .collect()
}

/// Writes runs as a table or a JSON array.
pub fn write_history(
    out: &mut impl Write,
    runs: &[RunRecord],
    format: HistoryFormat,
) -> anyhow::Result<()> {
    match format {
        HistoryFormat::Json => {
            // As a store error, a bad stored value reads "invalid JSON: ..." like any other.
            serde_json::to_writer_pretty(&mut *out, runs).map_err(store::Error::from)?;
            writeln!(out)?;
        }
        HistoryFormat::Table => {
            let rows: Vec<Vec<String>> = runs
                .iter()
                .map(|run| {
                    let error = match (&run.error_class, &run.error_message) {
                        (Some(class), Some(message)) => format!("{class}: {message}"),
                        (Some(class), None) => class.clone(),
                        (None, Some(message)) => message.clone(),
                        (None, None) => String::new(),
                    };
                    vec![
                        run.id.to_string(),
                        run.job.clone(),
                        run.instance.clone(),
                        format!("{} .. {}", time(run.window_start), time(run.window_end)),
                        run.status.to_string(),
                        run.trigger.clone(),
                        opt(run.row_count),
                        opt(run.new_row_count),
                        opt(run.duration_ms.map(human_ms)),
                        error,
                    ]
                })
                .collect();
            let header = [
                "RUN", "JOB", "INSTANCE", "WINDOW", "STATUS", "TRIGGER", "ROWS", "NEW", "DURATION",
                "ERROR",
            ];
            output::write_table(out, &header, &cut_rows(rows), false)?;
        }
    }
    Ok(())
}

/// One finding as a JSON line; `data` is copied through untouched.
#[derive(Serialize)]
struct FindingLine<'a> {
    job: &'a str,
    instance: &'a str,
    row_hash: &'a str,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    first_run_id: i64,
    last_run_id: i64,
    times_seen: i64,
    data: &'a RawValue,
}

/// Writes findings as JSON lines, each `data` exactly as stored.
fn write_findings_jsonl(out: &mut impl Write, findings: &[FindingRecord]) -> anyhow::Result<()> {
    for finding in findings {
        let line = FindingLine {
            job: &finding.job,
            instance: &finding.instance,
            row_hash: &finding.row_hash,
            first_seen_at: finding.first_seen_at,
            last_seen_at: finding.last_seen_at,
            first_run_id: finding.first_run_id,
            last_run_id: finding.last_run_id,
            times_seen: finding.times_seen,
            data: serde_json::from_str(&finding.data).map_err(store::Error::from)?,
        };
        serde_json::to_writer(&mut *out, &line).map_err(store::Error::from)?;
        writeln!(out)?;
    }
    Ok(())
}

/// Writes findings as a table, JSON lines or CSV.
pub fn write_findings(
    out: &mut impl Write,
    findings: &[FindingRecord],
    format: FindingsFormat,
) -> anyhow::Result<()> {
    if format == FindingsFormat::Jsonl {
        return write_findings_jsonl(out, findings);
    }
    let csv = format == FindingsFormat::Csv;
    let mut keys: Vec<String> = Vec::new();
    let mut parsed = Vec::with_capacity(findings.len());
    for finding in findings {
        let members = report::columns(&finding.data)?;
        for (key, _) in &members {
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_string());
            }
        }
        parsed.push(members);
    }
    let mut header: Vec<String> = ["instance", "first_seen_at", "last_seen_at", "times_seen"]
        .map(String::from)
        .into();
    if csv {
        header.extend(["first_run_id", "last_run_id", "row_hash"].map(String::from));
    }
    header.extend(keys.iter().cloned());
    let mut rows = Vec::with_capacity(findings.len());
    for (finding, members) in findings.iter().zip(&parsed) {
        let mut row = vec![
            finding.instance.clone(),
            time(finding.first_seen_at),
            time(finding.last_seen_at),
            finding.times_seen.to_string(),
        ];
        if csv {
            row.push(finding.first_run_id.to_string());
            row.push(finding.last_run_id.to_string());
            row.push(finding.row_hash.clone());
        }
        for key in &keys {
            let cell = match members.iter().find(|(k, _)| k == key) {
                Some((_, value)) => cell_text(value)?,
                None => String::new(),
            };
            row.push(cell);
        }
        rows.push(row);
    }
    if csv {
        for record in std::iter::once(&header).chain(&rows) {
            write!(
                out,
                "{}\r\n",
                output::csv_record(record.iter().map(String::as_str))
            )?;
        }
    } else {
        let header: Vec<String> = header.iter().map(|h| h.to_uppercase()).collect();
        output::write_table(out, &header, &cut_rows(rows), false)?;
    }
    Ok(())
}

/// A JSON value as a cell: strings unquoted, `null` empty, anything else as JSON text.
fn cell_text(value: &RawValue) -> store::Result<String> {
    let text = value.get().trim();
    Ok(if text.starts_with('"') {
        serde_json::from_str(text)?
    } else if text == "null" {
        String::new()
    } else {
        text.to_string()
    })
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunStatus;
    use crate::testing::utc as at;

    fn finding(data: &str) -> FindingRecord {
        FindingRecord {
            job: "j".into(),
            instance: "prod".into(),
            row_hash: "abc".into(),
            first_seen_at: at("2024-05-01T08:00:00Z"),
            last_seen_at: at("2024-05-02T08:00:00Z"),
            first_run_id: 1,
            last_run_id: 2,
            times_seen: 2,
            data: data.into(),
        }
    }

    fn run() -> RunRecord {
        RunRecord {
            id: 7,
            job: "encoded-powershell".into(),
            instance: "prod".into(),
            slot_at: at("2024-05-01T09:00:00Z"),
            window_start: at("2024-05-01T08:00:00Z"),
            window_end: at("2024-05-01T09:00:00Z"),
            status: RunStatus::Failed,
            attempt: 1,
            node: "n1".into(),
            started_at: at("2024-05-01T09:00:01Z"),
            finished_at: Some(at("2024-05-01T09:00:03Z")),
            duration_ms: Some(1500),
            row_count: None,
            new_row_count: None,
            truncated: None,
            api: Some("graph".into()),
            http_status: Some(400),
            client_request_id: None,
            error_class: Some("bad_query".into()),
            error_message: Some("A recognition error occurred.".into()),
            query_sha256: "q".into(),
            api_calls: Some(1),
            throttle_wait_ms: Some(0),
            trigger: "schedule".into(),
        }
    }

    #[test]
    fn history_table_aligns_columns_and_shows_the_error() {
        let mut out = Vec::new();
        write_history(&mut out, &[run()], HistoryFormat::Table).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0].find("STATUS"),
            lines[1].find("failed"),
            "columns align:\n{text}"
        );
        assert!(lines[1].ends_with("bad_query: A recognition error occurred."));
        assert!(lines[1].contains("1.500s"));
    }

    #[test]
    fn history_json_has_every_column() {
        let mut out = Vec::new();
        write_history(&mut out, &[run()], HistoryFormat::Json).expect("write");
        let value: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(value[0]["status"], "failed");
        assert_eq!(value[0]["http_status"], 400);
        assert_eq!(value[0]["window_start"], "2024-05-01T08:00:00Z");
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let mut out = Vec::new();
        let rows = [finding(
            r#"{"DeviceName":"pc,1","Cmd":"say \"hi\"\nbye","Count":18446744073709551616,"X":null}"#,
        )];
        write_findings(&mut out, &rows, FindingsFormat::Csv).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "instance,first_seen_at,last_seen_at,times_seen,first_run_id,last_run_id,row_hash,DeviceName,Cmd,Count,X\r\n\
             prod,2024-05-01T08:00:00Z,2024-05-02T08:00:00Z,2,1,2,abc,\"pc,1\",\"say \"\"hi\"\"\nbye\",18446744073709551616,\r\n"
        );
    }

    #[test]
    fn jsonl_copies_data_exactly() {
        let mut out = Vec::new();
        let rows = [finding(
            r#"{"Big":123456789012345678901234567890,"T":"2024-05-01T08:00:00.1234567Z"}"#,
        )];
        write_findings(&mut out, &rows, FindingsFormat::Jsonl).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains(
            r#""data":{"Big":123456789012345678901234567890,"T":"2024-05-01T08:00:00.1234567Z"}"#
        ));
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn findings_table_unions_keys_and_cuts_long_cells() {
        let mut out = Vec::new();
        let long = "x".repeat(200);
        let rows = [
            finding(r#"{"A":"1"}"#),
            finding(&format!(r#"{{"B":"{long}"}}"#)),
        ];
        write_findings(&mut out, &rows, FindingsFormat::Table).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.lines().next().expect("header").ends_with("A  B"));
        assert!(text.contains('…'));
        assert!(!text.contains(&long));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_ms(350), "350ms");
        assert_eq!(human_ms(1500), "1.500s");
        assert_eq!(human_ms(125_000), "2m5s");
    }
}
