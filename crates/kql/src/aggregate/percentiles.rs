//! `percentile`, `percentiles`, `percentiles_array`, `percentilew` and `percentilesw`: exact
//! nearest-rank percentiles of a group's values (Kusto estimates them; for the small inputs
//! hunts test with its estimate is the same value).

use crate::value::Value;

/// The most values (or weighted entries) one group's percentile buffer holds.
pub(crate) const MAX_VALUES: usize = 1 << 22;

/// The nearest-rank percentile of `sorted` (ascending, each value with its weight): the first
/// value whose running weight reaches ceil(P/100 * total), at least the first; null for none.
pub(crate) fn nearest_rank(sorted: &[(Value, u64)], percent: f64) -> Value {
    // Saturating: weights near u64::MAX must not overflow into a panic.
    let total = sorted.iter().fold(0u64, |t, (_, w)| t.saturating_add(*w));
    #[allow(clippy::cast_precision_loss)] // weights of rows held in memory
    let wanted = (percent.clamp(0.0, 100.0) * total as f64 / 100.0).ceil();
    let mut running = 0u64;
    for (v, w) in sorted {
        running = running.saturating_add(*w);
        #[allow(clippy::cast_precision_loss)] // as above
        if running as f64 >= wanted && running > 0 {
            return v.clone();
        }
    }
    Value::Null
}

/// The percentiles of a group's buffered values, sorted once for all of them.
pub(crate) fn compute(mut values: Vec<(Value, u64)>, percents: &[f64]) -> Vec<Value> {
    values.sort_by(|a, b| a.0.sort_cmp(&b.0));
    percents.iter().map(|p| nearest_rank(&values, *p)).collect()
}

/// A percentile as Kusto writes it in a column name: `95`, `99_9` for 99.9.
pub(crate) fn name_suffix(percent: f64) -> String {
    crate::value::format_real(percent).replace(['.', '-'], "_")
}
