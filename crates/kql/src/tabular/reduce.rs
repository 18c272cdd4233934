//! `reduce`: strings grouped by the shape of their terms, each group a pattern with `*` where
//! its values differ.
//!
//! Kusto's clustering is a heuristic it does not specify, so the emulator answers with a
//! deterministic approximation that follows the documented inputs and outputs:
//! - each value is split into terms, the runs of characters that are not separators, and the
//!   separators between them (`characters`, or by default every character that is not an
//!   ASCII letter or digit);
//! - values with the same separators in the same places (so the same number of terms) form
//!   one group, and the group's pattern keeps each term all its values share and writes `*`
//!   for each term they differ in;
//! - a group holding fewer than `threshold` of the rows is folded into one `others` row;
//! - `Count` is the group's rows and `Representative` its first value. Rows come by `Count`,
//!   largest first, then by pattern; `others` comes last.

use crate::ast::Reduce;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::{KeyMap, Rel};
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// The pattern of the rows folded together for holding too few rows each.
const OTHERS: &str = "others";

/// One group of values of the same shape.
struct Group {
    /// Each term the values all share so far, `None` where they differ.
    terms: Vec<Option<String>>,
    /// The separators before, between and after the terms.
    separators: Vec<String>,
    /// How many rows hold a value of this shape.
    count: usize,
    /// The first value met.
    representative: String,
}

impl Group {
    fn pattern(&self) -> String {
        let mut out = String::new();
        for (i, sep) in self.separators.iter().enumerate() {
            out.push_str(sep);
            if let Some(term) = self.terms.get(i) {
                out.push_str(term.as_deref().unwrap_or("*"));
            }
        }
        out
    }
}

/// `text`'s terms and the separator runs around them: always one more separator run (maybe
/// empty) than terms.
fn split_terms(text: &str, separator: &dyn Fn(char) -> bool) -> (Vec<String>, Vec<String>) {
    fn push_last(parts: &mut [String], c: char) {
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    let mut terms: Vec<String> = Vec::new();
    let mut separators = vec![String::new()];
    for c in text.chars() {
        // A term is open while there are as many terms as separator runs.
        let in_term = terms.len() == separators.len();
        match (separator(c), in_term) {
            (true, true) => separators.push(c.to_string()),
            (true, false) => push_last(&mut separators, c),
            (false, true) => push_last(&mut terms, c),
            (false, false) => terms.push(c.to_string()),
        }
    }
    if terms.len() == separators.len() {
        separators.push(String::new());
    }
    (terms, separators)
}

impl Ctx<'_> {
    /// `reduce`: a row per pattern (`Pattern`, `Count`, `Representative`), or with
    /// `kind=source` the rows with their `Pattern` added.
    pub(crate) fn reduce(&self, rel: &Rel, spec: &Reduce) -> Result<Rel, KqlError> {
        let (value, _) = self.compile(&spec.expr, rel, "reduce")?;
        let chars: Option<Vec<char>> = spec.characters.as_ref().map(|c| c.chars().collect());
        let separator = |c: char| match &chars {
            Some(set) => set.contains(&c),
            None => !c.is_ascii_alphanumeric(),
        };
        let mut groups: Vec<Group> = Vec::new();
        let mut index: KeyMap<Vec<String>, usize> = KeyMap::default();
        let mut group_of: Vec<usize> = Vec::with_capacity(rel.rows.len());
        for row in &rel.rows {
            let text = scalar::to_text(&value.eval(row)).into_owned();
            let (terms, separators) = split_terms(&text, &separator);
            let at = *index.entry(separators.clone()).or_insert_with(|| {
                groups.push(Group {
                    terms: terms.iter().cloned().map(Some).collect(),
                    separators,
                    count: 0,
                    representative: text.clone(),
                });
                groups.len() - 1
            });
            let group = &mut groups[at];
            group.count += 1;
            for (kept, term) in group.terms.iter_mut().zip(&terms) {
                if kept.as_ref().is_some_and(|k| k != term) {
                    *kept = None;
                }
            }
            group_of.push(at);
        }
        #[allow(clippy::cast_precision_loss)]
        let least = spec.threshold * rel.rows.len() as f64;
        #[allow(clippy::cast_precision_loss)]
        let folded: Vec<bool> = groups.iter().map(|g| (g.count as f64) < least).collect();
        if spec.source {
            let mut cols = rel.cols.clone();
            cols.push(("Pattern".to_string(), KqlType::String));
            let rows = rel
                .rows
                .iter()
                .zip(&group_of)
                .map(|(row, &g)| {
                    let mut out = row.to_vec();
                    let pattern = if folded[g] {
                        OTHERS.to_string()
                    } else {
                        groups[g].pattern()
                    };
                    out.push(Value::str(&pattern));
                    Row::from(out)
                })
                .collect();
            return Ok(Rel { cols, rows });
        }
        Ok(summary(&groups, &folded))
    }
}

/// A row per pattern kept, largest first, then one `others` row for the groups folded.
fn summary(groups: &[Group], folded: &[bool]) -> Rel {
    let mut kept: Vec<(usize, String, &str)> = Vec::new();
    let mut others: Option<(usize, &str)> = None;
    for (g, &fold) in groups.iter().zip(folded) {
        if fold {
            others.get_or_insert((0, &g.representative)).0 += g.count;
        } else {
            kept.push((g.count, g.pattern(), &g.representative));
        }
    }
    kept.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut rows: Vec<Row> = Vec::with_capacity(kept.len() + 1);
    let long = |n: usize| Value::Long(i64::try_from(n).unwrap_or(i64::MAX));
    for (count, pattern, rep) in kept {
        rows.push(Row::from(vec![
            Value::str(&pattern),
            long(count),
            Value::str(rep),
        ]));
    }
    if let Some((count, rep)) = others {
        rows.push(Row::from(vec![
            Value::str(OTHERS),
            long(count),
            Value::str(rep),
        ]));
    }
    Rel {
        cols: vec![
            ("Pattern".to_string(), KqlType::String),
            ("Count".to_string(), KqlType::Long),
            ("Representative".to_string(), KqlType::String),
        ],
        rows,
    }
}
