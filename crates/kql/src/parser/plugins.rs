//! Parsing `evaluate` and the plugins the engine runs: `bag_unpack`, `pivot`, `narrow`,
//! `ipv4_lookup`, `ipv6_lookup`, `autocluster`, `basket`, `diffpatterns`,
//! `sliding_window_counts`, `activity_counts_metrics`, `activity_metrics`, `session_count`,
//! `funnel_sequence`, `funnel_sequence_completion` and `rolling_percentile`.

use super::cursor::Parser;
use crate::ast::{
    Activity, ActivityKind, ColumnArg, DcountIntersect, DiffPatterns, Expr, ExprKind, IpLookup,
    OpKind, RollingPercentile, Segments, Source, TabExpr,
};
use crate::error::KqlError;
use crate::lexer::Tok;
use crate::value::Value;

/// What a plugin takes at one place of its argument list.
#[derive(Clone, Copy)]
enum Arg {
    /// A column's name.
    Column,
    /// A value (a constant, checked when the plugin runs).
    Value,
}

/// A plugin's arguments sorted by `shape`: its columns, its values, then its dimensions.
type Shaped = (Vec<ColumnArg>, Vec<Expr>, Vec<ColumnArg>);

impl Parser<'_> {
    /// `evaluate` and its plugin: `bag_unpack(Bag [, 'prefix'])`, `pivot(...)`, `narrow()`,
    /// the address lookups and the pattern finders; other plugins are named.
    pub(super) fn evaluate(&mut self) -> Result<OpKind, KqlError> {
        self.skip_hints();
        let pos = self.pos();
        let plugin = self.ident()?;
        match plugin.as_str() {
            "pivot" | "narrow" => return self.reshape_plugin(&plugin),
            "ipv4_lookup" | "ipv6_lookup" => return self.ip_lookup(plugin == "ipv6_lookup"),
            "autocluster" | "basket" => {
                self.expect_sym("(")?;
                let mut args = Vec::new();
                if !self.is_sym(")") {
                    args = self.comma_list(Self::expr)?;
                }
                self.expect_sym(")")?;
                let autocluster = plugin == "autocluster";
                return Ok(OpKind::Segments(Box::new(Segments { autocluster, args })));
            }
            "sliding_window_counts" => return self.activity(ActivityKind::SlidingWindowCounts),
            "activity_counts_metrics" => return self.activity(ActivityKind::CountsMetrics),
            "activity_metrics" => return self.activity(ActivityKind::Metrics),
            "session_count" => return self.activity(ActivityKind::SessionCount),
            "funnel_sequence" => return self.activity(ActivityKind::FunnelSequence),
            "funnel_sequence_completion" => return self.activity(ActivityKind::FunnelCompletion),
            "rolling_percentile" => return self.rolling_percentile(),
            "diffpatterns" => return self.diff_patterns(),
            "dcount_intersect" => {
                self.expect_sym("(")?;
                let args = self.comma_list(Self::expr)?;
                self.expect_sym(")")?;
                return Ok(OpKind::DcountIntersect(Box::new(DcountIntersect { args })));
            }
            "bag_unpack" => {}
            _ => {
                return Err(KqlError::new(
                    format!("evaluate plugin '{plugin}' is not supported by huntd emulate"),
                    self.src,
                    pos,
                ));
            }
        }
        self.expect_sym("(")?;
        let bag = self.expr()?;
        let prefix = if self.eat_sym(",") {
            let pos = self.pos();
            match self.bump().tok {
                Tok::Str(prefix) => prefix,
                _ => {
                    return Err(KqlError::new(
                        "bag_unpack: the prefix must be a string literal".to_string(),
                        self.src,
                        pos,
                    ));
                }
            }
        } else {
            String::new()
        };
        self.expect_sym(")")?;
        Ok(OpKind::BagUnpack { bag, prefix })
    }

    /// `pivot(Column [, Agg] [, GroupColumn, ...])` or `narrow()`, after the plugin's name.
    fn reshape_plugin(&mut self, plugin: &str) -> Result<OpKind, KqlError> {
        let open = self.pos();
        self.expect_sym("(")?;
        let mut args = Vec::new();
        if !self.is_sym(")") {
            args = self.comma_list(Self::expr)?;
        }
        self.expect_sym(")")?;
        if plugin == "narrow" {
            if let Some(extra) = args.first() {
                return Err(KqlError::new(
                    "narrow() takes no arguments".to_string(),
                    self.src,
                    extra.pos,
                ));
            }
            return Ok(OpKind::Narrow);
        }
        let mut args = args.into_iter();
        let column = self.first_column(
            &mut args,
            "pivot: name the column to pivot first, pivot(Column, ...)",
            open,
        )?;
        let mut agg = None;
        let mut by = Vec::new();
        for arg in args {
            match arg.kind {
                ExprKind::Ident(name) => by.push(name),
                ExprKind::Call(..) if agg.is_none() && by.is_empty() => agg = Some(arg),
                _ => {
                    return Err(KqlError::new(
                        "pivot: after the column, an aggregation then column names".to_string(),
                        self.src,
                        arg.pos,
                    ));
                }
            }
        }
        Ok(OpKind::Pivot { column, agg, by })
    }

    /// `(LookupTable, SourceKey, LookupKey [, ExtraKey, ...] [, return_unmatched])`, after
    /// `ipv4_lookup` or `ipv6_lookup`.
    fn ip_lookup(&mut self, v6: bool) -> Result<OpKind, KqlError> {
        let open = self.pos();
        self.expect_sym("(")?;
        let args = self.comma_list(Self::call_argument)?;
        self.expect_sym(")")?;
        let plugin = if v6 { "ipv6_lookup" } else { "ipv4_lookup" };
        let fail = |message: &str, pos: usize| {
            KqlError::new(format!("{plugin}: {message}"), self.src, pos)
        };
        let mut args = args.into_iter();
        let table = match args.next() {
            Some(Expr {
                kind: ExprKind::Ident(name),
                pos,
            }) => TabExpr {
                source: Source::Name(name, pos),
                ops: Vec::new(),
            },
            Some(Expr {
                kind: ExprKind::Table(table),
                ..
            }) => *table,
            other => {
                return Err(fail(
                    "name the lookup table first, or write it in parentheses",
                    other.map_or(open, |e| e.pos),
                ));
            }
        };
        let mut names = Vec::new();
        let mut flag = None;
        for arg in args {
            match arg.kind {
                ExprKind::Ident(name) if flag.is_none() => names.push(name),
                ExprKind::Lit(Value::Bool(unmatched), _) if flag.is_none() => {
                    flag = Some(unmatched);
                }
                _ => return Err(fail("expected a column name or return_unmatched", arg.pos)),
            }
        }
        if names.len() < 2 || (v6 && names.len() > 2) {
            return Err(fail(
                "name the input's address column and the lookup table's",
                open,
            ));
        }
        let extra = names.split_off(2);
        let lookup_key = names.pop().unwrap_or_default();
        let source_key = names.pop().unwrap_or_default();
        Ok(OpKind::IpLookup(Box::new(IpLookup {
            v6,
            table,
            source_key,
            lookup_key,
            extra,
            return_unmatched: flag.unwrap_or(false),
        })))
    }

    /// `(IdColumn, TimelineColumn, Start, End, ...)` after one of the plugins over windows of a
    /// timeline: `sliding_window_counts`' `LookbackWindow, Bin`, `session_count`'s `Bin,
    /// LookBackWindow`, `funnel_sequence`'s `MaxSequenceStepWindow, Step, StateColumn,
    /// Sequence`, `funnel_sequence_completion`'s `Step, StateColumn, Sequence,
    /// MaxSequenceStepWindows`, the others' `Step`; then the dimension columns (none for the
    /// funnels).
    fn activity(&mut self, kind: ActivityKind) -> Result<OpKind, KqlError> {
        use Arg::{Column as C, Value as V};
        let (shape, what): (&[Arg], &str) = match kind {
            ActivityKind::SlidingWindowCounts | ActivityKind::SessionCount => (
                &[C, C, V, V, V, V],
                "the id and timeline columns, then 4 values",
            ),
            ActivityKind::CountsMetrics | ActivityKind::Metrics => (
                &[C, C, V, V, V],
                "the id and timeline columns, then 3 values",
            ),
            ActivityKind::FunnelSequence => (
                &[C, C, V, V, V, V, C, V],
                "the id and timeline columns, Start, End, MaxSequenceStepWindow, Step, the \
                 state column and the sequence",
            ),
            ActivityKind::FunnelCompletion => (
                &[C, C, V, V, V, C, V, V],
                "the id and timeline columns, Start, End, Step, the state column, the sequence \
                 and MaxSequenceStepWindows",
            ),
        };
        let (columns, values, dims) = self.shaped_args(kind.name(), shape, what)?;
        let funnel = matches!(
            kind,
            ActivityKind::FunnelSequence | ActivityKind::FunnelCompletion
        );
        if let Some(extra) = dims.first().filter(|_| funnel) {
            return Err(KqlError::new(
                format!("{}: takes no dimension columns", kind.name()),
                self.src,
                extra.pos,
            ));
        }
        // Where the step, the lookback and the sequence are among the values after `End`.
        let (step_at, lookback_at, sequence_at) = match kind {
            ActivityKind::SlidingWindowCounts => (1, Some(0), None),
            ActivityKind::SessionCount => (0, Some(1), None),
            ActivityKind::CountsMetrics | ActivityKind::Metrics => (0, None, None),
            ActivityKind::FunnelSequence => (1, Some(0), Some(2)),
            ActivityKind::FunnelCompletion => (0, Some(2), Some(1)),
        };
        let mut columns = columns.into_iter();
        let mut values = values.into_iter();
        let (Some(id), Some(timeline), Some(start), Some(end)) =
            (columns.next(), columns.next(), values.next(), values.next())
        else {
            return Err(KqlError::new(
                format!("{}: expected {what}", kind.name()),
                self.src,
                self.pos(),
            ));
        };
        let rest: Vec<Expr> = values.collect();
        let take = |i: usize| rest.get(i).cloned();
        let Some(step) = take(step_at) else {
            return Err(KqlError::new(
                format!("{}: expected {what}", kind.name()),
                self.src,
                self.pos(),
            ));
        };
        let funnel = columns.next().zip(sequence_at.and_then(take));
        Ok(OpKind::Activity(Box::new(Activity {
            kind,
            id,
            timeline,
            start,
            end,
            lookback: lookback_at.and_then(take),
            step,
            dims,
            funnel,
        })))
    }

    /// `(ValueColumn, Percentile, IndexColumn, BinSize, BinsPerWindow [, Dim, ...])`, after
    /// `rolling_percentile`.
    fn rolling_percentile(&mut self) -> Result<OpKind, KqlError> {
        let plugin = "rolling_percentile";
        let what = "the value column, the percentile, the index column, the bin size and the \
                    bins per window";
        let shape = [Arg::Column, Arg::Value, Arg::Column, Arg::Value, Arg::Value];
        let (columns, values, dims) = self.shaped_args(plugin, &shape, what)?;
        let mut columns = columns.into_iter();
        let mut values = values.into_iter();
        let (Some(value), Some(percentile), Some(index), Some(bin), Some(window)) = (
            columns.next(),
            values.next(),
            columns.next(),
            values.next(),
            values.next(),
        ) else {
            return Err(KqlError::new(
                format!("{plugin}: expected {what}"),
                self.src,
                self.pos(),
            ));
        };
        Ok(OpKind::RollingPercentile(Box::new(RollingPercentile {
            value,
            percentile,
            index,
            bin,
            window,
            dims,
        })))
    }

    /// A plugin's parenthesized arguments laid out as `shape` (column names and values) and
    /// then any number of dimension columns: the columns, the values and the dimensions.
    fn shaped_args(&mut self, plugin: &str, shape: &[Arg], what: &str) -> Result<Shaped, KqlError> {
        let open = self.pos();
        self.expect_sym("(")?;
        let args = self.comma_list(Self::expr)?;
        self.expect_sym(")")?;
        if args.len() < shape.len() {
            return Err(KqlError::new(
                format!("{plugin}: expected {what}"),
                self.src,
                open,
            ));
        }
        let mut columns = Vec::new();
        let mut values = Vec::new();
        let mut dims = Vec::new();
        for (i, arg) in args.into_iter().enumerate() {
            let place = shape.get(i).copied();
            match (place, arg.kind) {
                (Some(Arg::Value), kind) => values.push(Expr { kind, pos: arg.pos }),
                (_, ExprKind::Ident(name)) => {
                    let column = ColumnArg { name, pos: arg.pos };
                    if place.is_some() {
                        columns.push(column);
                    } else {
                        dims.push(column);
                    }
                }
                _ => {
                    return Err(KqlError::new(
                        format!("{plugin}: expected a column name"),
                        self.src,
                        arg.pos,
                    ));
                }
            }
        }
        Ok((columns, values, dims))
    }

    /// `(SplitColumn, SplitValueA, SplitValueB [, ...])`, after `diffpatterns`.
    fn diff_patterns(&mut self) -> Result<OpKind, KqlError> {
        let open = self.pos();
        self.expect_sym("(")?;
        let args = self.comma_list(Self::expr)?;
        self.expect_sym(")")?;
        let mut args = args.into_iter();
        let split =
            self.first_column(&mut args, "diffpatterns: name the split column first", open)?;
        Ok(OpKind::DiffPatterns(Box::new(DiffPatterns {
            split,
            args: args.collect(),
        })))
    }

    /// The column a plugin's first argument names, taken off `args`; `message`, at the plugin's
    /// `(`, when it is missing or not a name.
    fn first_column(
        &self,
        args: &mut impl Iterator<Item = Expr>,
        message: &str,
        open: usize,
    ) -> Result<String, KqlError> {
        match args.next() {
            Some(Expr {
                kind: ExprKind::Ident(column),
                ..
            }) => Ok(column),
            _ => Err(KqlError::new(message.to_string(), self.src, open)),
        }
    }
}
