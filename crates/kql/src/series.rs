//! `range(start, stop [, step])`: the evenly spaced array `make-series` axes are made of.

use std::cmp::Ordering;

use crate::ast::BinOp;
use crate::scalar;
use crate::value::{TICKS_PER_SECOND, Value, compare};

/// Kusto's cap on the values `range()` returns.
const MAX_VALUES: usize = 1 << 20;

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
