//! The number functions.

use std::borrow::Cow;

use crate::value::{KqlType, Value};

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

/// A number function of this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathFn {
    /// `ceiling(x)`.
    Ceiling,
    /// `log(x)`.
    Log,
    /// `log10(x)`.
    Log10,
    /// `log2(x)`.
    Log2,
    /// `exp(x)`.
    Exp,
    /// `exp2(x)`.
    Exp2,
    /// `exp10(x)`.
    Exp10,
    /// `pow(base, exponent)`.
    Pow,
    /// `sqrt(x)`.
    Sqrt,
    /// `sign(x)`.
    Sign,
    /// `isnan(x)`.
    IsNan,
    /// `isinf(x)`.
    IsInf,
    /// `isfinite(x)`.
    IsFinite,
    /// `sin(x)`.
    Sin,
    /// `cos(x)`.
    Cos,
    /// `tan(x)`.
    Tan,
    /// `cot(x)`.
    Cot,
    /// `asin(x)`.
    Asin,
    /// `acos(x)`.
    Acos,
    /// `atan(x)`.
    Atan,
    /// `atan2(y, x)`.
    Atan2,
    /// `degrees(radians)`.
    Degrees,
    /// `radians(degrees)`.
    Radians,
    /// `pi()`.
    Pi,
}

impl MathFn {
    /// The result type Kusto documents; `ceiling` and `sign` keep a whole number's type.
    pub(super) fn return_type(self, args: &[KqlType]) -> KqlType {
        match self {
            MathFn::IsNan | MathFn::IsInf | MathFn::IsFinite => KqlType::Bool,
            MathFn::Ceiling | MathFn::Sign => match args.first() {
                Some(KqlType::Int) => KqlType::Int,
                Some(KqlType::Long) => KqlType::Long,
                _ => KqlType::Real,
            },
            _ => KqlType::Real,
        }
    }
}

/// Evaluates a function of this family; what is not a number gives null, and so do a
/// logarithm or square root of a negative number and an `asin` or `acos` outside -1 to 1, as
/// Kusto documents.
pub(super) fn call(f: MathFn, args: &[Value]) -> Value {
    let x = args.first().map(Value::scalarize);
    if let (MathFn::Ceiling | MathFn::Sign, Some(Value::Long(n))) = (f, x.as_deref()) {
        return Value::Long(if f == MathFn::Sign { n.signum() } else { *n });
    }
    let x = match x.as_deref() {
        Some(x @ (Value::Long(_) | Value::Real(_))) => x.as_f64(),
        // `pi()` takes no argument; its arm below reads none.
        None if f == MathFn::Pi => Some(0.0),
        _ => None,
    };
    let Some(x) = x else {
        return Value::Null;
    };
    let real = |r: f64| Value::Real(r);
    match f {
        MathFn::Ceiling => real(x.ceil()),
        MathFn::Log | MathFn::Log10 | MathFn::Log2 | MathFn::Sqrt if x < 0.0 => Value::Null,
        MathFn::Log => real(x.ln()),
        MathFn::Log10 => real(x.log10()),
        MathFn::Log2 => real(x.log2()),
        MathFn::Sqrt => real(x.sqrt()),
        MathFn::Exp => real(x.exp()),
        MathFn::Exp2 => real(x.exp2()),
        MathFn::Exp10 => real(10f64.powf(x)),
        MathFn::Pow | MathFn::Atan2 => match args.get(1).map(Value::scalarize).as_deref() {
            Some(e @ (Value::Long(_) | Value::Real(_))) => e.as_f64().map_or(Value::Null, |e| {
                real(if f == MathFn::Pow {
                    x.powf(e)
                } else {
                    x.atan2(e)
                })
            }),
            _ => Value::Null,
        },
        MathFn::Asin | MathFn::Acos if !(-1.0..=1.0).contains(&x) => Value::Null,
        MathFn::Asin => real(x.asin()),
        MathFn::Acos => real(x.acos()),
        MathFn::Sin => real(x.sin()),
        MathFn::Cos => real(x.cos()),
        MathFn::Tan => real(x.tan()),
        MathFn::Cot => real(1.0 / x.tan()),
        MathFn::Atan => real(x.atan()),
        MathFn::Degrees => real(x.to_degrees()),
        MathFn::Radians => real(x.to_radians()),
        MathFn::Pi => real(std::f64::consts::PI),
        MathFn::Sign if x == 0.0 || x.is_nan() => real(x),
        MathFn::Sign => real(x.signum()),
        MathFn::IsNan => Value::Bool(x.is_nan()),
        MathFn::IsInf => Value::Bool(x.is_infinite()),
        MathFn::IsFinite => Value::Bool(x.is_finite()),
    }
}
