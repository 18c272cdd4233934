//! The tabular operators after the source: project, sort, join, mv-expand and the rest.

use std::sync::Arc;

use crate::ast::{
    ActivityKind, Aggregate, Expr, ExprKind, JoinKind, NamedExpr, Op, OpKind, ParsePattern,
    SortKey, TabExpr,
};
use crate::compile::{derive_name, kql_name};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::functions::{Func, call};
use crate::rel::{KeyMap, KeySet, Rel, push_unique, select, union};
use crate::row_order;
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

/// `*` matches any run of characters; everything else must match exactly.
pub(crate) fn wildcard(pattern: &str, name: &str) -> bool {
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

/// `None` means a single null row; arrays and bags give their elements.
pub(crate) fn expand_value(v: &Value) -> Option<Vec<Value>> {
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

pub(crate) fn cast_expanded(v: Value, ty: KqlType) -> Value {
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

impl Ctx<'_> {
    pub(crate) fn operator(&self, rel: Rel, op: &Op) -> Result<Rel, KqlError> {
        match &op.kind {
            OpKind::Where(e) => self.filter(rel, e),
            OpKind::Project(items) => self.project(&rel, items, false, "project"),
            OpKind::Extend(items) => self.project(&rel, items, true, "extend"),
            OpKind::ProjectAway(patterns) => self.project_matching(&rel, patterns, false, op.pos),
            OpKind::ProjectKeep(patterns) => self.project_matching(&rel, patterns, true, op.pos),
            OpKind::ProjectReorder(patterns) => self.project_reorder(&rel, patterns, op.pos),
            OpKind::ProjectRename(pairs) => self.rename(rel, pairs, op.pos),
            OpKind::Summarize { aggs, by } => self.summarize(&rel, rel.rows.iter(), aggs, by),
            OpKind::Pass => Ok(rel),
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
            OpKind::Distinct(cols) => self.distinct(rel, cols.as_deref()),
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
            OpKind::Lookup { kind, right, on } => self.lookup(rel, right, *kind, on, op.pos),
            OpKind::MvExpand { items, limit } => self.mv_expand(&rel, items, *limit),
            OpKind::MvApply(spec) => self.mv_apply(&rel, spec),
            OpKind::As(name) => {
                self.named.borrow_mut().insert(name.clone(), rel.clone());
                Ok(rel)
            }
            OpKind::Partition { column, body } => self.partition(&rel, column, body, op.pos),
            OpKind::Pivot { column, agg, by } => self.pivot(&rel, column, agg.as_ref(), by, op.pos),
            OpKind::Narrow => Ok(crate::plugins::pivot::narrow(&rel)),
            OpKind::Scan(spec) => self.scan_operator(&rel, spec, op.pos),
            OpKind::Invoke(name, args) => self.invoke(rel, name, args, op.pos),
            OpKind::SampleDistinct(n, value) => self.sample_distinct(rel, n, value),
            OpKind::TopHitters {
                count,
                value,
                weight,
            } => self.top_hitters(&rel, count, value, weight.as_ref(), op.pos),
            OpKind::ParseKv(spec) => self.parse_kv(&rel, spec),
            OpKind::Parse(pattern) => self.parse_rows(&rel, pattern),
            OpKind::BagUnpack { bag, prefix } => self.bag_unpack(&rel, bag, prefix),
            OpKind::MakeSeries(spec) => self.make_series(&rel, spec),
            OpKind::TopNested(levels) => self.top_nested(&rel, levels),
            OpKind::Search(search) => self.search_rows(rel, &search.predicate),
            OpKind::Fork(branches) => {
                self.pipeline(rel, branches.first().map_or(&[][..], Vec::as_slice))
            }
            OpKind::Facet { by, with } => self.facet(rel, by, with.as_deref(), op.pos),
            OpKind::Sample(n) => self.sample(rel, n),
            OpKind::GetSchema => Ok(get_schema(&rel)),
            OpKind::Consume => Ok(Rel {
                cols: Vec::new(),
                rows: Vec::new(),
            }),
            OpKind::Reduce(spec) => self.reduce(&rel, spec),
            OpKind::IpLookup(spec) => self.ip_lookup(&rel, spec, op.pos),
            OpKind::Segments(spec) => self.segments(&rel, spec, op.pos),
            OpKind::Activity(spec) => match spec.kind {
                ActivityKind::SlidingWindowCounts | ActivityKind::CountsMetrics => {
                    self.activity(&rel, spec)
                }
                ActivityKind::Metrics => self.activity_metrics(&rel, spec),
                ActivityKind::SessionCount => self.session_count(&rel, spec),
                ActivityKind::FunnelSequence => self.funnel_sequence(&rel, spec),
                ActivityKind::FunnelCompletion => self.funnel_completion(&rel, spec),
            },
            OpKind::RollingPercentile(spec) => self.rolling_percentile(&rel, spec, op.pos),
            OpKind::DiffPatterns(spec) => self.diff_patterns(&rel, spec, op.pos),
            OpKind::DcountIntersect(spec) => self.dcount_intersect(&rel, &spec.args, op.pos),
        }
    }

    /// `where`: the rows its predicate holds for.
    fn filter(&self, rel: Rel, e: &Expr) -> Result<Rel, KqlError> {
        let pred = self.predicate(e, &rel)?;
        let rows = rel.rows.into_iter().filter(|r| pred.truthy(r)).collect();
        Ok(Rel {
            cols: rel.cols,
            rows,
        })
    }

    /// `project-keep` (`keep`) or `project-away`: the columns the wildcard patterns match, or
    /// the others; a pattern without `*` must name a column.
    fn project_matching(
        &self,
        rel: &Rel,
        patterns: &[String],
        keep: bool,
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let op = if keep { "project-keep" } else { "project-away" };
        self.check_patterns(rel, patterns, pos, op)?;
        let chosen: Vec<usize> = (0..rel.cols.len())
            .filter(|&i| patterns.iter().any(|p| wildcard(p, &rel.cols[i].0)) == keep)
            .collect();
        Ok(select(rel, &chosen))
    }

    /// `project-reorder`: the columns the patterns match first, in pattern order, then the rest.
    fn project_reorder(&self, rel: &Rel, patterns: &[String], pos: usize) -> Result<Rel, KqlError> {
        self.check_patterns(rel, patterns, pos, "project-reorder")?;
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
        Ok(select(rel, &order))
    }

    /// `lookup`: a join that leaves out the right's key columns, which repeat the left's.
    fn lookup(
        &self,
        rel: Rel,
        right: &TabExpr,
        kind: JoinKind,
        on: &[(String, String)],
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let right = self.tabular(right)?;
        let (_, rk) = self.join_keys(&rel, &right, on, pos)?;
        let left_width = rel.cols.len();
        let joined = self.join(rel, right, kind, on, pos)?;
        let keep: Vec<usize> = (0..joined.cols.len())
            .filter(|i| i.checked_sub(left_width).is_none_or(|r| !rk.contains(&r)))
            .collect();
        Ok(select(&joined, &keep))
    }

    /// `sample N`: any N rows will do, and the first N keep answers repeatable.
    fn sample(&self, mut rel: Rel, n: &Expr) -> Result<Rel, KqlError> {
        let n = self.const_count(n, &rel, "sample")?;
        rel.rows.truncate(n);
        Ok(rel)
    }

    /// `ops` applied to `rel` in turn: a `fork` branch, `facet`'s `with`.
    pub(crate) fn pipeline(&self, mut rel: Rel, ops: &[Op]) -> Result<Rel, KqlError> {
        for op in ops {
            rel = self.operator(rel, op)?;
        }
        Ok(rel)
    }

    /// `facet`'s first table, the one the API answers: the `with` operators' rows when there
    /// are any, else the values of the first column with their counts (`count_<column>`).
    fn facet(
        &self,
        rel: Rel,
        by: &[String],
        with: Option<&[Op]>,
        pos: usize,
    ) -> Result<Rel, KqlError> {
        if let Some(ops) = with {
            return self.pipeline(rel, ops);
        }
        let Some(column) = by.first() else {
            return Err(self.err("'facet' operator: name a column".to_string(), pos));
        };
        let at = |kind| Expr { kind, pos };
        let count = Aggregate {
            names: vec![format!("count_{column}")],
            expr: at(ExprKind::Call("count".to_string(), Vec::new())),
        };
        let key = (None, at(ExprKind::Ident(column.clone())));
        self.summarize(&rel, rel.rows.iter(), &[count], &[key])
    }

    /// `parse`: each row with the pattern's columns added (replacing same-named ones), each
    /// captured text converted to its column's type; a value that does not match or convert is
    /// null, and `parse-where` leaves out the rows that do not match.
    fn parse_rows(&self, rel: &Rel, pattern: &ParsePattern) -> Result<Rel, KqlError> {
        let (source, _) = self.compile(&pattern.source, rel, "parse")?;
        let mut cols: Vec<(String, KqlType)> = rel
            .cols
            .iter()
            .filter(|(n, _)| !pattern.columns.iter().any(|(c, _)| c == n))
            .cloned()
            .collect();
        let kept: Vec<usize> = (0..rel.cols.len())
            .filter(|&i| !pattern.columns.iter().any(|(c, _)| *c == rel.cols[i].0))
            .collect();
        cols.extend(pattern.columns.iter().cloned());
        let mut rows = Vec::with_capacity(rel.rows.len());
        for row in &rel.rows {
            let text = scalar::to_text(&source.eval(row)).into_owned();
            let captures = pattern.regex.captures(&text);
            if captures.is_none() && !pattern.keep_unmatched {
                continue;
            }
            let mut out: Vec<Value> = kept.iter().map(|&i| row[i].clone()).collect();
            for (k, (_, ty)) in pattern.columns.iter().enumerate() {
                let captured = captures.as_ref().and_then(|c| c.get(k + 1));
                out.push(captured.map_or(Value::Null, |m| typed(m.as_str(), *ty)));
            }
            rows.push(Row::from(out));
        }
        Ok(Rel { cols, rows })
    }

    pub(crate) fn check_patterns(
        &self,
        rel: &Rel,
        patterns: &[String],
        pos: usize,
        op: &str,
    ) -> Result<(), KqlError> {
        for p in patterns {
            if !p.contains('*') && rel.index(p).is_none() {
                return Err(self.unresolved(op, "column", p, pos, rel));
            }
        }
        Ok(())
    }

    pub(crate) fn project(
        &self,
        rel: &Rel,
        items: &[NamedExpr],
        extend: bool,
        op: &str,
    ) -> Result<Rel, KqlError> {
        if let Some((with_rows, items)) = self.with_row_order_columns(rel, items, op)? {
            let out = self.project(&with_rows, &items, extend, op)?;
            let keep: Vec<usize> = (0..out.cols.len())
                .filter(|&i| !row_order::is_hidden(&out.cols[i].0))
                .collect();
            return Ok(select(&out, &keep));
        }
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

    pub(crate) fn sort(&self, rel: Rel, keys: &[SortKey], op: &str) -> Result<Rel, KqlError> {
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

    /// `project-rename`: renames columns in place, keeping their order.
    fn rename(
        &self,
        mut rel: Rel,
        pairs: &[(String, String)],
        pos: usize,
    ) -> Result<Rel, KqlError> {
        for (new, old) in pairs {
            let i = rel
                .index(old)
                .ok_or_else(|| self.unresolved("project-rename", "column", old, pos, &rel))?;
            rel.cols[i].0.clone_from(new);
        }
        Ok(rel)
    }

    /// `distinct`: the listed expressions (or every column), each combination once, first seen first.
    pub(crate) fn distinct(&self, rel: Rel, cols: Option<&[Expr]>) -> Result<Rel, KqlError> {
        let rel = match cols {
            None => rel,
            Some(exprs) => {
                let items: Vec<NamedExpr> = exprs.iter().map(|e| (None, e.clone())).collect();
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

    /// Resolves a join's `on` pairs to column indexes on the left and on the right.
    fn join_keys(
        &self,
        left: &Rel,
        right: &Rel,
        on: &[(String, String)],
        pos: usize,
    ) -> Result<(Vec<usize>, Vec<usize>), KqlError> {
        let mut lk = Vec::new();
        let mut rk = Vec::new();
        for (l, r) in on {
            let side = |rel: &Rel, name: &str, which: &str| {
                rel.index(name).ok_or_else(|| {
                    let mut error = self.unresolved("join", "column", name, pos, rel);
                    error.message.push_str(which);
                    error
                })
            };
            lk.push(side(left, l, " on the left side")?);
            rk.push(side(right, r, " on the right side")?);
        }
        Ok((lk, rk))
    }

    pub(crate) fn join(
        &self,
        left: Rel,
        right: Rel,
        kind: JoinKind,
        on: &[(String, String)],
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let (lk, rk) = self.join_keys(&left, &right, on, pos)?;
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
                return Ok(
                    left.keep(|r| key_of(r, &lk).is_some_and(|k| index.contains_key(&k)) == want)
                );
            }
            JoinKind::RightAnti | JoinKind::RightSemi => {
                let left_keys: KeySet<Vec<Value>> =
                    left.rows.iter().filter_map(|r| key_of(r, &lk)).collect();
                let want = kind == JoinKind::RightSemi;
                return Ok(
                    right.keep(|r| key_of(r, &rk).is_some_and(|k| left_keys.contains(&k)) == want)
                );
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

    pub(crate) fn mv_expand(
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
}

/// `getschema`: a row per column, its name, position and type (.NET's name and KQL's).
fn get_schema(rel: &Rel) -> Rel {
    let cols = vec![
        ("ColumnName".to_string(), KqlType::String),
        ("ColumnOrdinal".to_string(), KqlType::Int),
        ("DataType".to_string(), KqlType::String),
        ("ColumnType".to_string(), KqlType::String),
    ];
    let rows = rel
        .cols
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| {
            let dotnet = match ty {
                KqlType::Bool => "System.Boolean",
                KqlType::DateTime => "System.DateTime",
                KqlType::Dynamic => "System.Object",
                KqlType::Guid => "System.Guid",
                KqlType::Int => "System.Int32",
                KqlType::Long => "System.Int64",
                KqlType::Real => "System.Double",
                KqlType::String => "System.String",
                KqlType::TimeSpan => "System.TimeSpan",
            };
            Row::from(vec![
                Value::str(name),
                Value::Long(i64::try_from(i).unwrap_or(i64::MAX)),
                Value::str(dotnet),
                Value::str(kql_name(*ty)),
            ])
        })
        .collect();
    Rel { cols, rows }
}

/// Captured text as a value of a `parse` column's type; null when it does not convert.
pub(crate) fn typed(text: &str, ty: KqlType) -> Value {
    let text = Value::str(text);
    let convert = match ty {
        KqlType::String | KqlType::Guid => return text,
        KqlType::Long | KqlType::Int => Func::ToLong,
        KqlType::Real => Func::ToDouble,
        KqlType::DateTime => Func::ToDateTime,
        KqlType::Bool => Func::ToBool,
        KqlType::TimeSpan | KqlType::Dynamic => Func::ParseJson,
    };
    call(convert, &[text])
}
