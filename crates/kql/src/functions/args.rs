//! Reading a function's evaluated arguments: the shapes every family of functions takes.

use std::borrow::Cow;

use crate::scalar::to_text;
use crate::value::Value;

/// Argument `i` with a dynamic scalar unwrapped; null when it is missing.
pub(super) fn scalar(args: &[Value], i: usize) -> Cow<'_, Value> {
    args.get(i)
        .map_or(Cow::Owned(Value::Null), Value::scalarize)
}

/// Argument `i` as text, as the string functions read any value.
pub(super) fn text(args: &[Value], i: usize) -> Cow<'_, str> {
    args.get(i).map_or(Cow::Borrowed(""), to_text)
}

/// Argument `i` as a whole number; `None` when it is not one.
pub(super) fn long(args: &[Value], i: usize) -> Option<i64> {
    match *scalar(args, i) {
        Value::Long(n) => Some(n),
        _ => None,
    }
}

/// Argument `i` as a number of any kind; `None` when it is not one.
pub(super) fn real(args: &[Value], i: usize) -> Option<f64> {
    match *scalar(args, i) {
        Value::Long(_) | Value::Real(_) => scalar(args, i).as_f64(),
        _ => None,
    }
}

/// Argument `i` as a JSON array; `None` when it is not a dynamic array.
pub(super) fn array(args: &[Value], i: usize) -> Option<&Vec<serde_json::Value>> {
    match args.get(i) {
        Some(Value::Dynamic(json)) => json.as_array(),
        _ => None,
    }
}

/// A string as a JSON value.
pub(super) fn json_str(text: &str) -> serde_json::Value {
    serde_json::Value::String(text.to_string())
}
