//! The string functions added for hunting queries: trimming, counting, extracting all matches,
//! joining and repeating.

use crate::value::{KqlType, Value};

use super::args::{array, json_str, long, text};
use super::regexes::cached_regex;

/// Most times `strrep` repeats its value, as Kusto caps it.
const MAX_REPEAT: i64 = 1024;

/// A string function of this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFn {
    /// `trim(regex, s)`.
    Trim,
    /// `trim_start(regex, s)`.
    TrimStart,
    /// `trim_end(regex, s)`.
    TrimEnd,
    /// `countof(s, search [, kind])`.
    CountOf,
    /// `extract_all(regex, [groups,] s)`.
    ExtractAll,
    /// `strcat_delim(delimiter, a, b, ...)`.
    StrcatDelim,
    /// `strcat_array(array, delimiter)`.
    StrcatArray,
    /// `reverse(s)`.
    Reverse,
    /// `strrep(s, times [, delimiter])`.
    StrRep,
    /// `string_size(s)`.
    StringSize,
    /// `isascii(s)`.
    IsAscii,
}

impl TextFn {
    /// The result type Kusto documents.
    pub(super) fn return_type(self) -> KqlType {
        match self {
            TextFn::CountOf | TextFn::StringSize => KqlType::Long,
            TextFn::ExtractAll => KqlType::Dynamic,
            TextFn::IsAscii => KqlType::Bool,
            _ => KqlType::String,
        }
    }

    /// Which argument is a regular expression, so that a literal one is checked when the
    /// query compiles.
    pub(super) fn regex_argument(self) -> Option<usize> {
        match self {
            TextFn::Trim | TextFn::TrimStart | TextFn::TrimEnd | TextFn::ExtractAll => Some(0),
            _ => None,
        }
    }
}

/// Evaluates a function of this family.
pub(super) fn call(f: TextFn, args: &[Value]) -> Value {
    match f {
        TextFn::Trim => trim(&text(args, 0), &text(args, 1), true, true),
        TextFn::TrimStart => trim(&text(args, 0), &text(args, 1), true, false),
        TextFn::TrimEnd => trim(&text(args, 0), &text(args, 1), false, true),
        TextFn::CountOf => count_of(
            &text(args, 0),
            &text(args, 1),
            args.get(2).map(|_| text(args, 2)).as_deref(),
        ),
        TextFn::ExtractAll => extract_all(args),
        TextFn::StrcatDelim => {
            let delimiter = text(args, 0);
            let parts: Vec<_> = (1..args.len()).map(|i| text(args, i)).collect();
            Value::str(&parts.join(&*delimiter))
        }
        TextFn::StrcatArray => strcat_array(args),
        TextFn::Reverse => Value::str(&text(args, 0).chars().rev().collect::<String>()),
        TextFn::StrRep => strrep(args),
        #[allow(clippy::cast_possible_wrap)] // a string's length in bytes fits in i64
        TextFn::StringSize => Value::Long(text(args, 0).len() as i64),
        TextFn::IsAscii => Value::Bool(text(args, 0).is_ascii()),
    }
}

/// `trim`, `trim_start`, `trim_end`: every leading and/or trailing match of `regex` removed;
/// an invalid regex gives null.
fn trim(regex: &str, source: &str, start: bool, end: bool) -> Value {
    let mut rest = source;
    if start {
        let Ok(re) = cached_regex(&format!("^(?:{regex})+")) else {
            return Value::Null;
        };
        if let Some(m) = re.find(rest) {
            rest = &rest[m.end()..];
        }
    }
    if end {
        let Ok(re) = cached_regex(&format!("(?:{regex})+$")) else {
            return Value::Null;
        };
        if let Some(m) = re.find(rest) {
            rest = &rest[..m.start()];
        }
    }
    Value::str(rest)
}

/// `countof`: plain matches may overlap, regex matches do not, as Kusto documents; an empty
/// search counts nothing, and a kind other than `normal` or `regex` gives null.
fn count_of(source: &str, search: &str, kind: Option<&str>) -> Value {
    let count = match kind {
        None | Some("normal") => {
            if search.is_empty() {
                return Value::Long(0);
            }
            source
                .char_indices()
                .filter(|(at, _)| source[*at..].starts_with(search))
                .count()
        }
        Some("regex") => match cached_regex(search) {
            Ok(re) => re.find_iter(source).filter(|m| !m.is_empty()).count(),
            Err(_) => return Value::Null,
        },
        Some(_) => return Value::Null,
    };
    i64::try_from(count).map_or(Value::Null, Value::Long)
}

/// `extract_all(regex, [groups,] source)`: per match, the chosen groups (all groups when none
/// are chosen): an array of strings for one group, of arrays for more. Null when nothing
/// matches, the regex has no group or is invalid, or a chosen group does not exist.
fn extract_all(args: &[Value]) -> Value {
    let Ok(re) = cached_regex(&text(args, 0)) else {
        return Value::Null;
    };
    let groups = if args.len() == 3 {
        let Some(chosen) = array(args, 1) else {
            return Value::Null;
        };
        let mut groups = Vec::with_capacity(chosen.len());
        for g in chosen {
            let index = match g {
                serde_json::Value::String(name) => {
                    re.capture_names().position(|n| n == Some(name.as_str()))
                }
                other => other.as_u64().and_then(|n| usize::try_from(n).ok()),
            };
            match index {
                Some(i) if i >= 1 && i < re.captures_len() => groups.push(i),
                _ => return Value::Null,
            }
        }
        groups
    } else {
        (1..re.captures_len()).collect()
    };
    if groups.is_empty() {
        return Value::Null;
    }
    let source = text(args, args.len() - 1);
    let matches: Vec<serde_json::Value> = re
        .captures_iter(&source)
        .map(|c| {
            let mut picked = groups
                .iter()
                .map(|g| json_str(c.get(*g).map_or("", |m| m.as_str())));
            if groups.len() == 1 {
                picked.next().unwrap_or_default()
            } else {
                serde_json::Value::Array(picked.collect())
            }
        })
        .collect();
    if matches.is_empty() {
        Value::Null
    } else {
        Value::dynamic(serde_json::Value::Array(matches))
    }
}

/// `strcat_array(array, delimiter)`: the elements' text joined; an empty string when the
/// first argument is not an array.
fn strcat_array(args: &[Value]) -> Value {
    let Some(items) = array(args, 0) else {
        return Value::str("");
    };
    let parts: Vec<String> = items
        .iter()
        .map(|item| match item {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        })
        .collect();
    Value::str(&parts.join(&*text(args, 1)))
}

/// `strrep(value, times [, delimiter])`: at most 1,024 copies, as Kusto caps it; a count
/// below one or not a number gives null.
fn strrep(args: &[Value]) -> Value {
    let Some(times) = long(args, 1).filter(|n| *n >= 1) else {
        return Value::Null;
    };
    let times = usize::try_from(times.min(MAX_REPEAT)).unwrap_or(1);
    let value = text(args, 0);
    let copies = vec![value.as_ref(); times];
    Value::str(&copies.join(&*text(args, 2)))
}
