//! The datetime functions: binning and formatting.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

use crate::value::{Value, datetime_diff_ticks, ticks_to_duration};

/// 0001-01-01, where Kusto counts datetime bins from.
pub(super) fn kql_epoch() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("0001-01-01 is a valid date")
        .and_utc()
}

/// `bin()`: rounds down to a multiple of `size`; datetimes count from 0001-01-01 as KQL does.
pub fn bin(x: &Value, size: &Value) -> Value {
    match (x, size) {
        (Value::DateTime(t), Value::TimeSpan(s)) if *s > 0 => {
            let epoch = kql_epoch();
            let ticks = datetime_diff_ticks(t, &epoch);
            let floored = ticks.div_euclid(*s) * s;
            Value::DateTime(epoch + ticks_to_duration(floored))
        }
        (Value::TimeSpan(t), Value::TimeSpan(s)) if *s > 0 => Value::TimeSpan(t.div_euclid(*s) * s),
        (Value::Long(n), Value::Long(s)) if *s > 0 => Value::Long(n.div_euclid(*s) * s),
        (Value::Long(_) | Value::Real(_), Value::Long(_) | Value::Real(_)) => {
            match (x.as_f64(), size.as_f64()) {
                (Some(n), Some(s)) if s > 0.0 => {
                    let r = (n / s).floor() * s;
                    if matches!(x, Value::Long(_)) {
                        #[allow(clippy::cast_possible_truncation)]
                        Value::Long(r as i64)
                    } else {
                        Value::Real(r)
                    }
                }
                _ => Value::Null,
            }
        }
        _ => Value::Null,
    }
}

/// `format_datetime` with KQL's .NET-style specifiers (`yyyy MM dd HH hh mm ss f… tt`).
pub fn format_datetime(t: &DateTime<Utc>, format: &str) -> String {
    let pad = |n: u32, width: usize| format!("{n:0width$}");
    format_runs(format, |c, run| {
        Some(match c {
            'y' => {
                let y = u32::try_from(t.year()).unwrap_or(0);
                if run <= 2 {
                    pad(y % 100, run)
                } else {
                    pad(y, run)
                }
            }
            'M' => pad(t.month(), run.min(2)),
            'd' => pad(t.day(), run.min(2)),
            'H' => pad(t.hour(), run.min(2)),
            'h' => pad((t.hour() + 11) % 12 + 1, run.min(2)),
            'm' => pad(t.minute(), run.min(2)),
            's' => pad(t.second(), run.min(2)),
            'f' | 'F' => {
                let frac = format!("{:07}", t.nanosecond().min(999_999_999) / 100);
                frac[..run.min(7)].to_string()
            }
            't' => (if t.hour() < 12 { "AM" } else { "PM" }).to_string(),
            _ => return None,
        })
    })
}

/// Writes a .NET-style format string: each run of one character is handed to `specifier` with
/// its length, and copied as it is where `specifier` answers `None`.
pub(super) fn format_runs(
    format: &str,
    mut specifier: impl FnMut(char, usize) -> Option<String>,
) -> String {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        match specifier(c, run) {
            Some(text) => out.push_str(&text),
            None => out.extend(std::iter::repeat_n(c, run)),
        }
        i += run;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::utc;

    #[test]
    fn bin_floors_datetimes_numbers_and_timespans() {
        let t = utc("2024-02-01T08:47:13Z");
        let hour = Value::TimeSpan(36_000_000_000);
        assert!(
            matches!(bin(&Value::DateTime(t), &hour), Value::DateTime(d) if d == utc("2024-02-01T08:00:00Z"))
        );
        // 7-day bins start on Mondays, counted from 0001-01-01.
        let week = Value::TimeSpan(7 * 864_000_000_000);
        assert!(
            matches!(bin(&Value::DateTime(t), &week), Value::DateTime(d) if d == utc("2024-01-29T00:00:00Z"))
        );
        assert_eq!(bin(&Value::Long(17), &Value::Long(5)), Value::Long(15));
        assert_eq!(bin(&Value::Long(-1), &Value::Long(5)), Value::Long(-5));
        assert_eq!(bin(&Value::Real(2.7), &Value::Real(0.5)), Value::Real(2.5));
        assert_eq!(bin(&Value::Null, &hour), Value::Null);
    }

    #[test]
    fn format_datetime_uses_dotnet_specifiers() {
        let t = utc("2024-02-01T15:04:05Z") + chrono::TimeDelta::milliseconds(120);
        assert_eq!(
            format_datetime(&t, "yyyy-MM-dd HH:mm:ss.fff"),
            "2024-02-01 15:04:05.120"
        );
        assert_eq!(format_datetime(&t, "yy/M/d h tt"), "24/2/1 3 PM");
    }
}
