//! `evaluate rolling_percentile(ValueColumn, Percentile, IndexColumn, BinSize, BinsPerWindow
//! [, Dim, ...])`: per bin of the index column (and combination of the dimensions), the
//! percentile of the values in the window of `BinsPerWindow` bins ending at it.
//!
//! The percentile is exact, by nearest rank (the smallest value at least `Percentile` percent
//! of the window's values are not above), where Kusto estimates; Kusto's documented examples
//! agree with it. Bins are `bin(IndexColumn, BinSize)`. Where the documentation is silent: a
//! bin answers when it holds rows of its own (so no bins follow the last row), rows with a null
//! index are left out, null values are skipped (a window of nulls answers null), and the rows
//! come by combination, in the order each first occurs, then by bin, as the documented example
//! with a dimension shows.

use crate::ast::{BinOp, ColumnArg, RollingPercentile};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::functions;
use crate::make_series::{MAX_BINS, MAX_CELLS, steps};
use crate::rel::{KeyMap, Rel};
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

const PLUGIN: &str = "rolling_percentile";

/// One bin of one combination: the bin's value and its rows' values.
type Bin = (Value, Vec<Value>);

/// A combination of the dimensions and its bins by number.
type Combination = (Vec<Value>, KeyMap<i64, Bin>);

impl Ctx<'_> {
    /// The plugin's rows: the bin, the dimensions, then
    /// `rolling_<BinsPerWindow>_percentile_<ValueColumn>_<Percentile>`.
    pub(crate) fn rolling_percentile(
        &self,
        rel: &Rel,
        spec: &RollingPercentile,
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let column = |c: &ColumnArg| self.plugin_column(rel, c, PLUGIN);
        let value = column(&spec.value)?;
        let index = column(&spec.index)?;
        let dims = spec
            .dims
            .iter()
            .map(column)
            .collect::<Result<Vec<_>, _>>()?;
        let kind = rel.cols[value].1;
        if matches!(kind, KqlType::Bool | KqlType::Guid | KqlType::String) {
            return Err(self.err(
                format!("{PLUGIN}: the value column must be a number, a datetime or a timespan"),
                spec.value.pos,
            ));
        }
        let (percent, name) = self.percentile(spec)?;
        let (bin, width) = self.rolling_window(spec)?;
        let combos = self.rolling_bins(rel, spec, (value, index, &dims), &bin)?;
        let mut cols = vec![rel.cols[index].clone()];
        cols.extend(dims.iter().map(|&d| rel.cols[d].clone()));
        cols.push((format!("rolling_{width}_{name}"), kind));
        let mut rows = Vec::new();
        let mut read: i64 = 0;
        for (key, cells) in combos {
            let mut cells: Vec<(i64, Bin)> = cells.into_iter().collect();
            cells.sort_by_key(|(i, _)| *i);
            for (j, (i, (at, _))) in cells.iter().enumerate() {
                let mut window: Vec<&Value> = cells[..=j]
                    .iter()
                    .rev()
                    .take_while(|(k, _)| *k > i.saturating_sub(width))
                    .flat_map(|(_, (_, values))| values)
                    .collect();
                read += i64::try_from(window.len()).unwrap_or(i64::MAX);
                if read > MAX_CELLS {
                    return Err(self.err(
                        format!(
                            "{PLUGIN}: more than {MAX_CELLS} values read over the windows; use \
                             fewer bins per window"
                        ),
                        pos,
                    ));
                }
                window.sort_by(|a, b| a.sort_cmp(b));
                let mut out = vec![at.clone()];
                out.extend(key.iter().cloned());
                out.push(nearest_rank(&window, percent));
                rows.push(Row::from(out));
            }
        }
        Ok(Rel { cols, rows })
    }

    /// The percentile, checked to be from 0 to 100, and the end of the answer's column name
    /// (`percentile_<ValueColumn>_<Percentile>`, a decimal point written `_`).
    fn percentile(&self, spec: &RollingPercentile) -> Result<(f64, String), KqlError> {
        let pct = self.plugin_constant(&spec.percentile, PLUGIN)?;
        let Some(percent) = pct.as_f64().filter(|p| (0.0..=100.0).contains(p)) else {
            return Err(self.err(
                format!("{PLUGIN}: Percentile must be a number from 0 to 100"),
                spec.percentile.pos,
            ));
        };
        let text = pct.to_kql_string().replace('.', "_");
        Ok((percent, format!("percentile_{}_{text}", spec.value.name)))
    }

    /// `BinSize`, checked to be positive, and `BinsPerWindow`, a whole number of bins.
    fn rolling_window(&self, spec: &RollingPercentile) -> Result<(Value, i64), KqlError> {
        let bin = self.plugin_constant(&spec.bin, PLUGIN)?;
        let zero = scalar::arith(BinOp::Sub, &bin, &bin);
        if !scalar::comparison(BinOp::Gt, &bin, &zero) {
            return Err(self.err(
                format!("{PLUGIN}: BinSize must be a positive number or timespan"),
                spec.bin.pos,
            ));
        }
        match self.plugin_constant(&spec.window, PLUGIN)? {
            Value::Long(n) if (1..MAX_BINS).contains(&n) => Ok((bin, n)),
            _ => Err(self.err(
                format!("{PLUGIN}: BinsPerWindow must be a whole number from 1 to {MAX_BINS}"),
                spec.window.pos,
            )),
        }
    }

    /// Each combination's bins, in the order the combinations first occur: a bin's number
    /// (counted from the first row's bin), its value and its rows' non-null values.
    fn rolling_bins(
        &self,
        rel: &Rel,
        spec: &RollingPercentile,
        (value, index, dims): (usize, usize, &[usize]),
        bin: &Value,
    ) -> Result<Vec<Combination>, KqlError> {
        let mut combos: Vec<Combination> = Vec::new();
        let mut place: KeyMap<Vec<Value>, usize> = KeyMap::default();
        let mut origin: Option<Value> = None;
        for row in &rel.rows {
            if row[index].is_null() {
                continue;
            }
            let at = functions::bin(&row[index], bin);
            let origin = origin.get_or_insert_with(|| at.clone());
            let Some(i) = bin_number(&scalar::arith(BinOp::Sub, &at, origin), bin) else {
                return Err(self.err(
                    format!("{PLUGIN}: BinSize must be of the index column's kind"),
                    spec.bin.pos,
                ));
            };
            let key: Vec<Value> = dims.iter().map(|&d| row[d].clone()).collect();
            let slot = *place.entry(key.clone()).or_insert_with(|| {
                combos.push((key, KeyMap::default()));
                combos.len() - 1
            });
            let Some((_, cells)) = combos.get_mut(slot) else {
                continue;
            };
            let (_, values) = cells.entry(i).or_insert_with(|| (at, Vec::new()));
            if !row[value].is_null() {
                values.push(row[value].clone());
            }
        }
        Ok(combos)
    }
}

/// Which bin `offset` (from the first bin, a whole number of bins) is; the nearest whole number
/// for reals, whose division may fall a hair short.
fn bin_number(offset: &Value, bin: &Value) -> Option<i64> {
    let (i, exact) = steps(offset, bin)?;
    if exact || !matches!((offset, bin), (Value::Real(_), _) | (_, Value::Real(_))) {
        return Some(i);
    }
    #[allow(clippy::cast_possible_truncation)] // within the rows' range of bins
    Some((offset.as_f64()? / bin.as_f64()?).round() as i64)
}

/// The nearest-rank percentile of sorted values: the value at rank ceil(P/100 * n), at least
/// the first; null for no values.
fn nearest_rank(sorted: &[&Value], percent: f64) -> Value {
    #[allow(clippy::cast_precision_loss)] // a window of rows held in memory
    let n = sorted.len() as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // from 0 to n
    let rank = (percent * n / 100.0).ceil() as usize;
    sorted
        .get(rank.max(1) - 1)
        .map_or(Value::Null, |v| (*v).clone())
}
