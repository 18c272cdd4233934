//! Evaluation: scalar expressions are compiled against a schema (columns become indexes,
//! constants are folded, functions resolved) and tabular operators run over shared rows.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::parser::{
    Aggregate, BinOp, Expr, ExprKind, JoinKind, LetValue, ListItem, ListOp, NamedExpr, Op, OpKind,
    Query, SortKey, Source, StrOp, TabExpr,
};
use super::scalar::{self, Func};
use super::value::{KqlType, Value};
use super::{Database, KqlError, Row};

/// A small multiply-rotate hasher for group and join keys: they are hashed once per row,
/// and SipHash's flooding resistance buys nothing for an in-process emulator.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

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

type KeyMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<KeyHasher>>;
type KeySet<K> = HashSet<K, std::hash::BuildHasherDefault<KeyHasher>>;

/// Rows flowing between operators.
#[derive(Debug, Clone)]
pub struct Rel {
    /// Column names and types.
    pub cols: Vec<(String, KqlType)>,
    /// The rows, shared with the tables they came from.
    pub rows: Vec<Row>,
}

impl Rel {
    fn index(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|(n, _)| n == name)
    }
}

enum Bound {
    Scalar(Value, KqlType),
    Tabular(TabExpr),
}

/// Everything a query's evaluation needs.
pub struct Ctx<'a> {
    db: &'a Database,
    src: &'a str,
    now: DateTime<Utc>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    lets: HashMap<String, Bound>,
}

impl<'a> Ctx<'a> {
    /// A context for one query.
    pub fn new(
        db: &'a Database,
        src: &'a str,
        now: DateTime<Utc>,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Self {
        Ctx {
            db,
            src,
            now,
            window,
            lets: HashMap::new(),
        }
    }

    fn err(&self, msg: String, pos: usize) -> KqlError {
        KqlError::new(msg, self.src, pos)
    }

    /// Binds the `let` statements and evaluates the body.
    pub fn run(&mut self, query: &Query) -> Result<Rel, KqlError> {
        for l in &query.lets {
            let bound = match &l.value {
                LetValue::Tabular(t) => Bound::Tabular(t.clone()),
                LetValue::Scalar(e) => match &e.kind {
                    ExprKind::Ident(name) if self.is_tabular_name(name) => {
                        Bound::Tabular(TabExpr {
                            source: Source::Name(name.clone(), e.pos),
                            ops: Vec::new(),
                        })
                    }
                    _ => {
                        let empty = Rel {
                            cols: Vec::new(),
                            rows: Vec::new(),
                        };
                        let (c, ty) = self.compile(e, &empty, "let")?;
                        Bound::Scalar(c.eval(&[]).into_owned(), ty)
                    }
                },
            };
            self.lets.insert(l.name.clone(), bound);
        }
        self.tabular(&query.body)
    }

    fn is_tabular_name(&self, name: &str) -> bool {
        match self.lets.get(name) {
            Some(Bound::Tabular(_)) => true,
            Some(Bound::Scalar(..)) => false,
            None => self.db.tables.contains_key(name),
        }
    }

    fn tabular(&self, t: &TabExpr) -> Result<Rel, KqlError> {
        let (mut rel, rest) = match &t.source {
            Source::Name(name, pos) if !self.lets.contains_key(name) => {
                self.scan(name, *pos, &t.ops)?
            }
            other => (self.source(other)?, t.ops.as_slice()),
        };
        for op in rest {
            rel = self.operator(rel, op)?;
        }
        Ok(rel)
    }

    fn source(&self, s: &Source) -> Result<Rel, KqlError> {
        match s {
            Source::Sub(t) => self.tabular(t),
            Source::Union(items) => {
                let rels = items
                    .iter()
                    .map(|t| self.tabular(t))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(union(rels))
            }
            Source::Name(name, pos) => match self.lets.get(name) {
                Some(Bound::Tabular(t)) => self.tabular(t),
                Some(Bound::Scalar(..)) => {
                    Err(self.err(format!("'{name}' is a scalar, not a table"), *pos))
                }
                None => Ok(self.scan(name, *pos, &[])?.0),
            },
        }
    }

    /// Reads a stored table together with the `where` operators right after it and, when a
    /// `summarize` follows them, that too, in one pass over the table's borrowed rows.
    /// Returns the operators still to run.
    ///
    /// Why one pass: taking the table as a relation first cloned (and later dropped) an `Arc`
    /// per row only for the filter to discard most of them; this way only surviving rows are
    /// cloned, and none at all when they go straight into a summarize.
    fn scan<'o>(&self, name: &str, pos: usize, ops: &'o [Op]) -> Result<(Rel, &'o [Op]), KqlError> {
        let table = self.db.tables.get(name).ok_or_else(|| {
            self.err(
                format!("Failed to resolve table or column expression named '{name}'"),
                pos,
            )
        })?;
        // `Table::rows` is public, so a caller could have pushed a row of the wrong
        // width; refuse the table rather than index out of bounds later.
        if table.rows.iter().any(|r| r.len() != table.columns.len()) {
            return Err(self.err(
                format!("table '{name}' has rows that do not match its columns"),
                pos,
            ));
        }
        let ts = table
            .columns
            .iter()
            .position(|(n, t)| n == "Timestamp" && *t == KqlType::DateTime);
        let window = match (self.window, ts) {
            (Some((start, end)), Some(i)) => Some((i, start, end)),
            _ => None,
        };
        let schema = Rel {
            cols: table.columns.clone(),
            rows: Vec::new(),
        };
        let wheres: Vec<&Expr> = ops
            .iter()
            .map_while(|op| match &op.kind {
                OpKind::Where(e) => Some(e),
                _ => None,
            })
            .collect();
        let preds = wheres
            .iter()
            .map(|e| self.predicate(e, &schema))
            .collect::<Result<Vec<_>, _>>()?;
        let keep = |r: &&Row| {
            touch_start(r);
            window.is_none_or(
                |(i, start, end)| matches!(&r[i], Value::DateTime(t) if *t >= start && *t <= end),
            ) && preds.iter().all(|p| p.truthy(r))
        };
        let rest = &ops[wheres.len()..];
        if let Some((
            Op {
                kind: OpKind::Summarize { aggs, by },
                ..
            },
            after,
        )) = rest.split_first()
        {
            let rel = self.summarize(&schema, table.rows.iter().filter(keep), aggs, by)?;
            return Ok((rel, after));
        }
        let rows = if window.is_none() && preds.is_empty() {
            table.rows.clone()
        } else {
            table.rows.iter().filter(keep).cloned().collect()
        };
        Ok((
            Rel {
                cols: schema.cols,
                rows,
            },
            rest,
        ))
    }

    /// Compiles a `where` predicate, which must be a bool (or dynamic, judged per row).
    fn predicate(&self, e: &Expr, rel: &Rel) -> Result<CExpr, KqlError> {
        let (pred, ty) = self.compile(e, rel, "where")?;
        if !matches!(ty, KqlType::Bool | KqlType::Dynamic) {
            return Err(self.err(
                format!(
                    "'where' operator: the predicate must be a bool, not {}",
                    kql_name(ty)
                ),
                e.pos,
            ));
        }
        Ok(pred)
    }

    fn operator(&self, rel: Rel, op: &Op) -> Result<Rel, KqlError> {
        match &op.kind {
            OpKind::Where(e) => {
                let pred = self.predicate(e, &rel)?;
                let rows = rel.rows.into_iter().filter(|r| pred.truthy(r)).collect();
                Ok(Rel {
                    cols: rel.cols,
                    rows,
                })
            }
            OpKind::Project(items) => self.project(&rel, items, false, "project"),
            OpKind::Extend(items) => self.project(&rel, items, true, "extend"),
            OpKind::ProjectAway(patterns) => {
                let keep: Vec<usize> = (0..rel.cols.len())
                    .filter(|&i| !patterns.iter().any(|p| wildcard(p, &rel.cols[i].0)))
                    .collect();
                self.check_patterns(&rel, patterns, op.pos, "project-away")?;
                Ok(select(&rel, &keep))
            }
            OpKind::ProjectKeep(patterns) => {
                self.check_patterns(&rel, patterns, op.pos, "project-keep")?;
                let keep: Vec<usize> = (0..rel.cols.len())
                    .filter(|&i| patterns.iter().any(|p| wildcard(p, &rel.cols[i].0)))
                    .collect();
                Ok(select(&rel, &keep))
            }
            OpKind::ProjectReorder(patterns) => {
                self.check_patterns(&rel, patterns, op.pos, "project-reorder")?;
                let mut order: Vec<usize> = Vec::new();
                for p in patterns {
                    for i in 0..rel.cols.len() {
                        if wildcard(p, &rel.cols[i].0) && !order.contains(&i) {
                            order.push(i);
                        }
                    }
                }
                let rest: Vec<usize> = (0..rel.cols.len()).filter(|i| !order.contains(i)).collect();
                order.extend(rest);
                Ok(select(&rel, &order))
            }
            OpKind::ProjectRename(pairs) => {
                let mut rel = rel;
                for (new, old) in pairs {
                    let i = rel.index(old).ok_or_else(|| {
                        self.err(
                            format!(
                                "'project-rename' operator: Failed to resolve column named '{old}'"
                            ),
                            op.pos,
                        )
                    })?;
                    rel.cols[i].0.clone_from(new);
                }
                Ok(rel)
            }
            OpKind::Summarize { aggs, by } => self.summarize(&rel, rel.rows.iter(), aggs, by),
            OpKind::Take(n) => {
                let n = self.const_count(n, &rel, "take")?;
                let mut rel = rel;
                rel.rows.truncate(n);
                Ok(rel)
            }
            OpKind::Top(n, key) => {
                let n = self.const_count(n, &rel, "top")?;
                let mut rel = self.sort(rel, std::slice::from_ref(key), "top")?;
                rel.rows.truncate(n);
                Ok(rel)
            }
            OpKind::Sort(keys) => self.sort(rel, keys, "sort"),
            OpKind::Distinct(cols) => {
                let rel = match cols {
                    None => rel,
                    Some(exprs) => {
                        let items: Vec<NamedExpr> =
                            exprs.iter().map(|e| (None, e.clone())).collect();
                        self.project(&rel, &items, false, "distinct")?
                    }
                };
                let mut seen: KeySet<Row> = KeySet::default();
                let rows = rel
                    .rows
                    .into_iter()
                    .filter(|r| seen.insert(r.clone()))
                    .collect();
                Ok(Rel {
                    cols: rel.cols,
                    rows,
                })
            }
            OpKind::Count => {
                let n = i64::try_from(rel.rows.len()).unwrap_or(i64::MAX);
                Ok(Rel {
                    cols: vec![("Count".to_string(), KqlType::Long)],
                    rows: vec![Arc::from(vec![Value::Long(n)])],
                })
            }
            OpKind::Union(items) => {
                let mut rels = vec![rel];
                for t in items {
                    rels.push(self.tabular(t)?);
                }
                Ok(union(rels))
            }
            OpKind::Join { kind, right, on } => {
                let right = self.tabular(right)?;
                self.join(rel, right, *kind, on, op.pos)
            }
            OpKind::MvExpand { items, limit } => self.mv_expand(&rel, items, *limit),
        }
    }

    fn check_patterns(
        &self,
        rel: &Rel,
        patterns: &[String],
        pos: usize,
        op: &str,
    ) -> Result<(), KqlError> {
        for p in patterns {
            if !p.contains('*') && rel.index(p).is_none() {
                return Err(self.err(
                    format!("'{op}' operator: Failed to resolve column named '{p}'"),
                    pos,
                ));
            }
        }
        Ok(())
    }

    fn const_count(&self, e: &Expr, rel: &Rel, op: &str) -> Result<usize, KqlError> {
        let (c, _) = self.compile(e, rel, op)?;
        match c {
            CExpr::Lit(Value::Long(n)) => Ok(usize::try_from(n.max(0)).unwrap_or(usize::MAX)),
            _ => Err(self.err(
                format!("'{op}' operator: the row count must be a constant integer"),
                e.pos,
            )),
        }
    }

    fn project(
        &self,
        rel: &Rel,
        items: &[NamedExpr],
        extend: bool,
        op: &str,
    ) -> Result<Rel, KqlError> {
        let mut cols: Vec<(String, KqlType)> = if extend { rel.cols.clone() } else { Vec::new() };
        // Output slot for each item: an existing column (extend) or a new one.
        let mut targets = Vec::new();
        let mut compiled = Vec::new();
        let mut unnamed = 0;
        for (name, e) in items {
            // `extend` items see the columns made by the items before them.
            let (c, ty) = if extend {
                let so_far = Rel {
                    cols: cols.clone(),
                    rows: Vec::new(),
                };
                self.compile(e, &so_far, op)?
            } else {
                self.compile(e, rel, op)?
            };
            let name = if let Some(n) = name.clone().or_else(|| derive_name(e)) {
                n
            } else {
                unnamed += 1;
                format!("Column{unnamed}")
            };
            let slot = match cols.iter().position(|(n, _)| *n == name) {
                Some(i) if extend => {
                    cols[i].1 = ty;
                    i
                }
                Some(_) => {
                    return Err(self.err(
                        format!("'{op}' operator: duplicate column name '{name}'"),
                        e.pos,
                    ));
                }
                None => {
                    cols.push((name, ty));
                    cols.len() - 1
                }
            };
            targets.push(slot);
            compiled.push(c);
        }
        let width = cols.len();
        let rows = rel
            .rows
            .iter()
            .map(|r| {
                let mut out: Vec<Value> = if extend {
                    r.to_vec()
                } else {
                    Vec::with_capacity(width)
                };
                out.resize(width, Value::Null);
                for (c, &slot) in compiled.iter().zip(&targets) {
                    let v = if extend {
                        c.eval(&out).into_owned()
                    } else {
                        c.eval(r).into_owned()
                    };
                    out[slot] = v;
                }
                Row::from(out)
            })
            .collect();
        Ok(Rel { cols, rows })
    }

    fn sort(&self, rel: Rel, keys: &[SortKey], op: &str) -> Result<Rel, KqlError> {
        let compiled = keys
            .iter()
            .map(|k| self.compile(&k.expr, &rel, op).map(|(c, _)| c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut keyed: Vec<(Vec<Value>, Row)> = rel
            .rows
            .into_iter()
            .map(|r| {
                (
                    compiled.iter().map(|c| c.eval(&r).into_owned()).collect(),
                    r,
                )
            })
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            for (i, k) in keys.iter().enumerate() {
                let (x, y) = (&a[i], &b[i]);
                let nulls_first = k.nulls_first.unwrap_or(!k.desc);
                let ord = match (x.is_null(), y.is_null()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => {
                        if nulls_first {
                            std::cmp::Ordering::Less
                        } else {
                            std::cmp::Ordering::Greater
                        }
                    }
                    (false, true) => {
                        if nulls_first {
                            std::cmp::Ordering::Greater
                        } else {
                            std::cmp::Ordering::Less
                        }
                    }
                    (false, false) => {
                        let o = x.sort_cmp(y);
                        if k.desc { o.reverse() } else { o }
                    }
                };
                if ord.is_ne() {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        Ok(Rel {
            cols: rel.cols,
            rows: keyed.into_iter().map(|(_, r)| r).collect(),
        })
    }

    /// Groups `rows`, whose columns are those of `rel` (whose own rows are not read).
    fn summarize<'r>(
        &self,
        rel: &Rel,
        rows: impl Iterator<Item = &'r Row>,
        aggs: &[Aggregate],
        by: &[NamedExpr],
    ) -> Result<Rel, KqlError> {
        let mut cols: Vec<(String, KqlType)> = Vec::new();
        let mut keys = Vec::new();
        let mut unnamed = 0;
        for (name, e) in by {
            let (c, ty) = self.compile(e, rel, "summarize")?;
            let name = name.clone().or_else(|| derive_name(e)).unwrap_or_else(|| {
                unnamed += 1;
                format!("Column{unnamed}")
            });
            cols.push((name, ty));
            keys.push(c);
        }
        let mut specs = Vec::new();
        // Per aggregate: its output slot, and for arg_max/arg_min (input column, output slot).
        let mut layout: Vec<(usize, Vec<(usize, usize)>)> = Vec::new();
        for Aggregate { names, expr: e } in aggs {
            let spec = self.compile_agg(e, rel)?;
            let slot = cols.len();
            let mut extra = Vec::new();
            if let AggKind::Arg { cols: picked, .. } = &spec.kind {
                let key_name = names
                    .first()
                    .cloned()
                    .or_else(|| derive_name(agg_arg(e, 0)))
                    .unwrap_or_else(|| format!("{}_", spec.prefix));
                push_unique(&mut cols, key_name, spec.ty);
                for (k, &i) in picked.iter().enumerate() {
                    // `(a, b) = arg_max(x, b)` renames the returned columns in order.
                    let name = names
                        .get(k + 1)
                        .cloned()
                        .unwrap_or_else(|| rel.cols[i].0.clone());
                    if !cols.iter().any(|(n, _)| *n == name) {
                        extra.push((i, cols.len()));
                        cols.push((name, rel.cols[i].1));
                    }
                }
            } else {
                let default = match agg_arg_opt(e, 0).and_then(derive_name) {
                    Some(n) if spec.names_column => format!("{}_{n}", spec.prefix),
                    _ => format!("{}_", spec.prefix),
                };
                push_unique(
                    &mut cols,
                    names.first().cloned().unwrap_or(default),
                    spec.ty,
                );
            }
            layout.push((slot, extra));
            specs.push(spec);
        }
        let mut groups: KeyMap<Vec<Value>, usize> = KeyMap::default();
        let mut states: Vec<(Vec<Value>, Vec<AggState>)> = Vec::new();
        let mut key_buf: Vec<Value> = Vec::with_capacity(keys.len());
        for r in rows {
            key_buf.clear();
            key_buf.extend(keys.iter().map(|k| k.eval(r).into_owned()));
            let g = if let Some(&g) = groups.get(key_buf.as_slice()) {
                g
            } else {
                groups.insert(key_buf.clone(), states.len());
                states.push((key_buf.clone(), specs.iter().map(AggSpec::start).collect()));
                states.len() - 1
            };
            for (spec, st) in specs.iter().zip(states[g].1.iter_mut()) {
                spec.update(st, r);
            }
        }
        if states.is_empty() && keys.is_empty() {
            states.push((Vec::new(), specs.iter().map(AggSpec::start).collect()));
        }
        let rows = states
            .into_iter()
            .map(|(key, st)| {
                let mut out = key;
                out.resize(cols.len(), Value::Null);
                for ((spec, s), (slot, extra)) in specs.iter().zip(st).zip(&layout) {
                    spec.finish(s, &mut out, *slot, extra);
                }
                Row::from(out)
            })
            .collect();
        Ok(Rel { cols, rows })
    }

    fn compile_agg(&self, e: &Expr, rel: &Rel) -> Result<AggSpec, KqlError> {
        let ExprKind::Call(name, args) = &e.kind else {
            return Err(self.err(
                "'summarize' operator: expected an aggregation function such as count()"
                    .to_string(),
                e.pos,
            ));
        };
        let arity = |lo: usize, hi: usize| {
            if args.len() < lo || args.len() > hi {
                Err(self.err(
                    format!(
                        "'{name}' expects {lo} to {hi} arguments, got {}",
                        args.len()
                    ),
                    e.pos,
                ))
            } else {
                Ok(())
            }
        };
        let arg = |i: usize| self.compile(&args[i], rel, "summarize");
        let (kind, prefix, ty, names_column) = match name.as_str() {
            "count" => {
                arity(0, 1)?;
                (AggKind::Count, "count", KqlType::Long, false)
            }
            "countif" => {
                arity(1, 1)?;
                (AggKind::CountIf(arg(0)?.0), "countif", KqlType::Long, false)
            }
            "dcount" => {
                arity(1, 2)?;
                (
                    AggKind::DCount(arg(0)?.0, None),
                    "dcount",
                    KqlType::Long,
                    true,
                )
            }
            "dcountif" => {
                arity(2, 3)?;
                (
                    AggKind::DCount(arg(0)?.0, Some(arg(1)?.0)),
                    "dcountif",
                    KqlType::Long,
                    true,
                )
            }
            "sum" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                let t = if t == KqlType::Int { KqlType::Long } else { t };
                (AggKind::Sum(c), "sum", t, true)
            }
            "avg" => {
                arity(1, 1)?;
                (AggKind::Avg(arg(0)?.0), "avg", KqlType::Real, true)
            }
            "min" | "max" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                (
                    AggKind::MinMax(c, name == "max"),
                    if name == "max" { "max" } else { "min" },
                    t,
                    true,
                )
            }
            "make_set" | "makeset" | "make_list" | "makelist" => {
                arity(1, 2)?;
                let limit = match args.get(1) {
                    Some(l) => self.const_count(l, rel, name)?,
                    None => 1_048_576,
                };
                let set = name.contains("set");
                (
                    AggKind::Make(arg(0)?.0, set, limit),
                    if set { "set" } else { "list" },
                    KqlType::Dynamic,
                    true,
                )
            }
            "any" | "take_any" => {
                arity(1, 1)?;
                let (c, t) = arg(0)?;
                (AggKind::Any(c), "any", t, true)
            }
            "arg_max" | "argmax" | "arg_min" | "argmin" => {
                if args.len() < 2 {
                    return Err(self.err(
                        format!("'{name}' expects an expression and the columns to return"),
                        e.pos,
                    ));
                }
                let (key, t) = arg(0)?;
                let mut picked = Vec::new();
                for a in &args[1..] {
                    match &a.kind {
                        ExprKind::Star => picked.extend(0..rel.cols.len()),
                        ExprKind::Ident(n) => picked.push(rel.index(n).ok_or_else(|| {
                            self.err(format!("'summarize' operator: Failed to resolve scalar expression named '{n}'"), a.pos)
                        })?),
                        _ => {
                            return Err(self.err(format!("'{name}' returns columns: list column names or *"), a.pos));
                        }
                    }
                }
                let max = name.contains("max");
                (
                    AggKind::Arg {
                        key,
                        max,
                        cols: picked,
                    },
                    if max { "max" } else { "min" },
                    t,
                    true,
                )
            }
            other => {
                return Err(self.err(
                    format!("'{other}' is not a supported aggregation function"),
                    e.pos,
                ));
            }
        };
        Ok(AggSpec {
            kind,
            prefix,
            ty,
            names_column,
        })
    }

    fn join(
        &self,
        left: Rel,
        right: Rel,
        kind: JoinKind,
        on: &[(String, String)],
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let mut lk = Vec::new();
        let mut rk = Vec::new();
        for (l, r) in on {
            lk.push(left.index(l).ok_or_else(|| {
                self.err(
                    format!(
                        "'join' operator: Failed to resolve column named '{l}' on the left side"
                    ),
                    pos,
                )
            })?);
            rk.push(right.index(r).ok_or_else(|| {
                self.err(
                    format!(
                        "'join' operator: Failed to resolve column named '{r}' on the right side"
                    ),
                    pos,
                )
            })?);
        }
        let key_of = |r: &Row, idx: &[usize]| -> Option<Vec<Value>> {
            let k: Vec<Value> = idx.iter().map(|&i| r[i].scalarize().into_owned()).collect();
            if k.iter().any(Value::is_null) {
                None
            } else {
                Some(k)
            }
        };
        let mut index: KeyMap<Vec<Value>, Vec<usize>> = KeyMap::default();
        for (i, r) in right.rows.iter().enumerate() {
            if let Some(k) = key_of(r, &rk) {
                index.entry(k).or_default().push(i);
            }
        }
        match kind {
            JoinKind::LeftAnti | JoinKind::LeftSemi => {
                let want = kind == JoinKind::LeftSemi;
                let rows = left
                    .rows
                    .into_iter()
                    .filter(|r| key_of(r, &lk).is_some_and(|k| index.contains_key(&k)) == want)
                    .collect();
                return Ok(Rel {
                    cols: left.cols,
                    rows,
                });
            }
            JoinKind::RightAnti | JoinKind::RightSemi => {
                let left_keys: KeySet<Vec<Value>> =
                    left.rows.iter().filter_map(|r| key_of(r, &lk)).collect();
                let want = kind == JoinKind::RightSemi;
                let rows = right
                    .rows
                    .into_iter()
                    .filter(|r| key_of(r, &rk).is_some_and(|k| left_keys.contains(&k)) == want)
                    .collect();
                return Ok(Rel {
                    cols: right.cols,
                    rows,
                });
            }
            _ => {}
        }
        let mut cols = left.cols.clone();
        for (name, ty) in &right.cols {
            push_unique(&mut cols, name.clone(), *ty);
        }
        let mut seen_left: KeySet<Vec<Value>> = KeySet::default();
        let mut rows = Vec::new();
        let right_nulls = vec![Value::Null; right.cols.len()];
        for l in &left.rows {
            let key = key_of(l, &lk);
            if kind == JoinKind::InnerUnique {
                match &key {
                    Some(k) if !seen_left.insert(k.clone()) => continue,
                    _ => {}
                }
            }
            let matches = key.as_ref().and_then(|k| index.get(k));
            match matches {
                Some(ms) => {
                    for &m in ms {
                        let mut out = l.to_vec();
                        out.extend(right.rows[m].iter().cloned());
                        rows.push(Row::from(out));
                    }
                }
                None if kind == JoinKind::LeftOuter => {
                    let mut out = l.to_vec();
                    out.extend(right_nulls.iter().cloned());
                    rows.push(Row::from(out));
                }
                None => {}
            }
        }
        Ok(Rel { cols, rows })
    }

    fn mv_expand(
        &self,
        rel: &Rel,
        items: &[(Option<String>, Expr, Option<KqlType>)],
        limit: Option<usize>,
    ) -> Result<Rel, KqlError> {
        let mut cols = rel.cols.clone();
        let mut slots = Vec::new();
        let mut compiled = Vec::new();
        for (name, e, ty) in items {
            let (c, _) = self.compile(e, rel, "mv-expand")?;
            let name = name.clone().or_else(|| derive_name(e)).ok_or_else(|| {
                self.err(
                    "'mv-expand' operator: name the expanded expression ('name = expr')"
                        .to_string(),
                    e.pos,
                )
            })?;
            let ty = ty.unwrap_or(KqlType::Dynamic);
            let slot = if let Some(i) = cols.iter().position(|(n, _)| *n == name) {
                cols[i].1 = ty;
                i
            } else {
                cols.push((name, ty));
                cols.len() - 1
            };
            slots.push((slot, ty));
            compiled.push(c);
        }
        let width = cols.len();
        let mut rows = Vec::new();
        for r in &rel.rows {
            let expanded: Vec<Option<Vec<Value>>> =
                compiled.iter().map(|c| expand_value(&c.eval(r))).collect();
            let n = expanded
                .iter()
                .map(|e| e.as_ref().map_or(1, Vec::len))
                .max()
                .unwrap_or(0);
            for i in 0..n.min(limit.unwrap_or(usize::MAX)) {
                let mut out = r.to_vec();
                out.resize(width, Value::Null);
                for (e, &(slot, ty)) in expanded.iter().zip(&slots) {
                    let v = e
                        .as_ref()
                        .and_then(|vals| vals.get(i))
                        .cloned()
                        .unwrap_or(Value::Null);
                    out[slot] = cast_expanded(v, ty);
                }
                rows.push(Row::from(out));
            }
        }
        Ok(Rel { cols, rows })
    }

    /// Compiles a scalar expression against the columns of `rel`.
    fn compile(&self, e: &Expr, rel: &Rel, op: &str) -> Result<(CExpr, KqlType), KqlError> {
        let (c, ty) = match &e.kind {
            ExprKind::Lit(v, t) => return Ok((CExpr::Lit(v.clone()), *t)),
            ExprKind::Star => {
                return Err(self.err(
                    "'*' is only allowed as an argument of arg_max/arg_min".to_string(),
                    e.pos,
                ));
            }
            ExprKind::Ident(name) => {
                if let Some(i) = rel.index(name) {
                    return Ok((CExpr::Col(i), rel.cols[i].1));
                }
                match self.lets.get(name) {
                    Some(Bound::Scalar(v, t)) => return Ok((CExpr::Lit(v.clone()), *t)),
                    Some(Bound::Tabular(_)) => {
                        return Err(self.err(
                            format!("'{name}' is a table; use it with 'in' or as a source"),
                            e.pos,
                        ));
                    }
                    None => {}
                }
                return Err(self.err(
                    format!("'{op}' operator: Failed to resolve scalar expression named '{name}'"),
                    e.pos,
                ));
            }
            ExprKind::Member(inner, field) => {
                let (c, _) = self.compile(inner, rel, op)?;
                (CExpr::Member(Box::new(c), field.clone()), KqlType::Dynamic)
            }
            ExprKind::Index(inner, index) => {
                let (c, _) = self.compile(inner, rel, op)?;
                let (i, _) = self.compile(index, rel, op)?;
                (CExpr::Index(Box::new(c), Box::new(i)), KqlType::Dynamic)
            }
            ExprKind::Neg(inner) => {
                let (c, t) = self.compile(inner, rel, op)?;
                if !t.is_numeric() && !matches!(t, KqlType::TimeSpan | KqlType::Dynamic) {
                    return Err(self.err(
                        format!("Cannot negate a value of type {}", kql_name(t)),
                        e.pos,
                    ));
                }
                // Multiplying by -1 negates numbers and timespans alike.
                (
                    CExpr::Arith(
                        BinOp::Mul,
                        Box::new(c),
                        Box::new(CExpr::Lit(Value::Long(-1))),
                    ),
                    t,
                )
            }
            ExprKind::Binary(chain @ (BinOp::And | BinOp::Or), ..) => {
                // Long `and`/`or` chains become one n-ary node, walked without recursion.
                let mut rights = Vec::new();
                let mut cur = e;
                while let ExprKind::Binary(b, l, r) = &cur.kind {
                    if b != chain {
                        break;
                    }
                    rights.push(r.as_ref());
                    cur = l;
                }
                let mut parts = vec![self.compile(cur, rel, op)?.0];
                for r in rights.into_iter().rev() {
                    parts.push(self.compile(r, rel, op)?.0);
                }
                let c = if *chain == BinOp::And {
                    CExpr::And(parts)
                } else {
                    CExpr::Or(parts)
                };
                (c, KqlType::Bool)
            }
            ExprKind::Binary(bop, a, b) => {
                let (ca, ta) = self.compile(a, rel, op)?;
                let (cb, tb) = self.compile(b, rel, op)?;
                match bop {
                    BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
                        let t = scalar::arith_type(*bop, ta, tb).ok_or_else(|| {
                            self.err(
                                format!(
                                    "Cannot apply '{}' to operands of types {} and {}",
                                    binop_text(*bop),
                                    kql_name(ta),
                                    kql_name(tb)
                                ),
                                e.pos,
                            )
                        })?;
                        (CExpr::Arith(*bop, Box::new(ca), Box::new(cb)), t)
                    }
                    BinOp::Str(sop, negate) => {
                        let needle = match cb {
                            CExpr::Lit(v) if *sop == StrOp::Regex => Needle::Regex(
                                regex::Regex::new(&scalar::to_text(&v)).map_err(|err| {
                                    self.err(format!("invalid regular expression: {err}"), b.pos)
                                })?,
                            ),
                            CExpr::Lit(v) => Needle::Const(scalar::to_text(&v).into_owned()),
                            other => Needle::Dyn(Box::new(other)),
                        };
                        (
                            CExpr::Str {
                                op: *sop,
                                negate: *negate,
                                lhs: Box::new(ca),
                                needle,
                            },
                            KqlType::Bool,
                        )
                    }
                    cmp => {
                        if !comparable(*cmp, ta, tb) {
                            return Err(self.err(
                                format!(
                                    "Cannot compare values of types {} and {}",
                                    kql_name(ta),
                                    kql_name(tb)
                                ),
                                e.pos,
                            ));
                        }
                        (CExpr::Cmp(*cmp, Box::new(ca), Box::new(cb)), KqlType::Bool)
                    }
                }
            }
            ExprKind::Between {
                lhs,
                lo,
                hi,
                negate,
            } => {
                let (c, _) = self.compile(lhs, rel, op)?;
                let (l, _) = self.compile(lo, rel, op)?;
                let (h, _) = self.compile(hi, rel, op)?;
                (
                    CExpr::Between(Box::new(c), Box::new(l), Box::new(h), *negate),
                    KqlType::Bool,
                )
            }
            ExprKind::List {
                op: lop,
                lhs,
                items,
            } => {
                let (c, _) = self.compile(lhs, rel, op)?;
                let mut values = Vec::new();
                for item in items {
                    match item {
                        ListItem::Tabular(t) => self.first_column(t, &mut values)?,
                        ListItem::Scalar(Expr {
                            kind: ExprKind::Ident(n),
                            ..
                        }) if rel.index(n).is_none() && self.is_tabular_name(n) => {
                            let t = TabExpr {
                                source: Source::Name(n.clone(), item_pos(item)),
                                ops: Vec::new(),
                            };
                            self.first_column(&t, &mut values)?;
                        }
                        ListItem::Scalar(s) => match self.compile(s, rel, op)?.0 {
                            CExpr::Lit(v) => scalar::flatten_into(&v, &mut values),
                            _ => {
                                return Err(self.err(
                                    format!("the list of '{}' must be constant", listop_text(*lop)),
                                    s.pos,
                                ));
                            }
                        },
                    }
                }
                (
                    CExpr::List(*lop, Box::new(c), ListSet::new(*lop, values)),
                    KqlType::Bool,
                )
            }
            ExprKind::ToScalar(t) => {
                let r = self.tabular(t)?;
                let ty = r.cols.first().map_or(KqlType::Dynamic, |c| c.1);
                let v = r
                    .rows
                    .first()
                    .and_then(|row| row.first().cloned())
                    .unwrap_or(Value::Null);
                return Ok((CExpr::Lit(v), ty));
            }
            ExprKind::Call(name, args) => return self.compile_call(e, name, args, rel, op),
        };
        Ok((fold(c), ty))
    }

    fn compile_call(
        &self,
        e: &Expr,
        name: &str,
        args: &[Expr],
        rel: &Rel,
        op: &str,
    ) -> Result<(CExpr, KqlType), KqlError> {
        match name {
            "now" | "ago" => {
                let now = CExpr::Lit(Value::DateTime(self.now));
                if (name == "ago" && args.len() != 1) || args.len() > 1 {
                    return Err(self.err(
                        format!(
                            "'{name}' expects {} argument",
                            if name == "ago" { "one" } else { "at most one" }
                        ),
                        e.pos,
                    ));
                }
                let Some(offset) = args.first() else {
                    return Ok((now, KqlType::DateTime));
                };
                let (c, _) = self.compile(offset, rel, op)?;
                let bop = if name == "ago" {
                    BinOp::Sub
                } else {
                    BinOp::Add
                };
                return Ok((
                    fold(CExpr::Arith(bop, Box::new(now), Box::new(c))),
                    KqlType::DateTime,
                ));
            }
            "count" | "countif" | "dcount" | "dcountif" | "sum" | "avg" | "min" | "max"
            | "make_set" | "make_list" | "makeset" | "makelist" | "arg_max" | "arg_min"
            | "argmax" | "argmin" | "any" | "take_any" => {
                return Err(self.err(
                    format!("'{name}' is an aggregation function: use it in 'summarize'"),
                    e.pos,
                ));
            }
            _ => {}
        }
        let Some((f, lo, hi)) = scalar::lookup(name) else {
            return Err(self.err(format!("'{name}' function is not supported"), e.pos));
        };
        if args.len() < lo || args.len() > hi || (f == Func::Case && args.len().is_multiple_of(2)) {
            return Err(self.err(
                format!(
                    "'{name}' was called with {} arguments, which it does not accept",
                    args.len()
                ),
                e.pos,
            ));
        }
        let mut compiled = Vec::new();
        let mut types = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if f == Func::ExtractJson && i == 2 {
                let ty = type_argument(a).ok_or_else(|| {
                    self.err(
                        "'extractjson' expects typeof(<type>) as its third argument".to_string(),
                        a.pos,
                    )
                })?;
                compiled.push(CExpr::Lit(Value::str(kql_name(ty))));
                types.push(ty);
                continue;
            }
            let (c, t) = self.compile(a, rel, op)?;
            compiled.push(c);
            types.push(t);
        }
        if f == Func::Extract
            && let CExpr::Lit(v) = &compiled[0]
        {
            let re = regex::Regex::new(&scalar::to_text(v)).map_err(|err| {
                self.err(format!("invalid regular expression: {err}"), args[0].pos)
            })?;
            let mut rest = compiled.into_iter().skip(1);
            let (Some(group), Some(text)) = (rest.next(), rest.next()) else {
                return Err(self.err("'extract' expects 3 arguments".to_string(), e.pos));
            };
            let c = CExpr::Extract(Box::new(re), Box::new(group), Box::new(text));
            return Ok((fold(c), KqlType::String));
        }
        let ty = if f == Func::ExtractJson {
            types.get(2).copied().unwrap_or(KqlType::String)
        } else {
            scalar::return_type(f, &types)
        };
        Ok((fold(CExpr::Call(f, compiled)), ty))
    }

    fn first_column(&self, t: &TabExpr, out: &mut Vec<Value>) -> Result<(), KqlError> {
        let r = self.tabular(t)?;
        for row in &r.rows {
            if let Some(v) = row.first() {
                scalar::flatten_into(v, out);
            }
        }
        Ok(())
    }
}

/// Reads a row's first cell before anything else in it.
///
/// Why: a scan that reads each row from its start walks memory upwards, which the CPU's stream
/// prefetcher follows and fetches the next rows ahead; when the first read of a row lands
/// mid-row (say on `ActionType`) it stalls on every row instead. Measured on the emulator
/// benchmark, this read halves the time of a `where`/`summarize` scan without a window.
fn touch_start(row: &[Value]) {
    std::hint::black_box(matches!(row.first(), Some(Value::Null)));
}

/// Reads `typeof(string)` and friends.
fn type_argument(e: &Expr) -> Option<KqlType> {
    match &e.kind {
        ExprKind::Call(f, args) if f == "typeof" && args.len() == 1 => match &args[0].kind {
            ExprKind::Ident(t) => KqlType::from_kql_name(t),
            _ => None,
        },
        _ => None,
    }
}

fn item_pos(item: &ListItem) -> usize {
    match item {
        ListItem::Scalar(e) => e.pos,
        ListItem::Tabular(_) => 0,
    }
}

/// Whether KQL accepts comparing these types (`=~`/`!~` need strings); dynamic goes with anything.
fn comparable(op: BinOp, a: KqlType, b: KqlType) -> bool {
    use KqlType::{Dynamic, Guid, String};
    let family = |t: KqlType| match t {
        KqlType::Int | KqlType::Long | KqlType::Real => 1,
        String | Guid => 2,
        other => other as u8 + 10,
    };
    if a == Dynamic || b == Dynamic {
        return true;
    }
    if matches!(op, BinOp::EqCi | BinOp::NeCi) {
        return family(a) == 2 && family(b) == 2;
    }
    family(a) == family(b)
}

fn kql_name(t: KqlType) -> &'static str {
    match t {
        KqlType::Bool => "bool",
        KqlType::DateTime => "datetime",
        KqlType::Dynamic => "dynamic",
        KqlType::Guid => "guid",
        KqlType::Int => "int",
        KqlType::Long => "long",
        KqlType::Real => "real",
        KqlType::String => "string",
        KqlType::TimeSpan => "timespan",
    }
}

fn binop_text(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        _ => "%",
    }
}

fn listop_text(op: ListOp) -> &'static str {
    match op {
        ListOp::In => "in",
        ListOp::NotIn => "!in",
        ListOp::InCi => "in~",
        ListOp::NotInCi => "!in~",
        ListOp::HasAny => "has_any",
        ListOp::HasAll => "has_all",
    }
}

/// Folds an expression whose inputs are all constants into a literal.
fn fold(c: CExpr) -> CExpr {
    let constant = match &c {
        CExpr::Lit(_) => return c,
        CExpr::Arith(_, a, b)
        | CExpr::Cmp(_, a, b)
        | CExpr::Index(a, b)
        | CExpr::Extract(_, a, b) => a.is_lit() && b.is_lit(),
        CExpr::Call(_, args) | CExpr::And(args) | CExpr::Or(args) => args.iter().all(CExpr::is_lit),
        CExpr::Member(a, _) => a.is_lit(),
        _ => false,
    };
    if constant {
        CExpr::Lit(c.eval(&[]).into_owned())
    } else {
        c
    }
}

fn derive_name(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Ident(n) => Some(n.clone()),
        ExprKind::Member(inner, field) => Some(format!("{}_{field}", derive_name(inner)?)),
        ExprKind::Index(inner, index) => match &index.kind {
            ExprKind::Lit(Value::String(s), _) => Some(format!("{}_{s}", derive_name(inner)?)),
            _ => None,
        },
        ExprKind::Call(f, args)
            if matches!(
                f.as_str(),
                "bin"
                    | "floor"
                    | "tostring"
                    | "toint"
                    | "tolong"
                    | "todouble"
                    | "todatetime"
                    | "tobool"
            ) =>
        {
            args.first().and_then(derive_name)
        }
        _ => None,
    }
}

fn agg_arg(e: &Expr, i: usize) -> &Expr {
    agg_arg_opt(e, i).unwrap_or(e)
}

fn agg_arg_opt(e: &Expr, i: usize) -> Option<&Expr> {
    match &e.kind {
        ExprKind::Call(_, args) => args.get(i),
        _ => None,
    }
}

fn push_unique(cols: &mut Vec<(String, KqlType)>, name: String, ty: KqlType) {
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

/// `*` matches any run of characters; everything else must match exactly.
fn wildcard(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn select(rel: &Rel, keep: &[usize]) -> Rel {
    Rel {
        cols: keep.iter().map(|&i| rel.cols[i].clone()).collect(),
        rows: rel
            .rows
            .iter()
            .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
            .collect(),
    }
}

fn union(rels: Vec<Rel>) -> Rel {
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

/// `None` means a single null row; arrays and bags give their elements.
fn expand_value(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Dynamic(json) => match json.as_ref() {
            serde_json::Value::Array(items) => {
                Some(items.iter().map(|i| Value::dynamic(i.clone())).collect())
            }
            serde_json::Value::Object(map) => Some(
                map.iter()
                    .map(|(k, v)| {
                        let mut one = serde_json::Map::new();
                        one.insert(k.clone(), v.clone());
                        Value::dynamic(serde_json::Value::Object(one))
                    })
                    .collect(),
            ),
            serde_json::Value::Null => None,
            _ => Some(vec![v.clone()]),
        },
        Value::Null => None,
        other => Some(vec![other.clone()]),
    }
}

fn cast_expanded(v: Value, ty: KqlType) -> Value {
    if ty == KqlType::Dynamic || v.is_null() {
        return v;
    }
    let s = v.scalarize().into_owned();
    let ok = match (ty, &s) {
        (KqlType::String | KqlType::Guid, Value::String(_))
        | (KqlType::Long | KqlType::Int, Value::Long(_))
        | (KqlType::Bool, Value::Bool(_))
        | (KqlType::Real, Value::Real(_)) => true,
        (KqlType::Real, Value::Long(n)) => {
            #[allow(clippy::cast_precision_loss)]
            return Value::Real(*n as f64);
        }
        (KqlType::DateTime, Value::String(t)) => {
            return super::value::parse_datetime(t).map_or(Value::Null, Value::DateTime);
        }
        (KqlType::TimeSpan, Value::String(t)) => {
            return super::value::parse_timespan(t).map_or(Value::Null, Value::TimeSpan);
        }
        _ => false,
    };
    if ok { s } else { Value::Null }
}

/// The right-hand side of a string operator.
enum Needle {
    Const(String),
    Regex(regex::Regex),
    Dyn(Box<CExpr>),
}

/// A precomputed list for `in`/`has_any`: strings are kept lowercased for the `~` forms.
struct ListSet {
    values: Vec<Value>,
    texts: Vec<String>,
}

impl ListSet {
    fn new(op: ListOp, values: Vec<Value>) -> ListSet {
        let texts = match op {
            ListOp::InCi | ListOp::NotInCi | ListOp::HasAny | ListOp::HasAll => values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| scalar::to_text(v).into_owned())
                .collect(),
            _ => Vec::new(),
        };
        ListSet { values, texts }
    }
}

/// A compiled scalar expression.
enum CExpr {
    Col(usize),
    Lit(Value),
    Arith(BinOp, Box<CExpr>, Box<CExpr>),
    Cmp(BinOp, Box<CExpr>, Box<CExpr>),
    And(Vec<CExpr>),
    Or(Vec<CExpr>),
    Str {
        op: StrOp,
        negate: bool,
        lhs: Box<CExpr>,
        needle: Needle,
    },
    List(ListOp, Box<CExpr>, ListSet),
    Between(Box<CExpr>, Box<CExpr>, Box<CExpr>, bool),
    Call(Func, Vec<CExpr>),
    Extract(Box<regex::Regex>, Box<CExpr>, Box<CExpr>),
    Member(Box<CExpr>, String),
    Index(Box<CExpr>, Box<CExpr>),
}

impl std::fmt::Debug for CExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CExpr")
    }
}

impl CExpr {
    fn is_lit(&self) -> bool {
        matches!(self, CExpr::Lit(_))
    }

    /// Whether a predicate holds for a row (null and non-booleans count as false).
    fn truthy(&self, row: &[Value]) -> bool {
        match self {
            CExpr::And(parts) => parts.iter().all(|p| p.truthy(row)),
            CExpr::Or(parts) => parts.iter().any(|p| p.truthy(row)),
            CExpr::Cmp(op, a, b) => scalar::comparison(*op, &a.eval(row), &b.eval(row)),
            CExpr::Str {
                op,
                negate,
                lhs,
                needle,
            } => {
                let v = lhs.eval(row);
                let v = v.scalarize();
                if v.is_null() && !*negate {
                    return false;
                }
                let hay = scalar::to_text(&v);
                let hit = match needle {
                    Needle::Const(n) => scalar::string_op(*op, &hay, n),
                    Needle::Regex(re) => re.is_match(&hay),
                    Needle::Dyn(n) => {
                        let n = n.eval(row);
                        if *op == StrOp::Regex {
                            regex::Regex::new(&scalar::to_text(&n))
                                .is_ok_and(|re| re.is_match(&hay))
                        } else {
                            scalar::string_op(*op, &hay, &scalar::to_text(&n))
                        }
                    }
                };
                hit != *negate
            }
            CExpr::List(op, lhs, set) => {
                let v = lhs.eval(row);
                let v = v.scalarize();
                match op {
                    ListOp::In => {
                        !v.is_null() && set.values.iter().any(|x| super::value::equals(&v, x))
                    }
                    ListOp::NotIn => {
                        !v.is_null() && !set.values.iter().any(|x| super::value::equals(&v, x))
                    }
                    ListOp::InCi | ListOp::NotInCi => {
                        if v.is_null() {
                            return false;
                        }
                        let t = scalar::to_text(&v);
                        let hit = set.texts.iter().any(|x| scalar::eq_ci(&t, x));
                        hit == (*op == ListOp::InCi)
                    }
                    ListOp::HasAny | ListOp::HasAll => {
                        if v.is_null() {
                            return false;
                        }
                        let t = scalar::to_text(&v);
                        if *op == ListOp::HasAny {
                            set.texts
                                .iter()
                                .any(|x| scalar::string_op(StrOp::Has, &t, x))
                        } else {
                            set.texts
                                .iter()
                                .all(|x| scalar::string_op(StrOp::Has, &t, x))
                        }
                    }
                }
            }
            CExpr::Between(x, lo, hi, negate) => {
                let (x, lo, hi) = (x.eval(row), lo.eval(row), hi.eval(row));
                if x.is_null() || lo.is_null() || hi.is_null() {
                    return false;
                }
                let inside = scalar::comparison(BinOp::Ge, &x, &lo)
                    && scalar::comparison(BinOp::Le, &x, &hi);
                inside != *negate
            }
            other => matches!(*other.eval(row).scalarize(), Value::Bool(true)),
        }
    }

    /// Evaluates for one row; column values are borrowed, not copied.
    fn eval<'r>(&'r self, row: &'r [Value]) -> Cow<'r, Value> {
        match self {
            CExpr::Col(i) => Cow::Borrowed(&row[*i]),
            CExpr::Lit(v) => Cow::Borrowed(v),
            CExpr::Arith(op, a, b) => Cow::Owned(scalar::arith(*op, &a.eval(row), &b.eval(row))),
            // Three-valued logic: a deciding operand wins, otherwise any null makes it null.
            CExpr::And(parts) | CExpr::Or(parts) => {
                let decider = matches!(self, CExpr::Or(_));
                let mut unknown = false;
                for p in parts {
                    match *p.eval(row).scalarize() {
                        Value::Bool(b) if b == decider => return Cow::Owned(Value::Bool(decider)),
                        Value::Bool(_) => {}
                        _ => unknown = true,
                    }
                }
                Cow::Owned(if unknown {
                    Value::Null
                } else {
                    Value::Bool(!decider)
                })
            }
            // In a value context a predicate over a null is null, so `not()` keeps it false.
            CExpr::Cmp(_, a, b) if a.eval(row).is_null() || b.eval(row).is_null() => {
                Cow::Owned(Value::Null)
            }
            CExpr::Str { lhs: x, .. } | CExpr::List(_, x, _) | CExpr::Between(x, ..)
                if x.eval(row).is_null() =>
            {
                Cow::Owned(Value::Null)
            }
            CExpr::Cmp(..) | CExpr::Str { .. } | CExpr::List(..) | CExpr::Between(..) => {
                Cow::Owned(Value::Bool(self.truthy(row)))
            }
            CExpr::Call(f, args) => {
                let vals: Vec<Value> = args.iter().map(|a| a.eval(row).into_owned()).collect();
                Cow::Owned(scalar::call(*f, &vals))
            }
            CExpr::Extract(re, group, text) => {
                Cow::Owned(scalar::extract(re, &group.eval(row), &text.eval(row)))
            }
            CExpr::Member(inner, field) => Cow::Owned(member(&inner.eval(row), &Value::str(field))),
            CExpr::Index(inner, index) => Cow::Owned(member(&inner.eval(row), &index.eval(row))),
        }
    }
}

/// `x.field`, `x["field"]`, `x[0]` (negative indexes count from the end); missing gives null.
fn member(v: &Value, key: &Value) -> Value {
    let Value::Dynamic(json) = v else {
        return Value::Null;
    };
    let found = match (json.as_ref(), &*key.scalarize()) {
        (serde_json::Value::Object(map), Value::String(k)) => map.get(k.as_ref()),
        (serde_json::Value::Array(items), Value::Long(i)) => {
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let idx = if *i < 0 { len + i } else { *i };
            usize::try_from(idx).ok().and_then(|i| items.get(i))
        }
        _ => None,
    };
    found.map_or(Value::Null, |j| Value::dynamic(j.clone()))
}

/// Aggregate state per group.
enum AggState {
    Count(i64),
    Distinct(KeySet<Value>),
    Sum(Value),
    Avg(f64, i64),
    Best(Value),
    Make(Vec<Value>, KeySet<Value>),
    Arg(Value, Option<Row>),
    Any(Option<Value>),
}

enum AggKind {
    Count,
    CountIf(CExpr),
    DCount(CExpr, Option<CExpr>),
    Sum(CExpr),
    Avg(CExpr),
    MinMax(CExpr, bool),
    Make(CExpr, bool, usize),
    Arg {
        key: CExpr,
        max: bool,
        cols: Vec<usize>,
    },
    Any(CExpr),
}

struct AggSpec {
    kind: AggKind,
    prefix: &'static str,
    ty: KqlType,
    names_column: bool,
}

impl AggSpec {
    fn start(&self) -> AggState {
        match &self.kind {
            AggKind::Count | AggKind::CountIf(_) => AggState::Count(0),
            AggKind::DCount(..) => AggState::Distinct(KeySet::default()),
            AggKind::Sum(_) => AggState::Sum(Value::Null),
            AggKind::Avg(_) => AggState::Avg(0.0, 0),
            AggKind::MinMax(..) => AggState::Best(Value::Null),
            AggKind::Make(..) => AggState::Make(Vec::new(), KeySet::default()),
            AggKind::Arg { .. } => AggState::Arg(Value::Null, None),
            AggKind::Any(_) => AggState::Any(None),
        }
    }

    fn update(&self, st: &mut AggState, row: &Row) {
        match (&self.kind, st) {
            (AggKind::Count, AggState::Count(n)) => *n += 1,
            (AggKind::CountIf(p), AggState::Count(n)) => *n += i64::from(p.truthy(row)),
            (AggKind::DCount(x, cond), AggState::Distinct(set))
                if cond.as_ref().is_none_or(|c| c.truthy(row)) =>
            {
                let v = x.eval(row);
                if !v.is_null() && !set.contains(&*v) {
                    set.insert(v.into_owned());
                }
            }
            (AggKind::Sum(x), AggState::Sum(acc)) => {
                let v = x.eval(row);
                if !v.is_null() {
                    *acc = if acc.is_null() {
                        v.scalarize().into_owned()
                    } else {
                        scalar::arith(BinOp::Add, acc, &v)
                    };
                }
            }
            (AggKind::Avg(x), AggState::Avg(sum, n)) => {
                if let Some(f) = x.eval(row).as_f64() {
                    *sum += f;
                    *n += 1;
                }
            }
            (AggKind::MinMax(x, max), AggState::Best(best)) => {
                let v = x.eval(row);
                if !v.is_null() {
                    let better = best.is_null() || {
                        let o = v.sort_cmp(best);
                        if *max { o.is_gt() } else { o.is_lt() }
                    };
                    if better {
                        *best = v.into_owned();
                    }
                }
            }
            (AggKind::Make(x, set, limit), AggState::Make(items, seen)) => {
                let v = x.eval(row);
                if !v.is_null() && items.len() < *limit {
                    if *set {
                        if seen.insert(v.clone().into_owned()) {
                            items.push(v.into_owned());
                        }
                    } else {
                        items.push(v.into_owned());
                    }
                }
            }
            (AggKind::Arg { key, max, .. }, AggState::Arg(best, picked)) => {
                let v = key.eval(row);
                let better = picked.is_none()
                    || (!v.is_null()
                        && (best.is_null() || {
                            let o = v.sort_cmp(best);
                            if *max { o.is_gt() } else { o.is_lt() }
                        }));
                if better {
                    *best = v.into_owned();
                    *picked = Some(Arc::clone(row));
                }
            }
            (AggKind::Any(x), AggState::Any(slot)) if slot.is_none() => {
                *slot = Some(x.eval(row).into_owned());
            }
            _ => {}
        }
    }

    /// Writes the aggregate's value into `out[slot]` and, for arg_max/arg_min, the
    /// returned columns into their `(input column, output slot)` places.
    fn finish(&self, st: AggState, out: &mut [Value], slot: usize, extra: &[(usize, usize)]) {
        out[slot] = match st {
            AggState::Count(n) => Value::Long(n),
            AggState::Distinct(set) => Value::Long(i64::try_from(set.len()).unwrap_or(i64::MAX)),
            AggState::Sum(v) if v.is_null() && self.ty.is_numeric() => Value::Long(0),
            AggState::Sum(v) | AggState::Best(v) => v,
            #[allow(clippy::cast_precision_loss)]
            AggState::Avg(sum, n) => {
                if n == 0 {
                    Value::Null
                } else {
                    Value::Real(sum / n as f64)
                }
            }
            AggState::Make(items, _) => Value::dynamic(serde_json::Value::Array(
                items.iter().map(Value::to_json).collect(),
            )),
            AggState::Arg(best, picked) => {
                for &(i, to) in extra {
                    out[to] = picked.as_ref().map_or(Value::Null, |r| r[i].clone());
                }
                best
            }
            AggState::Any(v) => v.unwrap_or_default(),
        };
    }
}
