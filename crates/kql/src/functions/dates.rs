//! The datetime and timespan functions added for hunting queries: building them from parts,
//! taking parts out, Unix times, `format_timespan`, `bin_at` and the ends of periods.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};

use crate::calendar;
use crate::value::{KqlType, TICKS_PER_SECOND, Value, ticks_to_duration};

use super::args::{long, real, scalar, text};
use super::datetime::{bin, format_runs};

/// Ticks (100 ns) per day.
const TICKS_PER_DAY: i64 = 86_400 * TICKS_PER_SECOND;

/// A function of this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFn {
    /// `make_datetime(year, month, day [, hour, minute [, second]])`.
    MakeDateTime,
    /// `make_timespan(hour, minute [, second])` or `(day, hour, minute, second)`.
    MakeTimeSpan,
    /// `dayofmonth(t)`.
    DayOfMonth,
    /// `dayofyear(t)`.
    DayOfYear,
    /// `getmonth(t)` / `monthofyear`.
    Month,
    /// `getyear(t)`.
    Year,
    /// `weekofyear(t)` / `week_of_year`: the ISO 8601 week.
    WeekOfYear,
    /// `datetime_part(part, t)`.
    Part,
    /// `unixtime_*_todatetime(n)`, with the nanoseconds of its unit.
    FromUnix(i64),
    /// `format_timespan(t, format)`.
    FormatTimeSpan,
    /// `bin_at(x, size, fixed_point)`.
    BinAt,
    /// `endofweek`, `endofmonth`, `endofyear`.
    EndOf(&'static str),
}

impl DateFn {
    /// The result type Kusto documents; `bin_at` keeps its value's.
    pub(super) fn return_type(self, args: &[KqlType]) -> KqlType {
        match self {
            DateFn::MakeDateTime | DateFn::FromUnix(_) | DateFn::EndOf(_) => KqlType::DateTime,
            DateFn::MakeTimeSpan => KqlType::TimeSpan,
            DateFn::FormatTimeSpan => KqlType::String,
            DateFn::BinAt => args.first().copied().unwrap_or(KqlType::Dynamic),
            _ => KqlType::Int,
        }
    }
}

/// Evaluates a function of this family; an argument of the wrong type, or a date that does not
/// exist, gives null.
pub(super) fn call(f: DateFn, args: &[Value]) -> Value {
    let t = scalar(args, usize::from(f == DateFn::Part));
    let part = |p: &str| match &*t {
        Value::DateTime(t) => date_part(p, t),
        _ => Value::Null,
    };
    match f {
        DateFn::MakeDateTime => make_datetime(args),
        DateFn::MakeTimeSpan => make_timespan(args),
        DateFn::DayOfMonth => part("day"),
        DateFn::DayOfYear => part("dayofyear"),
        DateFn::Month => part("month"),
        DateFn::Year => part("year"),
        DateFn::WeekOfYear => part("week_of_year"),
        DateFn::Part => part(&text(args, 0).to_ascii_lowercase()),
        DateFn::FromUnix(unit) => from_unix(args, unit),
        DateFn::FormatTimeSpan => match *scalar(args, 0) {
            Value::TimeSpan(ticks) => Value::str(&format_timespan(ticks, &text(args, 1))),
            _ => Value::Null,
        },
        DateFn::BinAt => bin_at(&t, &scalar(args, 1), &scalar(args, 2)),
        DateFn::EndOf(unit) => end_of(unit, &t),
    }
}

/// One part of `t` as `datetime_part` names it; null for a name it does not know.
fn date_part(part: &str, t: &DateTime<Utc>) -> Value {
    let sub_second = i64::from(t.nanosecond().min(999_999_999));
    Value::Long(match part {
        "year" => i64::from(t.year()),
        "quarter" => i64::from((t.month() - 1) / 3 + 1),
        "month" => i64::from(t.month()),
        "week_of_year" | "weekofyear" => i64::from(t.iso_week().week()),
        "day" => i64::from(t.day()),
        "dayofyear" => i64::from(t.ordinal()),
        "hour" => i64::from(t.hour()),
        "minute" => i64::from(t.minute()),
        "second" => i64::from(t.second()),
        "millisecond" => sub_second / 1_000_000,
        "microsecond" => sub_second / 1_000,
        "nanosecond" => sub_second,
        _ => return Value::Null,
    })
}

/// `make_datetime`: the parts must make a real date and time; seconds may have a fraction.
fn make_datetime(args: &[Value]) -> Value {
    let whole = |i: usize, default: i64| {
        if args.len() > i {
            long(args, i).and_then(|n| u32::try_from(n).ok())
        } else {
            u32::try_from(default).ok()
        }
    };
    let year = long(args, 0)
        .and_then(|y| i32::try_from(y).ok())
        .filter(|y| (1..=9999).contains(y));
    let seconds = if args.len() > 5 {
        real(args, 5)
    } else {
        Some(0.0)
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(seconds)) = (
        year,
        whole(1, 1),
        whole(2, 1),
        whole(3, 0),
        whole(4, 0),
        seconds,
    ) else {
        return Value::Null;
    };
    if !(0.0..60.0).contains(&seconds) {
        return Value::Null;
    }
    #[allow(clippy::cast_possible_truncation)] // under 60 seconds of ticks
    let ticks = (seconds * 1e7).round() as i64;
    NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(hour, minute, 0))
        .map_or(Value::Null, |d| {
            Value::DateTime(d.and_utc() + ticks_to_duration(ticks))
        })
}

/// `make_timespan`: two or three arguments are hours, minutes and seconds, four start with
/// days; seconds may have a fraction.
fn make_timespan(args: &[Value]) -> Value {
    let offset = usize::from(args.len() == 4);
    let days = if offset == 1 { long(args, 0) } else { Some(0) };
    let seconds = if args.len() > 2 + offset {
        real(args, 2 + offset)
    } else {
        Some(0.0)
    };
    let (Some(days), Some(hours), Some(minutes), Some(seconds)) =
        (days, long(args, offset), long(args, offset + 1), seconds)
    else {
        return Value::Null;
    };
    #[allow(clippy::cast_precision_loss)] // whole units far below 2^53 ticks stay exact
    let ticks = ((days * 24 + hours) * 60 + minutes) as f64 * 60.0 * 1e7 + seconds * 1e7;
    if !ticks.is_finite() || ticks.abs() >= 9.2e18 {
        return Value::Null;
    }
    #[allow(clippy::cast_possible_truncation)]
    Value::TimeSpan(ticks.round() as i64)
}

/// `unixtime_*_todatetime`: a count of units of `unit` nanoseconds since 1970-01-01; null out
/// of range.
fn from_unix(args: &[Value], unit: i64) -> Value {
    // Whole counts stay exact in integers: a real has too few digits for nanoseconds.
    let ticks = if let Some(n) = long(args, 0) {
        i64::try_from(i128::from(n) * i128::from(unit) / 100).ok()
    } else {
        #[allow(clippy::cast_precision_loss)] // the units are powers of ten up to 10^9
        let ticks = real(args, 0).map(|n| n * unit as f64 / 100.0);
        #[allow(clippy::cast_possible_truncation)]
        ticks
            .filter(|t| t.is_finite() && t.abs() < 2.5e18)
            .map(|t| t.round() as i64)
    };
    let Some(ticks) = ticks.filter(|t| t.unsigned_abs() < 2_500_000_000_000_000_000) else {
        return Value::Null;
    };
    let t = DateTime::<Utc>::UNIX_EPOCH + ticks_to_duration(ticks);
    if (1..=9999).contains(&t.year()) {
        Value::DateTime(t)
    } else {
        Value::Null
    }
}

/// `bin_at(x, size, fixed_point)`: `bin` with the bins shifted to start at `fixed_point`.
fn bin_at(x: &Value, size: &Value, fixed: &Value) -> Value {
    match (x, fixed) {
        (Value::DateTime(t), Value::DateTime(f)) => {
            let Value::TimeSpan(offset) = bin(
                &Value::TimeSpan(crate::value::datetime_diff_ticks(t, f)),
                size,
            ) else {
                return Value::Null;
            };
            f.checked_add_signed(ticks_to_duration(offset))
                .map_or(Value::Null, Value::DateTime)
        }
        (Value::TimeSpan(t), Value::TimeSpan(f)) => match bin(&Value::TimeSpan(t - f), size) {
            Value::TimeSpan(b) => Value::TimeSpan(b + f),
            _ => Value::Null,
        },
        (Value::Long(n), Value::Long(f)) => match bin(&Value::Long(n - f), size) {
            Value::Long(b) => Value::Long(b + f),
            _ => Value::Null,
        },
        (Value::Long(_) | Value::Real(_), Value::Long(_) | Value::Real(_)) => {
            match (x.as_f64(), fixed.as_f64()) {
                (Some(n), Some(f)) => match bin(&Value::Real(n - f), size) {
                    Value::Real(b) => Value::Real(b + f),
                    _ => Value::Null,
                },
                _ => Value::Null,
            }
        }
        _ => Value::Null,
    }
}

/// The last tick of the week (ending Saturday), month or year holding `t`.
fn end_of(unit: &'static str, t: &Value) -> Value {
    match calendar::add(unit, &Value::Long(1), &calendar::start_of(unit, t)) {
        Value::DateTime(n) => Value::DateTime(n - TimeDelta::nanoseconds(100)),
        other => other,
    }
}

/// `format_timespan` with .NET's custom specifiers: `d` days, `h`/`H` hours, `m` minutes, `s`
/// seconds, `f` fraction digits, `F` the same without trailing zeros; a run of a letter pads to
/// its length; anything else is copied.
fn format_timespan(ticks: i64, format: &str) -> String {
    let t = ticks.unsigned_abs();
    let per_second = TICKS_PER_SECOND.unsigned_abs();
    let secs = t / per_second;
    let frac = format!("{:07}", t % per_second);
    let days = t / TICKS_PER_DAY.unsigned_abs();
    let pad = |n: u64, width: usize| format!("{n:0width$}");
    let sign = if ticks < 0 { "-" } else { "" };
    let body = format_runs(format, |c, run| {
        Some(match c {
            'd' => pad(days, run),
            'h' | 'H' => pad(secs / 3600 % 24, run.min(2)),
            'm' => pad(secs / 60 % 60, run.min(2)),
            's' => pad(secs % 60, run.min(2)),
            'f' => frac[..run.min(7)].to_string(),
            'F' => frac[..run.min(7)].trim_end_matches('0').to_string(),
            _ => return None,
        })
    });
    format!("{sign}{body}")
}
