//! `evaluate diffpatterns(SplitColumn, SplitValueA, SplitValueB [, WeightColumn, Threshold,
//! MaxDimensions, CustomWildcard, ...])`: the patterns whose share of set A's rows differs from
//! their share of set B's by at least `Threshold` (0.05).
//!
//! The patterns are `basket`'s (closed sets of column values, at most `MaxDimensions`, 5, values
//! that do not follow from the others) over the rows of A and B, the split column left out;
//! Kusto's own search is not specified. Rows come by the difference, largest first (then by
//! their values' order), each with `CountA`, `CountB`, `PercentA`, `PercentB` and
//! `PercentDiffAB`, then every column but the split and weight columns.

use super::segments::{Miner, Pattern, too_large, wildcards};
use crate::ast::DiffPatterns;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::Rel;
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// The documented defaults.
const THRESHOLD: f64 = 0.05;
const MAX_DIMENSIONS: f64 = 5.0;

/// A pattern kept, with its weight in each set.
struct Found {
    pattern: Pattern,
    a: f64,
    b: f64,
}

impl Ctx<'_> {
    /// `diffpatterns` over `rel`.
    pub(crate) fn diff_patterns(
        &self,
        rel: &Rel,
        spec: &DiffPatterns,
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let plugin = "diffpatterns";
        let bad = |what: &str| self.err(format!("{plugin}: {what}"), pos);
        let split = rel
            .index(&spec.split)
            .ok_or_else(|| bad(&format!("no column named '{}'", spec.split)))?;
        let args = self.segment_args(rel, &spec.args, plugin, 2)?;
        let value = |i: usize| args.values.get(i).and_then(Option::as_ref);
        let text = |i: usize| value(i).map(|(v, _)| scalar::to_text(v).into_owned());
        let number = |i: usize, default: f64| value(i).map_or(Some(default), |(v, _)| v.as_f64());
        let (Some(a), Some(b)) = (text(0), text(1)) else {
            return Err(bad("name the split column's values of sets A and B"));
        };
        let (Some(threshold), Some(depth)) = (number(3, THRESHOLD), number(4, MAX_DIMENSIONS))
        else {
            return Err(bad("the arguments must be numbers, a column name or '~'"));
        };
        if !(0.015..=1.0).contains(&threshold) || !(1.0..=1e6).contains(&depth) {
            return Err(bad(
                "Threshold must be between 0.015 and 1, and MaxDimensions at least 1",
            ));
        }
        let mut rows = Vec::new();
        let mut in_a = Vec::new();
        for r in &rel.rows {
            let set = scalar::to_text(&r[split]);
            if *set == *a || *set == *b {
                in_a.push(*set == *a);
                rows.push(r.clone());
            }
        }
        let sub = Rel {
            cols: rel.cols.clone(),
            rows,
        };
        let weight_col = match args.weight.as_deref() {
            Some(name) => Some(
                sub.index(name)
                    .ok_or_else(|| bad(&format!("no column named '{name}'")))?,
            ),
            None => None,
        };
        let weights: Vec<f64> = sub
            .rows
            .iter()
            .map(|r| weight_col.map_or(1.0, |c| r[c].as_f64().unwrap_or(0.0)))
            .collect();
        let (wa, wb) = split_weights(&weights, &in_a);
        // A pattern differing by the threshold holds at least that share of the smaller set.
        let floor = if wa > 0.0 && wb > 0.0 {
            threshold * wa.min(wb) / (wa + wb)
        } else {
            1.0
        };
        let miner = self.miner(
            &sub,
            args.weight.as_deref(),
            Some(split),
            floor,
            (plugin, pos),
        )?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let depth = depth as usize;
        let patterns = miner
            .closed_patterns(depth)
            .ok_or_else(|| self.err(too_large(plugin), pos))?;
        let found = differing(&miner, patterns, &in_a, (wa, wb), threshold);
        let custom = args.values.get(5..).unwrap_or_default();
        Ok(answer(&miner, &found, (wa, wb), custom))
    }
}

/// The patterns whose shares of A and B differ by `threshold` or more, largest difference
/// first, then by their values.
fn differing(
    miner: &Miner,
    patterns: Vec<Pattern>,
    in_a: &[bool],
    (wa, wb): (f64, f64),
    threshold: f64,
) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    if wa <= 0.0 || wb <= 0.0 {
        return found;
    }
    for pattern in patterns {
        let (mut a, mut b) = (0.0, 0.0);
        for &r in &pattern.rows {
            let w = miner.weights[r as usize];
            if in_a[r as usize] {
                a += w;
            } else {
                b += w;
            }
        }
        // Compared cross-multiplied, so that whole weights compare exactly.
        if (a * wb - b * wa).abs() >= threshold * wa * wb {
            found.push(Found { pattern, a, b });
        }
    }
    let gap = |f: &Found| (f.a * wb - f.b * wa).abs();
    found.sort_by(|x, y| {
        gap(y)
            .total_cmp(&gap(x))
            .then_with(|| x.pattern.items.cmp(&y.pattern.items))
    });
    found
}

/// The weights of the rows in set A and in set B.
fn split_weights(weights: &[f64], in_a: &[bool]) -> (f64, f64) {
    weights.iter().zip(in_a).fold(
        (0.0, 0.0),
        |(a, b), (&w, &is_a)| {
            if is_a { (a + w, b) } else { (a, b + w) }
        },
    )
}

/// The rows: `SegmentId`, the counts and percentages of both sets and their difference, then
/// each dimension's value or wildcard.
fn answer(
    miner: &Miner,
    found: &[Found],
    (wa, wb): (f64, f64),
    custom: &[Option<(Value, KqlType)>],
) -> Rel {
    let mut cols = vec![("SegmentId".to_string(), KqlType::Int)];
    for (name, ty) in [
        ("CountA", KqlType::Long),
        ("CountB", KqlType::Long),
        ("PercentA", KqlType::Real),
        ("PercentB", KqlType::Real),
        ("PercentDiffAB", KqlType::Real),
    ] {
        cols.push((name.to_string(), ty));
    }
    cols.extend(miner.dims.iter().map(|&c| miner.rel.cols[c].clone()));
    let wildcards = wildcards(miner, custom);
    #[allow(clippy::cast_possible_truncation)]
    let count = |w: f64| Value::Long(w.round() as i64);
    let rows = found
        .iter()
        .enumerate()
        .map(|(id, f)| {
            let (pa, pb) = (100.0 * f.a / wa, 100.0 * f.b / wb);
            let mut row = vec![
                Value::Long(i64::try_from(id).unwrap_or(i64::MAX)),
                count(f.a),
                count(f.b),
                Value::Real(pa),
                Value::Real(pb),
                Value::Real((pa - pb).abs()),
            ];
            let width = row.len();
            row.extend(wildcards.iter().cloned());
            for &i in &f.pattern.items {
                let (d, v) = &miner.items[i];
                row[width + d] = v.clone();
            }
            Row::from(row)
        })
        .collect();
    Rel { cols, rows }
}
