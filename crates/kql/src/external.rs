//! `externaldata`'s rows: the bodies a caller fetched for its URLs, decoded per Kusto's
//! ingestion data formats and converted to the declared column types (a cell that does not
//! convert is null, as Kusto makes it).
//!
//! The engine fetches nothing itself: it stays free of HTTP, so the emulator fetches the URLs
//! [`crate::external_urls`] lists and hands their bodies to [`crate::run_with_external`]; `eval`
//! reads them here.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::ast::{DataFormat, Locate};
use crate::functions::json_path;
use crate::table::Row;
use crate::value::{KqlType, Value, parse_datetime, parse_guid, parse_timespan};

/// The bodies fetched for a query's `externaldata` URLs, by URL as the query writes it.
pub type ExternalBodies = HashMap<String, Vec<u8>>;

/// `url` fit to show in a message or a log: its query string and fragment (a storage URL's SAS
/// token, `sig=`), an account key after `;` and a password before `@` replaced by `[redacted]`.
pub fn redact_url(url: &str) -> String {
    let (base, cut) = match url.find(['?', '#', ';']) {
        Some(i) => (&url[..i], Some(&url[i..=i])),
        None => (url, None),
    };
    let mut shown = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://[redacted]{}", &rest[at..]),
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    if let Some(cut) = cut {
        shown.push_str(cut);
        shown.push_str("[redacted]");
    }
    shown
}

impl DataFormat {
    /// The format a `format` property names (any case), `None` for one not read here.
    pub fn from_name(name: &str) -> Option<DataFormat> {
        Some(match name.to_ascii_lowercase().as_str() {
            "csv" => DataFormat::Csv,
            "tsv" => DataFormat::Tsv,
            "scsv" => DataFormat::Scsv,
            "psv" => DataFormat::Psv,
            "sohsv" => DataFormat::Sohsv,
            "txt" => DataFormat::Txt,
            "raw" => DataFormat::Raw,
            "json" => DataFormat::Json,
            "multijson" => DataFormat::MultiJson,
            _ => return None,
        })
    }

    /// The name `format` gives this format.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Csv => "csv",
            DataFormat::Tsv => "tsv",
            DataFormat::Scsv => "scsv",
            DataFormat::Psv => "psv",
            DataFormat::Sohsv => "sohsv",
            DataFormat::Txt => "txt",
            DataFormat::Raw => "raw",
            DataFormat::Json => "json",
            DataFormat::MultiJson => "multijson",
        }
    }

    /// The format Kusto detects from the file extension of `url`'s path; CSV, its default, for
    /// an extension it does not know or none.
    pub fn from_url(url: &str) -> DataFormat {
        let path = url.split(['?', '#', ';']).next().unwrap_or(url);
        let file = path.rsplit('/').next().unwrap_or(path);
        file.rsplit_once('.')
            .and_then(|(_, extension)| DataFormat::from_name(extension))
            .unwrap_or(DataFormat::Csv)
    }
}

/// `ingestionMapping`'s JSON: for each column, where its value is (`None` for a column it
/// leaves out); why it cannot be read otherwise.
pub(crate) fn parse_mapping(
    text: &str,
    columns: &[(String, KqlType)],
) -> Result<Vec<Option<Locate>>, String> {
    let shape = || {
        "ingestionMapping is a JSON array of {\"Column\": name, \"Properties\": {\"Path\": \
         \"$.x\"}} (JSON formats) or {..., \"Properties\": {\"Ordinal\": \"0\"}} (separated \
         formats) objects"
            .to_string()
    };
    let Ok(Json::Array(entries)) = serde_json::from_str::<Json>(text) else {
        return Err(shape());
    };
    let mut mapping = vec![None; columns.len()];
    for entry in &entries {
        let column = key(entry, "column")
            .and_then(Json::as_str)
            .ok_or_else(shape)?;
        let index = columns
            .iter()
            .position(|(name, _)| name == column)
            .ok_or_else(|| {
                format!("ingestionMapping maps '{column}', a column not in the schema")
            })?;
        // Kusto reads a mapping's properties inside `Properties` or, in its older form, beside
        // `Column`.
        let property = |name: &str| {
            key(entry, "properties")
                .and_then(|p| key(p, name))
                .or_else(|| key(entry, name))
        };
        if property("transform").is_some() || property("constvalue").is_some() {
            return Err(format!(
                "ingestionMapping's transforms and constant values ('{column}') are not \
                 supported by huntd emulate"
            ));
        }
        let locate = match (property("path"), property("ordinal")) {
            (Some(Json::String(path)), _) if path.starts_with('$') => Locate::Path(path.clone()),
            (None, Some(ordinal)) => match ordinal {
                Json::String(text) => text.trim().parse().ok(),
                other => other.as_u64().and_then(|n| usize::try_from(n).ok()),
            }
            .map(Locate::Ordinal)
            .ok_or_else(|| format!("ingestionMapping's Ordinal of '{column}' is not a number"))?,
            _ => {
                return Err(format!(
                    "ingestionMapping gives '{column}' neither a Path starting with '$' nor an \
                     Ordinal"
                ));
            }
        };
        mapping[index] = Some(locate);
    }
    Ok(mapping)
}

/// The value of `object`'s property `name`, its case ignored.
fn key<'j>(object: &'j Json, name: &str) -> Option<&'j Json> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A body's records in `format` as rows of `columns`, placed by `mapping` when there is one;
/// why the body cannot be read otherwise.
pub(crate) fn decode(
    format: DataFormat,
    body: &[u8],
    columns: &[(String, KqlType)],
    mapping: Option<&[Option<Locate>]>,
) -> Result<Vec<Row>, String> {
    let json = matches!(format, DataFormat::Json | DataFormat::MultiJson);
    if let Some(mapping) = mapping
        && (matches!(format, DataFormat::Txt | DataFormat::Raw)
            || mapping
                .iter()
                .flatten()
                .any(|l| matches!(l, Locate::Path(_)) != json))
    {
        return Err(format!(
            "its ingestionMapping does not fit its {} format: JSON formats map by Path, \
             separated ones by Ordinal, txt and raw take none",
            format.name()
        ));
    }
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err("the body is gzip-compressed, which huntd emulate does not read".to_string());
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = || String::from_utf8_lossy(body);
    match format {
        DataFormat::Csv => delimited(body, b',', columns, mapping),
        DataFormat::Tsv => delimited(body, b'\t', columns, mapping),
        DataFormat::Scsv => delimited(body, b';', columns, mapping),
        DataFormat::Psv => delimited(body, b'|', columns, mapping),
        DataFormat::Sohsv => delimited(body, 0x01, columns, mapping),
        DataFormat::Txt => Ok(text()
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .filter(|line| !line.is_empty())
            .map(|line| first_column(line, columns))
            .collect()),
        DataFormat::Raw => Ok(vec![first_column(&text(), columns)]),
        DataFormat::Json => json_lines(body, columns, mapping),
        DataFormat::MultiJson => multi_json(body, columns, mapping),
    }
}

/// Separated values with RFC 4180 quoting (quoted separators, line breaks and doubled quotes),
/// read by the `csv` crate. A record's fields fill the columns in order, or as `mapping`'s
/// ordinals place them: missing ones are empty, extra ones are left out. Blank lines hold no
/// record.
fn delimited(
    body: &[u8],
    delimiter: u8,
    columns: &[(String, KqlType)],
    mapping: Option<&[Option<Locate>]>,
) -> Result<Vec<Row>, String> {
    let fields: Vec<Option<usize>> = (0..columns.len())
        .map(|i| match mapping {
            None => Some(i),
            Some(mapping) => match mapping.get(i) {
                Some(Some(Locate::Ordinal(n))) => Some(*n),
                _ => None,
            },
        })
        .collect();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(body);
    let mut record = csv::ByteRecord::new();
    let mut rows = Vec::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| format!("not CSV: {e}"))?
    {
        let row: Vec<Value> = columns
            .iter()
            .zip(&fields)
            .map(|((_, ty), field)| {
                let text = field.and_then(|i| record.get(i)).unwrap_or_default();
                cell(&String::from_utf8_lossy(text), *ty)
            })
            .collect();
        rows.push(Row::from(row));
    }
    Ok(rows)
}

/// A row with `text` in the first column and the others empty (`txt`, `raw`).
fn first_column(text: &str, columns: &[(String, KqlType)]) -> Row {
    let row: Vec<Value> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| cell(if i == 0 { text } else { "" }, *ty))
        .collect();
    Row::from(row)
}

/// JSON Lines: each non-blank line one object.
fn json_lines(
    body: &[u8],
    columns: &[(String, KqlType)],
    mapping: Option<&[Option<Locate>]>,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Json>(line) {
            Ok(object @ Json::Object(_)) => rows.push(json_row(&object, columns, mapping)),
            _ => return Err(format!("line {} is not a JSON object", n + 1)),
        }
    }
    Ok(rows)
}

/// MultiJSON: objects, or arrays of objects, one after another, each spanning any lines.
fn multi_json(
    body: &[u8],
    columns: &[(String, KqlType)],
    mapping: Option<&[Option<Locate>]>,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for value in serde_json::Deserializer::from_slice(body).into_iter::<Json>() {
        let value = value.map_err(|e| format!("not JSON at line {}: {e}", e.line()))?;
        let objects = match value {
            Json::Array(items) => items,
            other => vec![other],
        };
        for object in objects {
            if !object.is_object() {
                return Err("a record is not a JSON object".to_string());
            }
            rows.push(json_row(&object, columns, mapping));
        }
    }
    Ok(rows)
}

/// An object's properties as the columns: by `mapping`'s paths, or else by name, as Kusto maps
/// JSON without an ingestion mapping.
fn json_row(
    object: &Json,
    columns: &[(String, KqlType)],
    mapping: Option<&[Option<Locate>]>,
) -> Row {
    let row: Vec<Value> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| {
            let found = match mapping {
                None => object.get(name),
                Some(mapping) => match mapping.get(i) {
                    Some(Some(Locate::Path(path))) => json_path(object, path),
                    _ => None,
                },
            };
            (found, ty)
        })
        .map(|(found, ty)| match (found, ty) {
            (None | Some(Json::Null), _) => cell("", *ty),
            (Some(value), KqlType::Dynamic) => Value::dynamic(value.clone()),
            (Some(Json::String(text)), _) => cell(text, *ty),
            (Some(value), _) => cell(&value.to_string(), *ty),
        })
        .collect();
    Row::from(row)
}

/// One field's text as a value of its column's type: null when it does not convert, empty text
/// in a string column (a Kusto string is never null).
fn cell(text: &str, ty: KqlType) -> Value {
    let trimmed = text.trim();
    if trimmed.is_empty() && ty != KqlType::String {
        return Value::Null;
    }
    match ty {
        KqlType::String => Value::str(text),
        KqlType::Long => trimmed.parse().map_or(Value::Null, Value::Long),
        KqlType::Int => trimmed
            .parse::<i32>()
            .map_or(Value::Null, |n| Value::Long(i64::from(n))),
        KqlType::Real => trimmed.parse().map_or(Value::Null, Value::Real),
        KqlType::Bool => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => Value::Null,
        },
        KqlType::DateTime => parse_datetime(trimmed).map_or(Value::Null, Value::DateTime),
        KqlType::TimeSpan => parse_timespan(trimmed).map_or(Value::Null, Value::TimeSpan),
        KqlType::Guid => parse_guid(trimmed).map_or(Value::Null, |g| Value::str(&g)),
        // Text that is not JSON is kept as a JSON string, as Kusto keeps it.
        KqlType::Dynamic => Value::dynamic(
            serde_json::from_str(trimmed).unwrap_or_else(|_| Json::String(text.to_string())),
        ),
    }
}
