//! `evaluate basket(...)` and `evaluate autocluster(...)`: patterns of values that many rows
//! share, one row per pattern (`SegmentId`, `Count`, `Percent`, then each column's value, or
//! its wildcard where the pattern leaves the column free).
//!
//! Kusto documents both plugins' inputs and outputs but not their exact search (basket samples,
//! autocluster is a Seed-Expand heuristic), so the emulator answers deterministically:
//! - the dimensions are every column but the weight column; a null is no value;
//! - a pattern is a set of (column, value) pairs, and the rows it covers are those holding all
//!   of them; only closed patterns are answered (none with a more specific pattern covering
//!   the same rows), so columns that always go together come together;
//! - `basket` answers every closed pattern covering at least `Threshold` (0.05 unless given)
//!   of the weight, built from at most `MaxDimensions` (5) values that do not follow from the
//!   others, largest first;
//! - `autocluster` takes the closed patterns covering at least 5% of the weight and picks them
//!   greedily, at most `NumSeeds` (25): each time the one whose rows not yet covered score
//!   best by the documented weighted geometric mean, the share of the weight newly covered to
//!   the power `SizeWeight` (0.5) times the share of the columns it fixes to the power
//!   `1 - SizeWeight`, until none covers another 5%. Its `Count` and `Percent` are those of
//!   all the rows it covers, so patterns may overlap, as Kusto's do.
//!
//! A column left free holds its type's wildcard: `""` for strings, null for the others, or the
//! `CustomWildcard` literal given for its type.

use crate::ast::{Expr, ExprKind, Segments};
use crate::cexpr::CExpr;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::{KeyMap, Rel};
use crate::table::Row;
use crate::value::{KqlType, Value};

/// The most closed patterns the search may find before it gives up with an error.
const MAX_PATTERNS: usize = 1 << 16;
/// The most cells the search may read, and row numbers it may keep, before it gives up with
/// an error: it bounds both time and memory on wide or varied inputs.
const MAX_WORK: usize = 1 << 27;

/// The documented defaults.
const BASKET_THRESHOLD: f64 = 0.05;
const BASKET_MAX_DIMENSIONS: f64 = 5.0;
const AUTOCLUSTER_SIZE_WEIGHT: f64 = 0.5;
const AUTOCLUSTER_SEEDS: f64 = 25.0;
/// The least share of the weight an autocluster pattern covers (newly, once picked).
const AUTOCLUSTER_FLOOR: f64 = 0.05;

/// A closed pattern: its items, sorted, and the rows it covers.
pub(crate) struct Pattern {
    pub(crate) items: Vec<usize>,
    pub(crate) rows: Vec<u32>,
    pub(crate) weight: f64,
}

/// The search's view of the input: its dimensions, the frequent (column, value) items and
/// the rows holding each.
pub(crate) struct Miner<'r> {
    pub(crate) rel: &'r Rel,
    /// The input columns that are dimensions.
    pub(crate) dims: Vec<usize>,
    pub(crate) weights: Vec<f64>,
    min_weight: f64,
    /// Each item's dimension (a position in `dims`) and value, by dimension.
    pub(crate) items: Vec<(usize, Value)>,
    item_rows: Vec<Vec<u32>>,
    item_of: KeyMap<(usize, Value), usize>,
    /// The cells read and row numbers kept so far, against [`MAX_WORK`].
    work: std::cell::Cell<usize>,
}

/// The rows both sorted lists hold.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

impl Miner<'_> {
    fn weight(&self, rows: &[u32]) -> f64 {
        rows.iter().map(|&r| self.weights[r as usize]).sum()
    }

    /// Counts `cells` of work against [`MAX_WORK`]; `None` once it is spent.
    fn charge(&self, cells: usize) -> Option<()> {
        let spent = self.work.get().saturating_add(cells);
        self.work.set(spent);
        (spent <= MAX_WORK).then_some(())
    }

    /// The items every one of `rows` holds.
    fn closure(&self, rows: &[u32]) -> Vec<usize> {
        let Some(&first) = rows.first() else {
            return Vec::new();
        };
        let mut items = Vec::new();
        for (d, &c) in self.dims.iter().enumerate() {
            let v = &self.rel.rows[first as usize][c];
            if v.is_null() || rows.iter().any(|&r| self.rel.rows[r as usize][c] != *v) {
                continue;
            }
            if let Some(&item) = self.item_of.get(&(d, v.clone())) {
                items.push(item);
            }
        }
        items.sort_unstable();
        items
    }

    /// Every closed pattern above the least weight, each reached once by extending a smaller
    /// one with an item past its own core (prefix-preserving closure extension).
    pub(crate) fn closed_patterns(&self, max_depth: usize) -> Option<Vec<Pattern>> {
        let all: Vec<u32> = (0..u32::try_from(self.rel.rows.len()).ok()?).collect();
        let mut out = Vec::new();
        self.charge(all.len().saturating_mul(self.dims.len() + 1))?;
        let root = self.closure(&all);
        let weight = self.weight(&all);
        if !root.is_empty() && weight >= self.min_weight {
            out.push(Pattern {
                items: root.clone(),
                rows: all.clone(),
                weight,
            });
        }
        self.extend(&root, &all, 0, max_depth, &mut out)?;
        Some(out)
    }

    fn extend(
        &self,
        pattern: &[usize],
        rows: &[u32],
        from: usize,
        depth: usize,
        out: &mut Vec<Pattern>,
    ) -> Option<()> {
        if depth == 0 {
            return Some(());
        }
        for e in from..self.items.len() {
            let dim = self.items[e].0;
            if pattern.iter().any(|&i| self.items[i].0 == dim) {
                continue;
            }
            self.charge(rows.len() + self.item_rows[e].len())?;
            let covered = intersect(rows, &self.item_rows[e]);
            let weight = self.weight(&covered);
            if covered.is_empty() || weight < self.min_weight {
                continue;
            }
            // The closure reads every covered row's dimensions, and the pattern keeps its rows.
            self.charge(covered.len().saturating_mul(self.dims.len() + 1))?;
            let closed = self.closure(&covered);
            let below = |p: &[usize]| p.iter().copied().filter(|&i| i < e).collect::<Vec<_>>();
            if below(&closed) != below(pattern) {
                continue;
            }
            self.extend(&closed, &covered, e + 1, depth - 1, out)?;
            if out.len() >= MAX_PATTERNS {
                return None;
            }
            out.push(Pattern {
                items: closed,
                rows: covered,
                weight,
            });
        }
        Some(())
    }
}

/// The plugin's arguments read as constants: `'~'` is the default.
pub(crate) struct Args {
    pub(crate) values: Vec<Option<(Value, KqlType)>>,
    /// The weight column, when one is named.
    pub(crate) weight: Option<String>,
}

/// The error of a search that grew too large.
pub(crate) fn too_large(plugin: &str) -> String {
    format!(
        "{plugin}: the search grew past {MAX_PATTERNS} patterns or {MAX_WORK} cells read; raise \
         the threshold, or project fewer columns or rows"
    )
}

impl Ctx<'_> {
    /// `basket` or `autocluster` over `rel`.
    pub(crate) fn segments(&self, rel: &Rel, spec: &Segments, pos: usize) -> Result<Rel, KqlError> {
        let plugin = if spec.autocluster {
            "autocluster"
        } else {
            "basket"
        };
        let args = self.segment_args(rel, &spec.args, plugin, 1)?;
        let number = |i: usize, default: f64| {
            args.values
                .get(i)
                .and_then(Option::as_ref)
                .map_or(Some(default), |(v, _)| v.as_f64())
        };
        let bad = |what: &str| self.err(format!("{plugin}: {what}"), pos);
        let first = number(
            0,
            if spec.autocluster {
                AUTOCLUSTER_SIZE_WEIGHT
            } else {
                BASKET_THRESHOLD
            },
        );
        let third = number(
            2,
            if spec.autocluster {
                AUTOCLUSTER_SEEDS
            } else {
                BASKET_MAX_DIMENSIONS
            },
        );
        let (Some(first), Some(third)) = (first, third) else {
            return Err(bad("the arguments must be numbers, a column name or '~'"));
        };
        let in_range = if spec.autocluster {
            (0.0..=1.0).contains(&first)
        } else {
            (0.015..=1.0).contains(&first)
        };
        if !in_range || !(1.0..=1e6).contains(&third) {
            return Err(bad(if spec.autocluster {
                "SizeWeight must be between 0 and 1, and NumSeeds at least 1"
            } else {
                "Threshold must be between 0.015 and 1, and MaxDimensions at least 1"
            }));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let third = third as usize;
        let floor = if spec.autocluster {
            AUTOCLUSTER_FLOOR
        } else {
            first
        };
        let miner = self.miner(rel, args.weight.as_deref(), None, floor, (plugin, pos))?;
        let depth = if spec.autocluster {
            miner.dims.len()
        } else {
            third
        };
        let mut patterns = miner
            .closed_patterns(depth)
            .ok_or_else(|| self.err(too_large(plugin), pos))?;
        patterns.sort_by(|a, b| {
            b.weight
                .total_cmp(&a.weight)
                .then_with(|| a.items.cmp(&b.items))
        });
        if spec.autocluster {
            patterns = pick(&miner, patterns, first, third);
        }
        let custom = args.values.get(3..).unwrap_or_default();
        Ok(answer(&miner, &patterns, custom))
    }

    /// Each argument as a constant (`'~'` as none), and the weight column's name, the
    /// argument at `weight_at`.
    pub(crate) fn segment_args(
        &self,
        rel: &Rel,
        args: &[Expr],
        plugin: &str,
        weight_at: usize,
    ) -> Result<Args, KqlError> {
        let mut values = Vec::new();
        let mut weight = None;
        for (i, arg) in args.iter().enumerate() {
            if i == weight_at
                && let ExprKind::Ident(name) = &arg.kind
            {
                weight = Some(name.clone());
                values.push(None);
                continue;
            }
            let (compiled, ty) = self.compile(arg, rel, &format!("evaluate {plugin}"))?;
            let CExpr::Lit(value) = compiled else {
                return Err(self.err(
                    format!("{plugin}: each argument must be a constant"),
                    arg.pos,
                ));
            };
            match &value {
                Value::String(s) if &**s == "~" => values.push(None),
                Value::String(s) if i == weight_at => {
                    weight = Some(s.to_string());
                    values.push(None);
                }
                _ => values.push(Some((value, ty))),
            }
        }
        Ok(Args { values, weight })
    }

    /// The dimensions (every column but the weight column and `skip`), weights and frequent
    /// items of `rel`.
    pub(crate) fn miner<'r>(
        &self,
        rel: &'r Rel,
        weight: Option<&str>,
        skip: Option<usize>,
        floor: f64,
        (plugin, pos): (&str, usize),
    ) -> Result<Miner<'r>, KqlError> {
        let weight_col = match weight {
            Some(name) => Some(
                rel.index(name)
                    .ok_or_else(|| self.err(format!("{plugin}: no column named '{name}'"), pos))?,
            ),
            None => None,
        };
        let weights: Vec<f64> = rel
            .rows
            .iter()
            .map(|r| weight_col.map_or(1.0, |c| r[c].as_f64().unwrap_or(0.0)))
            .collect();
        let total: f64 = weights.iter().sum();
        let dims: Vec<usize> = (0..rel.cols.len())
            .filter(|&c| Some(c) != weight_col && Some(c) != skip)
            .collect();
        if u32::try_from(rel.rows.len()).is_err()
            || rel.rows.len().saturating_mul(dims.len() + 1) > MAX_WORK
        {
            return Err(self.err(too_large(plugin), pos));
        }
        let min_weight = floor * total;
        // One column at a time, keeping only its frequent values, so that the map of every
        // distinct value is never held for all the columns at once.
        let mut items: Vec<((usize, Value), Vec<u32>, f64)> = Vec::new();
        for (d, &c) in dims.iter().enumerate() {
            let mut found: KeyMap<Value, Vec<u32>> = KeyMap::default();
            for (r, row) in (0u32..).zip(&rel.rows) {
                if !row[c].is_null() {
                    found.entry(row[c].clone()).or_default().push(r);
                }
            }
            items.extend(
                found
                    .into_iter()
                    .map(|(value, rows)| {
                        let w = rows.iter().map(|&r| weights[r as usize]).sum();
                        ((d, value), rows, w)
                    })
                    .filter(|(_, _, w)| *w >= min_weight && *w > 0.0),
            );
        }
        items.sort_by(|a, b| {
            (a.0.0.cmp(&b.0.0))
                .then_with(|| b.2.total_cmp(&a.2))
                .then_with(|| a.0.1.sort_cmp(&b.0.1))
        });
        let item_of = items
            .iter()
            .enumerate()
            .map(|(i, (item, _, _))| (item.clone(), i))
            .collect();
        let (items, item_rows) = items
            .into_iter()
            .map(|(item, rows, _)| (item, rows))
            .unzip();
        Ok(Miner {
            rel,
            dims,
            weights,
            min_weight: min_weight.max(f64::MIN_POSITIVE),
            items,
            item_rows,
            item_of,
            work: std::cell::Cell::new(0),
        })
    }
}

/// autocluster's greedy choice: at most `seeds` patterns, each the best scoring on the rows
/// not yet covered, while one covers another [`AUTOCLUSTER_FLOOR`] of the weight.
fn pick(miner: &Miner, candidates: Vec<Pattern>, size_weight: f64, seeds: usize) -> Vec<Pattern> {
    let total: f64 = miner.weights.iter().sum();
    #[allow(clippy::cast_precision_loss)]
    let dims = miner.dims.len().max(1) as f64;
    let mut covered = vec![false; miner.rel.rows.len()];
    let mut left: Vec<Option<Pattern>> = candidates.into_iter().map(Some).collect();
    let mut chosen = Vec::new();
    while chosen.len() < seeds {
        let mut best: Option<(f64, usize)> = None;
        for (i, p) in left.iter().enumerate() {
            let Some(p) = p else { continue };
            let new: f64 = p
                .rows
                .iter()
                .filter(|&&r| !covered[r as usize])
                .map(|&r| miner.weights[r as usize])
                .sum();
            if total <= 0.0 || new / total < AUTOCLUSTER_FLOOR {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let fixed = p.items.len() as f64 / dims;
            let score = (new / total).powf(size_weight) * fixed.powf(1.0 - size_weight);
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, i));
            }
        }
        let Some((_, i)) = best else { break };
        let Some(p) = left[i].take() else { break };
        for &r in &p.rows {
            covered[r as usize] = true;
        }
        chosen.push(p);
    }
    chosen
}

/// Each dimension's wildcard: its type's `CustomWildcard` literal among `custom`, else `""`
/// for strings and null for the others.
pub(crate) fn wildcards(miner: &Miner, custom: &[Option<(Value, KqlType)>]) -> Vec<Value> {
    miner
        .dims
        .iter()
        .map(|&c| {
            let ty = miner.rel.cols[c].1;
            match (custom.iter().flatten().find(|(_, t)| *t == ty), ty) {
                (Some((v, _)), _) => v.clone(),
                (None, KqlType::String) => Value::str(""),
                (None, _) => Value::Null,
            }
        })
        .collect()
}

/// The answer: `SegmentId`, `Count`, `Percent`, then each dimension's value or wildcard.
fn answer(miner: &Miner, patterns: &[Pattern], custom: &[Option<(Value, KqlType)>]) -> Rel {
    let total: f64 = miner.weights.iter().sum();
    let mut cols = vec![
        ("SegmentId".to_string(), KqlType::Int),
        ("Count".to_string(), KqlType::Long),
        ("Percent".to_string(), KqlType::Real),
    ];
    let wildcards = wildcards(miner, custom);
    cols.extend(miner.dims.iter().map(|&c| miner.rel.cols[c].clone()));
    let rows = patterns
        .iter()
        .enumerate()
        .map(|(id, p)| {
            #[allow(clippy::cast_possible_truncation)]
            let count = p.weight.round() as i64;
            let percent = if total > 0.0 {
                100.0 * p.weight / total
            } else {
                0.0
            };
            let mut row = vec![
                Value::Long(i64::try_from(id).unwrap_or(i64::MAX)),
                Value::Long(count),
                Value::Real(percent),
            ];
            row.extend(wildcards.iter().cloned());
            for &i in &p.items {
                let (d, v) = &miner.items[i];
                row[3 + d] = v.clone();
            }
            Row::from(row)
        })
        .collect();
    Rel { cols, rows }
}
