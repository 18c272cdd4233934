//! Scalar operators: arithmetic, comparisons and string matching, with KQL's typing and null rules.

use std::borrow::Cow;

use crate::ast::{BinOp, StrOp};
use crate::value::{KqlType, Value, compare, datetime_diff_ticks, equals, ticks_to_duration};

/// The string form of a value as string functions see it (no allocation for strings).
pub fn to_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_kql_string()),
    }
}

/// Arithmetic with KQL's type rules; mismatched types and nulls give null.
pub fn arith(op: BinOp, a: &Value, b: &Value) -> Value {
    use Value::{DateTime as Dt, Long, Real, TimeSpan as Ts};
    if matches!(a, Value::Dynamic(_)) || matches!(b, Value::Dynamic(_)) {
        let (a, b) = (a.scalarize(), b.scalarize());
        if matches!(*a, Value::Dynamic(_)) || matches!(*b, Value::Dynamic(_)) {
            return Value::Null;
        }
        return arith(op, &a, &b);
    }
    match (op, a, b) {
        (BinOp::Add, Long(x), Long(y)) => x.checked_add(*y).map_or(Value::Null, Long),
        (BinOp::Sub, Long(x), Long(y)) => x.checked_sub(*y).map_or(Value::Null, Long),
        (BinOp::Mul, Long(x), Long(y)) => x.checked_mul(*y).map_or(Value::Null, Long),
        (BinOp::Div, Long(x), Long(y)) => x.checked_div(*y).map_or(Value::Null, Long),
        (BinOp::Mod, Long(x), Long(y)) => x.checked_rem(*y).map_or(Value::Null, Long),
        (_, Long(_) | Real(_), Long(_) | Real(_)) => {
            let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
                return Value::Null;
            };
            Real(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
                BinOp::Mod => x % y,
                _ => return Value::Null,
            })
        }
        (BinOp::Add, Dt(t), Ts(s)) | (BinOp::Add, Ts(s), Dt(t)) => t
            .checked_add_signed(ticks_to_duration(*s))
            .map_or(Value::Null, Dt),
        (BinOp::Sub, Dt(t), Ts(s)) => t
            .checked_sub_signed(ticks_to_duration(*s))
            .map_or(Value::Null, Dt),
        (BinOp::Sub, Dt(x), Dt(y)) => Ts(datetime_diff_ticks(x, y)),
        (BinOp::Add, Ts(x), Ts(y)) => x.checked_add(*y).map_or(Value::Null, Ts),
        (BinOp::Sub, Ts(x), Ts(y)) => x.checked_sub(*y).map_or(Value::Null, Ts),
        #[allow(clippy::cast_precision_loss)]
        (BinOp::Div, Ts(x), Ts(y)) if *y != 0 => Real(*x as f64 / *y as f64),
        (BinOp::Mul, Ts(x), Long(n)) | (BinOp::Mul, Long(n), Ts(x)) => {
            x.checked_mul(*n).map_or(Value::Null, Ts)
        }
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        (BinOp::Mul, Ts(x), Real(r)) | (BinOp::Mul, Real(r), Ts(x)) => Ts((*x as f64 * r) as i64),
        (BinOp::Div, Ts(x), Long(n)) => x.checked_div(*n).map_or(Value::Null, Ts),
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        (BinOp::Div, Ts(x), Real(r)) if *r != 0.0 => Ts((*x as f64 / r) as i64),
        _ => Value::Null,
    }
}

/// The static type of an arithmetic result; `None` when KQL rejects the operand types.
pub fn arith_type(op: BinOp, a: KqlType, b: KqlType) -> Option<KqlType> {
    use KqlType::{DateTime as Dt, Dynamic, Int, Long, Real, TimeSpan as Ts};
    Some(match (op, a, b) {
        (_, Dynamic, _) | (_, _, Dynamic) => Dynamic,
        (_, Int | Long, Int | Long) => Long,
        (_, Int | Long | Real, Int | Long | Real) | (BinOp::Div, Ts, Ts) => Real,
        (BinOp::Add | BinOp::Sub, Dt, Ts) | (BinOp::Add, Ts, Dt) => Dt,
        (BinOp::Sub, Dt, Dt)
        | (BinOp::Add | BinOp::Sub, Ts, Ts)
        | (BinOp::Mul | BinOp::Div, Ts, Int | Long | Real)
        | (BinOp::Mul, Int | Long | Real, Ts) => Ts,
        _ => return None,
    })
}

/// A comparison operator; any null operand makes it false.
///
/// Inlined (its fast paths are a few instructions; the general path stays out of line) so a
/// filter's comparison costs no call (with `CExpr::truthy` inlined too, 62 instructions a row
/// fewer on the emulator benchmark).
#[inline]
pub fn comparison(op: BinOp, a: &Value, b: &Value) -> bool {
    // Filters nearly always compare a string, long or datetime column with a value of its own
    // type. Deciding those here skips the null, dynamic and type-family checks that the
    // general path makes per row; every other pairing takes the general path.
    let fast = match (a, b) {
        (Value::String(x), Value::String(y)) => match op {
            BinOp::Eq => Some(x == y),
            BinOp::Ne => Some(x != y),
            _ => order_holds(op, x.cmp(y)),
        },
        (Value::Long(x), Value::Long(y)) => order_holds(op, x.cmp(y)),
        (Value::DateTime(x), Value::DateTime(y)) => order_holds(op, x.cmp(y)),
        _ => None,
    };
    fast.unwrap_or_else(|| general_comparison(op, a, b))
}

/// Whether `op` holds for two values ordered `ord`; `None` for the case-insensitive forms.
fn order_holds(op: BinOp, ord: std::cmp::Ordering) -> Option<bool> {
    Some(match op {
        BinOp::Eq => ord.is_eq(),
        BinOp::Ne => ord.is_ne(),
        BinOp::Lt => ord.is_lt(),
        BinOp::Le => ord.is_le(),
        BinOp::Gt => ord.is_gt(),
        BinOp::Ge => ord.is_ge(),
        _ => return None,
    })
}

/// `comparison` for any pair of values, dynamic and mixed types included.
#[inline(never)]
fn general_comparison(op: BinOp, a: &Value, b: &Value) -> bool {
    match op {
        BinOp::Eq => equals(a, b),
        BinOp::Ne => !a.is_null() && !b.is_null() && !equals(a, b),
        BinOp::EqCi | BinOp::NeCi => {
            if a.is_null() || b.is_null() {
                return false;
            }
            let same = eq_ci(&to_text(&a.scalarize()), &to_text(&b.scalarize()));
            same == (op == BinOp::EqCi)
        }
        _ => {
            if a.is_null() || b.is_null() {
                return false;
            }
            let Some(ord) = compare(a, b) else {
                return false;
            };
            match op {
                BinOp::Lt => ord.is_lt(),
                BinOp::Le => ord.is_le(),
                BinOp::Gt => ord.is_gt(),
                BinOp::Ge => ord.is_ge(),
                _ => false,
            }
        }
    }
}

/// Case-insensitive equality without allocating for ASCII text.
pub fn eq_ci(a: &str, b: &str) -> bool {
    // An ASCII side can only equal ASCII text, which ASCII case folding compares exactly.
    if b.is_ascii() || a.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

fn is_term_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Byte offsets of every case-insensitive occurrence of `needle` in `hay`, lazily.
/// The needle must be ASCII, so every hit starts and ends on a character boundary.
fn find_ci<'h>(hay: &'h str, needle: &'h str) -> impl Iterator<Item = usize> + 'h {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    let (lower, upper) = n
        .first()
        .map_or((0, 0), |f| (f.to_ascii_lowercase(), f.to_ascii_uppercase()));
    let mut next = 0;
    std::iter::from_fn(move || {
        let last = h.len().checked_sub(n.len())?;
        if n.is_empty() {
            return (next == 0).then(|| {
                next = 1;
                0
            });
        }
        while next <= last {
            // Scan for the first byte in either case, then compare the rest.
            let offset = h[next..=last]
                .iter()
                .position(|&b| b == lower || b == upper)?;
            let i = next + offset;
            next = i + 1;
            if h[i + 1..i + n.len()].eq_ignore_ascii_case(&n[1..]) {
                return Some(i);
            }
        }
        None
    })
}

fn find_cs<'h>(hay: &'h str, needle: &'h str) -> impl Iterator<Item = usize> + 'h {
    hay.match_indices(needle).map(|(i, _)| i)
}

/// A string predicate of `hay` against `needle`, with KQL's case rules for `op`.
pub fn string_op(op: StrOp, hay: &str, needle: &str) -> bool {
    let ascii = needle.is_ascii();
    if !ascii
        && !matches!(
            op,
            StrOp::HasCs
                | StrOp::ContainsCs
                | StrOp::StartsWithCs
                | StrOp::EndsWithCs
                | StrOp::HasPrefixCs
                | StrOp::HasSuffixCs
        )
    {
        // Unicode case folding can change lengths; fall back to lowercasing both sides.
        let (h, n) = (hay.to_lowercase(), needle.to_lowercase());
        let cs = match op {
            StrOp::Has => StrOp::HasCs,
            StrOp::Contains => StrOp::ContainsCs,
            StrOp::StartsWith => StrOp::StartsWithCs,
            StrOp::EndsWith => StrOp::EndsWithCs,
            StrOp::HasPrefix => StrOp::HasPrefixCs,
            StrOp::HasSuffix => StrOp::HasSuffixCs,
            other => other,
        };
        return string_op_cs_only(cs, &h, &n);
    }
    match op {
        StrOp::Contains => find_ci(hay, needle).next().is_some(),
        StrOp::StartsWith => {
            hay.len() >= needle.len()
                && hay.as_bytes()[..needle.len()].eq_ignore_ascii_case(needle.as_bytes())
        }
        StrOp::EndsWith => {
            hay.len() >= needle.len()
                && hay.as_bytes()[hay.len() - needle.len()..]
                    .eq_ignore_ascii_case(needle.as_bytes())
        }
        StrOp::Has => term_match(hay, needle, find_ci(hay, needle), true, true),
        StrOp::HasPrefix => term_match(hay, needle, find_ci(hay, needle), true, false),
        StrOp::HasSuffix => term_match(hay, needle, find_ci(hay, needle), false, true),
        _ => string_op_cs_only(op, hay, needle),
    }
}

fn string_op_cs_only(op: StrOp, hay: &str, needle: &str) -> bool {
    match op {
        StrOp::ContainsCs | StrOp::Contains => hay.contains(needle),
        StrOp::StartsWithCs | StrOp::StartsWith => hay.starts_with(needle),
        StrOp::EndsWithCs | StrOp::EndsWith => hay.ends_with(needle),
        StrOp::HasCs | StrOp::Has => term_match(hay, needle, find_cs(hay, needle), true, true),
        StrOp::HasPrefixCs | StrOp::HasPrefix => {
            term_match(hay, needle, find_cs(hay, needle), true, false)
        }
        StrOp::HasSuffixCs | StrOp::HasSuffix => {
            term_match(hay, needle, find_cs(hay, needle), false, true)
        }
        StrOp::Regex => false,
    }
}

/// Whether an occurrence sits on term boundaries: a needle edge that is a term character
/// must not touch another term character in the text.
fn term_match(
    hay: &str,
    needle: &str,
    mut hits: impl Iterator<Item = usize>,
    left: bool,
    right: bool,
) -> bool {
    if needle.is_empty() {
        return true;
    }
    let first_term = needle.chars().next().is_some_and(is_term_char);
    let last_term = needle.chars().next_back().is_some_and(is_term_char);
    hits.any(|i| {
        let end = i + needle.len();
        let left_ok = !left
            || !first_term
            || hay[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !is_term_char(c));
        let right_ok =
            !right || !last_term || hay[end..].chars().next().is_none_or(|c| !is_term_char(c));
        left_ok && right_ok
    })
}

/// Flattens list items: dynamic arrays contribute their elements.
pub fn flatten_into(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Dynamic(json) if json.is_array() => {
            for item in json.as_array().into_iter().flatten() {
                out.push(Value::dynamic(item.clone()).scalarize().into_owned());
            }
        }
        other => out.push(other.scalarize().into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::utc;

    /// `has` matches whole terms only; `contains` and the affixes ignore case unless `_cs`.
    #[test]
    fn string_operators_match_terms_and_case_like_kql() {
        let cases = [
            (StrOp::Has, "powershell.exe -enc AAA", "POWERSHELL", true),
            (StrOp::Has, "powershell.exe -enc AAA", "-enc", true),
            (StrOp::Has, "C:\\Windows\\cmd.exe", "cmd.exe", true),
            (StrOp::Has, "powershell.exe", "power", false),
            (StrOp::Has, "xcmd.exe", "cmd.exe", false),
            (StrOp::Has, "xcmd.exe then CMD.EXE", "cmd.exe", true),
            (StrOp::Has, "anything", "", true),
            (StrOp::Has, "cm", "cmd", false),
            (StrOp::HasCs, "Run Now", "Run", true),
            (StrOp::HasCs, "Run Now", "run", false),
            (StrOp::HasPrefix, "invoke-expression", "expr", true),
            (StrOp::HasPrefix, "invoke-expression", "press", false),
            (StrOp::HasSuffix, "invoke-expression", "sion", true),
            (StrOp::HasPrefixCs, "Invoke-Expression", "Expr", true),
            (StrOp::HasPrefixCs, "Invoke-Expression", "expr", false),
            (StrOp::HasSuffixCs, "Invoke-Expression", "sion", true),
            (StrOp::HasSuffixCs, "Invoke-Expression", "SION", false),
            (StrOp::HasSuffixCs, "Invoke-Expression", "Invo", false),
            (StrOp::Contains, "PowerShell", "rsh", true),
            (StrOp::ContainsCs, "PowerShell", "rsh", false),
            (StrOp::StartsWith, "PowerShell", "power", true),
            (StrOp::StartsWithCs, "PowerShell", "power", false),
            (StrOp::EndsWith, "PowerShell", "SHELL", true),
            (StrOp::EndsWithCs, "PowerShell", "SHELL", false),
            (StrOp::Contains, "ÉCOLE", "éco", true),
            (StrOp::Contains, "ab", "abc", false),
        ];
        for (op, text, needle, want) in cases {
            assert_eq!(
                string_op(op, text, needle),
                want,
                "{op:?} {text:?} {needle:?}"
            );
        }
    }

    #[test]
    fn arithmetic_follows_kql_types() {
        let t = utc("2024-02-01T00:00:00Z");
        let day = Value::TimeSpan(864_000_000_000);
        assert_eq!(
            arith(BinOp::Add, &Value::Long(2), &Value::Long(3)),
            Value::Long(5)
        );
        assert_eq!(
            arith(BinOp::Div, &Value::Long(7), &Value::Long(2)),
            Value::Long(3)
        );
        assert_eq!(
            arith(BinOp::Div, &Value::Long(7), &Value::Long(0)),
            Value::Null
        );
        assert_eq!(
            arith(BinOp::Mul, &Value::Long(2), &Value::Real(1.5)),
            Value::Real(3.0)
        );
        assert_eq!(
            arith(BinOp::Sub, &Value::DateTime(t), &day),
            Value::DateTime(utc("2024-01-31T00:00:00Z"))
        );
        assert_eq!(
            arith(BinOp::Sub, &Value::DateTime(t), &Value::DateTime(t)),
            Value::TimeSpan(0)
        );
        assert_eq!(
            arith(BinOp::Div, &day, &Value::TimeSpan(36_000_000_000)),
            Value::Real(24.0)
        );
        assert_eq!(
            arith(BinOp::Mul, &day, &Value::Long(2)),
            Value::TimeSpan(1_728_000_000_000)
        );
        assert_eq!(
            arith(BinOp::Add, &Value::Null, &Value::Long(1)),
            Value::Null
        );
        assert_eq!(arith_type(BinOp::Add, KqlType::String, KqlType::Long), None);
    }

    #[test]
    fn comparisons_are_false_on_nulls_and_case_rules_hold() {
        assert!(!comparison(BinOp::Eq, &Value::Null, &Value::Null));
        assert!(!comparison(BinOp::Ne, &Value::Null, &Value::Long(1)));
        assert!(!comparison(BinOp::Lt, &Value::Null, &Value::Long(1)));
        assert!(!comparison(BinOp::Eq, &Value::str("A"), &Value::str("a")));
        assert!(comparison(BinOp::EqCi, &Value::str("A"), &Value::str("a")));
        assert!(comparison(BinOp::NeCi, &Value::str("A"), &Value::str("b")));
        assert!(!comparison(BinOp::NeCi, &Value::str("A"), &Value::str("a")));
    }

    #[test]
    fn comparison_fast_paths_agree_with_the_general_path() {
        let t = utc("2024-02-01T00:00:00Z");
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Long(1),
            Value::Long(2),
            Value::Real(2.0),
            Value::str(""),
            Value::str("a"),
            Value::str("A"),
            Value::str("b"),
            Value::str("2"),
            Value::DateTime(t),
            Value::DateTime(t + chrono::TimeDelta::nanoseconds(100)),
            Value::TimeSpan(2),
            Value::dynamic(serde_json::json!("a")),
            Value::dynamic(serde_json::json!(2)),
            Value::dynamic(serde_json::Value::Null),
        ];
        let ops = [
            BinOp::Eq,
            BinOp::Ne,
            BinOp::EqCi,
            BinOp::NeCi,
            BinOp::Lt,
            BinOp::Le,
            BinOp::Gt,
            BinOp::Ge,
        ];
        for a in &values {
            for b in &values {
                for op in ops {
                    assert_eq!(
                        comparison(op, a, b),
                        general_comparison(op, a, b),
                        "{a:?} {op:?} {b:?}"
                    );
                }
            }
        }
    }
}
