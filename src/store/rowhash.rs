//! Finding identity: SHA-256 of a row's canonical JSON, computed from the raw text without
//! building a `serde_json::Value` tree, and a run's rows hashed while they are written.

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::{Error, Result};
use crate::spool::{RunRowIter, RunRows};

/// SHA-256 hex of the canonical JSON (keys sorted at every level, strings re-escaped one way,
/// numbers as written) of the row's `dedup` columns, or of the whole row when `dedup` is `None`.
/// A dedup column missing from the row counts as `null`.
pub fn row_hash(row: &RawValue, dedup: Option<&[String]>) -> Result<String> {
    let mut hasher = Sha256::new();
    match dedup {
        None => write_canonical(&mut hasher, row)?,
        Some(columns) => {
            let fields = parse_object(row.get())?;
            let mut wanted: Vec<&str> = columns.iter().map(String::as_str).collect();
            wanted.sort_unstable();
            wanted.dedup();
            hasher.update(b"{");
            for (i, name) in wanted.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                serde_json::to_writer(&mut hasher, name)?;
                hasher.update(b":");
                match fields
                    .as_ref()
                    .and_then(|f| f.iter().find(|(k, _)| k == name))
                {
                    Some((_, value)) => write_canonical(&mut hasher, value)?,
                    None => hasher.update(b"null"),
                }
            }
            hasher.update(b"}");
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Hashes rows in order. Chunks are small, and the next one is hashed while the database
/// takes the current one, so one thread keeps ahead of either backend's writes.
pub(super) fn hash_rows(rows: &[Box<RawValue>], dedup: Option<&[String]>) -> Result<Vec<String>> {
    rows.iter().map(|row| row_hash(row, dedup)).collect()
}

/// Where a run's rows go, a chunk at a time: a backend's batched insert or `copy`.
#[async_trait::async_trait]
pub(super) trait RowSink: Send {
    /// Writes `rows` with their `hashes`, the first row numbered `first_row`.
    async fn write(
        &mut self,
        rows: &[Box<RawValue>],
        hashes: &[String],
        first_row: i64,
    ) -> Result<()>;
}

/// Writes the run's rows through `sink` in chunks of `chunk_rows`, read back from their spool
/// one chunk at a time, so memory holds two chunks whatever the run's size; returns how many
/// rows were written. Each chunk's successor is read and hashed on this thread while the
/// database takes the chunk.
pub(super) async fn write_hashed<S: RowSink + ?Sized>(
    sink: &mut S,
    rows: &RunRows,
    chunk_rows: usize,
    dedup: Option<&[String]>,
) -> Result<i64> {
    let mut source = rows.iter();
    let mut written = 0i64;
    let mut current = read_chunk(&mut source, chunk_rows, dedup)?;
    while let Some((chunk, hashes)) = current {
        // `join` polls the write first, which hands the chunk to SQLite's worker thread or the
        // socket; the next chunk is then read and hashed here while the database works.
        let (done, next) =
            futures_util::future::join(sink.write(&chunk, &hashes, written), async {
                read_chunk(&mut source, chunk_rows, dedup)
            })
            .await;
        done?;
        written += i64::try_from(chunk.len()).expect("a chunk length fits in i64");
        current = next?;
    }
    Ok(written)
}

/// Rows read back from a spool and their hashes, in the same order.
type HashedChunk = (Vec<Box<RawValue>>, Vec<String>);

/// The next chunk of at most `chunk_rows` rows with their hashes, `None` after the last.
fn read_chunk(
    source: &mut RunRowIter<'_>,
    chunk_rows: usize,
    dedup: Option<&[String]>,
) -> Result<Option<HashedChunk>> {
    let chunk = source
        .by_ref()
        .take(chunk_rows)
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(Error::Spool)?;
    if chunk.is_empty() {
        return Ok(None);
    }
    let hashes = hash_rows(&chunk, dedup)?;
    Ok(Some((chunk, hashes)))
}

/// Reads the dedup column list stored in `hunt_jobs.dedup_columns`.
pub(super) fn parse_dedup(stored: Option<&str>) -> Result<Option<Vec<String>>> {
    stored
        .map(serde_json::from_str)
        .transpose()
        .map_err(Into::into)
}

/// An object's members in document order, or `None` when the text is not an object.
type Members<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

pub(super) fn parse_object(text: &str) -> Result<Option<Members<'_>>> {
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let Object(members) = serde_json::from_str(text)?;
    Ok(Some(members))
}

fn write_canonical(hasher: &mut Sha256, value: &RawValue) -> Result<()> {
    let text = value.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => {
            let Object(mut members) = serde_json::from_str(text)?;
            members.sort_by(|a, b| a.0.cmp(&b.0));
            hasher.update(b"{");
            for (i, (key, member)) in members.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                serde_json::to_writer(&mut *hasher, key.as_ref())?;
                hasher.update(b":");
                write_canonical(hasher, member)?;
            }
            hasher.update(b"}");
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            hasher.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                write_canonical(hasher, item)?;
            }
            hasher.update(b"]");
        }
        // `"\u0041"` and `"A"` are the same string: re-escape the ones that use escapes.
        Some(b'"') if text.contains('\\') => {
            let decoded: String = serde_json::from_str(text)?;
            serde_json::to_writer(&mut *hasher, &decoded)?;
        }
        _ => hasher
            .write_all(text.as_bytes())
            .expect("hashing into memory cannot fail"),
    }
    Ok(())
}

/// A JSON object read as borrowed members, keys unescaped only when they have escapes.
struct Object<'a>(Members<'a>);

impl<'de> Deserialize<'de> for Object<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(Key(key)) = map.next_key()? {
            let value: &RawValue = map.next_value()?;
            members.push((key, value));
        }
        Ok(Object(members))
    }
}

/// A key that borrows from the input when it can.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("valid JSON")
    }

    #[test]
    fn key_order_whitespace_and_string_escapes_do_not_change_the_hash() {
        let a = raw(r#"{"b": 1, "a": {"y": [1, 2], "x": "A"}}"#);
        let b = raw(r#"{"a":{"x":"\u0041","y":[1,2]},"b":1}"#);
        assert_eq!(row_hash(&a, None).ok(), row_hash(&b, None).ok());
    }

    #[test]
    fn different_values_give_different_hashes() {
        let a = raw(r#"{"a": 1}"#);
        let b = raw(r#"{"a": 2}"#);
        assert_ne!(row_hash(&a, None).ok(), row_hash(&b, None).ok());
    }

    #[test]
    fn dedup_columns_ignore_other_columns_and_missing_ones_count_as_null() {
        let cols = vec!["DeviceName".to_string(), "Missing".to_string()];
        let a = raw(r#"{"DeviceName": "pc1", "Timestamp": "2024-01-01T00:00:00Z"}"#);
        let b = raw(r#"{"Timestamp": "2024-02-01T00:00:00Z", "DeviceName": "pc1"}"#);
        let c = raw(r#"{"DeviceName": "pc1", "Missing": null}"#);
        let ha = row_hash(&a, Some(&cols)).expect("hash");
        assert_eq!(Some(&ha), row_hash(&b, Some(&cols)).ok().as_ref());
        assert_eq!(Some(&ha), row_hash(&c, Some(&cols)).ok().as_ref());
        assert_ne!(Some(&ha), row_hash(&a, None).ok().as_ref());
    }

    #[test]
    fn the_hash_is_sha256_hex_of_the_canonical_text() {
        let row = raw(r#"{ "b" : 18446744073709551616, "a" : true }"#);
        let expected = hex::encode(Sha256::digest(br#"{"a":true,"b":18446744073709551616}"#));
        assert_eq!(row_hash(&row, None).ok(), Some(expected));
    }
}
