//! The answer body, parsed as it arrives: rows are captured as raw JSON, one copy each.

use std::fmt;
use std::io::{self, BufReader, Read};

use bytes::{Buf, Bytes};
use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::Column;

/// What a successful body holds, whatever the API and key casing.
#[derive(Debug)]
pub(super) struct Body {
    pub columns: Vec<Column>,
    pub rows: Vec<Box<RawValue>>,
    pub stats: Option<Box<RawValue>>,
}

/// Body chunks handed from the async download to the blocking parser.
pub(super) type Chunk = io::Result<Bytes>;

/// Chunks in flight between download and parser; bounds memory to a few hundred KB.
pub(super) const CHANNEL_CHUNKS: usize = 16;

/// A blocking `Read` over chunks that the async side sends; the end of the channel is EOF.
pub(super) struct ChunkReader {
    chunks: mpsc::Receiver<Chunk>,
    current: Bytes,
}

impl ChunkReader {
    pub(super) fn new(chunks: mpsc::Receiver<Chunk>) -> Self {
        Self {
            chunks,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// Parses a whole body from `reader`; runs on a blocking thread.
pub(super) fn parse(reader: impl Read) -> serde_json::Result<Body> {
    // Large buffer: serde_json reads byte by byte, and the buffer is the only copy of raw bytes.
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, reader));
    let body = (&mut de).deserialize_map(BodyVisitor)?;
    de.end()?;
    Ok(body)
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with `schema` and `results`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        let mut columns = None;
        let mut rows = None;
        let mut stats = None;
        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case("schema") {
                columns = Some(map.next_value_seed(SchemaSeed)?);
            } else if key.eq_ignore_ascii_case("results") {
                rows = Some(map.next_value_seed(RowsSeed)?);
            } else if key.eq_ignore_ascii_case("stats") {
                stats = map.next_value::<Option<Box<RawValue>>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Body {
            columns: columns.unwrap_or_default(),
            rows: rows.ok_or_else(|| de::Error::missing_field("results"))?,
            stats,
        })
    }
}

/// Collects rows straight into `Box<RawValue>`s: no intermediate `Value` tree.
struct RowsSeed;

impl<'de> DeserializeSeed<'de> for RowsSeed {
    type Value = Vec<Box<RawValue>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed {
    type Value = Vec<Box<RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element::<Box<RawValue>>()? {
            rows.push(row);
        }
        Ok(rows)
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

    #[test]
    fn graph_shape_keeps_rows_exactly_as_sent() {
        let body = br#"{"@odata.context":"x","schema":[{"name":"N","type":"Int64"},{"name":"D","type":"Dynamic"}],
            "results":[{"N":9223372036854775807,"D":{"a":[1,2.50]}}]}"#;
        let parsed = parse(&body[..]).unwrap();
        assert_eq!(parsed.columns[0].type_name, "Int64");
        assert_eq!(
            parsed.rows[0].get(),
            r#"{"N":9223372036854775807,"D":{"a":[1,2.50]}}"#
        );
        assert!(parsed.stats.is_none());
    }

    #[test]
    fn mde_shape_with_capital_keys_and_stats() {
        let body = br#"{"Stats":{"ExecutionTime":1.5},"Schema":[{"Name":"T","Type":"DateTime"}],"Results":[]}"#;
        let parsed = parse(&body[..]).unwrap();
        assert_eq!(parsed.columns[0].name, "T");
        assert!(parsed.rows.is_empty());
        assert_eq!(parsed.stats.unwrap().get(), r#"{"ExecutionTime":1.5}"#);
    }

    #[test]
    fn cut_body_is_an_eof_error() {
        let err = parse(&br#"{"schema":[],"results":[{"a":1},"#[..]).unwrap_err();
        assert!(err.is_eof());
    }

    #[test]
    fn body_without_results_is_an_error() {
        assert!(parse(&br#"{"schema":[]}"#[..]).is_err());
    }

    #[test]
    fn chunk_reader_joins_chunks_and_reports_the_stream_error() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"c"))).unwrap();
        tx.try_send(Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")))
            .unwrap();
        drop(tx);
        let mut reader = ChunkReader::new(rx);
        let mut out = [0u8; 3];
        reader.read_exact(&mut out).unwrap();
        assert_eq!(&out, b"abc");
        assert_eq!(
            reader.read(&mut out).unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
    }
}
