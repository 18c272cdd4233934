//! The functions over series, the arrays `make-series` makes: `range()`, the element-wise
//! arithmetic and `series_fill_const`.

use std::cmp::Ordering;

use crate::ast::BinOp;
use crate::scalar;
use crate::value::{TICKS_PER_SECOND, Value, compare};

/// Kusto's cap on the values `range()` returns.
pub(crate) const MAX_VALUES: usize = 1 << 20;

/// `range(start, stop [, step])`: start, start + step, ... up to and including stop; the step
/// is 1 for numbers and 1h for datetimes and timespans unless given. Null when the arguments
/// do not make a range (a zero step, types that do not add up).
pub(crate) fn range(args: &[Value]) -> Value {
    let (Some(start), Some(stop)) = (args.first(), args.get(1)) else {
        return Value::Null;
    };
    let (start, stop) = (start.scalarize(), stop.scalarize());
    let step = match args.get(2).map(|s| s.scalarize().into_owned()) {
        Some(step) => step,
        None if matches!(*start, Value::DateTime(_) | Value::TimeSpan(_)) => {
            Value::TimeSpan(3600 * TICKS_PER_SECOND)
        }
        None => Value::Long(1),
    };
    let direction = match compare(&step, &Value::Long(0)).or_else(|| match &step {
        Value::TimeSpan(t) => Some(t.cmp(&0)),
        _ => None,
    }) {
        Some(Ordering::Greater) => Ordering::Greater,
        Some(Ordering::Less) => Ordering::Less,
        _ => return Value::Null,
    };
    let mut values = Vec::new();
    let mut current = start.into_owned();
    while values.len() < MAX_VALUES {
        match compare(&current, &stop) {
            Some(o) if o == direction => break,
            Some(_) => {}
            None => return Value::Null,
        }
        let next = scalar::arith(BinOp::Add, &current, &step);
        values.push(current.to_json());
        if next.is_null() {
            break;
        }
        current = next;
    }
    Value::dynamic(serde_json::Value::Array(values))
}

/// A series' elements, or `None` when the value is not an array.
fn elements(v: &Value) -> Option<&Vec<serde_json::Value>> {
    match v {
        Value::Dynamic(json) => json.as_array(),
        _ => None,
    }
}

/// `series_add`, `series_subtract`, `series_multiply`, `series_divide`: the operation element by
/// element; an element missing from the shorter array or not a number is null, and division
/// is always of reals (so dividing by zero is infinite, as Kusto's doubles are).
pub(crate) fn arith(op: BinOp, args: &[Value]) -> Value {
    let (Some(a), Some(b)) = (
        args.first().and_then(elements),
        args.get(1).and_then(elements),
    ) else {
        return Value::Null;
    };
    let number = |j: Option<&serde_json::Value>| {
        let v = Value::dynamic(j?.clone()).scalarize().into_owned();
        matches!(v, Value::Long(_) | Value::Real(_)).then_some(v)
    };
    let out = (0..a.len().max(b.len()))
        .map(|i| match (number(a.get(i)), number(b.get(i))) {
            (Some(x), Some(y)) if op == BinOp::Div => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => Value::Real(x / y).to_json(),
                _ => serde_json::Value::Null,
            },
            (Some(x), Some(y)) => scalar::arith(op, &x, &y).to_json(),
            _ => serde_json::Value::Null,
        })
        .collect();
    Value::dynamic(serde_json::Value::Array(out))
}

/// `series_fill_const(series, constant [, missing])`: each missing element (null, or equal to
/// `missing` when given) replaced by `constant`.
pub(crate) fn fill_const(args: &[Value]) -> Value {
    let Some(items) = args.first().and_then(elements) else {
        return Value::Null;
    };
    let constant = args.get(1).map_or(serde_json::Value::Null, Value::to_json);
    let missing = args.get(2).map_or(serde_json::Value::Null, Value::to_json);
    let out = items
        .iter()
        .map(|x| {
            if *x == missing || x.is_null() {
                constant.clone()
            } else {
                x.clone()
            }
        })
        .collect();
    Value::dynamic(serde_json::Value::Array(out))
}
