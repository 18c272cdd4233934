//! When jobs fire: cron expressions or fixed intervals, in an IANA time zone.

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use croner::parser::{CronParser, Seconds, Year};

/// Why a schedule could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The cron expression does not parse.
    #[error("invalid cron expression `{text}`: {reason}")]
    Cron {
        /// The expression as written.
        text: String,
        /// croner's explanation.
        reason: String,
    },
    /// The cron expression parses but matches no time at all (`0 0 30 2 *`).
    #[error("cron expression `{0}` never fires")]
    NeverFires(String),
    /// `every: 0s`.
    #[error("`every` must be longer than zero")]
    ZeroInterval,
    /// Not a name from the IANA time zone database.
    #[error("unknown time zone `{0}`")]
    Timezone(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// How a job's fire times are computed.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A 5- or 6-field cron expression (6 = with seconds); shared by the jobs that use it.
    Cron(Arc<croner::Cron>),
    /// Every fixed interval, aligned to the Unix epoch so restarts keep the same slots.
    Every(Duration),
}

/// A job's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The trigger.
    pub trigger: Trigger,
    /// The zone cron fields are read in.
    pub timezone: chrono_tz::Tz,
    /// The schedule as written, for display.
    pub text: String,
    /// See [`Schedule::interval`]; sampled once, when the schedule is built.
    interval: Duration,
}

/// Fire times sampled by [`Schedule::interval`]: enough to see every gap of a daily or
/// minute-level pattern, few enough to stay cheap for `huntd validate`.
const INTERVAL_SAMPLE: usize = 64;

/// How far ahead [`Schedule::interval`] samples, so rare patterns (leap days) stay bounded.
const INTERVAL_HORIZON_DAYS: i64 = 4 * 366;

/// Where interval sampling starts; fixed so the answer does not depend on when it is asked.
const SAMPLE_START_SECONDS: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

/// Parses an IANA time zone name (`Europe/Amsterdam`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<chrono_tz::Tz> {
    chrono_tz::Tz::from_str(name.trim()).map_err(|_| Error::Timezone(name.to_string()))
}

/// Every IANA time zone name, for "did you mean" hints.
pub fn timezone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
}

impl Schedule {
    /// A cron schedule: 5 fields (seconds are 0) or 6 fields with seconds first.
    pub fn cron(text: &str, timezone: chrono_tz::Tz) -> Result<Self> {
        // Years are refused so that a 6-field pattern always means "seconds first".
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        check_steps(text)?;
        let cron = parser.parse(text).map_err(|e| Error::Cron {
            text: text.to_string(),
            reason: e.to_string(),
        })?;
        if cron_next_after(&cron, timezone, sample_start()).is_none() {
            return Err(Error::NeverFires(text.to_string()));
        }
        let interval = cron_interval(&cron);
        Ok(Self {
            trigger: Trigger::Cron(Arc::new(cron)),
            timezone,
            text: text.trim().to_string(),
            interval,
        })
    }

    /// A fixed interval, aligned to the Unix epoch (the zone only matters for display).
    pub fn every(interval: Duration, timezone: chrono_tz::Tz) -> Result<Self> {
        if interval.is_zero() {
            return Err(Error::ZeroInterval);
        }
        Ok(Self {
            trigger: Trigger::Every(interval),
            timezone,
            text: format!("every {}", crate::duration::format(interval)),
            interval,
        })
    }

    /// The first fire time strictly after `t`; `None` when there is none.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.trigger {
            Trigger::Cron(cron) => cron_next_after(cron, self.timezone, t),
            Trigger::Every(every) => next_slot(*every, t),
        }
    }

    /// The next `n` fire times strictly after `after`.
    pub fn fire_times(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = after;
        while out.len() < n {
            let Some(next) = self.next_after(cursor) else {
                break;
            };
            out.push(next);
            cursor = next;
        }
        out
    }

    /// The typical gap between fire times: the `every` value, or for cron the smallest gap
    /// between consecutive fire times over a sample.
    ///
    /// Cron gaps are measured in UTC so that a DST shift does not pass for a shorter interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

/// Cron schedules built during one load, by pattern and zone: thousands of jobs often share a
/// few patterns, and building one samples dozens of its fire times.
#[derive(Debug, Default)]
pub struct CronCache {
    built: HashMap<(String, chrono_tz::Tz), Result<Schedule>>,
}

impl CronCache {
    /// [`Schedule::cron`], built once per pattern and zone.
    pub fn cron(&mut self, text: &str, timezone: chrono_tz::Tz) -> Result<Schedule> {
        self.built
            .entry((text.to_string(), timezone))
            .or_insert_with(|| Schedule::cron(text, timezone))
            .clone()
    }
}

/// The cron fields in order, with their ranges, for a 6-field pattern (seconds first).
const FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// Refuses a step larger than its field's range (`*/61` in minutes), which croner accepts and
/// then fires only at the field's first value: an hourly job where every 61 minutes was meant.
fn check_steps(text: &str) -> Result<()> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let names = match fields.len() {
        5 => &FIELDS[1..],
        6 => &FIELDS[..],
        // Aliases (`@hourly`) and wrong field counts are croner's to judge.
        _ => return Ok(()),
    };
    for (field, &(name, min, max)) in fields.iter().zip(names) {
        for part in field.split(',') {
            let Some((_, step)) = part.split_once('/') else {
                continue;
            };
            let Ok(step) = step.parse::<u32>() else {
                continue;
            };
            if step > max - min {
                return Err(Error::Cron {
                    text: text.to_string(),
                    reason: format!(
                        "step {step} in the {name} field is beyond its range {min}-{max}: \
                         use a step of 1 to {}",
                        max - min
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The first fire time of `cron`, read in `timezone`, strictly after `t`.
fn cron_next_after(
    cron: &croner::Cron,
    timezone: chrono_tz::Tz,
    t: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&t.with_timezone(&timezone), false)
        .ok()
        .map(|next| next.with_timezone(&Utc))
        // croner steps whole seconds; a sub-second `t` must not yield itself.
        .filter(|next| *next > t)
}

/// The smallest gap between consecutive fire times over a sample, measured in UTC so that a
/// DST shift does not pass for a shorter interval.
fn cron_interval(cron: &croner::Cron) -> Duration {
    let start = sample_start();
    let horizon = start + TimeDelta::days(INTERVAL_HORIZON_DAYS);
    let mut smallest: Option<TimeDelta> = None;
    let mut previous = None;
    let mut cursor = start;
    for _ in 0..INTERVAL_SAMPLE {
        let Some(next) = cron_next_after(cron, chrono_tz::UTC, cursor).filter(|n| *n <= horizon)
        else {
            break;
        };
        if let Some(prev) = previous {
            let gap = next - prev;
            smallest = Some(smallest.map_or(gap, |s: TimeDelta| s.min(gap)));
        }
        previous = Some(next);
        cursor = next;
    }
    // A pattern firing at most once in the horizon (a leap day on a Monday) is treated as
    // firing once per horizon.
    smallest
        .unwrap_or(TimeDelta::days(INTERVAL_HORIZON_DAYS))
        .to_std()
        .unwrap_or(Duration::from_secs(1))
}

fn sample_start() -> DateTime<Utc> {
    Utc.timestamp_opt(SAMPLE_START_SECONDS, 0)
        .single()
        .expect("a fixed, valid Unix timestamp")
}

/// The next multiple of `every` since the epoch that is strictly after `t`.
fn next_slot(every: Duration, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let every_nanos = i128::try_from(every.as_nanos()).ok()?;
    let t_nanos =
        i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
    let next = (t_nanos.div_euclid(every_nanos) + 1) * every_nanos;
    let seconds = i64::try_from(next.div_euclid(1_000_000_000)).ok()?;
    let nanos = u32::try_from(next.rem_euclid(1_000_000_000)).ok()?;
    Utc.timestamp_opt(seconds, nanos).single()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::utc;

    fn cron(text: &str, zone: &str) -> Schedule {
        Schedule::cron(text, parse_timezone(zone).expect("known zone")).expect("valid cron")
    }

    #[test]
    fn five_field_cron_fires_on_second_zero() {
        let s = cron("*/15 * * * *", "UTC");
        assert_eq!(
            s.fire_times(utc("2024-02-01T08:07:30Z"), 3),
            vec![
                utc("2024-02-01T08:15:00Z"),
                utc("2024-02-01T08:30:00Z"),
                utc("2024-02-01T08:45:00Z"),
            ]
        );
    }

    #[test]
    fn six_field_cron_reads_seconds_first() {
        let s = cron("30 */10 * * * *", "UTC");
        assert_eq!(
            s.fire_times(utc("2024-02-01T08:00:00Z"), 2),
            vec![utc("2024-02-01T08:00:30Z"), utc("2024-02-01T08:10:30Z")]
        );
        assert_eq!(s.interval(), Duration::from_secs(600));
    }

    #[test]
    fn next_after_is_strictly_after() {
        let s = cron("0 * * * *", "UTC");
        assert_eq!(
            s.next_after(utc("2024-02-01T08:00:00Z")),
            Some(utc("2024-02-01T09:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2024-02-01T08:00:00.5Z")),
            Some(utc("2024-02-01T09:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2024-02-01T07:59:59.5Z")),
            Some(utc("2024-02-01T08:00:00Z"))
        );
    }

    #[test]
    fn seven_fields_and_garbage_are_rejected() {
        for bad in ["0 0 * * * * 2030", "* * *", "61 * * * *", "every 5m", ""] {
            assert!(
                matches!(Schedule::cron(bad, chrono_tz::UTC), Err(Error::Cron { .. })),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn a_step_beyond_its_field_range_is_rejected() {
        for (bad, field) in [
            ("*/61 * * * *", "minute"),
            ("0 */24 * * *", "hour"),
            ("*/60 * * * * *", "second"),
            ("0 0 1 */12 *", "month"),
            ("0 0 1,5/31 * *", "day-of-month"),
        ] {
            let err = Schedule::cron(bad, chrono_tz::UTC)
                .expect_err(bad)
                .to_string();
            assert!(
                err.contains(&format!("in the {field} field")),
                "{bad}: {err}"
            );
        }
        for good in [
            "*/59 * * * *",
            "0 */23 * * *",
            "0 0 */30 * *",
            "0 0 * * */2",
            "@hourly",
        ] {
            assert!(Schedule::cron(good, chrono_tz::UTC).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_pattern_that_never_matches_is_rejected() {
        assert_eq!(
            Schedule::cron("0 0 30 2 *", chrono_tz::UTC).expect_err("feb 30"),
            Error::NeverFires("0 0 30 2 *".into())
        );
    }

    #[test]
    fn cron_fields_are_read_in_the_schedule_zone() {
        let s = cron("0 9 * * *", "Europe/Amsterdam");
        // 09:00 CET is 08:00 UTC in winter.
        assert_eq!(
            s.next_after(utc("2024-02-01T00:00:00Z")),
            Some(utc("2024-02-01T08:00:00Z"))
        );
    }

    #[test]
    fn amsterdam_fixed_time_job_fires_once_in_the_autumn_overlap() {
        // 2024-10-27: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice.
        let s = cron("30 2 * * *", "Europe/Amsterdam");
        assert_eq!(
            s.fire_times(utc("2024-10-26T12:00:00Z"), 2),
            vec![
                // The earlier 02:30 (CEST, +02:00) only.
                utc("2024-10-27T00:30:00Z"),
                utc("2024-10-28T01:30:00Z"),
            ]
        );
    }

    #[test]
    fn amsterdam_fixed_time_job_fires_right_after_the_spring_gap() {
        // 2024-03-31: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
        let s = cron("30 2 * * *", "Europe/Amsterdam");
        assert_eq!(
            s.fire_times(utc("2024-03-30T12:00:00Z"), 2),
            vec![
                // 03:00 CEST, the first instant after the gap.
                utc("2024-03-31T01:00:00Z"),
                utc("2024-04-01T00:30:00Z"),
            ]
        );
    }

    #[test]
    fn new_york_fixed_time_job_fires_once_in_the_autumn_overlap() {
        // 2024-11-03: 02:00 EDT goes back to 01:00 EST, so 01:30 happens twice.
        let s = cron("30 1 * * *", "America/New_York");
        assert_eq!(
            s.fire_times(utc("2024-11-02T12:00:00Z"), 2),
            vec![utc("2024-11-03T05:30:00Z"), utc("2024-11-04T06:30:00Z")]
        );
    }

    #[test]
    fn new_york_fixed_time_job_fires_right_after_the_spring_gap() {
        // 2024-03-10: 02:00 EST jumps to 03:00 EDT.
        let s = cron("30 2 * * *", "America/New_York");
        assert_eq!(
            s.fire_times(utc("2024-03-09T12:00:00Z"), 2),
            vec![utc("2024-03-10T07:00:00Z"), utc("2024-03-11T06:30:00Z")]
        );
    }

    #[test]
    fn interval_job_fires_in_both_halves_of_the_overlap() {
        // An interval pattern runs on each real instant: the repeated hour is not skipped.
        let s = cron("0 */30 * * * *", "America/New_York");
        let times = s.fire_times(utc("2024-11-03T04:50:00Z"), 5);
        assert_eq!(
            times,
            vec![
                utc("2024-11-03T05:00:00Z"),
                utc("2024-11-03T05:30:00Z"),
                utc("2024-11-03T06:00:00Z"),
                utc("2024-11-03T06:30:00Z"),
                utc("2024-11-03T07:00:00Z"),
            ]
        );
    }

    #[test]
    fn every_is_aligned_to_the_epoch() {
        let s = Schedule::every(Duration::from_secs(900), chrono_tz::Europe::Amsterdam)
            .expect("non-zero");
        assert_eq!(
            s.fire_times(utc("2024-02-01T08:07:30Z"), 2),
            vec![utc("2024-02-01T08:15:00Z"), utc("2024-02-01T08:30:00Z")]
        );
        assert_eq!(
            s.next_after(utc("2024-02-01T08:15:00Z")),
            Some(utc("2024-02-01T08:30:00Z"))
        );
        assert_eq!(s.interval(), Duration::from_secs(900));
        assert_eq!(s.text, "every 15m");
    }

    #[test]
    fn every_zero_is_rejected() {
        assert_eq!(
            Schedule::every(Duration::ZERO, chrono_tz::UTC).expect_err("zero"),
            Error::ZeroInterval
        );
    }

    #[test]
    fn cron_interval_is_the_smallest_gap_and_ignores_dst() {
        assert_eq!(
            cron("*/15 * * * *", "UTC").interval(),
            Duration::from_secs(900)
        );
        assert_eq!(
            cron("30 2 * * *", "Europe/Amsterdam").interval(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            cron("0 9,17 * * 1-5", "UTC").interval(),
            Duration::from_secs(8 * 3600)
        );
        assert_eq!(
            cron("0 0 1 * *", "UTC").interval(),
            Duration::from_secs(28 * 86_400)
        );
    }

    #[test]
    fn a_cron_cache_shares_one_pattern_per_zone_and_keeps_errors() {
        let mut cache = CronCache::default();
        let pointer = |s: &Schedule| match &s.trigger {
            Trigger::Cron(cron) => Arc::as_ptr(cron),
            Trigger::Every(_) => std::ptr::null(),
        };
        let utc = cache.cron("0 3 * * *", chrono_tz::UTC).expect("valid cron");
        let again = cache.cron("0 3 * * *", chrono_tz::UTC).expect("valid cron");
        let ams = cache
            .cron("0 3 * * *", chrono_tz::Europe::Amsterdam)
            .expect("valid cron");
        assert_eq!(pointer(&utc), pointer(&again));
        assert_ne!(pointer(&utc), pointer(&ams));
        assert_eq!(ams.timezone, chrono_tz::Europe::Amsterdam);
        assert_eq!(again.interval(), Duration::from_secs(86_400));
        assert_eq!(
            cache
                .cron("0 0 30 2 *", chrono_tz::UTC)
                .expect_err("feb 30"),
            Error::NeverFires("0 0 30 2 *".into())
        );
    }

    #[test]
    fn timezones_are_iana_names() {
        assert_eq!(
            parse_timezone("America/New_York"),
            Ok(chrono_tz::America::New_York)
        );
        assert_eq!(
            parse_timezone("Mars/Olympus"),
            Err(Error::Timezone("Mars/Olympus".into()))
        );
        assert!(timezone_names().any(|n| n == "Europe/Amsterdam"));
    }
}
