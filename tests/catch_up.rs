//! `catch_up: all` after a restart: a fast schedule's missed slots are caught up in windows of
//! up to `max_window`, one run each, contiguous, not one run per slot.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use huntd::daemon::window::{self, PlannedRun, WindowSettings};
use huntd::jobs::CatchUp;
use huntd::schedule::Schedule;

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time parses")
        .with_timezone(&Utc)
}

const DAY: Duration = Duration::from_secs(24 * 3600);

fn settings() -> WindowSettings {
    WindowSettings {
        lookback: 3 * DAY,
        delay: Duration::from_secs(5),
        max_window: DAY,
        catch_up: CatchUp::All,
    }
}

/// Plans as the scheduler's loop does, with every run succeeding, until nothing is due.
fn catch_up(
    settings: &WindowSettings,
    covered: DateTime<Utc>,
    now: DateTime<Utc>,
    due_slots: impl Fn(DateTime<Utc>) -> Vec<DateTime<Utc>>,
) -> Vec<PlannedRun> {
    let delay = TimeDelta::from_std(settings.delay).expect("small delay");
    let mut covered = covered;
    let mut cursor = covered + delay;
    let mut runs = Vec::new();
    for _ in 0..100_000 {
        let due = due_slots(cursor);
        let Some((&slot, missed)) = due.split_last() else {
            return runs;
        };
        cursor = slot;
        let plan = window::plan(settings, Some(covered), missed, slot, now);
        assert!(plan.gaps.is_empty(), "nothing is older than 30 days");
        if let Some(last) = plan.runs.last() {
            covered = last.end;
        }
        runs.extend(plan.runs);
    }
    panic!("catch-up does not end");
}

/// A job every `every_secs` seconds with [`settings`], and the runs it plans from `covered`
/// until `now`, taking its due slots as the scheduler does (at most 1,000 at a time).
fn caught_up_every(
    every_secs: u64,
    covered: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Schedule, Vec<PlannedRun>) {
    let schedule =
        Schedule::every(Duration::from_secs(every_secs), chrono_tz::UTC).expect("schedule");
    let s = settings();
    let runs = catch_up(&s, covered, now, |cursor| {
        huntd::daemon::scheduler::next_slots(&schedule, &s, cursor, now, 1000)
    });
    (schedule, runs)
}

fn assert_contiguous(runs: &[PlannedRun], from: DateTime<Utc>, to: DateTime<Utc>, max: Duration) {
    assert_eq!(runs.first().map(|r| r.start), Some(from));
    assert_eq!(runs.last().map(|r| r.end), Some(to));
    for pair in runs.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "no gap, no overlap");
        assert!(pair[0].slot_at < pair[1].slot_at, "runs commit in order");
    }
    let max = TimeDelta::from_std(max).expect("small max_window");
    assert!(
        runs.iter()
            .all(|r| r.end - r.start <= max && r.start < r.end)
    );
}

#[test]
fn two_missed_days_of_ten_second_slots_are_caught_up_in_max_window_runs() {
    // A first run's 24 h chunks stopped after the first: two days of slots are left.
    let covered = t("2024-03-08T11:59:55Z");
    let (schedule, runs) = caught_up_every(10, covered, t("2024-03-10T12:00:03Z"));
    assert_eq!(runs.len(), 2, "one run per day, not one per slot: {runs:?}");
    assert_contiguous(&runs, covered, t("2024-03-10T11:59:55Z"), DAY);
    for run in &runs {
        assert_eq!(
            schedule.next_after(run.slot_at - TimeDelta::milliseconds(1)),
            Some(run.slot_at),
            "every run claims a real slot"
        );
    }
}

#[test]
fn the_missed_slots_the_planner_is_given_are_merged_into_max_window_runs() {
    let schedule = Schedule::every(Duration::from_secs(10), chrono_tz::UTC).expect("schedule");
    let s = settings();
    let covered = t("2024-03-08T11:59:55Z");
    let now = t("2024-03-10T12:00:03Z");
    // All due slots at once, as a scheduler without a cap would list them.
    let runs = catch_up(&s, covered, now, |cursor| {
        huntd::daemon::scheduler::due_slots(&schedule, cursor, now, usize::MAX)
    });
    assert_eq!(runs.len(), 2, "one run per day, not one per slot");
    assert_contiguous(&runs, covered, t("2024-03-10T11:59:55Z"), s.max_window);
}

#[test]
fn an_hourly_job_down_for_three_hours_catches_up_in_one_run() {
    let covered = t("2024-03-10T08:59:55Z");
    let (_, runs) = caught_up_every(3600, covered, t("2024-03-10T12:00:03Z"));
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].slot_at, t("2024-03-10T12:00:00Z"));
    assert_contiguous(&runs, covered, t("2024-03-10T11:59:55Z"), DAY);
}
