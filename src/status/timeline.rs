//! A job's coverage timeline: its data time split into stretches that were hunted, failed,
//! skipped or left as gaps, from the windows and gaps the store returned.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::RunStatus;
use crate::store::status::{CoverageGap, WindowSpan};

/// What happened to a stretch of data time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Coverage {
    /// A coverage gap no run tried: `hunt_coverage_gaps` (downtime, data past retention).
    Gap,
    /// A run hunted it and failed, and no later run covered it.
    Failed,
    /// Left out on purpose by `catch_up: skip`.
    Skipped,
    /// A succeeded run hunted it.
    Covered,
}

impl Coverage {
    /// The lowercase name used in JSON, CSS classes and the legend.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gap => "gap",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Covered => "covered",
        }
    }
}

/// One stretch of a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// Start, inclusive.
    pub start: DateTime<Utc>,
    /// End, exclusive.
    pub end: DateTime<Utc>,
    /// What happened to it.
    pub kind: Coverage,
}

/// The timeline of one job over `[since, until)`. Where spans overlap the best outcome wins
/// (covered over skipped over failed over gap): a failed window a later run hunted is covered.
/// Time no span mentions (before the job's first run, after its latest window) is left out.
pub fn build(
    windows: &[&WindowSpan],
    gaps: &[&CoverageGap],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<Segment> {
    let mut events: Vec<(DateTime<Utc>, Coverage, i32)> = Vec::new();
    let spans = windows
        .iter()
        .filter_map(|w| {
            let kind = match w.status {
                RunStatus::Succeeded => Coverage::Covered,
                RunStatus::Skipped => Coverage::Skipped,
                RunStatus::Failed => Coverage::Failed,
                RunStatus::Running | RunStatus::Interrupted => return None,
            };
            Some((w.window_start, w.window_end, kind))
        })
        .chain(gaps.iter().map(|g| (g.gap_start, g.gap_end, Coverage::Gap)));
    for (start, end, kind) in spans {
        let (start, end) = (start.max(since), end.min(until));
        if start < end {
            events.push((start, kind, 1));
            events.push((end, kind, -1));
        }
    }
    events.sort_by_key(|&(at, kind, delta)| (at, kind, delta));
    let mut open = [0i32; 4];
    let mut segments: Vec<Segment> = Vec::new();
    let mut at = since;
    for (time, kind, delta) in events {
        if time > at {
            if let Some(best) = best_open(&open) {
                push(&mut segments, at, time, best);
            }
            at = time;
        }
        open[kind as usize] += delta;
    }
    segments
}

/// The best outcome among the spans open now.
fn best_open(open: &[i32; 4]) -> Option<Coverage> {
    [
        Coverage::Covered,
        Coverage::Skipped,
        Coverage::Failed,
        Coverage::Gap,
    ]
    .into_iter()
    .find(|kind| open[*kind as usize] > 0)
}

/// Appends a stretch, merging it into the last one when they touch and agree.
fn push(segments: &mut Vec<Segment>, start: DateTime<Utc>, end: DateTime<Utc>, kind: Coverage) {
    if let Some(last) = segments.last_mut()
        && last.end == start
        && last.kind == kind
    {
        last.end = end;
        return;
    }
    segments.push(Segment { start, end, kind });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hour: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2024-05-01T{hour:02}:00:00Z"))
            .expect("test time parses")
            .with_timezone(&Utc)
    }

    fn window(start: u32, end: u32, status: RunStatus) -> WindowSpan {
        WindowSpan {
            job: "j".into(),
            instance: "i".into(),
            window_start: t(start),
            window_end: t(end),
            status,
        }
    }

    fn gap(start: u32, end: u32) -> CoverageGap {
        CoverageGap {
            job: "j".into(),
            instance: "i".into(),
            gap_start: t(start),
            gap_end: t(end),
            reason: "no succeeded run".into(),
        }
    }

    /// The timeline of `windows` and `gaps` from hour `from` to hour `to`, as
    /// `(start hour, end hour, kind)`.
    fn kinds(
        windows: &[WindowSpan],
        gaps: &[CoverageGap],
        from: u32,
        to: u32,
    ) -> Vec<(u32, u32, Coverage)> {
        use chrono::Timelike as _;
        let w: Vec<_> = windows.iter().collect();
        let g: Vec<_> = gaps.iter().collect();
        build(&w, &g, t(from), t(to))
            .iter()
            .map(|s| (s.start.hour(), s.end.hour(), s.kind))
            .collect()
    }

    #[test]
    fn a_failed_window_a_later_run_covered_counts_as_covered() {
        let windows = [
            window(1, 2, RunStatus::Succeeded),
            window(2, 3, RunStatus::Failed),
            window(2, 4, RunStatus::Succeeded),
            window(4, 5, RunStatus::Failed),
        ];
        assert_eq!(
            kinds(&windows, &[gap(4, 5)], 0, 6),
            [(1, 4, Coverage::Covered), (4, 5, Coverage::Failed)]
        );
    }

    #[test]
    fn spans_are_clipped_to_the_range_and_skips_and_gaps_keep_their_kind() {
        let windows = [
            window(0, 3, RunStatus::Succeeded),
            window(3, 4, RunStatus::Skipped),
            window(6, 9, RunStatus::Succeeded),
        ];
        assert_eq!(
            kinds(&windows, &[gap(3, 4), gap(4, 6)], 2, 8),
            [
                (2, 3, Coverage::Covered),
                (3, 4, Coverage::Skipped),
                (4, 6, Coverage::Gap),
                (6, 8, Coverage::Covered),
            ]
        );
    }
}
