//! The `to*` conversions and the emptiness tests.

use crate::value::{Value, parse_datetime};

/// `toint` of a scalar: null when it does not convert or does not fit 32 bits.
pub(super) fn to_int(v: &Value) -> Value {
    match to_long(v) {
        Value::Long(n) => i32::try_from(n).map_or(Value::Null, |n| Value::Long(i64::from(n))),
        other => other,
    }
}

/// `todouble`/`toreal` of a scalar; what does not convert is null.
pub(super) fn to_double(v: &Value) -> Value {
    match v {
        Value::Long(_) | Value::Real(_) => v.as_f64().map_or(Value::Null, Value::Real),
        Value::String(s) => s.trim().parse().map_or(Value::Null, Value::Real),
        Value::Bool(b) => Value::Real(if *b { 1.0 } else { 0.0 }),
        #[allow(clippy::cast_precision_loss)]
        Value::TimeSpan(t) => Value::Real(*t as f64),
        _ => Value::Null,
    }
}

/// `todatetime` of a scalar; what does not convert is null.
pub(super) fn to_datetime(v: &Value) -> Value {
    match v {
        Value::DateTime(t) => Value::DateTime(*t),
        Value::String(s) => parse_datetime(s).map_or(Value::Null, Value::DateTime),
        _ => Value::Null,
    }
}

/// `tobool` of a scalar; what does not convert is null.
pub(super) fn to_bool(v: &Value) -> Value {
    match v {
        Value::Bool(b) => Value::Bool(*b),
        Value::Long(n) => Value::Bool(*n != 0),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        _ => Value::Null,
    }
}

/// `isempty`: null, an empty string or a dynamic null or empty string.
pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Dynamic(json) => json.is_null() || json.as_str().is_some_and(str::is_empty),
        other => other.is_null(),
    }
}

/// `tolong` of a scalar; reals and numeric text are truncated, what does not convert is null.
pub(super) fn to_long(v: &Value) -> Value {
    match v {
        Value::Long(n) => Value::Long(*n),
        #[allow(clippy::cast_possible_truncation)]
        Value::Real(r) if r.is_finite() => Value::Long(r.trunc() as i64),
        Value::Bool(b) => Value::Long(i64::from(*b)),
        Value::String(s) => s.trim().parse::<i64>().map_or_else(
            |_| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite())
                    .map_or(Value::Null, |r| {
                        #[allow(clippy::cast_possible_truncation)]
                        Value::Long(r.trunc() as i64)
                    })
            },
            Value::Long,
        ),
        Value::TimeSpan(t) => Value::Long(*t),
        _ => Value::Null,
    }
}

/// `totimespan` of a scalar: a timespan or its text (`1.02:03:04`, `1d`); null otherwise.
pub(super) fn to_timespan(v: &Value) -> Value {
    match v {
        Value::TimeSpan(t) => Value::TimeSpan(*t),
        Value::String(s) => crate::value::parse_timespan(s).map_or(Value::Null, Value::TimeSpan),
        _ => Value::Null,
    }
}
