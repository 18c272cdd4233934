//! The string functions: search, split, cut and rewrite text.

use crate::scalar::to_text;
use crate::value::Value;

use super::regexes::cached_regex;

/// `replace_regex`: every match of `regex` in `text` replaced by `rewrite`, where `\1` names a
/// capture group; an invalid regex gives null.
pub(super) fn replace_regex(text: &Value, regex: &Value, rewrite: &Value) -> Value {
    let Ok(re) = cached_regex(&to_text(regex)) else {
        return Value::Null;
    };
    // Kusto writes groups as `\1`; the regex crate as `${1}`.
    let rewrite = to_text(rewrite);
    let mut template = String::with_capacity(rewrite.len());
    let mut chars = rewrite.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(d)) if d.is_ascii_digit() => {
                template.push_str("${");
                template.push(*d);
                template.push('}');
                chars.next();
            }
            ('$', _) => template.push_str("$$"),
            (c, _) => template.push(c),
        }
    }
    Value::str(&re.replace_all(&to_text(text), template.as_str()))
}

/// `indexof(text, lookup)`: the character position of the first match, or -1.
pub(super) fn index_of(text: &str, lookup: &str) -> Value {
    #[allow(clippy::cast_possible_wrap)] // a string's length in characters fits in i64
    text.find(lookup).map_or(Value::Long(-1), |at| {
        Value::Long(text[..at].chars().count() as i64)
    })
}

/// `extract(regex, group, text)` with a compiled regex.
pub fn extract(re: &regex::Regex, group: &Value, text: &Value) -> Value {
    let Value::Long(group) = *group.scalarize() else {
        return Value::Null;
    };
    let Ok(group) = usize::try_from(group) else {
        return Value::Null;
    };
    let text = to_text(text);
    re.captures(&text)
        .and_then(|c| c.get(group))
        .map_or(Value::str(""), |m| Value::str(m.as_str()))
}

/// `split(s, delimiter [, index])`: the parts as an array, or the one at `index`.
pub(super) fn split(args: &[Value]) -> Value {
    let text = to_text(&args[0]);
    let delim = to_text(&args[1]);
    let parts: Vec<serde_json::Value> = if delim.is_empty() {
        vec![serde_json::Value::String(text.to_string())]
    } else {
        text.split(&*delim)
            .map(|p| serde_json::Value::String(p.to_string()))
            .collect()
    };
    match args.get(2).map(Value::scalarize).as_deref() {
        None => Value::dynamic(serde_json::Value::Array(parts)),
        Some(Value::Long(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| parts.get(i).cloned())
            .map_or(Value::dynamic(serde_json::Value::Array(Vec::new())), |p| {
                Value::dynamic(serde_json::Value::Array(vec![p]))
            }),
        Some(_) => Value::Null,
    }
}

/// `substring(s, start [, length])` in characters, clamped to the text.
pub(super) fn substring(args: &[Value]) -> Value {
    let text = to_text(&args[0]);
    let Value::Long(start) = *args[1].scalarize() else {
        return Value::Null;
    };
    let chars: Vec<char> = text.chars().collect();
    let start = usize::try_from(start.max(0))
        .unwrap_or(usize::MAX)
        .min(chars.len());
    let end = match args.get(2).map(Value::scalarize).as_deref() {
        Some(Value::Long(len)) => start
            .saturating_add(usize::try_from((*len).max(0)).unwrap_or(usize::MAX))
            .min(chars.len()),
        Some(_) => return Value::Null,
        None => chars.len(),
    };
    Value::str(&chars[start..end].iter().collect::<String>())
}
