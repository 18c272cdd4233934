//! The emulator's tables from JSON Lines files, one `<Table>.jsonl` per table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use kql::{Database, KqlType, Table, Value};

use super::data::Interner;
use super::{Error, Result};

/// Loads every `<Table>.jsonl` in `dir`, with the schema from `<Table>.schema.json` when present
/// (`[{"name": ..., "type": ...}]`, Defender or KQL type names) or inferred from the values.
pub fn load_dir(dir: &Path) -> Result<Database> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    paths.sort();
    let mut db = Database::new();
    for path in paths {
        db.insert(load_table(&path)?);
    }
    Ok(db)
}

fn data_error(path: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn read_schema(path: &Path) -> Result<Option<Vec<(String, KqlType)>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let columns: Vec<HashMap<String, String>> =
        serde_json::from_str(&text).map_err(|e| data_error(path, e.line(), e.to_string()))?;
    let mut schema = Vec::new();
    for column in columns {
        let get = |key: &str| {
            column
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        let (Some(name), Some(type_name)) = (get("name"), get("type")) else {
            return Err(data_error(path, 1, "each column needs a name and a type"));
        };
        let kind = match type_name.as_str() {
            "Int32" => Some(KqlType::Int),
            "Object" => Some(KqlType::Dynamic),
            other => KqlType::from_kql_name(other),
        }
        .ok_or_else(|| {
            data_error(
                path,
                1,
                format!("unknown type {type_name} of column {name}"),
            )
        })?;
        schema.push((name, kind));
    }
    Ok(Some(schema))
}

fn infer_type(value: &serde_json::Value) -> Option<KqlType> {
    Some(match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(_) => KqlType::Bool,
        serde_json::Value::Number(n) if n.is_i64() => KqlType::Long,
        serde_json::Value::Number(_) => KqlType::Real,
        serde_json::Value::String(text) if text.parse::<DateTime<Utc>>().is_ok() => {
            KqlType::DateTime
        }
        serde_json::Value::String(_) => KqlType::String,
        _ => KqlType::Dynamic,
    })
}

fn convert(value: serde_json::Value, kind: KqlType) -> Option<Value> {
    use serde_json::Value as J;
    Some(match (kind, value) {
        (_, J::Null) => Value::Null,
        (KqlType::Dynamic, v) => Value::dynamic(v),
        (KqlType::Bool, J::Bool(b)) => Value::Bool(b),
        (KqlType::Int | KqlType::Long, J::Number(n)) => Value::Long(n.as_i64()?),
        (KqlType::Real, J::Number(n)) => Value::Real(n.as_f64()?),
        (KqlType::DateTime, J::String(t)) => Value::DateTime(t.parse().ok()?),
        (KqlType::String | KqlType::Guid, J::String(t)) => Value::str(&t),
        (KqlType::String, other) => Value::str(&other.to_string()),
        _ => return None,
    })
}

fn load_table(path: &Path) -> Result<Table> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| data_error(path, 0, "the file name is not a table name"))?
        .to_string();
    let records = read_records(path)?;
    let schema_path = path.with_file_name(format!("{name}.schema.json"));
    table_from_records(&name, records, read_schema(&schema_path)?, path)
}

/// The JSON objects of a JSON Lines file, each with its line number; blank lines are skipped.
pub fn read_records(
    path: &Path,
) -> Result<Vec<(usize, serde_json::Map<String, serde_json::Value>)>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
            .map_err(|e| data_error(path, i + 1, format!("not a JSON object: {e}")))?;
        records.push((i + 1, record));
    }
    Ok(records)
}

/// A table of `records` (each with the line it came from in `source`), typed by `columns` when
/// given, else by the values; a column a record lacks is null.
pub fn table_from_records(
    name: &str,
    records: Vec<(usize, serde_json::Map<String, serde_json::Value>)>,
    columns: Option<Vec<(String, KqlType)>>,
    source: &Path,
) -> Result<Table> {
    let columns = columns.unwrap_or_else(|| {
        let mut columns: Vec<(String, Option<KqlType>)> = Vec::new();
        for (_, record) in &records {
            for (key, value) in record {
                match columns.iter_mut().find(|(n, _)| n == key) {
                    Some((_, kind @ None)) => *kind = infer_type(value),
                    Some(_) => {}
                    None => columns.push((key.clone(), infer_type(value))),
                }
            }
        }
        columns
            .into_iter()
            .map(|(n, t)| (n, t.unwrap_or(KqlType::String)))
            .collect()
    });
    let mut table = Table::new(name.to_string(), columns);
    let mut strings = Interner::default();
    for (line, mut record) in records {
        let mut row = Vec::with_capacity(table.columns.len());
        for (column, kind) in &table.columns {
            let raw = record.remove(column).unwrap_or(serde_json::Value::Null);
            let cell = convert(raw, *kind).ok_or_else(|| {
                data_error(
                    source,
                    line,
                    format!(
                        "column {column} holds a value that is not a {}",
                        kind.defender_name()
                    ),
                )
            })?;
            row.push(cell);
        }
        strings.share(&mut row);
        table
            .push(row)
            .expect("rows are built from the table's own columns");
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_tables_load_with_inferred_or_given_schema() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("Events.jsonl"),
            "{\"Timestamp\":\"2026-03-01T10:00:00Z\",\"N\":1,\"Name\":\"a\",\"Extra\":null}\n\n\
             {\"Timestamp\":\"2026-03-01T11:00:00Z\",\"N\":2,\"Name\":\"b\",\"Extra\":{\"x\":1}}\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("Typed.jsonl"),
            "{\"Id\":\"7\",\"Port\":443}\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("Typed.schema.json"),
            r#"[{"Name":"Id","Type":"String"},{"name":"Port","type":"Int32"}]"#,
        )
        .expect("write");
        let db = load_dir(dir.path()).expect("loads");
        let events = &db.tables["Events"];
        let types: Vec<KqlType> = events.columns.iter().map(|c| c.1).collect();
        assert_eq!(
            types,
            [
                KqlType::DateTime,
                KqlType::Long,
                KqlType::String,
                KqlType::Dynamic
            ]
        );
        assert_eq!(events.rows.len(), 2);
        assert_eq!(db.tables["Typed"].columns[1], ("Port".into(), KqlType::Int));
    }

    #[test]
    fn a_bad_jsonl_line_is_reported_with_its_line_number() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("T.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"a\":\"x\"}\n").expect("write");
        let err = load_dir(dir.path()).expect_err("value of the wrong type");
        assert!(matches!(err, Error::Data { line: 2, .. }), "{err}");
        std::fs::write(&path, "{\"a\":1}\n\nnot json\n").expect("write");
        let err = load_dir(dir.path()).expect_err("not JSON");
        assert!(matches!(err, Error::Data { line: 3, .. }), "{err}");
    }
}
