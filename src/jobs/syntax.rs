//! The KQL syntax of the jobs' queries and the query library's, checked when jobs load: each
//! problem a `kql-syntax` diagnostic at its line and column in the file the query is written
//! in (the job file, its `query_file`, or the library file of its `query_ref`), found through
//! the YAML scalar's indentation and folding and the `{start}`-style placeholders.
//!
//! For `huntd validate` (and `huntd jobs`), the tables and columns a valid query names are
//! checked against the Defender schema too (`jobs::names`); the daemon does not refuse a job for
//! them, since Microsoft adds tables and columns that a huntd release may not know yet. A job's own query with a problem is an error (an enabled job would fail at
//! every run), a disabled job's or an unused library query's a warning (msticpy's library has
//! old queries).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::library::LibraryQuery;
use super::template::{QueryTemplate, template_offset};
use super::{Environment, Job, Library, names};
use crate::diagnostic::{Diagnostics, Location, Severity, did_you_mean};

/// The diagnostic code of a syntax error.
pub const SYNTAX: &str = "kql-syntax";
/// The diagnostic code of a `//` comment that YAML folding ran into the rest of the query.
pub const FOLDED_COMMENT: &str = "kql-folded-comment";

const FOLDED_HINT: &str = "the `//` comment now runs to the end of the query because the YAML \
     string is folded: write the query as a literal block (`query: |`) or remove the comment";

/// A query's template as written: the file, its text, and where the value starts there.
struct Written {
    file: PathBuf,
    raw: String,
    start: usize,
}

/// Checks every job's query and every library query no job refers to; with `schema`, also the
/// tables and columns they name.
pub fn check(jobs: &[Job], library: &Library, schema: bool, diags: &mut Diagnostics) {
    let mut referenced = BTreeSet::new();
    for job in jobs {
        let severity = if job.enabled {
            Severity::Error
        } else {
            Severity::Warning
        };
        let origin = match job.definition.get("query_ref").and_then(|v| v.as_str()) {
            Some(name) => {
                referenced.insert(name.to_string());
                library.get(name).map(Origin::Library)
            }
            None => Some(Origin::Job(job)),
        };
        let label = format!("job `{}`", job.name);
        let query = Query {
            template: &job.query,
            label: &label,
            environment: Some(job.environment),
            schema,
        };
        check_one(&query, origin, severity, diags);
    }
    for query in library.iter() {
        if referenced.contains(&query.name) {
            continue;
        }
        let template = QueryTemplate::new(
            query.query.clone(),
            query.sample_parameters(sample_window().0),
        );
        let label = format!("library query `{}`", query.name);
        let checked = Query {
            template: &template,
            label: &label,
            environment: None,
            schema,
        };
        check_one(
            &checked,
            Some(Origin::Library(query)),
            Severity::Warning,
            diags,
        );
    }
}

/// A window to render with: the values only fill `datetime(...)` literals.
fn sample_window() -> (DateTime<Utc>, DateTime<Utc>) {
    let end = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH);
    (end - TimeDelta::hours(1), end)
}

/// A query to check: its template, how messages name it, and the API it runs on (`None` for a
/// library query).
struct Query<'q> {
    template: &'q QueryTemplate,
    label: &'q str,
    environment: Option<Environment>,
    schema: bool,
}

/// Where a query to check is written; its file is read only when there is something to report
/// or a `//` comment to look at, since reading and scanning a file of thousands of jobs once per
/// job made checking them quadratic.
enum Origin<'a> {
    /// A job's own query (or its `query_file`).
    Job(&'a Job),
    /// A library query.
    Library(&'a LibraryQuery),
}

impl Origin<'_> {
    fn read(&self) -> Option<Written> {
        match self {
            Self::Job(job) => job_origin(job),
            Self::Library(query) => library_origin(query),
        }
    }
}

fn check_one(
    query: &Query<'_>,
    origin: Option<Origin<'_>>,
    severity: Severity,
    diags: &mut Diagnostics,
) {
    let Query {
        template, label, ..
    } = *query;
    let (start, end) = sample_window();
    // A template that does not render already has its own diagnostic from loading.
    let Ok((kql, pieces)) = template.render_mapped(start, end) else {
        return;
    };
    let text = template.text();
    let syntax = kql::check_syntax(&kql);
    let problems = if syntax.is_valid() && query.schema {
        names::problems(&kql, &syntax, query.environment)
    } else {
        Vec::new()
    };
    if syntax.is_valid() && problems.is_empty() && !text.contains("//") {
        return;
    }
    let Some(origin) = origin.and_then(|o| o.read()) else {
        return;
    };
    let folded = folded_comment(text, &origin);
    for error in &syntax.errors {
        let at = origin.location(text, template_offset(&pieces, error.span.start));
        let found = kql.get(error.span.clone()).unwrap_or("");
        let diag = add(diags, severity, &origin.file, at);
        diag.code(SYNTAX);
        diag.message = format!("{label}: KQL syntax error: {}", error.message);
        let substituted = pieces
            .iter()
            .rev()
            .find(|p| p.rendered <= error.span.start)
            .is_some_and(|p| !p.copied);
        if folded.is_some() {
            diag.hint(FOLDED_HINT);
        } else if substituted {
            diag.hint("the problem is in the value this placeholder renders to (for a library query, its default or a sample of its type)");
        } else if let Some(word) = did_you_mean(found, kql::keywords()).filter(|w| *w != found) {
            diag.hint(format!("did you mean `{word}`?"));
        } else if error.span.start >= kql.trim_end().len() {
            diag.hint("the query ends in the middle of an operator or expression");
        }
    }
    {
        for problem in problems {
            let at = origin.location(text, template_offset(&pieces, problem.offset));
            let diag = add(diags, severity, &origin.file, at);
            diag.code(problem.code);
            diag.message = format!("{label}: {}", problem.message);
            diag.hint = problem.hint;
        }
    }
    if let (Some(offset), true) = (folded, syntax.errors.is_empty()) {
        let diag = add(diags, severity, &origin.file, origin.location(text, offset));
        diag.code(FOLDED_COMMENT);
        diag.message = format!("{label}: this `//` comment swallows the rest of the query");
        diag.hint(FOLDED_HINT);
    }
}

fn add<'d>(
    diags: &'d mut Diagnostics,
    severity: Severity,
    file: &Path,
    at: Location,
) -> &'d mut crate::diagnostic::Diagnostic {
    match severity {
        Severity::Error => diags.error(file, at, String::new()),
        Severity::Warning => diags.warning(file, at, String::new()),
    }
}

/// Where the job's own query is: its `query:` value in the job file, or its `query_file`.
fn job_origin(job: &Job) -> Option<Written> {
    if let Some(path) = job.definition.get("query_file").and_then(|v| v.as_str()) {
        let file = job.source.parent().unwrap_or(Path::new(".")).join(path);
        let raw = std::fs::read_to_string(&file).ok()?;
        return Some(Written {
            file,
            raw,
            start: 0,
        });
    }
    let raw = std::fs::read_to_string(&job.source).ok()?;
    let key = job.line_of(&["query"]);
    let start = value_start(&raw, key, "query")?;
    Some(Written {
        file: job.source.clone(),
        raw,
        start,
    })
}

/// Where a library query's `query:` value is in its file, from the entry's location on.
fn library_origin(query: &LibraryQuery) -> Option<Written> {
    let raw = std::fs::read_to_string(&query.source).ok()?;
    let entry = line_start(&raw, query.location.line);
    let key_line = raw[entry..]
        .lines()
        .position(|line| line.trim_start().starts_with("query:"))?;
    let line = query.location.line + u32::try_from(key_line).ok()?;
    let start = value_start(&raw, Location::new(line, 1), "query")?;
    Some(Written {
        file: query.source.clone(),
        raw,
        start,
    })
}

/// The byte offset where line `line` (1-based) starts.
fn line_start(raw: &str, line: u32) -> usize {
    raw.split_inclusive('\n')
        .take(line.saturating_sub(1) as usize)
        .map(str::len)
        .sum()
}

/// Where the value of `key:` on line `at.line` starts: the next line for a block scalar
/// (`|`, `>`), after the opening quote for a quoted one, else the first character after `:`.
fn value_start(raw: &str, at: Location, key: &str) -> Option<usize> {
    let line_at = line_start(raw, at.line);
    let line = raw[line_at..].lines().next()?;
    let after_key = line.find(&format!("{key}:"))? + key.len() + 1;
    let rest = &line[after_key..];
    let trimmed = rest.trim_start();
    let value_at = line_at + after_key + (rest.len() - trimmed.len());
    match trimmed.chars().next() {
        Some('|' | '>') => Some(line_at + line.len() + 1),
        Some('"' | '\'') => Some(value_at + 1),
        _ => Some(value_at),
    }
}

impl Written {
    /// The file location of byte `offset` of `value`, the scalar's text as YAML gave it.
    fn location(&self, value: &str, offset: usize) -> Location {
        let at = align(&self.raw, self.start, value, offset);
        let before = &self.raw.as_bytes()[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_begin = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        // Columns count characters: skip UTF-8 continuation bytes.
        let column = before[line_begin..]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count()
            + 1;
        Location::new(
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(column).unwrap_or(u32::MAX),
        )
    }
}

/// The offset in `raw` of byte `target` of `value`, a YAML scalar written in `raw` from
/// `start`: the two are walked together, a folded line break (a space in the value) matching a
/// newline, and what YAML dropped (indentation, quotes, escapes) skipped in `raw`.
fn align(raw: &str, start: usize, value: &str, target: usize) -> usize {
    let (rb, vb) = (raw.as_bytes(), value.as_bytes());
    let (mut r, mut v) = (start.min(rb.len()), 0);
    while v < target.min(vb.len()) && r < rb.len() {
        if vb[v] == rb[r] || (vb[v] == b' ' && rb[r] == b'\n') {
            v += 1;
        }
        r += 1;
    }
    // Land on the character itself rather than on indentation before it.
    if let Some(&want) = vb.get(target) {
        while r < rb.len() && rb[r] != want && rb[r].is_ascii_whitespace() {
            r += 1;
        }
    }
    r.min(rb.len())
}

/// The offset of a `//` comment in `value` that YAML folding joined with text from the lines
/// after it, so it swallows what the author meant as more query.
fn folded_comment(value: &str, origin: &Written) -> Option<usize> {
    let bytes = value.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i + 1 < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(_) if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'/' && bytes[i + 1] == b'/' => {
                let end = value[i..].find('\n').map_or(value.len(), |n| i + n);
                let last = value[..end].trim_end().len().saturating_sub(1);
                if origin.location(value, i).line != origin.location(value, last).line {
                    return Some(i);
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}
