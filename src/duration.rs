//! Human durations as users write them in YAML: `30s`, `15m`, `1h30m`, `2d`, `1w`.

use std::fmt;
use std::time::Duration;

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not a sequence of `<number><unit>` parts.
    #[error("`{0}` is not a duration: write it like 30s, 15m, 1h30m or 2d")]
    Syntax(String),
    /// The value does not fit in a duration.
    #[error("`{0}` is too long a duration")]
    Overflow(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

const UNITS: [(&str, u64); 5] = [
    ("w", 7 * 24 * 3600),
    ("d", 24 * 3600),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
];

/// Parses `1h30m`-style text; whole seconds only, units `w d h m s`, each at most once.
pub fn parse(text: &str) -> Result<Duration> {
    let syntax = || Error::Syntax(text.to_string());
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(syntax());
    }
    let mut total: u64 = 0;
    let mut rest = trimmed;
    let mut last_unit = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(syntax());
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| Error::Overflow(text.to_string()))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        let position = UNITS
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(syntax)?;
        // Units must go from largest to smallest, each once: `1h30m`, never `30m1h` or `1h1h`.
        if last_unit.is_some_and(|last| position <= last) {
            return Err(syntax());
        }
        last_unit = Some(position);
        let seconds = number
            .checked_mul(UNITS[position].1)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| Error::Overflow(text.to_string()))?;
        total = seconds;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way [`parse`] reads it (`5400s` -> `1h30m`).
pub fn format(duration: Duration) -> String {
    Human(duration).to_string()
}

/// A duration to its two largest units (`3h25m`, `2d4h`, `40s`), for "when" columns where the
/// seconds of a long span are noise.
pub fn rough(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let Some(first) = UNITS[1..].iter().position(|(_, size)| seconds >= *size) else {
        return "0s".into();
    };
    let mut text = String::new();
    let mut left = seconds;
    for (unit, size) in UNITS[1..].iter().skip(first).take(2) {
        if left >= *size {
            text = format!("{text}{}{unit}", left / size);
        }
        left %= size;
    }
    text
}

/// A duration displayed in `1h30m` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut seconds = self.0.as_secs();
        if seconds == 0 {
            return f.write_str("0s");
        }
        // Weeks are skipped on output: `14d` reads better than `2w` in run windows.
        for (unit, size) in &UNITS[1..] {
            if seconds >= *size {
                write!(f, "{}{unit}", seconds / size)?;
                seconds %= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rough_keeps_the_two_largest_units() {
        assert_eq!(rough(Duration::from_secs(0)), "0s");
        assert_eq!(rough(Duration::from_secs(40)), "40s");
        assert_eq!(rough(Duration::from_secs(3 * 3600 + 25 * 60 + 10)), "3h25m");
        assert_eq!(rough(Duration::from_secs(2 * 86_400 + 30)), "2d");
        assert_eq!(rough(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn parses_single_and_compound_units() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse("1w2d"), Ok(Duration::from_secs(9 * 86_400)));
    }

    #[test]
    fn rejects_bare_numbers_unknown_units_and_disorder() {
        for bad in [
            "", "15", "m", "15x", "1.5h", "30m1h", "1h1h", "-5m", "1h 30m",
        ] {
            assert!(
                matches!(parse(bad), Err(Error::Syntax(_))),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn rejects_overflow_instead_of_wrapping() {
        assert!(matches!(
            parse("99999999999999999999w"),
            Err(Error::Overflow(_))
        ));
        assert!(matches!(
            parse("9999999999999999w"),
            Err(Error::Overflow(_))
        ));
    }

    #[test]
    fn formats_back_to_the_parsed_form() {
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_secs(90_061)), "1d1h1m1s");
        assert_eq!(format(Duration::ZERO), "0s");
        for text in ["15m", "1h30m", "2d", "45s"] {
            assert_eq!(format(parse(text).expect("valid")), text);
        }
    }
}
