//! Why a query cannot run, with the line and column the service would report.

/// A query that cannot run: the message the service would give and where in the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (line {line}, column {column})")]
pub struct KqlError {
    /// The message, worded like the real service's (`Syntax error: ...`, `'x' operator is not supported`).
    pub message: String,
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
}

impl KqlError {
    pub(crate) fn new(message: String, src: &str, pos: usize) -> KqlError {
        let pos = pos.min(src.len());
        let before = src.get(..pos).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        KqlError {
            message,
            line,
            column,
        }
    }

    pub(crate) fn syntax(message: &str, src: &str, pos: usize) -> KqlError {
        KqlError::new(format!("Syntax error: {message}"), src, pos)
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, KqlError>;
