//! Pure window planning: which runs a slot needs, which spans become gaps, and splay.
//!
//! Nothing here reads a clock or a database, so every rule is tested with fixed times.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::jobs::{CatchUp, Job};

/// How far back the hunting APIs keep data; older spans are recorded as gaps.
pub const MAX_DATA_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Gap reason for spans older than [`MAX_DATA_AGE`].
pub const REASON_TOO_OLD: &str = "older than 30 days: the hunting API no longer has this data";

/// Why a `skipped` run (`catch_up: skip`) was not hunted, stored as its error message.
pub const REASON_SKIPPED: &str = "missed while huntd was down (catch_up: skip)";

/// Smallest window a truncated result is split down to before it is accepted as truncated.
pub const MIN_SPLIT_SPAN: Duration = Duration::from_secs(60);

/// What a job's windows depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSettings {
    /// Window length of the first run.
    pub lookback: Duration,
    /// Ingestion delay: a window ends this long before its slot.
    pub delay: Duration,
    /// Longest window one API call may cover.
    pub max_window: Duration,
    /// What to do with missed slots.
    pub catch_up: CatchUp,
}

impl WindowSettings {
    /// The settings of a job.
    pub fn of(job: &Job) -> Self {
        Self {
            lookback: job.lookback,
            delay: job.delay,
            max_window: job.max_window,
            catch_up: job.catch_up,
        }
    }
}

/// One run to claim: its slot and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRun {
    /// The slot claimed; for all but the last chunk of a window, the chunk's end plus `delay`.
    pub slot_at: DateTime<Utc>,
    /// Window start (inclusive).
    pub start: DateTime<Utc>,
    /// Window end.
    pub end: DateTime<Utc>,
}

/// A span that will not be hunted, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedGap {
    /// Start of the span.
    pub start: DateTime<Utc>,
    /// End of the span.
    pub end: DateTime<Utc>,
    /// Why.
    pub reason: &'static str,
}

/// Runs (in commit order) and gaps for one scheduling step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Runs to claim and execute in order; a failure ends the plan (the next slot makes it good).
    pub runs: Vec<PlannedRun>,
    /// Spans to record in `hunt_gaps`.
    pub gaps: Vec<PlannedGap>,
    /// The span `catch_up: skip` leaves out, to record as a `skipped` run.
    pub skipped: Option<PlannedRun>,
}

/// Converts a std duration to chrono's, saturating at chrono's maximum.
pub fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Plans the runs for `slot` when `missed` slots (oldest first, all before `slot`) went by
/// without a run, given where coverage ends (`covered_until`: the high-water mark).
pub fn plan(
    settings: &WindowSettings,
    covered_until: Option<DateTime<Utc>>,
    missed: &[DateTime<Utc>],
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan::default();
    let delay = delta(settings.delay);
    let mut cursor = covered_until;
    let slots: Vec<DateTime<Utc>> = match settings.catch_up {
        CatchUp::All => {
            let first = missed.first().copied().unwrap_or(slot);
            let from = cursor.unwrap_or(first - delay - delta(settings.lookback));
            merge_slots(
                missed.iter().copied().chain([slot]),
                from,
                settings,
                usize::MAX,
            )
        }
        CatchUp::Latest => vec![slot],
        CatchUp::Skip => {
            let resume = slot - delay - delta(settings.lookback);
            if let Some(from) = cursor
                && !missed.is_empty()
                && from < resume
            {
                // The slot a window ending at `resume` would have had: the newest missed slot
                // when lookback equals the interval, and never one of the next window's chunks.
                plan.skipped = Some(PlannedRun {
                    slot_at: resume + delay,
                    start: from,
                    end: resume,
                });
                cursor = Some(resume);
            }
            vec![slot]
        }
    };
    let oldest = now - delta(MAX_DATA_AGE);
    for slot in slots {
        let end = slot - delay;
        let mut start = cursor.unwrap_or(end - delta(settings.lookback));
        if start >= end {
            continue;
        }
        if start < oldest {
            let gap_end = oldest.min(end);
            plan.gaps.push(PlannedGap {
                start,
                end: gap_end,
                reason: REASON_TOO_OLD,
            });
            start = gap_end;
            if start >= end {
                cursor = Some(end);
                continue;
            }
        }
        chunk(
            start,
            end,
            slot,
            delay,
            delta(settings.max_window),
            &mut plan.runs,
        );
        cursor = Some(end);
    }
    plan
}

/// The slots `catch_up: all` runs, out of due fire times (oldest first): consecutive slots
/// whose windows fit together in `max_window`, counted from `from` (where coverage ends), are
/// merged into the newest of them, so a fast schedule's missed slots cost one run per
/// `max_window` rather than one per slot. The newest due slot is kept last unless `cap` slots
/// were kept before it; a slot whose own window exceeds `max_window` stays alone (and is
/// chunked).
pub fn merge_slots(
    due: impl IntoIterator<Item = DateTime<Utc>>,
    from: DateTime<Utc>,
    settings: &WindowSettings,
    cap: usize,
) -> Vec<DateTime<Utc>> {
    let delay = delta(settings.delay);
    let max = delta(settings.max_window);
    let mut kept = Vec::new();
    let mut start = from;
    let mut pending: Option<DateTime<Utc>> = None;
    for slot in due {
        if let Some(last) = pending
            && max > TimeDelta::zero()
            && slot - delay - start > max
        {
            kept.push(last);
            if kept.len() >= cap {
                return kept;
            }
            start = last - delay;
        }
        pending = Some(slot);
    }
    kept.extend(pending);
    kept
}

/// Splits `[start, end)` into consecutive chunks of at most `max`; every chunk but the last
/// gets the slot its window would have had (`chunk end + delay`), so each is its own run.
fn chunk(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    slot: DateTime<Utc>,
    delay: TimeDelta,
    max: TimeDelta,
    runs: &mut Vec<PlannedRun>,
) {
    let max = if max <= TimeDelta::zero() {
        end - start
    } else {
        max
    };
    let mut from = start;
    while end - from > max {
        let to = from + max;
        runs.push(PlannedRun {
            slot_at: to + delay,
            start: from,
            end: to,
        });
        from = to;
    }
    runs.push(PlannedRun {
        slot_at: slot,
        start: from,
        end,
    });
}

/// The two halves of a window, or `None` when halves would be shorter than `min_span`.
pub fn halves(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    min_span: Duration,
) -> Option<[(DateTime<Utc>, DateTime<Utc>); 2]> {
    let half = (end - start) / 2;
    if half < delta(min_span) {
        return None;
    }
    let middle = start + half;
    Some([(start, middle), (middle, end)])
}

/// The job's fixed offset within `splay`, derived from its name so every node agrees.
pub fn splay_offset(name: &str, splay: Duration) -> Duration {
    let millis = u64::try_from(splay.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return Duration::ZERO;
    }
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Duration::from_millis(u64::from_be_bytes(first) % millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::utc as t;

    fn hours(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    fn settings(catch_up: CatchUp) -> WindowSettings {
        WindowSettings {
            lookback: hours(1),
            delay: Duration::from_secs(300),
            max_window: hours(24),
            catch_up,
        }
    }

    /// A time of the day the tests plan on, `"HH:MM"`.
    fn at(hh_mm: &str) -> DateTime<Utc> {
        t(&format!("2024-03-10T{hh_mm}:00Z"))
    }

    fn run(slot: &str, start: &str, end: &str) -> PlannedRun {
        PlannedRun {
            slot_at: at(slot),
            start: at(start),
            end: at(end),
        }
    }

    /// The plan for the 12:00 slot at 12:00, coverage ending at `covered` and `missed` slots
    /// (`"HH:MM"`) before it.
    fn plan_noon(s: &WindowSettings, covered: Option<&str>, missed: &[&str]) -> Plan {
        let missed: Vec<DateTime<Utc>> = missed.iter().map(|m| at(m)).collect();
        plan(s, covered.map(t), &missed, at("12:00"), at("12:00"))
    }

    const NOW: &str = "2024-03-10T12:00:00Z";

    #[test]
    fn first_run_window_is_lookback_ending_delay_before_the_slot() {
        let plan = plan_noon(&settings(CatchUp::All), None, &[]);
        assert_eq!(plan.runs, [run("12:00", "10:55", "11:55")]);
        assert!(plan.gaps.is_empty());
    }

    #[test]
    fn later_runs_start_at_the_high_water_mark_so_failed_runs_are_made_good() {
        let plan = plan_noon(&settings(CatchUp::All), Some("2024-03-10T09:55:00Z"), &[]);
        assert_eq!(plan.runs, [run("12:00", "09:55", "11:55")]);
    }

    #[test]
    fn catch_up_all_merges_missed_slots_into_one_run_when_they_fit_in_max_window() {
        let plan = plan_noon(
            &settings(CatchUp::All),
            Some("2024-03-10T08:55:00Z"),
            &["10:00", "11:00"],
        );
        assert_eq!(plan.runs, [run("12:00", "08:55", "11:55")]);
    }

    #[test]
    fn catch_up_all_runs_each_missed_slot_when_max_window_is_one_slot() {
        let mut s = settings(CatchUp::All);
        s.max_window = hours(1);
        let plan = plan_noon(&s, Some("2024-03-10T08:55:00Z"), &["10:00", "11:00"]);
        assert_eq!(
            plan.runs,
            [
                run("10:00", "08:55", "09:55"),
                run("11:00", "09:55", "10:55"),
                run("12:00", "10:55", "11:55"),
            ]
        );
    }

    #[test]
    fn catch_up_all_of_a_fast_schedule_is_one_run_per_max_window_ending_on_slots() {
        let mut s = settings(CatchUp::All);
        s.max_window = hours(2);
        // Ten-second slots for five hours after coverage ended at 06:55 (slot 07:00).
        let missed: Vec<DateTime<Utc>> = (1..1800)
            .map(|i| t("2024-03-10T07:00:00Z") + TimeDelta::seconds(10 * i))
            .collect();
        let slot = t("2024-03-10T12:00:00Z");
        let plan = plan(&s, Some(t("2024-03-10T06:55:00Z")), &missed, slot, t(NOW));
        assert_eq!(
            plan.runs,
            [
                run("09:00", "06:55", "08:55"),
                run("11:00", "08:55", "10:55"),
                run("12:00", "10:55", "11:55"),
            ]
        );
    }

    #[test]
    fn merge_slots_keeps_the_newest_slot_last_and_stops_at_the_cap() {
        let s = WindowSettings {
            max_window: Duration::from_secs(30),
            delay: Duration::ZERO,
            ..settings(CatchUp::All)
        };
        let from = t("2024-03-10T00:00:00Z");
        let due: Vec<DateTime<Utc>> = (1..=10)
            .map(|i| from + TimeDelta::seconds(10 * i))
            .collect();
        let at = |i: i64| from + TimeDelta::seconds(10 * i);
        assert_eq!(
            merge_slots(due.iter().copied(), from, &s, usize::MAX),
            [at(3), at(6), at(9), at(10)]
        );
        assert_eq!(
            merge_slots(due.iter().copied(), from, &s, 2),
            [at(3), at(6)]
        );
        assert!(merge_slots(Vec::new(), from, &s, 2).is_empty());
        // A slot whose own window is longer than max_window stays alone.
        let sparse = [at(10), at(20)];
        assert_eq!(merge_slots(sparse, from, &s, usize::MAX), sparse);
    }

    #[test]
    fn catch_up_latest_is_one_window_over_the_missed_span_chunked_by_max_window() {
        let mut s = settings(CatchUp::Latest);
        s.max_window = hours(1);
        let plan = plan_noon(&s, Some("2024-03-10T09:25:00Z"), &["10:00", "11:00"]);
        assert_eq!(
            plan.runs,
            [
                run("10:30", "09:25", "10:25"),
                run("11:30", "10:25", "11:25"),
                run("12:00", "11:25", "11:55"),
            ]
        );
        assert!(plan.gaps.is_empty());
    }

    #[test]
    fn catch_up_skip_plans_the_missed_span_as_a_skipped_run_and_resumes_from_now() {
        let plan = plan_noon(
            &settings(CatchUp::Skip),
            Some("2024-03-10T07:55:00Z"),
            &["10:00"],
        );
        assert_eq!(plan.skipped, Some(run("11:00", "07:55", "10:55")));
        assert!(plan.gaps.is_empty());
        assert_eq!(plan.runs, [run("12:00", "10:55", "11:55")]);
    }

    #[test]
    fn catch_up_skip_without_missed_slots_still_makes_failed_windows_good() {
        let plan = plan_noon(&settings(CatchUp::Skip), Some("2024-03-10T07:55:00Z"), &[]);
        assert!(plan.gaps.is_empty());
        assert_eq!(plan.skipped, None);
        assert_eq!(plan.runs[0].start, t("2024-03-10T07:55:00Z"));
    }

    #[test]
    fn data_older_than_30_days_is_a_gap_with_its_reason_and_the_rest_is_chunked() {
        let plan = plan_noon(
            &settings(CatchUp::Latest),
            Some("2024-01-01T00:00:00Z"),
            &[],
        );
        assert_eq!(
            plan.gaps,
            [PlannedGap {
                start: t("2024-01-01T00:00:00Z"),
                end: t("2024-02-09T12:00:00Z"),
                reason: REASON_TOO_OLD,
            }]
        );
        assert_eq!(
            plan.runs.first().map(|r| r.start),
            Some(t("2024-02-09T12:00:00Z"))
        );
        assert_eq!(
            plan.runs.last().map(|r| r.end),
            Some(t("2024-03-10T11:55:00Z"))
        );
        assert_eq!(plan.runs.len(), 30);
        for pair in plan.runs.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "chunks are consecutive");
            assert!(pair[0].slot_at < pair[1].slot_at, "chunks commit in order");
        }
        assert!(
            plan.runs
                .iter()
                .all(|r| r.end - r.start <= TimeDelta::hours(24))
        );
    }

    #[test]
    fn a_slot_whose_window_is_already_covered_plans_nothing() {
        let plan = plan_noon(&settings(CatchUp::All), Some("2024-03-10T11:55:00Z"), &[]);
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn truncated_windows_split_in_halves_down_to_the_minimum_span() {
        let [a, b] = halves(
            t("2024-03-10T10:00:00Z"),
            t("2024-03-10T12:00:00Z"),
            MIN_SPLIT_SPAN,
        )
        .expect("two hours split");
        assert_eq!(a, (t("2024-03-10T10:00:00Z"), t("2024-03-10T11:00:00Z")));
        assert_eq!(b, (t("2024-03-10T11:00:00Z"), t("2024-03-10T12:00:00Z")));
        assert!(
            halves(
                t("2024-03-10T10:00:00Z"),
                t("2024-03-10T10:01:59Z"),
                MIN_SPLIT_SPAN
            )
            .is_none()
        );
    }

    #[test]
    fn splay_is_deterministic_per_job_name_and_within_bounds() {
        let splay = Duration::from_secs(30);
        let a = splay_offset("encoded-powershell", splay);
        assert_eq!(a, splay_offset("encoded-powershell", splay));
        assert!(a < splay);
        let offsets: std::collections::BTreeSet<Duration> = (0..20)
            .map(|i| splay_offset(&format!("job-{i}"), splay))
            .collect();
        assert!(offsets.len() > 10, "different names spread out");
        assert_eq!(splay_offset("x", Duration::ZERO), Duration::ZERO);
    }
}
