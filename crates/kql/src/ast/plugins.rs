//! The arguments of the `evaluate` plugins the engine runs, as the parser leaves them.

use super::{Expr, TabExpr};

/// `evaluate ipv4_lookup(...)` or `ipv6_lookup(...)`.
#[derive(Debug, Clone)]
pub struct IpLookup {
    /// `ipv6_lookup` rather than `ipv4_lookup`.
    pub v6: bool,
    /// The lookup table.
    pub table: TabExpr,
    /// The input's column holding the address looked up.
    pub source_key: String,
    /// The lookup table's column holding an address or a range (`10.0.0.0/8`).
    pub lookup_key: String,
    /// Columns both sides have that must also be equal.
    pub extra: Vec<String>,
    /// Keep the input's rows no range holds, with nulls for the lookup's columns.
    pub return_unmatched: bool,
}

/// `evaluate autocluster(...)` or `basket(...)`: patterns of values the rows share.
#[derive(Debug, Clone)]
pub struct Segments {
    /// `autocluster` (a few patterns covering the rows) rather than `basket` (every frequent
    /// pattern).
    pub autocluster: bool,
    /// The plugin's arguments in order; `'~'` stands for an argument's default.
    pub args: Vec<Expr>,
}

/// `evaluate dcount_intersect(hll_1, hll_2 [, ...])`: the distinct counts of S1, S1 ∩ S2, ...
#[derive(Debug, Clone)]
pub struct DcountIntersect {
    /// The hll values, 2 to 16, in order.
    pub args: Vec<Expr>,
}

/// `evaluate diffpatterns(SplitColumn, SplitValueA, SplitValueB, ...)`.
#[derive(Debug, Clone)]
pub struct DiffPatterns {
    /// The column whose values split the rows into sets A and B.
    pub split: String,
    /// The arguments after it, in order; `'~'` stands for an argument's default.
    pub args: Vec<Expr>,
}

/// A column a plugin's argument names, and where it is written.
#[derive(Debug, Clone)]
pub struct ColumnArg {
    /// The column's name.
    pub name: String,
    /// Byte offset of the argument.
    pub pos: usize,
}

/// Which of the plugins over windows of a timeline an [`Activity`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    /// `sliding_window_counts`: counts over each window's lookback.
    SlidingWindowCounts,
    /// `activity_counts_metrics`: each window against every earlier one.
    CountsMetrics,
    /// `activity_metrics`: each window against the one before it.
    Metrics,
    /// `session_count`: sessions of each id, a gap longer than the lookback starting a new one.
    SessionCount,
    /// `funnel_sequence`: the states before and after each id's run of the sequence.
    FunnelSequence,
    /// `funnel_sequence_completion`: how many ids reach each step of the sequence in time.
    FunnelCompletion,
}

impl ActivityKind {
    /// The plugin's name, as `evaluate` takes it.
    pub fn name(self) -> &'static str {
        match self {
            ActivityKind::SlidingWindowCounts => "sliding_window_counts",
            ActivityKind::CountsMetrics => "activity_counts_metrics",
            ActivityKind::Metrics => "activity_metrics",
            ActivityKind::SessionCount => "session_count",
            ActivityKind::FunnelSequence => "funnel_sequence",
            ActivityKind::FunnelCompletion => "funnel_sequence_completion",
        }
    }
}

/// `evaluate sliding_window_counts(...)`, `activity_counts_metrics(...)`,
/// `activity_metrics(...)`, `session_count(...)`, `funnel_sequence(...)` or
/// `funnel_sequence_completion(...)`.
#[derive(Debug, Clone)]
pub struct Activity {
    /// Which plugin.
    pub kind: ActivityKind,
    /// The column of the ids counted.
    pub id: ColumnArg,
    /// The column of the timeline.
    pub timeline: ColumnArg,
    /// The first window's start.
    pub start: Expr,
    /// The last window holds this.
    pub end: Expr,
    /// `sliding_window_counts`' and `session_count`'s lookback, `funnel_sequence`'s
    /// `MaxSequenceStepWindow`, `funnel_sequence_completion`'s `MaxSequenceStepWindows`.
    pub lookback: Option<Expr>,
    /// The window's length (`Bin`, `Step`, `Window`).
    pub step: Expr,
    /// The dimension columns.
    pub dims: Vec<ColumnArg>,
    /// The funnels' `StateColumn` and `Sequence`.
    pub funnel: Option<(ColumnArg, Expr)>,
}

/// `evaluate rolling_percentile(ValueColumn, Percentile, IndexColumn, BinSize, BinsPerWindow
/// [, dim, ...])`.
#[derive(Debug, Clone)]
pub struct RollingPercentile {
    /// The column whose values the percentile is of.
    pub value: ColumnArg,
    /// The percentile, 0 to 100.
    pub percentile: Expr,
    /// The column binned into the windows.
    pub index: ColumnArg,
    /// The bins' size.
    pub bin: Expr,
    /// How many bins, the row's own included, a window spans.
    pub window: Expr,
    /// The dimension columns.
    pub dims: Vec<ColumnArg>,
}
