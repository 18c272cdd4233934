//! `search` and `find`: a predicate over several tables, whose bare terms match any column, and
//! a column naming the table each row came from.

use crate::ast::{BinOp, Expr, ExprKind, Find, FindProject, Search, Source, TabExpr};
use crate::compile::kql_name;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::functions::{Func, call};
use crate::operators::cast_expanded;
use crate::rel::{Rel, union};
use crate::table::Row;
use crate::value::{KqlType, Value};

/// The column `search` names each row's table in.
const SEARCH_TABLE_COLUMN: &str = "$table";

/// The column `find`'s `project-smart` and `pack_all()` pack the other columns into.
const PACK_COLUMN: &str = "pack_";

/// `predicate` with each bare term replaced by the term tested on every column of `rel`.
fn expand_terms(predicate: &Expr, rel: &Rel) -> Expr {
    predicate.rewrite(&mut |x| {
        let ExprKind::Term(op, text) = &x.kind else {
            return None;
        };
        let at = |kind| Expr { kind, pos: x.pos };
        let any = rel
            .cols
            .iter()
            .map(|(name, _)| {
                at(ExprKind::Binary(
                    BinOp::Str(*op, false),
                    Box::new(at(ExprKind::Ident(name.clone()))),
                    Box::new(at(ExprKind::Lit(Value::str(text), KqlType::String))),
                ))
            })
            .reduce(|a, b| at(ExprKind::Binary(BinOp::Or, Box::new(a), Box::new(b))));
        Some(any.unwrap_or_else(|| at(ExprKind::Lit(Value::Bool(false), KqlType::Bool))))
    })
}

/// The names a predicate reads, in the order it names them.
fn names_in(predicate: &Expr) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    predicate.rewrite(&mut |x| {
        if let ExprKind::Ident(n) = &x.kind
            && !names.contains(n)
        {
            names.push(n.clone());
        }
        None
    });
    names
}

impl Ctx<'_> {
    /// The tables a `search` or `find` without `in (...)` reads: every table, by name.
    fn every_table(&self) -> Vec<(String, TabExpr)> {
        let mut names: Vec<&String> = self.db.tables.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let t = TabExpr {
                    source: Source::Name(n.clone(), 0),
                    ops: Vec::new(),
                };
                (n.clone(), t)
            })
            .collect()
    }

    /// The columns a predicate reads, with the type each has in the first of `tables` that has
    /// it; `let` names are left out.
    fn predicate_columns(
        &self,
        predicate: &Expr,
        tables: &[(String, Rel)],
    ) -> Vec<(String, KqlType)> {
        names_in(predicate)
            .into_iter()
            .filter(|n| !self.lets.contains_key(n))
            .filter_map(|n| {
                let ty = tables
                    .iter()
                    .find_map(|(_, r)| r.index(&n).map(|i| r.cols[i].1))?;
                Some((n, ty))
            })
            .collect()
    }

    /// The rows of `rel` the predicate accepts. A column the predicate names that `rel` lacks
    /// reads as null (another table may have it); `None` when `rel` has none of them, as Kusto
    /// leaves such a table out.
    fn matching(
        &self,
        rel: Rel,
        predicate: &Expr,
        named: &[(String, KqlType)],
    ) -> Result<Option<Rel>, KqlError> {
        if !named.is_empty() && !named.iter().any(|(n, _)| rel.index(n).is_some()) {
            return Ok(None);
        }
        let width = rel.cols.len();
        let mut padded = rel.cols.clone();
        for (n, ty) in named {
            if rel.index(n).is_none() {
                padded.push((n.clone(), *ty));
            }
        }
        let schema = Rel {
            cols: padded.clone(),
            rows: Vec::new(),
        };
        let pred = self.predicate(&expand_terms(predicate, &rel), &schema)?;
        let rows = rel
            .rows
            .into_iter()
            .filter(|r| {
                if padded.len() == width {
                    return pred.truthy(r);
                }
                let mut wide = r.to_vec();
                wide.resize(padded.len(), Value::Null);
                pred.truthy(&wide)
            })
            .collect();
        Ok(Some(Rel {
            cols: rel.cols,
            rows,
        }))
    }

    /// The piped rows a `search` accepts, columns unchanged.
    pub(crate) fn search_rows(&self, rel: Rel, predicate: &Expr) -> Result<Rel, KqlError> {
        let schema = Rel {
            cols: rel.cols.clone(),
            rows: Vec::new(),
        };
        let named = self.predicate_columns(predicate, &[(String::new(), schema)]);
        Ok(self
            .matching(rel, predicate, &named)?
            .unwrap_or_else(|| Rel {
                cols: Vec::new(),
                rows: Vec::new(),
            }))
    }

    /// Reads `find`'s or `search`'s tables: the ones named in `in (...)`, else every table.
    fn read_tables(&self, tables: &[(String, TabExpr)]) -> Result<Vec<(String, Rel)>, KqlError> {
        let tables = if tables.is_empty() {
            self.every_table()
        } else {
            tables.to_vec()
        };
        tables
            .into_iter()
            .map(|(name, t)| Ok((name, self.tabular(&t)?)))
            .collect()
    }

    /// `search` starting a query: the matching rows of each table, after a `$table` column
    /// naming it, the tables' columns united.
    pub(crate) fn search_tables(&self, search: &Search) -> Result<Rel, KqlError> {
        let named_tables: Vec<(String, TabExpr)> = search
            .tables
            .iter()
            .map(|t| {
                let name = match &t.source {
                    Source::Name(n, _) => n.clone(),
                    _ => String::new(),
                };
                (name, t.clone())
            })
            .collect();
        let tables = self.read_tables(&named_tables)?;
        let named = self.predicate_columns(&search.predicate, &tables);
        let mut found = Vec::new();
        let mut schemas = Vec::new();
        for (name, rel) in tables {
            let Some(rel) = self.matching(rel, &search.predicate, &named)? else {
                continue;
            };
            // The answer has the columns of the tables with matches (of every table read when
            // none matches): a search over every table would otherwise carry all their columns.
            if rel.rows.is_empty() {
                schemas.push(Rel {
                    cols: rel.cols,
                    rows: Vec::new(),
                });
                continue;
            }
            let mut cols = vec![(SEARCH_TABLE_COLUMN.to_string(), KqlType::String)];
            cols.extend(rel.cols.iter().cloned());
            let table = Value::str(&name);
            let rows = rel
                .rows
                .iter()
                .map(|r| {
                    let mut out = Vec::with_capacity(r.len() + 1);
                    out.push(table.clone());
                    out.extend(r.iter().cloned());
                    Row::from(out)
                })
                .collect();
            found.push(Rel { cols, rows });
        }
        if found.is_empty() {
            let mut cols = vec![(SEARCH_TABLE_COLUMN.to_string(), KqlType::String)];
            cols.extend(union(schemas).cols);
            return Ok(Rel {
                cols,
                rows: Vec::new(),
            });
        }
        Ok(union(found))
    }

    /// `find`: the matching rows of each table, `source_` naming it, then the columns of
    /// `project` or, by default (`project-smart`), the columns the predicate names and those
    /// every table has, the rest packed into `pack_`.
    pub(crate) fn find(&self, find: &Find) -> Result<Rel, KqlError> {
        let tables = self.read_tables(&find.tables)?;
        let named = self.predicate_columns(&find.predicate, &tables);
        let mut found = Vec::new();
        for (name, rel) in tables {
            if let Some(rel) = self.matching(rel, &find.predicate, &named)? {
                found.push((name, rel));
            }
        }
        let (columns, pack_rest) = match &find.project {
            Some(p) => (projected_columns(p, &found), p.pack_all),
            None => (smart_columns(&named, &found), true),
        };
        let packs_everything = find.project.is_some();
        let mut cols = vec![(find.source_column.clone(), KqlType::String)];
        cols.extend(columns.iter().map(|c| (c.out.clone(), c.ty)));
        if pack_rest {
            cols.push((PACK_COLUMN.to_string(), KqlType::Dynamic));
        }
        let mut rows = Vec::new();
        for (name, rel) in &found {
            let sources: Vec<Option<usize>> = columns.iter().map(|c| c.source_in(rel)).collect();
            for r in &rel.rows {
                let mut out = vec![Value::str(name)];
                for (c, i) in columns.iter().zip(&sources) {
                    let v = i.map_or(Value::Null, |i| r[i].clone());
                    out.push(if c.cast { convert(v, c.ty) } else { v });
                }
                if pack_rest {
                    out.push(pack(rel, r, |i| {
                        packs_everything || !sources.contains(&Some(i))
                    }));
                }
                rows.push(Row::from(out));
            }
        }
        Ok(Rel { cols, rows })
    }
}

/// An output column of `find`: its name, the input column (name and, when it must match, type)
/// it reads, its type and whether values are cast to it.
struct FindColumn {
    out: String,
    from: String,
    from_type: Option<KqlType>,
    ty: KqlType,
    cast: bool,
}

impl FindColumn {
    fn source_in(&self, rel: &Rel) -> Option<usize> {
        let i = rel.index(&self.from)?;
        self.from_type
            .is_none_or(|t| rel.cols[i].1 == t)
            .then_some(i)
    }
}

/// `project A, B:type`: each column as written, typed as the first table that has it types it.
fn projected_columns(project: &FindProject, found: &[(String, Rel)]) -> Vec<FindColumn> {
    project
        .columns
        .iter()
        .map(|(name, ty)| {
            let first = found
                .iter()
                .find_map(|(_, r)| r.index(name).map(|i| r.cols[i].1));
            FindColumn {
                out: name.clone(),
                from: name.clone(),
                from_type: None,
                ty: ty.or(first).unwrap_or(KqlType::Dynamic),
                cast: ty.is_some(),
            }
        })
        .collect()
}

/// `project-smart`: the columns the predicate names (one per type when tables disagree,
/// named `Column_type`), then the columns every table has with the same type.
fn smart_columns(named: &[(String, KqlType)], found: &[(String, Rel)]) -> Vec<FindColumn> {
    let mut columns = Vec::new();
    for (name, _) in named {
        let mut types: Vec<KqlType> = Vec::new();
        for (_, r) in found {
            if let Some(i) = r.index(name)
                && !types.contains(&r.cols[i].1)
            {
                types.push(r.cols[i].1);
            }
        }
        let several = types.len() > 1;
        for ty in types {
            columns.push(FindColumn {
                out: if several {
                    format!("{name}_{}", kql_name(ty))
                } else {
                    name.clone()
                },
                from: name.clone(),
                from_type: Some(ty),
                ty,
                cast: false,
            });
        }
    }
    if let Some((_, first)) = found.first() {
        for (name, ty) in &first.cols {
            let everywhere = found
                .iter()
                .all(|(_, r)| r.index(name).is_some_and(|i| r.cols[i].1 == *ty));
            if everywhere && !columns.iter().any(|c| c.from == *name) {
                columns.push(FindColumn {
                    out: name.clone(),
                    from: name.clone(),
                    from_type: Some(*ty),
                    ty: *ty,
                    cast: false,
                });
            }
        }
    }
    columns
}

/// `v` converted to `ty`, as `tostring()` and the other conversions would (null stays null).
fn convert(v: Value, ty: KqlType) -> Value {
    let f = match ty {
        KqlType::String | KqlType::Guid => Func::ToString,
        KqlType::Long => Func::ToLong,
        KqlType::Int => Func::ToInt,
        KqlType::Real => Func::ToDouble,
        KqlType::DateTime => Func::ToDateTime,
        KqlType::Bool => Func::ToBool,
        KqlType::TimeSpan | KqlType::Dynamic => return cast_expanded(v, ty),
    };
    if v.is_null() { v } else { call(f, &[v]) }
}

/// A property bag of the row's non-null columns that `include` accepts, by column name.
fn pack(rel: &Rel, row: &Row, include: impl Fn(usize) -> bool) -> Value {
    let bag: serde_json::Map<String, serde_json::Value> = rel
        .cols
        .iter()
        .enumerate()
        .filter(|&(i, _)| include(i) && !row[i].is_null())
        .map(|(i, (n, _))| (n.clone(), row[i].to_json()))
        .collect();
    Value::dynamic(serde_json::Value::Object(bag))
}
