//! KQL query templates: `{start}`, `{end}` and job parameters, rendered like msticpy.
//!
//! msticpy fills its queries with Python's `str.format`, so the syntax is the same: `{name}`
//! is a placeholder, `{{` and `}}` are literal braces. Unlike msticpy, a string value that lands
//! inside a KQL string literal is escaped, so a quote in a parameter cannot end the literal and
//! inject KQL.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

/// Why a template cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Broken brace syntax; `offset` is the byte offset in the template text.
    #[error("query template syntax at character {offset}: {message}")]
    Syntax {
        /// Byte offset of the problem in the template.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// Placeholders with no value.
    #[error("no value for placeholder{} {}", plural(.0), quoted_list(.0))]
    Unresolved(Vec<String>),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

fn plural(names: &[String]) -> &'static str {
    if names.len() == 1 { "" } else { "s" }
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The placeholders every run fills with its window.
pub const WINDOW_PLACEHOLDERS: [&str; 2] = ["start", "end"];

/// A job's query before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryTemplate {
    /// KQL text with `{name}` placeholders.
    pub text: String,
    /// Parameter values (job `params` merged over library defaults), by name.
    pub params: BTreeMap<String, ParamValue>,
}

/// A parameter value with its msticpy type.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `str`: escaped when it lands inside a KQL string.
    Str(String),
    /// `int`.
    Int(i64),
    /// `datetime`.
    DateTime(chrono::DateTime<chrono::Utc>),
    /// `list`: renders as `'a', 'b'`.
    List(Vec<String>),
}

/// The msticpy parameter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// `str`.
    Str,
    /// `int`.
    Int,
    /// `datetime`.
    DateTime,
    /// `list`.
    List,
}

impl ParamType {
    /// Every type name, as msticpy spells them.
    pub const NAMES: [&'static str; 4] = ["str", "int", "datetime", "list"];

    /// Reads a msticpy type name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "str" => Some(Self::Str),
            "int" => Some(Self::Int),
            "datetime" => Some(Self::DateTime),
            "list" => Some(Self::List),
            _ => None,
        }
    }

    /// The msticpy name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Str => "str",
            Self::Int => "int",
            Self::DateTime => "datetime",
            Self::List => "list",
        }
    }
}

impl ParamValue {
    /// A `list` value from a comma-separated string, as msticpy splits it.
    pub fn list_from_csv(text: &str) -> Self {
        Self::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    fn render(&self, quote: Quote, out: &mut String) {
        match self {
            Self::Str(s) => quote.escape(s, out),
            Self::Int(i) => {
                write!(out, "{i}").expect("writing to a String cannot fail");
            }
            Self::DateTime(t) => out.push_str(&kql_datetime(*t)),
            Self::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push('\'');
                    Quote::Single.escape(item, out);
                    out.push('\'');
                }
            }
        }
    }
}

/// A time as KQL prints it: UTC, 7 fractional digits, `Z`.
pub fn kql_datetime(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

/// The KQL string literal a placeholder sits in, judged by the character before its `{`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    /// Not in a literal: the value is KQL text and goes in as is.
    None,
    /// `"..."`: backslash escapes.
    Double,
    /// `'...'`: backslash escapes.
    Single,
    /// `@"..."` / `@'...'`: no backslash escapes, the quote is doubled.
    Verbatim(char),
}

impl Quote {
    fn escape(self, value: &str, out: &mut String) {
        let quote = match self {
            Self::None => {
                out.push_str(value);
                return;
            }
            Self::Double => '"',
            Self::Single => '\'',
            Self::Verbatim(q) => {
                for c in value.chars() {
                    if c == q {
                        out.push(q);
                    }
                    out.push(c);
                }
                return;
            }
        };
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c if c == quote => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment<'t> {
    Literal(&'t str),
    /// `{{` or `}}`.
    Brace(char),
    Placeholder {
        name: &'t str,
        quote: Quote,
    },
}

fn parse(text: &str) -> Result<Vec<Segment<'_>>> {
    let bytes = text.as_bytes();
    let mut segments = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                segments.push(Segment::Literal(&text[literal_start..i]));
                segments.push(Segment::Brace('{'));
                i += 2;
                literal_start = i;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                segments.push(Segment::Literal(&text[literal_start..i]));
                segments.push(Segment::Brace('}'));
                i += 2;
                literal_start = i;
            }
            b'}' => {
                return Err(Error::Syntax {
                    offset: i,
                    message: "a single `}` is not allowed: write `}}` for a literal brace".into(),
                });
            }
            b'{' => {
                let Some(len) = text[i + 1..].find('}') else {
                    return Err(Error::Syntax {
                        offset: i,
                        message: "`{` is never closed: write `{{` for a literal brace".into(),
                    });
                };
                let name = &text[i + 1..i + 1 + len];
                if !is_identifier(name) {
                    return Err(Error::Syntax {
                        offset: i,
                        message: format!(
                            "`{{{name}}}` is not a placeholder name (letters, digits and `_`): \
                             write `{{{{` and `}}}}` for literal braces"
                        ),
                    });
                }
                segments.push(Segment::Literal(&text[literal_start..i]));
                segments.push(Segment::Placeholder {
                    name,
                    quote: quote_before(bytes, i),
                });
                i += len + 2;
                literal_start = i;
            }
            _ => i += 1,
        }
    }
    segments.push(Segment::Literal(&text[literal_start..]));
    Ok(segments)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn quote_before(bytes: &[u8], brace: usize) -> Quote {
    let Some(&quote) = brace.checked_sub(1).and_then(|p| bytes.get(p)) else {
        return Quote::None;
    };
    let verbatim = brace >= 2 && matches!(bytes[brace - 2], b'@');
    match (quote, verbatim) {
        (b'"' | b'\'', true) => Quote::Verbatim(char::from(quote)),
        (b'"', false) => Quote::Double,
        (b'\'', false) => Quote::Single,
        _ => Quote::None,
    }
}

impl QueryTemplate {
    /// A template with its parameter values.
    pub fn new(text: impl Into<String>, params: BTreeMap<String, ParamValue>) -> Self {
        Self {
            text: text.into(),
            params,
        }
    }

    /// The distinct placeholder names in order of first use; a syntax error if braces are broken.
    pub fn placeholders(&self) -> Result<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut names = Vec::new();
        for segment in parse(&self.text)? {
            if let Segment::Placeholder { name, .. } = segment
                && seen.insert(name)
            {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    /// Checks what can be checked without a window: brace syntax and that every placeholder
    /// other than `{start}`/`{end}` has a value.
    pub fn check(&self) -> Result<()> {
        self.check_segments(&parse(&self.text)?)
    }

    fn check_segments(&self, segments: &[Segment<'_>]) -> Result<()> {
        let mut missing: Vec<String> = Vec::new();
        for segment in segments {
            if let Segment::Placeholder { name, .. } = segment
                && !WINDOW_PLACEHOLDERS.contains(name)
                && !self.params.contains_key(*name)
                && !missing.iter().any(|m| m == name)
            {
                missing.push((*name).to_string());
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::Unresolved(missing))
        }
    }

    /// The KQL for the window `start..end`.
    pub fn render(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<String> {
        Ok(self.render_mapped(start, end)?.0)
    }

    /// The KQL for the window `start..end`, and for each piece of it the byte offset where it
    /// starts in the KQL and in the template, and whether it was copied (not substituted): what
    /// [`template_offset`] needs to point a problem in the KQL back at the template.
    pub fn render_mapped(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(String, Vec<Piece>)> {
        let segments = parse(&self.text)?;
        self.check_segments(&segments)?;
        let window_start = ParamValue::DateTime(start);
        let window_end = ParamValue::DateTime(end);
        let mut out = String::with_capacity(self.text.len() + 64);
        let mut pieces = Vec::with_capacity(segments.len());
        let mut in_template = 0;
        for segment in segments {
            let piece = Piece {
                rendered: out.len(),
                template: in_template,
                copied: matches!(segment, Segment::Literal(_)),
            };
            match segment {
                Segment::Literal(text) => {
                    out.push_str(text);
                    in_template += text.len();
                }
                Segment::Brace(c) => {
                    out.push(c);
                    in_template += 2;
                }
                Segment::Placeholder { name, quote } => {
                    let value = match name {
                        "start" => &window_start,
                        "end" => &window_end,
                        _ => self
                            .params
                            .get(name)
                            .ok_or_else(|| Error::Unresolved(vec![name.to_string()]))?,
                    };
                    value.render(quote, &mut out);
                    in_template += name.len() + 2;
                }
            }
            pieces.push(piece);
        }
        Ok((out, pieces))
    }

    /// The template text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A piece of rendered KQL: where it starts there and in the template, and whether it is a
/// copy of the template (a literal) or a substituted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Byte offset in the rendered KQL.
    pub rendered: usize,
    /// Byte offset in the template.
    pub template: usize,
    /// Copied text, so offsets inside it map one to one.
    pub copied: bool,
}

/// The template offset of byte `offset` of the rendered KQL: the same character in copied
/// text, the placeholder's `{` inside a substituted value.
pub fn template_offset(pieces: &[Piece], offset: usize) -> usize {
    match pieces.iter().rev().find(|p| p.rendered <= offset) {
        Some(p) if p.copied => p.template + (offset - p.rendered),
        Some(p) => p.template,
        None => offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::utc as t;

    fn template(text: &str, params: &[(&str, ParamValue)]) -> QueryTemplate {
        QueryTemplate::new(
            text,
            params
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn rendered_offsets_map_back_to_the_template() {
        let tpl = template(
            "T | where x > {n} and y == '{s}' | take {{1}}",
            &[
                ("n", ParamValue::Int(12345)),
                ("s", ParamValue::Str("ab".into())),
            ],
        );
        let (kql, pieces) = tpl
            .render_mapped(t("2024-02-01T08:00:00Z"), t("2024-02-01T09:00:00Z"))
            .expect("renders");
        assert_eq!(kql, "T | where x > 12345 and y == 'ab' | take {1}");
        let and_at = kql.find("and").expect("and");
        assert_eq!(
            template_offset(&pieces, and_at),
            tpl.text().find("and").expect("and")
        );
        let in_value = kql.find("345").expect("value");
        assert_eq!(
            template_offset(&pieces, in_value),
            tpl.text().find("{n}").expect("n")
        );
        let take_at = kql.find("take").expect("take");
        assert_eq!(
            template_offset(&pieces, take_at),
            tpl.text().find("take").expect("take")
        );
    }

    fn render(text: &str, params: &[(&str, ParamValue)]) -> Result<String> {
        template(text, params).render(t("2024-02-01T08:00:00Z"), t("2024-02-01T09:15:30.25Z"))
    }

    #[test]
    fn window_renders_as_kql_datetime_with_seven_fraction_digits() {
        assert_eq!(
            render(
                "T | where Timestamp between (datetime({start}) .. datetime({end}))",
                &[]
            ),
            Ok(
                "T | where Timestamp between (datetime(2024-02-01T08:00:00.0000000Z) .. \
                datetime(2024-02-01T09:15:30.2500000Z))"
                    .into()
            )
        );
    }

    #[test]
    fn params_of_each_type_render_like_msticpy() {
        let out = render(
            "{table} | take {n} | where T > datetime({since}) | where H in ({hosts})",
            &[
                ("table", ParamValue::Str("DeviceEvents".into())),
                ("n", ParamValue::Int(5)),
                (
                    "since",
                    ParamValue::DateTime(t("2024-01-31T23:59:59.1234567Z")),
                ),
                ("hosts", ParamValue::list_from_csv(" ws-1, ws-2 ,,ws-3")),
            ],
        );
        assert_eq!(
            out,
            Ok(
                "DeviceEvents | take 5 | where T > datetime(2024-01-31T23:59:59.1234567Z) \
                | where H in ('ws-1', 'ws-2', 'ws-3')"
                    .into()
            )
        );
    }

    #[test]
    fn list_items_with_quotes_are_escaped() {
        assert_eq!(
            render(
                "x in ({l})",
                &[("l", ParamValue::List(vec!["a'b".into(), "c\\d".into()]))]
            ),
            Ok(r"x in ('a\'b', 'c\\d')".into())
        );
    }

    #[test]
    fn double_quoted_string_values_escape_quotes_and_backslashes() {
        let value = ParamValue::Str(r#"evil" or 1==1 | where x == "\"#.into());
        assert_eq!(
            render(r#"where H == "{h}""#, &[("h", value)]),
            Ok(r#"where H == "evil\" or 1==1 | where x == \"\\""#.into())
        );
    }

    #[test]
    fn single_quoted_string_values_escape_quotes_and_backslashes() {
        let value = ParamValue::Str(r"O'Brien\admin".into());
        assert_eq!(
            render("where A == '{a}'", &[("a", value)]),
            Ok(r"where A == 'O\'Brien\\admin'".into())
        );
    }

    #[test]
    fn verbatim_string_values_double_the_quote_and_keep_backslashes() {
        let value = ParamValue::Str(r#"C:\Temp\"x""#.into());
        assert_eq!(
            render(r#"where P startswith @"{p}""#, &[("p", value)]),
            Ok(r#"where P startswith @"C:\Temp\""x""""#.into())
        );
    }

    #[test]
    fn unquoted_string_values_go_in_as_kql() {
        let value = ParamValue::Str(r#"| where x == "a""#.into());
        assert_eq!(
            render("T {extra}", &[("extra", value)]),
            Ok(r#"T | where x == "a""#.into())
        );
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(
            render(
                "print d = dynamic({{\"a\": {n}}})",
                &[("n", ParamValue::Int(1))]
            ),
            Ok("print d = dynamic({\"a\": 1})".into())
        );
    }

    #[test]
    fn placeholders_are_listed_once_in_order() {
        let tpl = template("{b} {start} {a} {b} {{c}}", &[]);
        assert_eq!(
            tpl.placeholders(),
            Ok(vec!["b".to_string(), "start".into(), "a".into()])
        );
    }

    #[test]
    fn missing_values_are_named() {
        let tpl = template("{start} {host} {user} {host}", &[]);
        assert_eq!(
            tpl.check(),
            Err(Error::Unresolved(vec!["host".into(), "user".into()]))
        );
        assert_eq!(
            tpl.check().expect_err("missing").to_string(),
            "no value for placeholders `host`, `user`"
        );
        assert!(matches!(
            tpl.render(t("2024-01-01T00:00:00Z"), t("2024-01-01T01:00:00Z")),
            Err(Error::Unresolved(_))
        ));
    }

    #[test]
    fn broken_braces_are_syntax_errors() {
        for (text, offset) in [("a } b", 2), ("a { b", 2), ("x {not a name}", 2), ("{}", 0)] {
            match template(text, &[]).check() {
                Err(Error::Syntax { offset: at, .. }) => assert_eq!(at, offset, "{text}"),
                other => panic!("{text}: expected a syntax error, got {other:?}"),
            }
        }
    }

    #[test]
    fn kql_datetime_truncates_to_100ns_ticks() {
        assert_eq!(
            kql_datetime(t("2024-02-01T08:00:00.123456789Z")),
            "2024-02-01T08:00:00.1234567Z"
        );
    }
}
