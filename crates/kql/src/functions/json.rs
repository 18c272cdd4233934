//! JSON: `parse_json` and `extractjson`'s paths.

use crate::scalar::to_text;
use crate::value::{KqlType, Value, parse_datetime};

use super::convert::{to_bool, to_long};

/// The node a JSON path (`$.a.b[0]`, `$['a']`) leads to in `doc`; `None` when there is none.
pub(crate) fn json_path<'j>(
    doc: &'j serde_json::Value,
    path: &str,
) -> Option<&'j serde_json::Value> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut node = doc;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            node = node.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let key = r[..end].trim_matches(|c| c == '\'' || c == '"');
            node = match key.parse::<usize>() {
                Ok(i) => node.get(i),
                Err(_) => node.get(key),
            }?;
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(node)
}

/// `extractjson`: a `$.a.b[0]` path into JSON text (or a dynamic value), optionally typed.
pub(super) fn extract_json(path: &str, json: &Value, ty: Option<&Value>) -> Value {
    let doc = match json {
        Value::Dynamic(d) => match d.as_str() {
            Some(s) => serde_json::from_str(s).ok(),
            None => Some(d.as_ref().clone()),
        },
        Value::String(s) => serde_json::from_str(s).ok(),
        _ => None,
    };
    let Some(doc) = doc else { return Value::Null };
    let Some(node) = json_path(&doc, path) else {
        return Value::Null;
    };
    let text = match node {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match ty
        .map(|t| to_text(t).into_owned())
        .as_deref()
        .and_then(KqlType::from_kql_name)
    {
        None | Some(KqlType::String | KqlType::Guid) => Value::str(&text),
        Some(KqlType::Long | KqlType::Int) => to_long(&Value::str(&text)),
        Some(KqlType::Real) => text.trim().parse().map_or(Value::Null, Value::Real),
        Some(KqlType::Bool) => to_bool(&Value::str(&text)),
        Some(KqlType::DateTime) => parse_datetime(&text).map_or(Value::Null, Value::DateTime),
        Some(KqlType::TimeSpan) => {
            crate::value::parse_timespan(&text).map_or(Value::Null, Value::TimeSpan)
        }
        Some(KqlType::Dynamic) => Value::dynamic(node.clone()),
    }
}

/// `parse_json`: text read as JSON, or kept as a dynamic string when it is not JSON.
pub(super) fn parse_json(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).map_or_else(
            |_| Value::dynamic(serde_json::Value::String(s.to_string())),
            Value::dynamic,
        ),
        Value::Dynamic(json) => match json.as_str() {
            Some(s) => serde_json::from_str(s).map_or_else(|_| v.clone(), Value::dynamic),
            None => v.clone(),
        },
        Value::Null => Value::Null,
        other => Value::dynamic(other.to_json()),
    }
}
