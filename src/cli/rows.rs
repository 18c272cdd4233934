//! Printing a hunt's answer for `huntd once`: a summary, a table, and all rows as JSONL or CSV.

use std::fmt;
use std::io::{self, Write};

use clap::ValueEnum;
use serde_json::Value;
use serde_json::value::RawValue;

use super::output;
use crate::hunt::{Column, HuntOutcome, MAX_ROWS};

/// Widest cell of a table before it is cut with `…`.
const CELL_WIDTH: usize = 40;

/// How `huntd once --output` writes all rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RowFormat {
    /// One JSON object per line, values exactly as the API sent them.
    Jsonl,
    /// CSV with a header line.
    Csv,
    /// Aligned columns.
    Table,
}

/// Writes the run summary: rows, columns and types, API time, waits, request id.
pub fn write_summary(out: &mut impl Write, outcome: &HuntOutcome) -> io::Result<()> {
    let result = &outcome.result;
    write!(out, "rows: {}", result.rows.len())?;
    if result.truncated {
        write!(
            out,
            " (truncated: the API returns at most {MAX_ROWS} rows; narrow the query)"
        )?;
    }
    writeln!(out)?;
    let columns: Vec<String> = result
        .columns
        .iter()
        .map(|c| format!("{} ({})", c.name, c.type_name))
        .collect();
    writeln!(out, "columns: {}", columns.join(", "))?;
    writeln!(out, "api time: {}", Seconds(result.api_time))?;
    writeln!(
        out,
        "throttle waits: {} (quota {}, retries {})",
        Seconds(outcome.throttle_wait()),
        Seconds(outcome.quota_wait),
        Seconds(outcome.retry_wait)
    )?;
    writeln!(out, "attempts: {}", outcome.attempts)?;
    writeln!(out, "client-request-id: {}", result.client_request_id)
}

struct Seconds(std::time::Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} s", self.0.as_secs_f64())
    }
}

/// Writes every row in `format`.
pub fn write_rows(
    out: &mut impl Write,
    format: RowFormat,
    columns: &[Column],
    rows: &[Box<RawValue>],
) -> io::Result<()> {
    match format {
        RowFormat::Jsonl => write_jsonl(out, rows),
        RowFormat::Csv => write_csv(out, columns, rows),
        RowFormat::Table => write_table(out, columns, rows, None),
    }
}

/// One row per line, each byte as the API sent it.
pub fn write_jsonl(out: &mut impl Write, rows: &[Box<RawValue>]) -> io::Result<()> {
    for row in rows {
        out.write_all(row.get().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// RFC 4180 CSV: strings unquoted from JSON, other values as their JSON text, null empty.
pub fn write_csv(
    out: &mut impl Write,
    columns: &[Column],
    rows: &[Box<RawValue>],
) -> io::Result<()> {
    let names = column_names(columns, rows);
    writeln!(
        out,
        "{}",
        output::csv_record(names.iter().map(String::as_str))
    )?;
    for row in rows {
        let object = row_object(row)?;
        let cells: Vec<String> = names
            .iter()
            .map(|name| cell_text(object.get(name)))
            .collect();
        writeln!(
            out,
            "{}",
            output::csv_record(cells.iter().map(String::as_str))
        )?;
    }
    Ok(())
}

/// An aligned table of the first `limit` rows (all when `None`), long cells cut.
pub fn write_table(
    out: &mut impl Write,
    columns: &[Column],
    rows: &[Box<RawValue>],
    limit: Option<usize>,
) -> io::Result<()> {
    let names = column_names(columns, rows);
    let shown = &rows[..limit.unwrap_or(rows.len()).min(rows.len())];
    let header: Vec<String> = names.iter().map(|n| output::cut(n, CELL_WIDTH)).collect();
    let mut cells = Vec::with_capacity(shown.len());
    for row in shown {
        let object = row_object(row)?;
        cells.push(
            names
                .iter()
                .map(|n| output::cut(&cell_text(object.get(n)), CELL_WIDTH))
                .collect(),
        );
    }
    output::write_table(out, &header, &cells, true)?;
    if shown.len() < rows.len() {
        let more = output::counted(rows.len() - shown.len(), "more row", "more rows");
        writeln!(out, "... {more}")?;
    }
    Ok(())
}

/// The schema's names; when the API sent no schema, the first row's keys.
fn column_names(columns: &[Column], rows: &[Box<RawValue>]) -> Vec<String> {
    if !columns.is_empty() {
        return columns.iter().map(|c| c.name.clone()).collect();
    }
    rows.first()
        .and_then(|row| row_object(row).ok())
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

fn row_object(row: &RawValue) -> io::Result<serde_json::Map<String, Value>> {
    serde_json::from_str(row.get()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn cell_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn rows(json: &[&str]) -> Vec<Box<RawValue>> {
        json.iter()
            .map(|j| RawValue::from_string((*j).to_string()).expect("test rows are valid JSON"))
            .collect()
    }

    fn columns(names: &[&str]) -> Vec<Column> {
        names
            .iter()
            .map(|n| Column {
                name: (*n).to_string(),
                type_name: "String".into(),
            })
            .collect()
    }

    #[test]
    fn csv_quotes_what_needs_it_and_keeps_numbers_exact() {
        let mut out = Vec::new();
        let data = rows(&[r#"{"A":"x, \"y\"","B":12345678901234567890,"C":null,"D":{"k":[1]}}"#]);
        write_csv(&mut out, &columns(&["A", "B", "C", "D"]), &data)
            .expect("writing to a Vec cannot fail");
        assert_eq!(
            String::from_utf8(out).expect("output is UTF-8"),
            "A,B,C,D\n\"x, \"\"y\"\"\",12345678901234567890,,\"{\"\"k\"\":[1]}\"\n"
        );
    }

    #[test]
    fn jsonl_writes_rows_byte_for_byte() {
        let mut out = Vec::new();
        write_jsonl(
            &mut out,
            &rows(&[r#"{"T":"2024-01-01T00:00:00.1234567Z","N":1.50}"#]),
        )
        .expect("writing to a Vec cannot fail");
        assert_eq!(
            out,
            b"{\"T\":\"2024-01-01T00:00:00.1234567Z\",\"N\":1.50}\n"
        );
    }

    #[test]
    fn table_aligns_cuts_long_cells_and_counts_hidden_rows() {
        let mut out = Vec::new();
        let long = "z".repeat(60);
        let first = format!(r#"{{"Name":"{long}","N":1}}"#);
        let data = rows(&[first.as_str(), r#"{"Name":"b","N":22}"#]);
        write_table(&mut out, &[], &data, Some(1)).expect("writing to a Vec cannot fail");
        let text = String::from_utf8(out).expect("output is UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("{:<40}  N", "Name"));
        assert!(lines[2].starts_with(&format!("{}…", "z".repeat(39))));
        assert_eq!(lines[3], "... 1 more row");
    }

    #[test]
    fn summary_names_rows_columns_times_and_waits() {
        let outcome = HuntOutcome {
            result: crate::hunt::HuntResult {
                columns: columns(&["A"]),
                rows: crate::spool::Rows::from_vec(&rows(&[r#"{"A":"x"}"#])).expect("in memory"),
                truncated: true,
                stats: None,
                api_time: std::time::Duration::from_millis(1500),
                client_request_id: uuid::Uuid::nil(),
                http_status: 200,
                body_bytes: 9,
            },
            attempts: 2,
            quota_wait: std::time::Duration::from_secs(3),
            retry_wait: std::time::Duration::from_secs(4),
        };
        let mut out = Vec::new();
        write_summary(&mut out, &outcome).expect("writing to a Vec cannot fail");
        assert_eq!(
            String::from_utf8(out).expect("output is UTF-8"),
            "rows: 1 (truncated: the API returns at most 100000 rows; narrow the query)\n\
             columns: A (String)\n\
             api time: 1.500 s\n\
             throttle waits: 7.000 s (quota 3.000 s, retries 4.000 s)\n\
             attempts: 2\n\
             client-request-id: 00000000-0000-0000-0000-000000000000\n"
        );
    }

    #[test]
    fn output_format_parses_known_names_only() {
        assert_eq!(RowFormat::from_str("CSV", true), Ok(RowFormat::Csv));
        assert!(RowFormat::from_str("xml", true).is_err());
    }
}
