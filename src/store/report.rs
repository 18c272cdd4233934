//! Output of `huntd history`, `huntd findings` and `huntd prune`: the CLI parses options, these
//! functions query the store and write tables, JSON, JSON lines or CSV.

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{
    FindingRecord, HistoryFilter, PruneOptions, PruneReport, Result, RunRecord, RunStatus, Store,
};

/// Table cells longer than this are cut, so one long error does not stretch every row.
const MAX_CELL_CHARS: usize = 80;

/// `huntd history --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// A JSON array of runs with every `hunt_runs` column.
    Json,
}

/// `huntd findings --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FindingsFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON object per line; `data` exactly as stored.
    Jsonl,
    /// RFC 4180 CSV with a header row, one column per result column.
    Csv,
}

/// Parsed `huntd history [JOB] [--status S] [--since 24h] [--limit N] [--format F]`.
#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    /// Only this job.
    pub job: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only runs started within this long before now.
    pub since: Option<Duration>,
    /// At most this many runs.
    pub limit: Option<u32>,
    /// Output format.
    pub format: HistoryFormat,
}

/// Parsed `huntd findings JOB [--new-since 24h] [--format F]`.
#[derive(Debug, Clone)]
pub struct FindingsOptions {
    /// The job.
    pub job: String,
    /// Only findings first seen within this long before now.
    pub new_since: Option<Duration>,
    /// Output format.
    pub format: FindingsFormat,
}

fn ago(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    super::cutoff(now, super::whole_seconds(span))
}

/// `huntd history`: queries the runs and writes them in the chosen format.
pub async fn history<W: Write + Send>(
    store: &dyn Store,
    options: &HistoryOptions,
    now: DateTime<Utc>,
    out: &mut W,
) -> Result<()> {
    let filter = HistoryFilter {
        job: options.job.clone(),
        status: options.status,
        since: options.since.map(|s| ago(now, s)),
        limit: options.limit,
    };
    let runs = store.history(&filter).await?;
    write_history(out, &runs, options.format)
}

/// `huntd findings`: queries a job's findings and writes them in the chosen format.
pub async fn findings<W: Write + Send>(
    store: &dyn Store,
    options: &FindingsOptions,
    now: DateTime<Utc>,
    out: &mut W,
) -> Result<()> {
    let found = store
        .findings(&options.job, options.new_since.map(|s| ago(now, s)))
        .await?;
    write_findings(out, &found, options.format)
}

/// `huntd prune`: deletes what each job's retention no longer keeps and prints the counts.
pub async fn prune<W: Write + Send>(
    store: &dyn Store,
    options: &PruneOptions,
    out: &mut W,
) -> Result<PruneReport> {
    let report = store.prune(options).await?;
    writeln!(
        out,
        "pruned {} results, {} runs, {} findings, {} gaps in {} batches",
        report.results, report.runs, report.findings, report.gaps, report.batches
    )?;
    Ok(report)
}

fn time(t: DateTime<Utc>) -> String {
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

/// Writes runs as a table or a JSON array.
pub fn write_history<W: Write>(
    out: &mut W,
    runs: &[RunRecord],
    format: HistoryFormat,
) -> Result<()> {
    match format {
        HistoryFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, runs)?;
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
                        format!("{} .. {}", time(run.window_start), time(run.window_end)),
                        run.status.to_string(),
                        opt(run.row_count),
                        opt(run.new_row_count),
                        opt(run.duration_ms.map(human_ms)),
                        error,
                    ]
                })
                .collect();
            write_table(
                out,
                &[
                    "RUN", "JOB", "WINDOW", "STATUS", "ROWS", "NEW", "DURATION", "ERROR",
                ],
                &rows,
            )?;
        }
    }
    Ok(())
}

/// One finding as a JSON line; `data` is copied through untouched.
#[derive(Serialize)]
struct FindingLine<'a> {
    job: &'a str,
    row_hash: &'a str,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    first_run_id: i64,
    last_run_id: i64,
    times_seen: i64,
    data: &'a RawValue,
}

/// Writes findings as a table, JSON lines or CSV.
pub fn write_findings<W: Write>(
    out: &mut W,
    findings: &[FindingRecord],
    format: FindingsFormat,
) -> Result<()> {
    if format == FindingsFormat::Jsonl {
        for finding in findings {
            let line = FindingLine {
                job: &finding.job,
                row_hash: &finding.row_hash,
                first_seen_at: finding.first_seen_at,
                last_seen_at: finding.last_seen_at,
                first_run_id: finding.first_run_id,
                last_run_id: finding.last_run_id,
                times_seen: finding.times_seen,
                data: serde_json::from_str(&finding.data)?,
            };
            serde_json::to_writer(&mut *out, &line)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    let mut keys: Vec<String> = Vec::new();
    let mut parsed = Vec::with_capacity(findings.len());
    for finding in findings {
        let members = super::rowhash::parse_object(&finding.data)?.unwrap_or_default();
        for (key, _) in &members {
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_string());
            }
        }
        parsed.push(members);
    }
    let mut header: Vec<String> = ["first_seen_at", "last_seen_at", "times_seen"]
        .iter()
        .map(ToString::to_string)
        .collect();
    if format == FindingsFormat::Csv {
        header.extend(
            ["first_run_id", "last_run_id", "row_hash"]
                .iter()
                .map(ToString::to_string),
        );
    }
    header.extend(keys.iter().cloned());
    let mut rows = Vec::with_capacity(findings.len());
    for (finding, members) in findings.iter().zip(&parsed) {
        let mut row = vec![
            time(finding.first_seen_at),
            time(finding.last_seen_at),
            finding.times_seen.to_string(),
        ];
        if format == FindingsFormat::Csv {
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
    if format == FindingsFormat::Csv {
        write_csv_row(out, header.iter().map(String::as_str))?;
        for row in &rows {
            write_csv_row(out, row.iter().map(String::as_str))?;
        }
    } else {
        let header: Vec<String> = header.iter().map(|h| h.to_uppercase()).collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        write_table(out, &header, &rows)?;
    }
    Ok(())
}

/// A JSON value as a cell: strings unquoted, `null` empty, anything else as JSON text.
fn cell_text(value: &RawValue) -> Result<String> {
    let text = value.get().trim();
    Ok(if text.starts_with('"') {
        serde_json::from_str(text)?
    } else if text == "null" {
        String::new()
    } else {
        text.to_string()
    })
}

fn write_csv_row<'a, W: Write>(out: &mut W, cells: impl Iterator<Item = &'a str>) -> Result<()> {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        if cell.contains([',', '"', '\n', '\r']) || cell.starts_with(' ') || cell.ends_with(' ') {
            write!(out, "\"{}\"", cell.replace('"', "\"\""))?;
        } else {
            out.write_all(cell.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")?;
    Ok(())
}

/// Cuts a cell to [`MAX_CELL_CHARS`] on one line.
fn table_cell(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > MAX_CELL_CHARS {
        let mut cut: String = one_line.chars().take(MAX_CELL_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        one_line
    }
}

/// Writes left-aligned columns separated by two spaces; the last column is not padded.
fn write_table<W: Write>(out: &mut W, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| table_cell(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| -> Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            if i + 1 < widths.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
        Ok(())
    };
    line(&mut header.iter().copied())?;
    for row in &rows {
        line(&mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid")
            .with_timezone(&Utc)
    }

    fn finding(data: &str) -> FindingRecord {
        FindingRecord {
            job: "j".into(),
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
            "first_seen_at,last_seen_at,times_seen,first_run_id,last_run_id,row_hash,DeviceName,Cmd,Count,X\r\n\
             2024-05-01T08:00:00Z,2024-05-02T08:00:00Z,2,1,2,abc,\"pc,1\",\"say \"\"hi\"\"\nbye\",18446744073709551616,\r\n"
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
