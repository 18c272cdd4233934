//! A job's backoff after repeated failures: which failures count toward it and the pause they
//! cause. The daemon keeps each job's backoff as its runs end (`daemon::scheduler`); `huntd
//! status` derives it from the stored runs with the same rule.

use std::time::Duration;

/// Longest pause of a job that keeps failing with a non-retryable error class.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

/// Failures in a row before a job starts backing off.
pub const BACKOFF_AFTER: u32 = 3;

/// First backoff pause; it doubles with every further failure up to [`MAX_BACKOFF`].
pub const BACKOFF_BASE: Duration = Duration::from_secs(60);

/// Whether a failure of `error_class` feeds the job's backoff: classes repeating cannot fix
/// (a bad query, a missing permission, a refused sign-in) and answers the database refuses.
/// `huntd status` derives the backoff from stored runs with the same rule.
pub fn counts_toward_backoff(error_class: &str) -> bool {
    matches!(
        error_class,
        "auth" | "permission" | "query" | "unstorable" | "retired"
    )
}

/// Consecutive non-retryable failures of a job and the pause they cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The backoff after `failures` non-retryable failures in a row, as `huntd status`
    /// derives it from stored runs.
    pub fn with_failures(failures: u32) -> Self {
        Self { failures }
    }

    /// Counts a failure; only non-retryable classes (query, permission, auth) count.
    pub fn failed(&mut self, non_retryable: bool) {
        if non_retryable {
            self.failures = self.failures.saturating_add(1);
        }
    }

    /// A success ends the backoff.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// How long to pause before the next slot; `None` while below [`BACKOFF_AFTER`].
    pub fn pause(&self) -> Option<Duration> {
        let over = self.failures.checked_sub(BACKOFF_AFTER)?;
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        Some(BACKOFF_BASE.saturating_mul(factor).min(MAX_BACKOFF))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hunt::ErrorClass;

    #[test]
    fn the_classes_that_back_off_are_the_ones_retrying_cannot_fix_but_too_large() {
        for class in [
            ErrorClass::Auth,
            ErrorClass::Permission,
            ErrorClass::Query,
            ErrorClass::TooLarge,
            ErrorClass::Throttled,
            ErrorClass::Timeout,
            ErrorClass::Transient,
            ErrorClass::Retired,
        ] {
            let expected = !class.is_retryable() && class != ErrorClass::TooLarge;
            assert_eq!(counts_toward_backoff(class.as_str()), expected, "{class}");
        }
        assert!(counts_toward_backoff("unstorable"));
        assert!(!counts_toward_backoff("store"));
    }

    #[test]
    fn backoff_starts_after_repeated_non_retryable_failures_and_is_capped() {
        let mut backoff = Backoff::default();
        for _ in 0..10 {
            backoff.failed(false);
        }
        assert_eq!(backoff.pause(), None, "retryable classes do not back off");
        for _ in 0..BACKOFF_AFTER {
            backoff.failed(true);
        }
        assert_eq!(backoff.pause(), Some(BACKOFF_BASE));
        backoff.failed(true);
        assert_eq!(backoff.pause(), Some(BACKOFF_BASE * 2));
        for _ in 0..1000 {
            backoff.failed(true);
        }
        assert_eq!(backoff.pause(), Some(MAX_BACKOFF));
        backoff.succeeded();
        assert_eq!(backoff.pause(), None);
    }
}
