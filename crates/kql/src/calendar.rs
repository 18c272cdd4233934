//! Calendar arithmetic of the datetime functions: `datetime_diff` counts the period boundaries
//! between two instants (Kusto's "calendarian difference"), `datetime_add` adds whole periods
//! (months and years keep the day, clamped to the month's end), and the `startof*`/`endof*`,
//! `dayofweek` and `hourofday` functions.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Timelike, Utc};

use crate::value::{TICKS_PER_SECOND, Value};

/// A period name as `datetime_diff`, `datetime_add` and `datetime_part` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    Nanosecond,
}

impl Period {
    fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "year" => Self::Year,
            "quarter" => Self::Quarter,
            "month" => Self::Month,
            "week" => Self::Week,
            "day" => Self::Day,
            "hour" => Self::Hour,
            "minute" => Self::Minute,
            "second" => Self::Second,
            "millisecond" => Self::Millisecond,
            "microsecond" => Self::Microsecond,
            "nanosecond" => Self::Nanosecond,
            _ => return None,
        })
    }

    /// The length of a fixed-length period in 100 ns ticks.
    fn ticks(self) -> Option<i64> {
        Some(match self {
            Self::Week => 7 * 86_400 * TICKS_PER_SECOND,
            Self::Day => 86_400 * TICKS_PER_SECOND,
            Self::Hour => 3_600 * TICKS_PER_SECOND,
            Self::Minute => 60 * TICKS_PER_SECOND,
            Self::Second => TICKS_PER_SECOND,
            Self::Millisecond => TICKS_PER_SECOND / 1_000,
            Self::Microsecond => 10,
            Self::Nanosecond => 1,
            Self::Year | Self::Quarter | Self::Month => return None,
        })
    }
}

/// Ticks since 0001-01-01, Kusto's epoch; weeks start on Sunday, and 0001-01-01 was a Monday.
fn ticks_since_epoch(t: &DateTime<Utc>) -> i64 {
    let days = i64::from(t.num_days_from_ce() - 1);
    let seconds = days * 86_400 + i64::from(t.num_seconds_from_midnight());
    seconds * TICKS_PER_SECOND + i64::from(t.nanosecond() / 100)
}

/// `datetime_diff(period, a, b)`: how many period boundaries lie between `b` and `a`.
pub fn diff(period: &str, a: &Value, b: &Value) -> Value {
    let (Some(period), Value::DateTime(a), Value::DateTime(b)) = (Period::parse(period), a, b)
    else {
        return Value::Null;
    };
    let months = |t: &DateTime<Utc>| i64::from(t.year()) * 12 + i64::from(t.month0());
    let n = match period {
        Period::Year => i64::from(a.year()) - i64::from(b.year()),
        Period::Quarter => months(a).div_euclid(3) - months(b).div_euclid(3),
        Period::Month => months(a) - months(b),
        Period::Week => {
            // Shift so that a week starts on Sunday: 0001-01-01 (tick 0) was a Monday.
            let unit = Period::Week.ticks().unwrap_or(1);
            let day = Period::Day.ticks().unwrap_or(1);
            (ticks_since_epoch(a) + day).div_euclid(unit)
                - (ticks_since_epoch(b) + day).div_euclid(unit)
        }
        fixed => {
            let unit = fixed.ticks().unwrap_or(1);
            ticks_since_epoch(a).div_euclid(unit) - ticks_since_epoch(b).div_euclid(unit)
        }
    };
    Value::Long(n)
}

/// `datetime_add(period, amount, t)`: `t` moved by `amount` periods.
pub fn add(period: &str, amount: &Value, t: &Value) -> Value {
    let (Some(period), Value::Long(amount), Value::DateTime(t)) =
        (Period::parse(period), amount, t)
    else {
        return Value::Null;
    };
    let months = match period {
        Period::Year => amount.checked_mul(12),
        Period::Quarter => amount.checked_mul(3),
        Period::Month => Some(*amount),
        fixed => {
            let ticks = fixed.ticks().and_then(|unit| unit.checked_mul(*amount));
            return ticks
                .and_then(|ticks| {
                    t.checked_add_signed(TimeDelta::microseconds(ticks / 10))?
                        .checked_add_signed(TimeDelta::nanoseconds(ticks % 10 * 100))
                })
                .map_or(Value::Null, Value::DateTime);
        }
    };
    let moved = months.and_then(|m| {
        let count = Months::new(u32::try_from(m.unsigned_abs()).ok()?);
        if m >= 0 {
            t.checked_add_months(count)
        } else {
            t.checked_sub_months(count)
        }
    });
    moved.map_or(Value::Null, Value::DateTime)
}

/// The start of the day, week (Sunday), month or year holding `t`, as `startofday` and its
/// siblings give it.
pub fn start_of(unit: &str, t: &Value) -> Value {
    let Value::DateTime(t) = t else {
        return Value::Null;
    };
    let date = t.date_naive();
    let start = match unit {
        "week" => {
            let back = date.weekday().num_days_from_sunday();
            date.checked_sub_days(chrono::Days::new(u64::from(back)))
        }
        "month" => NaiveDate::from_ymd_opt(date.year(), date.month(), 1),
        "year" => NaiveDate::from_ymd_opt(date.year(), 1, 1),
        _ => Some(date),
    };
    start
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(Value::Null, |d| Value::DateTime(d.and_utc()))
}

/// The last tick of the day holding `t` (`endofday`).
pub fn end_of_day(t: &Value) -> Value {
    match start_of("day", t) {
        Value::DateTime(start) => start
            .checked_add_signed(TimeDelta::days(1) - TimeDelta::nanoseconds(100))
            .map_or(Value::Null, Value::DateTime),
        other => other,
    }
}

/// `dayofweek(t)`: the days since the last Sunday, as a timespan.
pub fn day_of_week(t: &Value) -> Value {
    match t {
        Value::DateTime(t) => {
            let days = i64::from(t.weekday().num_days_from_sunday());
            Value::TimeSpan(days * 86_400 * TICKS_PER_SECOND)
        }
        _ => Value::Null,
    }
}

/// `hourofday(t)`: the hour, 0 to 23.
pub fn hour_of_day(t: &Value) -> Value {
    match t {
        Value::DateTime(t) => Value::Long(i64::from(t.hour())),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::parse_datetime;

    fn at(text: &str) -> Value {
        Value::DateTime(parse_datetime(text).expect("test datetime"))
    }

    #[test]
    fn diff_counts_calendar_boundaries_as_the_kusto_reference_shows() {
        let cases = [
            ("year", "2017-01-01", "2000-12-31", 17),
            ("quarter", "2017-07-01", "2017-03-30", 2),
            ("month", "2017-01-01", "2015-12-30", 13),
            ("week", "2017-10-29 00:00", "2017-09-30 23:59", 5),
            ("day", "2017-10-29 00:00", "2017-09-30 23:59", 29),
            ("hour", "2017-10-31 01:00", "2017-10-30 23:59", 2),
            ("minute", "2017-10-30 23:05:01", "2017-10-30 23:00:59", 5),
            (
                "second",
                "2017-10-30 23:00:10.100",
                "2017-10-30 23:00:00.900",
                10,
            ),
            (
                "millisecond",
                "2017-10-30 23:00:00.200100",
                "2017-10-30 23:00:00.100900",
                100,
            ),
        ];
        for (period, a, b, expected) in cases {
            assert_eq!(
                diff(period, &at(a), &at(b)),
                Value::Long(expected),
                "{period}"
            );
        }
        assert_eq!(
            diff("fortnight", &at("2017-01-01"), &at("2017-01-01")),
            Value::Null
        );
    }

    #[test]
    fn add_moves_by_whole_periods_and_clamps_to_the_month_end() {
        assert_eq!(
            add("month", &Value::Long(1), &at("2024-01-31")),
            at("2024-02-29")
        );
        assert_eq!(
            add("year", &Value::Long(-1), &at("2024-02-29")),
            at("2023-02-28")
        );
        assert_eq!(
            add("hour", &Value::Long(36), &at("2024-02-10")),
            at("2024-02-11 12:00")
        );
        assert_eq!(
            add("week", &Value::Long(1), &at("2024-02-10")),
            at("2024-02-17")
        );
    }

    #[test]
    fn weeks_start_on_sunday() {
        assert_eq!(start_of("week", &at("2024-02-14 13:00")), at("2024-02-11"));
        assert_eq!(
            day_of_week(&at("2024-02-14")),
            Value::TimeSpan(3 * 86_400 * TICKS_PER_SECOND)
        );
        assert_eq!(
            end_of_day(&at("2024-02-14 13:00")),
            at("2024-02-14 23:59:59.9999999")
        );
    }
}
