//! `huntd test`: runs the jobs' `tests:` offline and prints how each case went, with the rows
//! a failing case got; `--junit FILE` also writes JUnit XML for CI systems.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use super::output;
use super::shared::{EXIT_INVALID, print_diagnostics};
use crate::hunt_tests::{self, CaseResult, JsonRow, Outcome};
use crate::load::{Loaded, Scope};

/// Rows of a failing case's answer printed; the rest are counted.
const SHOWN_ROWS: usize = 10;
/// Widest cell printed in a failing case's rows.
const CELL_WIDTH: usize = 40;

/// `huntd test [JOB...]`: exit 0 when every case passes, 1 when one fails or the input is
/// invalid.
pub fn test(
    config: Option<&Path>,
    names: &[String],
    junit: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let loaded = Loaded::locate(config, Scope::Jobs);
    print_diagnostics(&loaded.diagnostics, &mut std::io::stderr().lock())?;
    let settings = [
        loaded.config.as_ref().map(|c| c.path.clone()),
        loaded.config.as_ref().and_then(|c| c.msticpyconfig.clone()),
    ];
    // The cases need the jobs and the query library, never an instance's secret, so a problem
    // in huntd.yaml or msticpyconfig.yaml (a secret not set on a CI runner) stops nothing.
    let blocking = loaded.diagnostics.iter().any(|d| {
        d.is_error()
            && !settings
                .iter()
                .flatten()
                .any(|file| std::path::absolute(&d.file).is_ok_and(|f| &f == file))
    });
    if blocking || loaded.config.is_none() {
        eprintln!("invalid input: run `huntd validate` for details");
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !loaded.jobs.iter().any(|j| &j.name == *n))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = loaded.jobs.iter().map(|j| j.name.as_str()).collect();
        eprintln!(
            "error: no job {}; jobs: {}",
            unknown
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            known.join(", ")
        );
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let jobs: Vec<_> = loaded
        .jobs
        .into_iter()
        .filter(|j| names.is_empty() || names.contains(&j.name))
        .collect();
    let results = hunt_tests::run_all(&jobs);
    let mut out = std::io::stdout().lock();
    for result in &results {
        write_result(&mut out, result)?;
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    let untested: Vec<&str> = jobs
        .iter()
        .filter(|j| j.tests.is_empty())
        .map(|j| j.name.as_str())
        .collect();
    write!(
        out,
        "{} cases: {} passed, {failed} failed",
        results.len(),
        results.len() - failed
    )?;
    if untested.is_empty() {
        writeln!(out)?;
    } else {
        writeln!(out, "; jobs without tests: {}", untested.join(", "))?;
    }
    if let Some(path) = junit {
        std::fs::write(path, junit_xml(&results))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    })
}

fn write_result(out: &mut impl std::io::Write, result: &CaseResult) -> std::io::Result<()> {
    let (file, at) = &result.at;
    let name = format!("{}: {}", result.job, result.case);
    match &result.outcome {
        Outcome::Passed { rows } => {
            let plural = if *rows == 1 { "" } else { "s" };
            writeln!(out, "PASS  {name} ({rows} row{plural})")
        }
        Outcome::Error(message) => {
            writeln!(
                out,
                "ERROR {name}\n      {}:{}: {message}",
                file.display(),
                at.line
            )
        }
        Outcome::Failed { problems, actual } => {
            writeln!(out, "FAIL  {name}\n      {}:{}", file.display(), at.line)?;
            for problem in problems {
                writeln!(out, "      {problem}")?;
            }
            write_rows(out, actual)
        }
    }
}

/// The rows a failing case got, as a table under it.
fn write_rows(out: &mut impl std::io::Write, rows: &[JsonRow]) -> std::io::Result<()> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    writeln!(out, "      got:")?;
    let header: Vec<String> = first.keys().cloned().collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .take(SHOWN_ROWS)
        .map(|row| {
            header
                .iter()
                .map(|column| match row.get(column) {
                    Some(serde_json::Value::String(text)) => output::cut(text, CELL_WIDTH),
                    Some(value) => output::cut(&value.to_string(), CELL_WIDTH),
                    None => String::new(),
                })
                .collect()
        })
        .collect();
    let mut table = Vec::new();
    output::write_table(&mut table, &header, &cells, true)?;
    for line in String::from_utf8_lossy(&table).lines() {
        writeln!(out, "        {line}")?;
    }
    if rows.len() > SHOWN_ROWS {
        writeln!(out, "        ... and {} more", rows.len() - SHOWN_ROWS)?;
    }
    Ok(())
}

/// The results as JUnit XML: a test suite per job, a test case per case, a `failure` with
/// what missed (or an `error`).
fn junit_xml(results: &[CaseResult]) -> String {
    let failed = results.iter().filter(|r| !r.passed()).count();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"huntd\" tests=\"{}\" failures=\"{failed}\">\n",
        results.len()
    );
    let mut jobs: Vec<&str> = results.iter().map(|r| r.job.as_str()).collect();
    jobs.dedup();
    for job in jobs {
        let mine: Vec<&CaseResult> = results.iter().filter(|r| r.job == job).collect();
        let failures = mine.iter().filter(|r| !r.passed()).count();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
            escape(job),
            mine.len()
        );
        for result in mine {
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.3}\"",
                escape(job),
                escape(&result.case),
                escape(&result.at.0.display().to_string()),
                result.at.1.line,
                result.elapsed.as_secs_f64()
            );
            match &result.outcome {
                Outcome::Passed { .. } => xml.push_str("/>\n"),
                Outcome::Failed { problems, .. } => {
                    let _ = write!(
                        xml,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                        escape(&problems[0]),
                        escape(&problems.join("\n"))
                    );
                }
                Outcome::Error(message) => {
                    let _ = write!(
                        xml,
                        ">\n      <error message=\"{}\"/>\n    </testcase>\n",
                        escape(message)
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Text for an XML attribute or element; characters XML 1.0 cannot carry become `?`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_escapes_markup_and_drops_what_xml_cannot_carry() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;?");
    }
}
