//! `partition`: the rows split by a key column's values, a subquery run over each part, and
//! the results unioned.

use crate::ast::{PartitionBody, TabExpr};
use crate::context::{Bound, Ctx};
use crate::error::KqlError;
use crate::rel::{KeyMap, Rel, union};
use crate::table::Row;

impl Ctx<'_> {
    /// `partition by Column`: a part per key value (null being one value), in the order the
    /// values first occur. In the `{ query }` form the key column is bound, for the query, to
    /// a one-row table of the part's key, which is what `toscalar(Column)` reads.
    pub(crate) fn partition(
        &self,
        rel: &Rel,
        column: &str,
        body: &PartitionBody,
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let Some(key) = rel.index(column) else {
            return Err(self.err(
                format!("'partition' operator: no column named '{column}'"),
                pos,
            ));
        };
        let mut parts: Vec<Vec<Row>> = Vec::new();
        let mut slot = KeyMap::default();
        for row in &rel.rows {
            let at = *slot.entry(row[key].clone()).or_insert_with(|| {
                parts.push(Vec::new());
                parts.len() - 1
            });
            parts[at].push(row.clone());
        }
        let mut results = Vec::with_capacity(parts.len());
        for rows in parts {
            let part = Rel {
                cols: rel.cols.clone(),
                rows,
            };
            results.push(match body {
                PartitionBody::Ops(ops) => self.pipeline(part, ops)?,
                PartitionBody::Source(query) => self.partition_query(&part, key, column, query)?,
            });
        }
        if results.is_empty() {
            let empty = Rel {
                cols: rel.cols.clone(),
                rows: Vec::new(),
            };
            // No parts, no rows; the subquery still tells the columns.
            if let PartitionBody::Ops(ops) = body {
                let mut schema = self.pipeline(empty, ops)?;
                schema.rows.clear();
                return Ok(schema);
            }
            return Ok(empty);
        }
        Ok(union(results))
    }

    /// The `{ query }` form over one part.
    fn partition_query(
        &self,
        part: &Rel,
        key: usize,
        column: &str,
        query: &TabExpr,
    ) -> Result<Rel, KqlError> {
        let value = part
            .rows
            .first()
            .map(|r| r[key].clone())
            .unwrap_or_default();
        let mut lets = self.lets.clone();
        lets.insert(
            column.to_string(),
            Bound::Rows(Rel {
                cols: vec![part.cols[key].clone()],
                rows: vec![Row::from(vec![value])],
            }),
        );
        let inner = self.inner(lets, self.calls.get());
        inner.tabular(query)
    }
}
