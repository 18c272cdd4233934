//! Why a query cannot run, with the line and column the service would report.

use std::fmt::Write as _;

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
    /// Why, when it is something `validate` reports: an unknown column or mismatched types.
    pub cause: Option<Box<Cause>>,
}

/// Why a query cannot run, for the causes a checker reports before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A column name its input does not have.
    Unresolved(Unresolved),
    /// Operands of types Kusto refuses to compare or combine, at this byte offset.
    Types(usize),
}

/// A column name a query uses where its input has no such column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// The name as written.
    pub name: String,
    /// Byte offset of the name in the query (of its operator, for `join`'s and
    /// `project-rename`'s names, which keep no offset of their own).
    pub offset: usize,
    /// The columns the input has there, for a "did you mean".
    pub columns: Vec<String>,
}

impl KqlError {
    /// An error at byte `pos` of `src`; invisible characters in `message` are spelled out.
    pub(crate) fn new(message: String, src: &str, pos: usize) -> KqlError {
        let message = if message.chars().any(is_invisible) {
            show_invisible(&message)
        } else {
            message
        };
        let pos = pos.min(src.len());
        let before = src.get(..pos).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        KqlError {
            message,
            line,
            column,
            cause: None,
        }
    }

    /// The byte offset in `src` of this error's line and column.
    pub(crate) fn offset(&self, src: &str) -> usize {
        let line_start = src
            .split_inclusive('\n')
            .take(self.line.saturating_sub(1))
            .map(str::len)
            .sum::<usize>();
        let rest = src.get(line_start..).unwrap_or("");
        line_start
            + rest
                .char_indices()
                .nth(self.column.saturating_sub(1))
                .map_or(rest.len(), |(i, _)| i)
    }

    pub(crate) fn syntax(message: &str, src: &str, pos: usize) -> KqlError {
        KqlError::new(format!("Syntax error: {message}"), src, pos)
    }
}

/// `text` with each character a reader cannot see (controls, zero-width and direction marks,
/// byte order marks, fillers) written as `<U+XXXX>`: a name pasted with a zero-width space
/// otherwise reads as correct in the message that says it is unknown.
pub fn show_invisible(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if is_invisible(c) {
            let _ = write!(shown, "<U+{:04X}>", u32::from(c));
        } else {
            shown.push(c);
        }
    }
    shown
}

fn is_invisible(c: char) -> bool {
    if c == '\n' || c == '\t' {
        return false;
    }
    matches!(u32::from(c),
        0x00..=0x1F | 0x7F..=0xA0 | 0xAD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5
        | 0x180B..=0x180F | 0x200B..=0x200F | 0x2028..=0x202F | 0x205F..=0x206F | 0x3164
        | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0xE0000..=0xE007F)
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, KqlError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_are_spelled_out_and_visible_ones_kept() {
        assert_eq!(
            show_invisible("Device\u{200B}Name \u{FEFF}caf\u{e9}\ttab"),
            "Device<U+200B>Name <U+FEFF>caf\u{e9}\ttab"
        );
        assert_eq!(show_invisible("a\u{202E}b\u{0}"), "a<U+202E>b<U+0000>");
    }
}
