//! Parsing `evaluate` and the plugins the engine runs: `bag_unpack`, `pivot`, `narrow`,
//! `ipv4_lookup`, `ipv6_lookup`, `autocluster`, `basket`, `diffpatterns`,
//! `sliding_window_counts` and `activity_counts_metrics`.

use super::cursor::Parser;
use crate::ast::{
    Activity, DiffPatterns, Expr, ExprKind, IpLookup, OpKind, Segments, Source, TabExpr,
};
use crate::error::KqlError;
use crate::lexer::Tok;
use crate::value::Value;

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
            "sliding_window_counts" | "activity_counts_metrics" => {
                return self.activity(plugin == "sliding_window_counts");
            }
            "diffpatterns" => return self.diff_patterns(),
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

    /// `(IdColumn, TimelineColumn, Start, End, [LookbackWindow,] Step [, Dim, ...])`, after
    /// `sliding_window_counts` (which has the lookback) or `activity_counts_metrics`.
    fn activity(&mut self, sliding: bool) -> Result<OpKind, KqlError> {
        let open = self.pos();
        self.expect_sym("(")?;
        let args = self.comma_list(Self::expr)?;
        self.expect_sym(")")?;
        let plugin = if sliding {
            "sliding_window_counts"
        } else {
            "activity_counts_metrics"
        };
        let scalars = if sliding { 4 } else { 3 };
        if args.len() < 2 + scalars {
            return Err(KqlError::new(
                format!("{plugin}: expected the id and timeline columns, then {scalars} values"),
                self.src,
                open,
            ));
        }
        let mut names = Vec::new();
        let mut values = Vec::new();
        for (i, arg) in args.into_iter().enumerate() {
            let column = i < 2 || i >= 2 + scalars;
            match arg.kind {
                ExprKind::Ident(name) if column => names.push(name),
                _ if column => {
                    return Err(KqlError::new(
                        format!("{plugin}: expected a column name"),
                        self.src,
                        arg.pos,
                    ));
                }
                _ => values.push(arg),
            }
        }
        let mut values = values.into_iter();
        let mut names = names.into_iter();
        let (Some(id), Some(timeline), Some(start), Some(end)) =
            (names.next(), names.next(), values.next(), values.next())
        else {
            return Err(KqlError::new(
                format!("{plugin}: expected the id and timeline columns"),
                self.src,
                open,
            ));
        };
        let lookback = if sliding { values.next() } else { None };
        let Some(step) = values.next() else {
            return Err(KqlError::new(
                format!("{plugin}: expected the step"),
                self.src,
                open,
            ));
        };
        Ok(OpKind::Activity(Box::new(Activity {
            sliding,
            id,
            timeline,
            start,
            end,
            lookback,
            step,
            dims: names.collect(),
        })))
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
