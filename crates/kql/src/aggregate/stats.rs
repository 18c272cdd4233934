//! `stdev`, `stdevp`, `variance` and `variancep` (and their `if` forms): the spread of a
//! group's numbers, kept as running moments so a group holds three numbers, not its values.

use crate::value::Value;

/// Sample (n - 1) or population (n) statistics, and whether the square root is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spread {
    /// Divide by n (`stdevp`, `variancep`) rather than n - 1.
    pub(crate) population: bool,
    /// The standard deviation rather than the variance.
    pub(crate) root: bool,
}

/// A group's count, mean and sum of squared deviations, updated per value (Welford's method,
/// which stays accurate where summing squares would cancel out).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// Adds one value.
    pub(crate) fn push(&mut self, x: f64) {
        self.n += 1;
        #[allow(clippy::cast_precision_loss)] // a count of rows held in memory
        let n = self.n as f64;
        let delta = x - self.mean;
        self.mean += delta / n;
        self.m2 += delta * (x - self.mean);
    }

    /// The variance or standard deviation: null without values; the sample forms give 0 for
    /// a single value, as Kusto documents, instead of dividing by zero.
    pub(crate) fn finish(&self, spread: Spread) -> Value {
        if self.n == 0 {
            return Value::Null;
        }
        #[allow(clippy::cast_precision_loss)] // a count of rows held in memory
        let n = self.n as f64;
        let divisor = if spread.population { n } else { n - 1.0 };
        let variance = if divisor > 0.0 {
            (self.m2 / divisor).max(0.0)
        } else {
            0.0
        };
        Value::Real(if spread.root {
            variance.sqrt()
        } else {
            variance
        })
    }
}
