//! Problems found in user input, each pinned to a file, line and column.
//!
//! Loading config, instances, the query library and jobs never stops at the first mistake:
//! every problem is collected here so `huntd validate` can report them all at once.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a problem is: errors make the input invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Input that huntd cannot run with.
    Error,
    /// Input that runs but probably does not do what the user wants.
    Warning,
}

/// A position in a source file; line and column start at 1, 0 means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Location {
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
}

impl Location {
    /// A location for the start of a file, used when no better one is known.
    pub const START: Location = Location { line: 1, column: 1 };

    /// Builds a location from 1-based line and column numbers.
    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file the problem is in.
    pub file: PathBuf,
    /// Where in the file.
    pub location: Location,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when there is something useful to say.
    pub hint: Option<String>,
    /// A stable name for the kind of problem (`kql-syntax`, `yaml`, `unknown-key`), for CI and
    /// editors; `None` for problems without one yet.
    pub code: Option<&'static str>,
}

impl Diagnostic {
    /// Whether this problem makes the input invalid.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {severity}: {}",
            self.file.display(),
            self.location.line,
            self.location.column,
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Collects the problems found while loading input.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Records an error at `location` in `file` and returns it for adding a hint.
    pub fn error(
        &mut self,
        file: &Path,
        location: Location,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.add(Severity::Error, file, location, message.into())
    }

    /// Records a warning at `location` in `file` and returns it for adding a hint.
    pub fn warning(
        &mut self,
        file: &Path,
        location: Location,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.add(Severity::Warning, file, location, message.into())
    }

    fn add(
        &mut self,
        severity: Severity,
        file: &Path,
        location: Location,
        message: String,
    ) -> &mut Diagnostic {
        self.items.push(Diagnostic {
            severity,
            file: file.to_path_buf(),
            location,
            message,
            hint: None,
            code: None,
        });
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    /// Moves every problem of `other` into this collection.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The problems, in file and line order.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut items: Vec<&Diagnostic> = self.items.iter().collect();
        items.sort_by(|a, b| (&a.file, a.location).cmp(&(&b.file, b.location)));
        items
    }

    /// The problems in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }
}

impl Diagnostic {
    /// Sets the hint in place; used through the `&mut` returned by [`Diagnostics::error`].
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the code in place, like [`Diagnostic::hint`].
    pub fn code(&mut self, code: &'static str) -> &mut Self {
        self.code = Some(code);
        self
    }
}

/// The closest of `candidates` to `given`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let given_lower = given.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                c,
                strsim::jaro_winkler(&given_lower, &c.to_ascii_lowercase()),
            )
        })
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_file_line_column_first_and_hint_on_its_own_line() {
        let mut diags = Diagnostics::new();
        diags
            .error(
                Path::new("jobs/a.yaml"),
                Location::new(3, 5),
                "unknown key `shedule`",
            )
            .hint("did you mean `schedule`?");
        let text = diags.sorted()[0].to_string();
        assert_eq!(
            text,
            "jobs/a.yaml:3:5: error: unknown key `shedule`\n  hint: did you mean `schedule`?"
        );
    }

    #[test]
    fn did_you_mean_finds_typos_and_ignores_unrelated_words() {
        let keys = ["schedule", "timezone", "lookback"];
        assert_eq!(did_you_mean("shedule", keys), Some("schedule"));
        assert_eq!(did_you_mean("TimeZone", keys), Some("timezone"));
        assert_eq!(did_you_mean("xyz", keys), None);
    }

    #[test]
    fn counts_errors_and_warnings_separately() {
        let mut diags = Diagnostics::new();
        diags.warning(Path::new("a"), Location::START, "w");
        diags.error(Path::new("a"), Location::START, "e");
        assert!(diags.has_errors());
        assert_eq!((diags.error_count(), diags.warning_count()), (1, 1));
    }
}
