//! The one table writer, CSV quoter and cell cutter, so every command aligns, cuts and quotes
//! the same way.

use std::borrow::Cow;
use std::io::{self, Write};

/// Writes left-aligned columns two spaces apart with trailing spaces trimmed; with `rule`, a
/// line of dashes under the header.
pub fn write_table(
    out: &mut impl Write,
    header: &[impl AsRef<str>],
    rows: &[Vec<String>],
    rule: bool,
) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.as_ref().chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    writeln!(out, "{}", line(header, &widths))?;
    if rule {
        let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        writeln!(out, "{}", dashes.join("  "))?;
    }
    for row in rows {
        writeln!(out, "{}", line(row, &widths))?;
    }
    Ok(())
}

/// [`write_table`] without a rule, as text.
pub fn table_text(header: &[impl AsRef<str>], rows: &[Vec<String>]) -> String {
    let mut out = Vec::new();
    write_table(&mut out, header, rows, false).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("every cell is a Rust string, so the table is UTF-8")
}

/// One table line: each cell but the last padded to its column's width.
fn line(cells: &[impl AsRef<str>], widths: &[usize]) -> String {
    let mut text = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let cell = cell.as_ref();
        if i > 0 {
            text.push_str("  ");
        }
        text.push_str(cell);
        if i + 1 < widths.len() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
    }
    text.trim_end().to_string()
}

/// `n` and the noun that goes with it: `1 error`, `2 errors`.
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `text` on one line (control characters as spaces), cut to `max` characters with `…`.
pub fn cut(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One CSV field: quoted (quotes doubled) when it holds a comma, quote or line break, or starts
/// or ends with a space, which some readers would otherwise trim.
pub fn csv_field(text: &str) -> Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(text)
    }
}

/// One CSV record, fields quoted as needed, without the line ending.
pub fn csv_record<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let fields: Vec<Cow<'_, str>> = cells.into_iter().map(csv_field).collect();
    fields.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn table_pads_all_but_the_last_column_and_rules_the_header() {
        let mut out = Vec::new();
        let rows = [strings(&["long value", "x"]), strings(&["b", ""])];
        write_table(&mut out, &strings(&["A", "B"]), &rows, true)
            .expect("writing to a Vec cannot fail");
        assert_eq!(
            String::from_utf8(out).expect("output is UTF-8"),
            "A           B\n----------  -\nlong value  x\nb\n"
        );
    }

    #[test]
    fn cut_flattens_and_marks_long_cells() {
        assert_eq!(cut("a\tb", 10), "a b");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abcd", 4), "abcd");
    }

    #[test]
    fn csv_quotes_separators_quotes_breaks_and_edge_spaces() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(" padded "), "\" padded \"");
        assert_eq!(csv_record(["a", "b c", "d\ne"]), "a,b c,\"d\ne\"");
    }
}
