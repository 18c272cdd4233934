//! `top-nested`: hierarchical top values. Each level groups the rows its parent kept by a
//! value, ranks the groups by an aggregate and keeps the first N; `with others` adds a row
//! aggregating the groups left out.

use crate::aggregate::{AggSpec, AggState};
use crate::ast::TopNested;
use crate::cexpr::CExpr;
use crate::compile::derive_name;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::rel::{KeyMap, Rel};
use crate::table::Row;
use crate::value::{KqlType, Value};

/// One level, compiled.
struct Level {
    value: CExpr,
    agg: AggSpec,
    count: Option<usize>,
    others: Option<Value>,
    desc: bool,
}

/// The aggregate of `rows` under `agg`.
fn aggregate(agg: &AggSpec, rows: &[&Row]) -> Result<Value, KqlError> {
    let mut state: AggState = agg.start();
    for r in rows {
        agg.update(&mut state, r)?;
    }
    let mut out = [Value::Null];
    agg.finish(state, &mut out, 0, &[]);
    let [value] = out;
    Ok(value)
}

/// Appends the rows of `levels` over `rows` under `prefix` (the values of the levels above).
fn nest(
    levels: &[Level],
    rows: &[&Row],
    prefix: &[Value],
    out: &mut Vec<Row>,
) -> Result<(), KqlError> {
    let Some((level, deeper)) = levels.split_first() else {
        out.push(Row::from(prefix.to_vec()));
        return Ok(());
    };
    let mut index: KeyMap<Value, usize> = KeyMap::default();
    let mut groups: Vec<(Value, Vec<&Row>)> = Vec::new();
    for &r in rows {
        let v = level.value.eval(r).into_owned();
        let g = *index.entry(v.clone()).or_insert_with(|| {
            groups.push((v, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(r);
    }
    let mut ranked: Vec<(Value, Value, Vec<&Row>)> = groups
        .into_iter()
        .map(|(v, rs)| Ok((v, aggregate(&level.agg, &rs)?, rs)))
        .collect::<Result<_, KqlError>>()?;
    // Nulls rank last either way; ties keep the order values were first seen in.
    ranked.sort_by(|(_, a, _), (_, b, _)| match (a.is_null(), b.is_null()) {
        (false, true) => std::cmp::Ordering::Less,
        (true, false) => std::cmp::Ordering::Greater,
        _ if level.desc => b.sort_cmp(a),
        _ => a.sort_cmp(b),
    });
    let keep = level.count.unwrap_or(usize::MAX).min(ranked.len());
    let rest = ranked.split_off(keep);
    for (v, agg, rs) in ranked {
        let mut p = prefix.to_vec();
        p.push(v);
        p.push(agg);
        nest(deeper, &rs, &p, out)?;
    }
    if let Some(others) = &level.others
        && !rest.is_empty()
    {
        let left_out: Vec<&Row> = rest
            .iter()
            .flat_map(|(_, _, rs)| rs.iter().copied())
            .collect();
        let mut p = prefix.to_vec();
        p.push(others.clone());
        p.push(aggregate(&level.agg, &left_out)?);
        p.resize(p.len() + 2 * deeper.len(), Value::Null);
        out.push(Row::from(p));
    }
    Ok(())
}

impl Ctx<'_> {
    /// `top-nested`: two columns per level (its value and its aggregate, named
    /// `aggregated_<value>` by default), a row per kept path through the levels.
    pub(crate) fn top_nested(&self, rel: &Rel, levels: &[TopNested]) -> Result<Rel, KqlError> {
        let empty = Rel {
            cols: Vec::new(),
            rows: Vec::new(),
        };
        let mut cols: Vec<(String, KqlType)> = Vec::new();
        let mut compiled = Vec::new();
        for level in levels {
            let (name, e) = &level.value;
            let (value, ty) = self.compile(e, rel, "top-nested")?;
            let name = name.clone().or_else(|| derive_name(e)).ok_or_else(|| {
                self.err(
                    "'top-nested' operator: name the value ('Name = expression')".to_string(),
                    e.pos,
                )
            })?;
            let agg = self.compile_agg(&level.agg.expr, rel)?;
            if agg.width() != 1 {
                return Err(self.err(
                    "'top-nested' operator: an aggregate of one column is needed here; use \
                     'percentile' or 'percentiles_array'"
                        .to_string(),
                    level.agg.expr.pos,
                ));
            }
            let agg_name = level
                .agg
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| format!("aggregated_{name}"));
            let count = match &level.count {
                Some(n) => Some(self.const_count(n, &empty, "top-nested")?),
                None => None,
            };
            let others = match &level.others {
                Some(e) => {
                    let (c, _) = self.compile(e, &empty, "top-nested")?;
                    Some(c.eval(&[]).into_owned())
                }
                None => None,
            };
            cols.push((name, ty));
            cols.push((agg_name, agg.ty()));
            compiled.push(Level {
                value,
                agg,
                count,
                others,
                desc: level.desc,
            });
        }
        let rows: Vec<&Row> = rel.rows.iter().collect();
        let mut out = Vec::new();
        nest(&compiled, &rows, &[], &mut out)?;
        Ok(Rel { cols, rows: out })
    }
}
