//! Rows flowing between operators, and the fast hash maps their keys go into.

use std::collections::{HashMap, HashSet};

use crate::table::Row;
use crate::value::{KqlType, Value};

/// A small multiply-rotate hasher for group and join keys: they are hashed once per row,
/// and SipHash's flooding resistance buys nothing for an in-process emulator.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(
                c.try_into().expect("chunks_exact yields 8 bytes"),
            ));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(crate) type KeyMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<KeyHasher>>;

pub(crate) type KeySet<K> = HashSet<K, std::hash::BuildHasherDefault<KeyHasher>>;

/// Rows flowing between operators.
#[derive(Debug, Clone)]
pub struct Rel {
    /// Column names and types.
    pub cols: Vec<(String, KqlType)>,
    /// The rows, shared with the tables they came from.
    pub rows: Vec<Row>,
}

impl Rel {
    pub(crate) fn index(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|(n, _)| n == name)
    }

    /// The same columns with only the rows `keep` accepts, in their order.
    pub(crate) fn keep(self, mut keep: impl FnMut(&Row) -> bool) -> Rel {
        Rel {
            rows: self.rows.into_iter().filter(|r| keep(r)).collect(),
            cols: self.cols,
        }
    }
}

pub(crate) fn push_unique(cols: &mut Vec<(String, KqlType)>, name: String, ty: KqlType) {
    if !cols.iter().any(|(n, _)| *n == name) {
        cols.push((name, ty));
        return;
    }
    let mut k = 1;
    loop {
        let candidate = format!("{name}{k}");
        if !cols.iter().any(|(n, _)| *n == candidate) {
            cols.push((candidate, ty));
            return;
        }
        k += 1;
    }
}

pub(crate) fn select(rel: &Rel, keep: &[usize]) -> Rel {
    Rel {
        cols: keep.iter().map(|&i| rel.cols[i].clone()).collect(),
        rows: rel
            .rows
            .iter()
            .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
            .collect(),
    }
}

pub(crate) fn union(rels: Vec<Rel>) -> Rel {
    let mut cols: Vec<(String, KqlType)> = Vec::new();
    for r in &rels {
        for c in &r.cols {
            if !cols.iter().any(|(n, _)| *n == c.0) {
                cols.push(c.clone());
            }
        }
    }
    let mut rows = Vec::new();
    for r in rels {
        if r.cols == cols {
            rows.extend(r.rows);
            continue;
        }
        let map: Vec<Option<usize>> = cols.iter().map(|(n, _)| r.index(n)).collect();
        for row in &r.rows {
            rows.push(
                map.iter()
                    .map(|m| m.map_or(Value::Null, |i| row[i].clone()))
                    .collect(),
            );
        }
    }
    Rel { cols, rows }
}
