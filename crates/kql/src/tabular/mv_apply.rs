//! `mv-apply`: each row's arrays expanded into a subtable, the subquery run over it, and the
//! results unioned with the row's other columns.

use crate::ast::MvApply;
use crate::compile::derive_name;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::{Rel, union};
use crate::table::Row;
use crate::value::{KqlType, Value};

impl Ctx<'_> {
    /// `mv-apply`: Kusto's subquery sees the expanded columns; it sees the row's other columns
    /// too here (so a subquery may name them), and any of them its result leaves out are added
    /// back in front, as Kusto adds the columns it did not expand.
    pub(crate) fn mv_apply(&self, rel: &Rel, spec: &MvApply) -> Result<Rel, KqlError> {
        let names: Vec<String> = spec
            .items
            .iter()
            .filter_map(|(name, e, _)| name.clone().or_else(|| derive_name(e)))
            .collect();
        let kept: Vec<usize> = (0..rel.cols.len())
            .filter(|&i| !names.contains(&rel.cols[i].0))
            .collect();
        if rel.rows.is_empty() {
            let sub = self.subtable(rel, spec)?;
            return self.apply_one(sub, rel, &kept, None, spec);
        }
        let mut results = Vec::with_capacity(rel.rows.len());
        for row in &rel.rows {
            let one = Rel {
                cols: rel.cols.clone(),
                rows: vec![row.clone()],
            };
            let sub = self.subtable(&one, spec)?;
            results.push(self.apply_one(sub, rel, &kept, Some(row), spec)?);
        }
        Ok(union(results))
    }

    /// One row's subtable: its arrays expanded, with the item index when asked for.
    fn subtable(&self, one: &Rel, spec: &MvApply) -> Result<Rel, KqlError> {
        let mut sub = self.mv_expand(one, &spec.items, spec.limit)?;
        if let Some(index) = &spec.index {
            let at = sub.index(index).unwrap_or(sub.cols.len());
            if at == sub.cols.len() {
                sub.cols.push((index.clone(), KqlType::Long));
            } else {
                sub.cols[at].1 = KqlType::Long;
            }
            let width = sub.cols.len();
            for (i, row) in sub.rows.iter_mut().enumerate() {
                let mut cells = row.to_vec();
                cells.resize(width, Value::Null);
                cells[at] = Value::Long(i64::try_from(i).unwrap_or(i64::MAX));
                *row = Row::from(cells);
            }
        }
        Ok(sub)
    }

    /// The subquery over one subtable, with the source row's unexpanded columns its result
    /// lacks put in front.
    fn apply_one(
        &self,
        sub: Rel,
        rel: &Rel,
        kept: &[usize],
        row: Option<&Row>,
        spec: &MvApply,
    ) -> Result<Rel, KqlError> {
        let out = self.pipeline(sub, &spec.ops)?;
        let missing: Vec<usize> = kept
            .iter()
            .copied()
            .filter(|&i| out.index(&rel.cols[i].0).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let mut cols: Vec<_> = missing.iter().map(|&i| rel.cols[i].clone()).collect();
        cols.extend(out.cols.iter().cloned());
        let rows = out
            .rows
            .iter()
            .map(|r| {
                let mut cells: Vec<Value> = missing
                    .iter()
                    .map(|&i| row.map_or(Value::Null, |src| src[i].clone()))
                    .collect();
                cells.extend(r.iter().cloned());
                Row::from(cells)
            })
            .collect();
        Ok(Rel { cols, rows })
    }
}
