//! The answer body, parsed as it arrives: each row is cut out of the byte stream and spooled as
//! raw JSON ([`crate::spool`]), so memory holds the chunk in flight, not the rows.
//!
//! A small splitter walks the top-level object and the `results` array and finds where each
//! value ends; serde_json then validates each piece on its own. This runs several times faster
//! than serde_json's own reader over the stream, which copies raw values one byte at a time.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::Column;
use crate::spool::{RowSpool, Rows};

/// What a successful body holds, whatever the API and key casing.
#[derive(Debug)]
pub(super) struct Body {
    pub columns: Vec<Column>,
    pub rows: Rows,
    pub stats: Option<Box<RawValue>>,
}

/// How deep one row of an answer may nest. Every later walk of a row (hashing, canonical form,
/// typed views, output) recurses, and a hostile answer nested thousands deep overflowed the
/// stack there and aborted the daemon. Below serde_json's own recursion limit (128), so that a
/// row wrapped in a list or an object by a later step still parses.
pub const MAX_DEPTH: u32 = 100;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum ParseError {
    /// A value nests deeper than [`MAX_DEPTH`].
    #[error(
        "the answer nests deeper than {MAX_DEPTH} levels, huntd's limit for one value \
         (a broken proxy or a hostile endpoint?)"
    )]
    TooDeep,
    /// The body ended before the JSON did.
    #[error("the answer was cut off (truncated JSON)")]
    Truncated,
    /// The body is not the JSON shape the APIs send.
    #[error("the answer is not the expected JSON: {0}")]
    Invalid(String),
    /// The rows could not be spooled (a full disk, say).
    #[error("could not spool the answer's rows: {0}")]
    Spool(#[from] std::io::Error),
}

fn invalid(what: impl fmt::Display) -> ParseError {
    ParseError::Invalid(what.to_string())
}

/// What a scanned piece is, and so where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Key,
    Schema,
    Stats,
    Skip,
    Row,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `{`.
    Start,
    /// After `{` or `,`: a key, or `}` right after `{`.
    Key { first: bool },
    /// After a key: `:`.
    Colon,
    /// After `:`: the value of the last key.
    Value,
    /// Inside a key, a value or a row.
    In(Piece),
    /// After `[` of `results` or a `,` between rows: a row, or `]` right after `[`.
    Row { first: bool },
    /// After a row: `,` or `]`.
    AfterRow,
    /// After a top-level value: `,` or `}`.
    AfterValue,
    /// After the closing `}`: only whitespace may follow.
    End,
}

impl State {
    fn expected(self) -> &'static str {
        match self {
            Self::Start => "where the answer should start with `{`",
            Self::Key { .. } => "where a key should be",
            Self::Colon => "where `:` should follow a key",
            Self::Value | Self::In(_) => "where a value should be",
            Self::Row { .. } => "where a row should be",
            Self::AfterRow => "after a row",
            Self::AfterValue => "after a value",
            Self::End => "after the end of the answer",
        }
    }
}

/// An incremental parser fed with the body's chunks in order.
#[derive(Debug)]
pub(super) struct BodyParser {
    state: State,
    scan: Scanner,
    /// The piece being scanned when it spans chunks; empty otherwise.
    pending: Vec<u8>,
    /// Where the value of the last key goes.
    target: Piece,
    /// The last key was `results` (any case).
    results_key: bool,
    columns: Option<Vec<Column>>,
    /// Whether `results` was seen, and its rows.
    results: bool,
    rows: RowSpool,
    stats: Option<Box<RawValue>>,
}

impl BodyParser {
    /// A parser spooling rows to a file in `spool_dir` once they outgrow memory.
    pub(super) fn new(spool_dir: &std::path::Path) -> Self {
        Self {
            state: State::Start,
            scan: Scanner::default(),
            pending: Vec::new(),
            target: Piece::Skip,
            results_key: false,
            columns: None,
            results: false,
            rows: RowSpool::new(spool_dir),
            stats: None,
        }
    }

    /// Consumes the next chunk of the body.
    pub(super) fn feed(&mut self, chunk: &[u8]) -> Result<(), ParseError> {
        let mut i = 0;
        while i < chunk.len() {
            if let State::In(piece) = self.state {
                let start = i;
                let (used, done) = self.scan.feed(&chunk[i..]);
                i += used;
                if self.scan.too_deep() {
                    return Err(ParseError::TooDeep);
                }
                if !done {
                    self.pending.extend_from_slice(&chunk[start..i]);
                } else if self.pending.is_empty() {
                    self.complete(piece, &chunk[start..i])?;
                } else {
                    let mut whole = std::mem::take(&mut self.pending);
                    whole.extend_from_slice(&chunk[start..i]);
                    self.complete(piece, &whole)?;
                    whole.clear();
                    // Keep the allocation for the next piece that spans chunks.
                    self.pending = whole;
                }
                continue;
            }
            let byte = chunk[i];
            if byte.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            // Punctuation is consumed here; the first byte of a piece is left to the scanner.
            let (next, consumed) = match (self.state, byte) {
                (State::Start, b'{') => (State::Key { first: true }, true),
                (State::Key { first: true } | State::AfterValue, b'}') => (State::End, true),
                (State::Key { .. }, b'"') => (self.begin(byte, Piece::Key), false),
                (State::Colon, b':') => (State::Value, true),
                (State::Value, b'[') if self.results_key => (State::Row { first: true }, true),
                (State::Value, _) if !self.results_key => (self.begin(byte, self.target), false),
                (State::Row { first: true } | State::AfterRow, b']') => {
                    self.results = true;
                    (State::AfterValue, true)
                }
                (State::Row { .. }, _) => (self.begin(byte, Piece::Row), false),
                (State::AfterRow, b',') => (State::Row { first: false }, true),
                (State::AfterValue, b',') => (State::Key { first: false }, true),
                (state, _) if state == State::Value && self.results_key => {
                    return Err(invalid("`results` is not an array"));
                }
                (state, byte) => {
                    return Err(invalid(format_args!(
                        "unexpected `{}` {}",
                        char::from(byte).escape_default(),
                        state.expected()
                    )));
                }
            };
            self.state = next;
            if consumed {
                i += 1;
            }
        }
        Ok(())
    }

    fn begin(&mut self, first: u8, piece: Piece) -> State {
        self.scan.begin(first);
        State::In(piece)
    }

    /// A whole key, value or row has been scanned.
    fn complete(&mut self, piece: Piece, bytes: &[u8]) -> Result<(), ParseError> {
        self.state = match piece {
            Piece::Key => {
                let key: String = serde_json::from_slice(bytes).map_err(invalid)?;
                self.results_key = key.eq_ignore_ascii_case("results");
                self.target = if key.eq_ignore_ascii_case("schema") {
                    Piece::Schema
                } else if key.eq_ignore_ascii_case("stats") {
                    Piece::Stats
                } else {
                    Piece::Skip
                };
                State::Colon
            }
            Piece::Schema => {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                self.columns = Some(SchemaSeed.deserialize(&mut de).map_err(invalid)?);
                de.end().map_err(invalid)?;
                State::AfterValue
            }
            Piece::Stats => {
                self.stats = serde_json::from_slice(bytes).map_err(invalid)?;
                State::AfterValue
            }
            Piece::Skip => {
                // Unknown keys (`@odata.context`, ...) are skipped unread but must be JSON.
                serde_json::from_slice::<IgnoredAny>(bytes).map_err(invalid)?;
                State::AfterValue
            }
            Piece::Row => {
                let row = serde_json::from_slice::<&RawValue>(bytes).map_err(invalid)?;
                self.rows.push(row)?;
                State::AfterRow
            }
        };
        Ok(())
    }

    /// The body has ended: the answer, or why it is not one.
    pub(super) fn finish(self) -> Result<Body, ParseError> {
        if self.state != State::End {
            return Err(ParseError::Truncated);
        }
        Ok(Body {
            columns: self.columns.unwrap_or_default(),
            rows: if self.results {
                self.rows.seal()?
            } else {
                return Err(invalid("it has no `results`"));
            },
            stats: self.stats,
        })
    }
}

/// Finds where one JSON value ends, across chunks; validation is left to serde_json.
#[derive(Debug, Default)]
struct Scanner {
    scalar: bool,
    /// Open brackets; past [`MAX_DEPTH`] the scan stops there.
    depth: u32,
    in_string: bool,
    escape: bool,
}

impl Scanner {
    /// The value went past [`MAX_DEPTH`].
    fn too_deep(&self) -> bool {
        self.depth > MAX_DEPTH
    }

    fn begin(&mut self, first: u8) {
        *self = Self {
            scalar: !matches!(first, b'"' | b'{' | b'['),
            ..Self::default()
        };
    }

    /// Bytes of `bytes` that belong to the value, and whether the value ended there.
    fn feed(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                // Most of a row is string content: jump to the next quote or backslash.
                let Some(at) = memchr::memchr2(b'"', b'\\', &bytes[i..]) else {
                    return (bytes.len(), false);
                };
                i += at + 1;
                if bytes[i - 1] == b'\\' {
                    self.escape = true;
                } else {
                    self.in_string = false;
                    if self.depth == 0 {
                        return (i, true);
                    }
                }
                continue;
            }
            let byte = bytes[i];
            if self.scalar {
                if matches!(byte, b',' | b'}' | b']') || byte.is_ascii_whitespace() {
                    return (i, true);
                }
                i += 1;
                continue;
            }
            i += 1;
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    // Depth counts from the piece being scanned: a row is its own level 1.
                    self.depth += 1;
                    if self.too_deep() {
                        return (i, false);
                    }
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return (i, true);
                    }
                }
                _ => {}
            }
        }
        (bytes.len(), false)
    }
}

struct SchemaSeed;

impl<'de> DeserializeSeed<'de> for SchemaSeed {
    type Value = Vec<Column>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SchemaSeed {
    type Value = Vec<Column>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of columns")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut columns = Vec::new();
        while let Some(column) = seq.next_element_seed(ColumnVisitor)? {
            columns.push(column);
        }
        Ok(columns)
    }
}

/// A schema entry with `name`/`Name` and `type`/`Type`; other keys are ignored.
struct ColumnVisitor;

impl<'de> DeserializeSeed<'de> for ColumnVisitor {
    type Value = Column;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Column, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ColumnVisitor {
    type Value = Column;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a column with `name` and `type`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Column, A::Error> {
        let mut name = None;
        let mut type_name = None;
        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case("name") {
                name = Some(map.next_value::<String>()?);
            } else if key.eq_ignore_ascii_case("type") {
                type_name = map.next_value::<Option<String>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Column {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            type_name: type_name.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `body` fed in pieces of `size` bytes.
    fn parse_in(body: &[u8], size: usize) -> Result<Body, ParseError> {
        let mut parser = BodyParser::new(&std::env::temp_dir());
        for chunk in body.chunks(size) {
            parser.feed(chunk)?;
        }
        parser.finish()
    }

    const GRAPH: &str = r#" {"@odata.context":"x","schema":[{"name":"N","type":"Int64"},{"name":"D","type":"Dynamic"},{"name":"S","type":"String"}],
        "results":[{"N":9223372036854775807,"D":{"a":[1,2.50,"]}"]},"S":"q\"}\\"} , 42 ,"s",null,{"N":-1}] } "#;

    #[test]
    fn every_chunking_gives_the_same_exact_rows() {
        for size in [1, 2, 3, 7, 64, GRAPH.len()] {
            let parsed = parse_in(GRAPH.as_bytes(), size).expect("the sample body is valid");
            let rows = parsed.rows.to_vec().expect("spooled rows read back");
            let rows: Vec<&str> = rows.iter().map(|r| r.get()).collect();
            assert_eq!(
                rows,
                [
                    r#"{"N":9223372036854775807,"D":{"a":[1,2.50,"]}"]},"S":"q\"}\\"}"#,
                    "42",
                    r#""s""#,
                    "null",
                    r#"{"N":-1}"#
                ],
                "chunks of {size}"
            );
            assert_eq!(parsed.columns[1].type_name, "Dynamic");
            assert!(parsed.stats.is_none());
        }
    }

    #[test]
    fn mde_shape_with_capital_keys_and_stats() {
        let body = br#"{"Stats":{"ExecutionTime":1.5},"Schema":[{"Name":"T","Type":"DateTime"}],"Results":[]}"#;
        for size in [1, 5, body.len()] {
            let parsed = parse_in(body, size).expect("the sample body is valid");
            assert_eq!(parsed.columns[0].name, "T");
            assert!(parsed.rows.is_empty());
            assert_eq!(
                parsed.stats.expect("Stats was sent").get(),
                r#"{"ExecutionTime":1.5}"#
            );
        }
    }

    #[test]
    fn cut_bodies_are_truncated_at_every_cut() {
        for cut in 0..GRAPH.trim_end().len() - 1 {
            let result = parse_in(&GRAPH.as_bytes()[..cut], 16);
            assert!(
                matches!(result, Err(ParseError::Truncated | ParseError::Invalid(_))),
                "cut at {cut} parsed"
            );
        }
        assert!(matches!(
            parse_in(br#"{"schema":[],"results":[{"a":1},"#, 4),
            Err(ParseError::Truncated)
        ));
    }

    #[test]
    fn a_row_nested_past_the_limit_is_refused_without_recursion() {
        let depth = 100_000;
        let row = format!("{{\"a\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
        let body = format!("{{\"schema\":[],\"results\":[{row}]}}");
        for size in [7, body.len()] {
            let error = parse_in(body.as_bytes(), size).expect_err("too deep");
            assert!(matches!(error, ParseError::TooDeep), "{error}");
        }
        let limit = usize::try_from(MAX_DEPTH).expect("small");
        let row = format!("{}1{}", "[".repeat(limit), "]".repeat(limit));
        let body = format!("{{\"schema\":[],\"results\":[{row}]}}");
        assert_eq!(
            parse_in(body.as_bytes(), 5)
                .expect("at the limit")
                .rows
                .len(),
            1
        );
    }

    #[test]
    fn an_answer_past_the_memory_limit_is_spooled_to_disk_and_read_back_exactly() {
        let row = format!(r#"{{"Text":"{}","N":1}}"#, "x".repeat(1000));
        let count = crate::spool::MEMORY_LIMIT / row.len() * 2;
        let body = format!(
            r#"{{"schema":[],"results":[{}]}}"#,
            vec![row.as_str(); count].join(",")
        );
        let parsed = parse_in(body.as_bytes(), 8192).expect("valid");
        assert!(parsed.rows.on_disk());
        assert_eq!(parsed.rows.len(), count);
        let mut read = 0;
        for got in &parsed.rows {
            assert_eq!(got.expect("read back").get(), row);
            read += 1;
        }
        assert_eq!(read, count);
    }

    #[test]
    fn malformed_bodies_are_invalid() {
        for body in [
            &br"<html>"[..],
            br#"{"schema":[]}"#,
            br#"{"results":{"a":1}}"#,
            br#"{"results":[{"a":1]}]}"#,
            br#"{"results":[]} x"#,
            br#"{"results":[tru]}"#,
            br#"{"schema":[{"type":"String"}],"results":[]}"#,
        ] {
            assert!(
                matches!(parse_in(body, 3), Err(ParseError::Invalid(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn every_byte_of_an_answer_replaced_by_json_punctuation_parses_or_is_an_error() {
        let body = GRAPH.as_bytes();
        for at in 0..body.len() {
            for byte in *br#"{}[]",:\x0-"# {
                let mut mutated = body.to_vec();
                mutated[at] = byte;
                // A body that still parses must give rows that read back; any other is an error.
                if let Ok(parsed) = parse_in(&mutated, 5) {
                    parsed.rows.to_vec().expect("parsed rows read back");
                }
            }
        }
    }
}
