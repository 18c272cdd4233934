//! `evaluate ipv4_lookup(...)` and `ipv6_lookup(...)`: each row joined with the lookup table's
//! rows whose address or range (`10.0.0.0/8`, IP-prefix notation) holds the row's address.
//!
//! Like `lookup`, the answer has the input's columns then the lookup table's (its copies of the
//! extra keys left out). Where the documentation is silent the emulator chooses: a row held by
//! several ranges is joined with each of them, the most specific range first (then in the
//! lookup table's order); an input address written as a range matches the ranges that hold all
//! of it; a value that is not an address matches nothing; `ipv6_lookup` reads IPv4 addresses as
//! IPv4-mapped IPv6 ones (`::ffff:a.b.c.d`).

use crate::ast::IpLookup;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::functions::{mask, parse_net};
use crate::rel::{KeyMap, Rel, push_unique};
use crate::scalar;
use crate::table::Row;
use crate::value::Value;

/// The most rows the plugins answer, as many as `make-series` holds values.
const MAX_ROWS: usize = 1 << 24;

/// The lookup rows of one prefix length, by masked address and extra keys.
type Ranges = KeyMap<(u128, Vec<Value>), Vec<usize>>;

impl Ctx<'_> {
    /// The input's rows each joined with the lookup rows whose range holds its address (and
    /// whose extra keys are equal), or kept with nulls when `return_unmatched` says so.
    pub(crate) fn ip_lookup(
        &self,
        rel: &Rel,
        spec: &IpLookup,
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let plugin = if spec.v6 {
            "ipv6_lookup"
        } else {
            "ipv4_lookup"
        };
        let width = if spec.v6 { 128 } else { 32 };
        let table = self.tabular(&spec.table)?;
        let column = |r: &Rel, name: &str, side: &str| {
            r.index(name).ok_or_else(|| {
                self.err(
                    format!("{plugin}: the {side} has no column named '{name}'"),
                    pos,
                )
            })
        };
        let source_key = column(rel, &spec.source_key, "input")?;
        let lookup_key = column(&table, &spec.lookup_key, "lookup table")?;
        let mut left_extra = Vec::new();
        let mut right_extra = Vec::new();
        for name in &spec.extra {
            left_extra.push(column(rel, name, "input")?);
            right_extra.push(column(&table, name, "lookup table")?);
        }
        // The ranges by prefix length, most specific first, each a map from its masked address
        // and extra keys to the lookup rows.
        let mut by_prefix: Vec<(u32, Ranges)> = Vec::new();
        for (i, row) in table.rows.iter().enumerate() {
            let Some(net) = parse_net(&scalar::to_text(&row[lookup_key]), spec.v6) else {
                continue;
            };
            let extra: Vec<Value> = right_extra.iter().map(|&c| row[c].clone()).collect();
            let slot = if let Some(slot) = by_prefix.iter().position(|(p, _)| *p == net.prefix) {
                slot
            } else {
                by_prefix.push((net.prefix, KeyMap::default()));
                by_prefix.len() - 1
            };
            by_prefix[slot]
                .1
                .entry((net.addr, extra))
                .or_default()
                .push(i);
        }
        by_prefix.sort_by_key(|(prefix, _)| std::cmp::Reverse(*prefix));
        let keep: Vec<usize> = (0..table.cols.len())
            .filter(|c| !right_extra.contains(c))
            .collect();
        let mut cols = rel.cols.clone();
        for &c in &keep {
            push_unique(&mut cols, table.cols[c].0.clone(), table.cols[c].1);
        }
        let mut rows: Vec<Row> = Vec::new();
        for row in &rel.rows {
            let net = parse_net(&scalar::to_text(&row[source_key]), spec.v6);
            let extra: Vec<Value> = left_extra.iter().map(|&c| row[c].clone()).collect();
            let mut matched = false;
            for (prefix, ranges) in &by_prefix {
                let Some(net) = net.filter(|n| n.prefix >= *prefix) else {
                    continue;
                };
                let key = (net.addr & mask(*prefix, width), extra.clone());
                for &i in ranges.get(&key).map_or(&[][..], Vec::as_slice) {
                    matched = true;
                    let mut out = row.to_vec();
                    out.extend(keep.iter().map(|&c| table.rows[i][c].clone()));
                    rows.push(Row::from(out));
                }
            }
            if !matched && spec.return_unmatched {
                let mut out = row.to_vec();
                out.resize(cols.len(), Value::Null);
                rows.push(Row::from(out));
            }
            if rows.len() > MAX_ROWS {
                return Err(self.err(
                    format!(
                        "{plugin}: more than {MAX_ROWS} rows; narrow the input or the lookup \
                         table's ranges"
                    ),
                    pos,
                ));
            }
        }
        Ok(Rel { cols, rows })
    }
}
