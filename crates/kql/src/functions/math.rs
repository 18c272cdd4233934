//! The number functions.

use std::borrow::Cow;

use crate::value::Value;

/// `round(x, digits)`: half away from zero, as Kusto rounds.
pub(super) fn round(x: &Value, digits: Option<&Value>) -> Value {
    let digits = match digits {
        None => 0,
        Some(Value::Long(d)) => i32::try_from(*d).unwrap_or(0),
        Some(_) => return Value::Null,
    };
    match x {
        Value::Long(n) if digits >= 0 => Value::Long(*n),
        Value::Long(_) | Value::Real(_) => {
            let Some(x) = x.as_f64() else {
                return Value::Null;
            };
            let scale = 10f64.powi(digits);
            Value::Real((x * scale).round() / scale)
        }
        _ => Value::Null,
    }
}

/// `min_of`/`max_of`: the least or greatest non-null argument.
pub(super) fn extreme_of(greatest: bool, args: &[Value]) -> Value {
    let mut best: Option<Cow<'_, Value>> = None;
    for value in args.iter().map(Value::scalarize).filter(|v| !v.is_null()) {
        let better = best.as_ref().is_none_or(|b| {
            crate::value::compare(&value, b)
                .is_some_and(|o| if greatest { o.is_gt() } else { o.is_lt() })
        });
        if better {
            best = Some(value);
        }
    }
    best.map_or(Value::Null, Cow::into_owned)
}
