//! The array and set functions over `dynamic` arrays: concatenating, slicing, splitting,
//! rotating and shifting, searching, sorting, summing, choosing element-wise, set algebra,
//! similarity and zipping.

use std::cmp::Ordering;

use serde_json::Value as J;

use crate::value::{KqlType, Value};

use super::args::{array, long, scalar};

/// A function of this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayFn {
    /// `array_concat(a, ...)`.
    Concat,
    /// `array_slice(a, start, end)`.
    Slice,
    /// `array_index_of(a, value [, start [, length [, occurrence]]])`.
    IndexOf,
    /// `array_sort_asc(a [, nulls_last])`.
    SortAsc,
    /// `array_sort_desc(a [, nulls_last])`.
    SortDesc,
    /// `array_sum(a)`.
    Sum,
    /// `array_reverse(a)`.
    Reverse,
    /// `set_difference(a, b, ...)`.
    Difference,
    /// `set_intersect(a, b, ...)`.
    Intersect,
    /// `set_union(a, b, ...)`.
    Union,
    /// `set_has_element(a, value)`.
    HasElement,
    /// `zip(a, b, ...)`.
    Zip,
    /// `array_split(a, index)`, the index a number or an array of them.
    Split,
    /// `array_rotate_left(a, n)`.
    RotateLeft,
    /// `array_rotate_right(a, n)`.
    RotateRight,
    /// `array_shift_left(a, n [, fill])`.
    ShiftLeft,
    /// `array_shift_right(a, n [, fill])`.
    ShiftRight,
    /// `array_iff(conditions, when_true, when_false)` / `array_iif`.
    Iff,
    /// `jaccard_index(a, b)`.
    Jaccard,
}

impl ArrayFn {
    /// The result type Kusto documents.
    pub(super) fn return_type(self) -> KqlType {
        match self {
            ArrayFn::IndexOf => KqlType::Long,
            ArrayFn::Sum | ArrayFn::Jaccard => KqlType::Real,
            ArrayFn::HasElement => KqlType::Bool,
            _ => KqlType::Dynamic,
        }
    }
}

/// Evaluates a function of this family; an argument that should be an array and is not gives
/// null.
pub(super) fn call(f: ArrayFn, args: &[Value]) -> Value {
    let Some(first) = array(args, 0) else {
        return Value::Null;
    };
    let list = |items: Vec<J>| Value::dynamic(J::Array(items));
    match f {
        ArrayFn::Slice => slice(first, args),
        ArrayFn::IndexOf => index_of(first, args),
        ArrayFn::SortAsc | ArrayFn::SortDesc => sort(first, f == ArrayFn::SortDesc, args),
        ArrayFn::Sum => first
            .iter()
            .map(|v| if v.is_number() { v.as_f64() } else { None })
            .try_fold(0.0, |sum, x| x.map(|x| sum + x))
            .map_or(Value::Null, Value::Real),
        ArrayFn::Reverse => list(first.iter().rev().cloned().collect()),
        ArrayFn::Split => split(first, args),
        ArrayFn::RotateLeft | ArrayFn::RotateRight => long(args, 1).map_or(Value::Null, |n| {
            let n = if f == ArrayFn::RotateRight { -n } else { n };
            list(rotate(first, n))
        }),
        ArrayFn::ShiftLeft | ArrayFn::ShiftRight => long(args, 1).map_or(Value::Null, |n| {
            let n = if f == ArrayFn::ShiftRight { -n } else { n };
            let fill = if args.len() > 2 {
                args[2].to_json()
            } else {
                J::Null
            };
            list(shift(first, n, &fill))
        }),
        ArrayFn::Iff => list(iff(first, args)),
        ArrayFn::Jaccard => array(args, 1).map_or(Value::Null, |other| {
            let (a, b) = (distinct(first.iter()), distinct(other.iter()));
            let common = a.iter().filter(|v| b.iter().any(|w| json_eq(v, w))).count();
            #[allow(clippy::cast_precision_loss)]
            let ratio = common as f64 / (a.len() + b.len() - common) as f64;
            Value::Real(ratio)
        }),
        ArrayFn::HasElement => {
            let wanted = args.get(1).map_or(J::Null, Value::to_json);
            Value::Bool(first.iter().any(|v| json_eq(v, &wanted)))
        }
        ArrayFn::Concat
        | ArrayFn::Difference
        | ArrayFn::Intersect
        | ArrayFn::Union
        | ArrayFn::Zip => {
            let mut arrays = Vec::with_capacity(args.len());
            for i in 0..args.len() {
                let Some(a) = array(args, i) else {
                    return Value::Null;
                };
                arrays.push(a);
            }
            list(combine(f, &arrays))
        }
    }
}

/// The functions over several arrays.
fn combine(f: ArrayFn, arrays: &[&Vec<J>]) -> Vec<J> {
    let in_all_others = |v: &J| arrays[1..].iter().all(|a| a.iter().any(|w| json_eq(v, w)));
    let in_any_other = |v: &J| arrays[1..].iter().any(|a| a.iter().any(|w| json_eq(v, w)));
    match f {
        ArrayFn::Concat => arrays.iter().flat_map(|a| a.iter().cloned()).collect(),
        ArrayFn::Difference => distinct(arrays[0].iter().filter(|v| !in_any_other(v))),
        ArrayFn::Intersect => distinct(arrays[0].iter().filter(|v| in_all_others(v))),
        ArrayFn::Union => distinct(arrays.iter().flat_map(|a| a.iter())),
        _ => {
            // zip: shorter arrays are padded with nulls, as Kusto documents.
            let longest = arrays.iter().map(|a| a.len()).max().unwrap_or(0);
            (0..longest)
                .map(|i| {
                    J::Array(
                        arrays
                            .iter()
                            .map(|a| a.get(i).cloned().unwrap_or(J::Null))
                            .collect(),
                    )
                })
                .collect()
        }
    }
}

/// Each value once, in the order first seen.
fn distinct<'a>(values: impl Iterator<Item = &'a J>) -> Vec<J> {
    let mut out: Vec<J> = Vec::new();
    for v in values {
        if !out.iter().any(|w| json_eq(v, w)) {
            out.push(v.clone());
        }
    }
    out
}

/// `array_slice(a, start, end)`: `end` included, negative positions counted from the end,
/// positions past either end clamped; an empty array when `start` is past `end`.
fn slice(items: &[J], args: &[Value]) -> Value {
    let (Some(start), Some(end)) = (long(args, 1), long(args, 2)) else {
        return Value::Null;
    };
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let at = |i: i64| if i < 0 { len.saturating_add(i) } else { i };
    let start = usize::try_from(at(start).max(0))
        .unwrap_or(0)
        .min(items.len());
    let end = usize::try_from(at(end).saturating_add(1).max(0))
        .unwrap_or(0)
        .min(items.len());
    let picked = if start < end {
        items[start..end].to_vec()
    } else {
        Vec::new()
    };
    Value::dynamic(J::Array(picked))
}

/// `array_split(a, index)`: the pieces `[0..i1)`, `[i1..i2)`, ..., `[iN..len)`; a negative
/// index counts from the end, one past either end is clamped to it, and a piece whose end is
/// before its start is empty. An index that is not a whole number gives null.
fn split(items: &[J], args: &[Value]) -> Value {
    let indices: Option<Vec<i64>> = match array(args, 1) {
        Some(list) => list.iter().map(J::as_i64).collect(),
        None => long(args, 1).map(|i| vec![i]),
    };
    let Some(indices) = indices else {
        return Value::Null;
    };
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let at = |i: i64| {
        let i = if i < 0 { len.saturating_add(i) } else { i };
        usize::try_from(i.clamp(0, len)).unwrap_or(0)
    };
    let mut bounds: Vec<usize> = vec![0];
    bounds.extend(indices.into_iter().map(at));
    bounds.push(items.len());
    let pieces = bounds
        .windows(2)
        .map(|w| J::Array(items.get(w[0]..w[1]).unwrap_or_default().to_vec()))
        .collect();
    Value::dynamic(J::Array(pieces))
}

/// The array rotated `n` places to the left (a negative `n`: to the right).
fn rotate(items: &[J], n: i64) -> Vec<J> {
    let mut out = items.to_vec();
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    if len > 0 {
        out.rotate_left(usize::try_from(n.rem_euclid(len)).unwrap_or(0));
    }
    out
}

/// The array shifted `n` places to the left (a negative `n`: to the right), the places left
/// behind filled with `fill`.
fn shift(items: &[J], n: i64, fill: &J) -> Vec<J> {
    let len = items.len();
    let by = usize::try_from(n.unsigned_abs())
        .unwrap_or(usize::MAX)
        .min(len);
    let kept = if n >= 0 {
        &items[by..]
    } else {
        &items[..len - by]
    };
    let padding = std::iter::repeat_n(fill.clone(), by);
    if n >= 0 {
        kept.iter().cloned().chain(padding).collect()
    } else {
        padding.chain(kept.iter().cloned()).collect()
    }
}

/// `array_iff`: per condition, the element of `when_true` or `when_false` at its position (a
/// value that is not an array stands for every position; past an array's end, null); a number
/// is true unless 0; a condition that is neither a bool nor a number gives null.
fn iff(conditions: &[J], args: &[Value]) -> Vec<J> {
    let branch = |i: usize, at: usize| {
        array(args, i).map_or_else(
            || args.get(i).map_or(J::Null, Value::to_json),
            |items| items.get(at).cloned().unwrap_or(J::Null),
        )
    };
    conditions
        .iter()
        .enumerate()
        .map(|(at, c)| {
            let truth = match c {
                J::Bool(b) => Some(*b),
                J::Number(n) => n.as_f64().map(|x| x != 0.0),
                _ => None,
            };
            match truth {
                Some(true) => branch(1, at),
                Some(false) => branch(2, at),
                None => J::Null,
            }
        })
        .collect()
}

/// `array_index_of(a, value [, start [, length [, occurrence]]])`: the position of the
/// `occurrence`th match from `start` (negative from the end) within `length` elements (-1:
/// all), or -1.
fn index_of(items: &[J], args: &[Value]) -> Value {
    if scalar(args, 1).is_null() {
        return Value::Null;
    }
    let wanted = args.get(1).map_or(J::Null, Value::to_json);
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let optional = |i: usize, default: i64| {
        if args.len() > i {
            long(args, i)
        } else {
            Some(default)
        }
    };
    let (Some(start), Some(length), Some(occurrence)) =
        (optional(2, 0), optional(3, -1), optional(4, 1))
    else {
        return Value::Null;
    };
    if occurrence < 1 {
        return Value::Null;
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if length < 0 {
        len
    } else {
        start.saturating_add(length).min(len)
    };
    let mut seen = 0;
    for i in start..end {
        let Some(item) = usize::try_from(i).ok().and_then(|i| items.get(i)) else {
            break;
        };
        if json_eq(item, &wanted) {
            seen += 1;
            if seen == occurrence {
                return Value::Long(i);
            }
        }
    }
    Value::Long(-1)
}

/// `array_sort_asc`/`array_sort_desc` of one array, nulls last unless the second argument
/// is `false`; a second argument that is not a bool gives null.
fn sort(items: &[J], descending: bool, args: &[Value]) -> Value {
    let nulls_last = match *scalar(args, 1) {
        _ if args.len() < 2 => true,
        Value::Bool(b) => b,
        _ => return Value::Null,
    };
    let (mut nulls, mut values): (Vec<J>, Vec<J>) = items.iter().cloned().partition(J::is_null);
    values.sort_by(|a, b| {
        let order = json_cmp(a, b);
        if descending { order.reverse() } else { order }
    });
    if nulls_last {
        values.append(&mut nulls);
    } else {
        nulls.append(&mut values);
        values = nulls;
    }
    Value::dynamic(J::Array(values))
}

/// Equality of JSON values where numbers compare by value (`1` equals `1.0`).
fn json_eq(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The order `array_sort_*` puts values in: numbers, then strings, then bools, then the rest
/// by their JSON text.
fn json_cmp(a: &J, b: &J) -> Ordering {
    let rank = |v: &J| match v {
        J::Number(_) => 0,
        J::String(_) => 1,
        J::Bool(_) => 2,
        _ => 3,
    };
    match (a, b) {
        (J::Number(x), J::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (J::String(x), J::String(y)) => x.cmp(y),
        (J::Bool(x), J::Bool(y)) => x.cmp(y),
        _ => rank(a)
            .cmp(&rank(b))
            .then_with(|| a.to_string().cmp(&b.to_string())),
    }
}
