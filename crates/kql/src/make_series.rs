//! `make-series`: an aggregate per bin of an axis (a time, a timespan or a number), one array per
//! aggregate per group, the bins with no rows holding the aggregate's default.

use crate::ast::{Aggregate, BinOp, Expr, ExprKind, MakeSeries, NamedExpr};
use crate::compile::derive_name;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::functions;
use crate::rel::{KeyMap, KeySet, Rel};
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// Kusto's cap on a series' length.
pub(crate) const MAX_BINS: i64 = 1 << 20;

/// The most values all of a `make-series`' arrays may hold together, so that a fine step over
/// many groups is an error rather than the emulator running out of memory.
pub(crate) const MAX_CELLS: i64 = 1 << 24;

/// The aggregates `make-series` takes: those with a numeric result.
const SERIES_AGGREGATES: [&str; 10] = [
    "count", "countif", "dcount", "dcountif", "sum", "avg", "min", "max", "any", "take_any",
];

/// The hidden group key holding a row's bin: not a name a query can write unquoted.
const BIN: &str = " series bin";

/// How many whole steps `offset` is from the start, rounded down, and whether exactly; `None`
/// for a zero step (which a plugin's arguments may give before they are checked).
pub(crate) fn steps(offset: &Value, step: &Value) -> Option<(i64, bool)> {
    match (offset, step) {
        (Value::TimeSpan(o), Value::TimeSpan(s)) | (Value::Long(o), Value::Long(s)) => {
            Some((o.checked_div_euclid(*s)?, o.checked_rem_euclid(*s)? == 0))
        }
        _ => {
            let q = offset.as_f64()? / step.as_f64()?;
            #[allow(clippy::cast_possible_truncation)] // the caller bounds it by MAX_BINS
            Some((q.floor() as i64, q.fract().abs() < f64::EPSILON))
        }
    }
}

/// The value of bin `i`: `start + i * step`.
pub(crate) fn bin_value(start: &Value, step: &Value, i: i64) -> Value {
    scalar::arith(
        BinOp::Add,
        start,
        &scalar::arith(BinOp::Mul, step, &Value::Long(i)),
    )
}

fn array(values: &[Value]) -> Value {
    Value::dynamic(serde_json::Value::Array(
        values.iter().map(Value::to_json).collect(),
    ))
}

impl Ctx<'_> {
    /// A constant argument of `make-series` (`from`, `to`, `step`, `default`).
    fn series_constant(&self, e: &Expr, what: &str) -> Result<Value, KqlError> {
        let empty = Rel {
            cols: Vec::new(),
            rows: Vec::new(),
        };
        let (c, _) = self.compile(e, &empty, "make-series")?;
        if !c.is_lit() {
            return Err(self.err(
                format!("'make-series' operator: '{what}' must be a constant"),
                e.pos,
            ));
        }
        Ok(c.eval(&[]).into_owned())
    }

    /// The series' first bin and how many bins there are: from `from`/`to` when written, else
    /// from the bins of the input's smallest and largest axis values.
    fn series_bins(
        &self,
        spec: &MakeSeries,
        axis_values: &[Value],
        step: &Value,
    ) -> Result<(Value, i64), KqlError> {
        let lowest = axis_values.iter().min_by(|a, b| a.sort_cmp(b));
        let highest = axis_values.iter().max_by(|a, b| a.sort_cmp(b));
        let start = match &spec.from {
            Some(e) => self.series_constant(e, "from")?,
            None => lowest.map_or(Value::Null, |v| functions::bin(v, step)),
        };
        let (stop, inclusive) = match &spec.to {
            Some(e) => (self.series_constant(e, "to")?, spec.inclusive),
            None => (
                highest.map_or(Value::Null, |v| functions::bin(v, step)),
                true,
            ),
        };
        if start.is_null() || stop.is_null() {
            return Ok((start, 0));
        }
        let offset = scalar::arith(BinOp::Sub, &stop, &start);
        let (whole, exact) = steps(&offset, step).ok_or_else(|| {
            self.err(
                "'make-series' operator: 'from', 'to' and 'step' must be of the axis' type"
                    .to_string(),
                spec.step.pos,
            )
        })?;
        let count = if whole < 0 {
            0
        } else if inclusive || !exact {
            whole.saturating_add(1)
        } else {
            whole
        };
        if count > MAX_BINS {
            return Err(self.err(
                format!("'make-series' operator: {count} bins, more than the {MAX_BINS} a series may hold; use a larger 'step'"),
                spec.step.pos,
            ));
        }
        Ok((start, count))
    }

    /// `make-series`: the groups of `by`, each with an array per aggregate over the bins and the
    /// axis' array of bin values.
    pub(crate) fn make_series(&self, rel: &Rel, spec: &MakeSeries) -> Result<Rel, KqlError> {
        for (agg, _) in &spec.aggs {
            match &agg.expr.kind {
                ExprKind::Call(name, _) if SERIES_AGGREGATES.contains(&name.as_str()) => {}
                _ => {
                    return Err(self.err(
                        "'make-series' operator: the aggregate must be one with a numeric result (count, countif, dcount, dcountif, sum, avg, min, max, take_any)".to_string(),
                        agg.expr.pos,
                    ));
                }
            }
        }
        let axis_name = derive_name(&spec.axis).ok_or_else(|| {
            self.err(
                "'make-series' operator: the axis must be a column".to_string(),
                spec.axis.pos,
            )
        })?;
        let (axis, _) = self.compile(&spec.axis, rel, "make-series")?;
        let step = self.series_constant(&spec.step, "step")?;
        let positive = match &step {
            Value::TimeSpan(s) | Value::Long(s) => *s > 0,
            Value::Real(s) => *s > 0.0,
            _ => false,
        };
        if !positive {
            return Err(self.err(
                "'make-series' operator: 'step' must be a positive number or timespan".to_string(),
                spec.step.pos,
            ));
        }
        let axis_values: Vec<Value> = rel.rows.iter().map(|r| axis.eval(r).into_owned()).collect();
        let (start, count) = self.series_bins(spec, &axis_values, &step)?;
        let mut cols = rel.cols.clone();
        cols.push((BIN.to_string(), KqlType::Long));
        let mut rows = Vec::new();
        for (row, v) in rel.rows.iter().zip(&axis_values) {
            let bin = steps(&scalar::arith(BinOp::Sub, v, &start), &step).map(|(i, _)| i);
            if let Some(i) = bin.filter(|i| (0..count).contains(i)) {
                let mut out = row.to_vec();
                out.push(Value::Long(i));
                rows.push(Row::from(out));
            }
        }
        let binned = Rel { cols, rows };
        let mut by: Vec<NamedExpr> = spec.by.clone();
        by.push((
            None,
            Expr {
                kind: ExprKind::Ident(BIN.to_string()),
                pos: spec.axis.pos,
            },
        ));
        let aggs: Vec<Aggregate> = spec.aggs.iter().map(|(a, _)| a.clone()).collect();
        let grouped = self.summarize(&binned, binned.rows.iter(), &aggs, &by)?;
        let groups: KeySet<&[Value]> = grouped.rows.iter().map(|r| &r[..spec.by.len()]).collect();
        let cells = i64::try_from(groups.len().max(1) * aggs.len())
            .unwrap_or(i64::MAX)
            .saturating_mul(count);
        if cells > MAX_CELLS {
            return Err(self.err(
                format!("'make-series' operator: {count} bins for each of {} groups is more than the emulator holds; use a larger 'step'", groups.len()),
                spec.step.pos,
            ));
        }
        let defaults = spec
            .aggs
            .iter()
            .map(|(_, d)| {
                d.as_ref()
                    .map_or(Ok(Value::Long(0)), |d| self.series_constant(d, "default"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let axis_array = array(
            &(0..count)
                .map(|i| bin_value(&start, &step, i))
                .collect::<Vec<_>>(),
        );
        Ok(series_rows(
            &grouped,
            spec,
            &defaults,
            count,
            (axis_name, axis_array),
        ))
    }
}

/// The series of each group from `grouped` (its `by` keys, the bin, then the aggregates).
fn series_rows(
    grouped: &Rel,
    spec: &MakeSeries,
    defaults: &[Value],
    count: i64,
    (axis_name, axis_array): (String, Value),
) -> Rel {
    let keys = spec.by.len();
    let width = usize::try_from(count).unwrap_or(0);
    let mut index: KeyMap<Vec<Value>, usize> = KeyMap::default();
    let mut series: Vec<(Vec<Value>, Vec<Vec<Value>>)> = Vec::new();
    let empty_series = || defaults.iter().map(|d| vec![d.clone(); width]).collect();
    for row in &grouped.rows {
        let key = row[..keys].to_vec();
        let g = *index.entry(key.clone()).or_insert_with(|| {
            series.push((key, empty_series()));
            series.len() - 1
        });
        let Some(Value::Long(bin)) = row.get(keys) else {
            continue;
        };
        let Ok(bin) = usize::try_from(*bin) else {
            continue;
        };
        for (k, value) in row[keys + 1..].iter().enumerate() {
            if let Some(slot) = series[g].1.get_mut(k).and_then(|s| s.get_mut(bin))
                && !value.is_null()
            {
                *slot = value.clone();
            }
        }
    }
    if series.is_empty() && spec.nonempty {
        series.push((vec![Value::Null; keys], empty_series()));
    }
    let mut cols: Vec<(String, KqlType)> = grouped.cols[..keys].to_vec();
    for (name, _) in &grouped.cols[keys + 1..] {
        cols.push((name.clone(), KqlType::Dynamic));
    }
    cols.push((axis_name, KqlType::Dynamic));
    let rows = series
        .into_iter()
        .map(|(key, arrays)| {
            let mut out = key;
            out.extend(arrays.iter().map(|a| array(a)));
            out.push(axis_array.clone());
            Row::from(out)
        })
        .collect();
    Rel { cols, rows }
}
