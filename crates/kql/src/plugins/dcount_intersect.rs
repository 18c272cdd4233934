//! `evaluate dcount_intersect(hll_1, hll_2 [, ...])`: one row of the distinct counts of S1,
//! S1 ∩ S2, ..., S1 ∩ ... ∩ Sn, columns `s0` to `s{n-1}`, each Si the union of its argument's
//! hll values over all the input's rows. The hll values hold exact sets (see `hll`), so the
//! counts are exact where Kusto's are estimates.

use crate::ast::Expr;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::hll::Distinct;
use crate::rel::Rel;
use crate::table::Row;
use crate::value::{KqlType, Value};

const PLUGIN: &str = "dcount_intersect";

impl Ctx<'_> {
    /// The plugin over `rel`'s rows: the sets merged per argument, then intersected in order.
    pub(crate) fn dcount_intersect(
        &self,
        rel: &Rel,
        args: &[Expr],
        pos: usize,
    ) -> Result<Rel, KqlError> {
        if !(2..=16).contains(&args.len()) {
            return Err(self.err(
                format!("{PLUGIN}: expects 2 to 16 hll values, got {}", args.len()),
                pos,
            ));
        }
        let mut sets = Vec::with_capacity(args.len());
        for a in args {
            let (c, _) = self.compile(a, rel, PLUGIN)?;
            let mut set = Distinct::default();
            for r in &rel.rows {
                if !set.merge(&c.eval(r)) {
                    return Err(self.err(
                        format!(
                            "{PLUGIN}: an hll value of more than {} distinct values; huntd \
                             holds hll values as exact sets",
                            crate::hll::MAX_VALUES
                        ),
                        a.pos,
                    ));
                }
            }
            sets.push(set);
        }
        let mut counts = Vec::with_capacity(sets.len());
        // The running intersection, as the first set's values still in every set so far.
        let mut common: Vec<&serde_json::Value> = sets[0].items().iter().collect();
        for set in &sets {
            common.retain(|v| set.contains(v));
            counts.push(Value::Long(i64::try_from(common.len()).unwrap_or(i64::MAX)));
        }
        let cols = (0..counts.len())
            .map(|i| (format!("s{i}"), KqlType::Long))
            .collect();
        Ok(Rel {
            cols,
            rows: vec![Row::from(counts)],
        })
    }
}
