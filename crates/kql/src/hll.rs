//! `hll`, `hll_if` and `hll_merge`, the scalar `dcount_hll` and the `dcount_intersect` plugin's
//! counting. Kusto keeps an HyperLogLog sketch, an estimate; huntd keeps the exact distinct
//! values as a `dynamic` array, so its counts are exact where Kusto's are estimates.

use std::collections::HashSet;

use crate::value::Value;

/// The most distinct values one hll value holds.
pub(crate) const MAX_VALUES: usize = 1 << 20;

/// A group's distinct values in first-seen order, each once (JSON text as the identity, so
/// values read back from a merged hll compare like those seen first hand).
#[derive(Debug, Default)]
pub(crate) struct Distinct {
    seen: HashSet<String>,
    items: Vec<serde_json::Value>,
}

impl Distinct {
    /// Adds a value; `false` when it would make the set larger than `MAX_VALUES`.
    pub(crate) fn add(&mut self, v: serde_json::Value) -> bool {
        if v.is_null() {
            return true;
        }
        let key = v.to_string();
        if self.seen.contains(&key) {
            return true;
        }
        if self.items.len() >= MAX_VALUES {
            return false;
        }
        self.seen.insert(key);
        self.items.push(v);
        true
    }

    /// Adds every value of an hll value (`hll_merge`); `false` past `MAX_VALUES`. Anything not
    /// an hll value (not an array) is left out, as nulls are.
    pub(crate) fn merge(&mut self, h: &Value) -> bool {
        match members(h) {
            Some(items) => items.iter().all(|v| self.add(v.clone())),
            None => true,
        }
    }

    /// Whether `v` (as JSON) is one of the values.
    pub(crate) fn contains(&self, v: &serde_json::Value) -> bool {
        self.seen.contains(&v.to_string())
    }

    /// The values, in first-seen order.
    pub(crate) fn items(&self) -> &[serde_json::Value] {
        &self.items
    }

    /// The hll value: the distinct values as a `dynamic` array.
    pub(crate) fn finish(self) -> Value {
        Value::dynamic(serde_json::Value::Array(self.items))
    }
}

/// The values an hll value holds; `None` for anything else.
pub(crate) fn members(h: &Value) -> Option<&Vec<serde_json::Value>> {
    match h {
        Value::Dynamic(json) => json.as_array(),
        _ => None,
    }
}

/// `dcount_hll(h)`: how many distinct values the hll value holds; null for anything else.
pub(crate) fn dcount_hll(h: &Value) -> Value {
    let Some(items) = members(h) else {
        return Value::Null;
    };
    let distinct: HashSet<String> = items
        .iter()
        .filter(|v| !v.is_null())
        .map(serde_json::Value::to_string)
        .collect();
    Value::Long(i64::try_from(distinct.len()).unwrap_or(i64::MAX))
}
