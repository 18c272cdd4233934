//! Compiling scalar expressions against a schema: name resolution, type checks, function lookup.

use crate::ast::{BinOp, Expr, ExprKind, ListItem, ListOp, Source, StrOp, TabExpr};
use crate::cexpr::{CExpr, ListSet, Needle, fold};
use crate::context::{Bound, Ctx};
use crate::error::KqlError;
use crate::functions::{self, Func};
use crate::lifted;
use crate::rel::Rel;
use crate::scalar;
use crate::value::{KqlType, Value};

/// Reads `typeof(string)` and friends.
pub(crate) fn type_argument(e: &Expr) -> Option<KqlType> {
    match &e.kind {
        ExprKind::Call(f, args) if f == "typeof" && args.len() == 1 => match &args[0].kind {
            ExprKind::Ident(t) => KqlType::from_kql_name(t),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn item_pos(item: &ListItem) -> usize {
    match item {
        ListItem::Scalar(e) => e.pos,
        ListItem::Tabular(_) => 0,
    }
}

/// Whether KQL accepts comparing these types (`=~`/`!~` need strings); dynamic goes with anything.
/// A bool compares with numbers as 0 or 1, as Kusto stores it (`summarize H = max(IsAdmin) ...
/// | where H == 0` is how hunts ask "never").
pub(crate) fn comparable(op: BinOp, a: KqlType, b: KqlType) -> bool {
    use KqlType::{Dynamic, Guid, String};
    let family = |t: KqlType| match t {
        KqlType::Bool | KqlType::Int | KqlType::Long | KqlType::Real => 1,
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

pub(crate) fn kql_name(t: KqlType) -> &'static str {
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

pub(crate) fn binop_text(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        _ => "%",
    }
}

pub(crate) fn listop_text(op: ListOp) -> &'static str {
    match op {
        ListOp::In => "in",
        ListOp::NotIn => "!in",
        ListOp::InCi => "in~",
        ListOp::NotInCi => "!in~",
        ListOp::HasAny => "has_any",
        ListOp::HasAll => "has_all",
    }
}

pub(crate) fn derive_name(e: &Expr) -> Option<String> {
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

impl Ctx<'_> {
    /// Compiles a scalar expression against the columns of `rel`.
    pub(crate) fn compile(
        &self,
        e: &Expr,
        rel: &Rel,
        op: &str,
    ) -> Result<(CExpr, KqlType), KqlError> {
        let (c, ty) = match &e.kind {
            ExprKind::Lit(v, t) => return Ok((CExpr::Lit(v.clone()), *t)),
            ExprKind::Star => {
                return Err(self.err(
                    "'*' is only allowed as an argument of arg_max/arg_min".to_string(),
                    e.pos,
                ));
            }
            ExprKind::Ident(name) => return self.compile_ident(e, name, rel, op),
            ExprKind::Table(_) => {
                return Err(self.err(
                    "a tabular expression is an argument of a tabular parameter only".to_string(),
                    e.pos,
                ));
            }
            ExprKind::Term(..) => {
                return Err(self.err(
                    "a bare term is a predicate of 'search' or 'find' only".to_string(),
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
                (self.compile_chain(e, *chain, rel, op)?, KqlType::Bool)
            }
            ExprKind::Binary(bop, a, b) => self.compile_binary(e, (bop, a, b), rel, op)?,
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
            } => self.compile_list((lop, lhs, items), rel, op)?,
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

    /// A chain of `and` (or of `or`) as one n-ary node, walked without recursion, so a long
    /// chain cannot overflow the stack.
    fn compile_chain(
        &self,
        e: &Expr,
        chain: BinOp,
        rel: &Rel,
        op: &str,
    ) -> Result<CExpr, KqlError> {
        let mut rights = Vec::new();
        let mut cur = e;
        while let ExprKind::Binary(b, l, r) = &cur.kind {
            if *b != chain {
                break;
            }
            rights.push(r.as_ref());
            cur = l;
        }
        let mut parts = vec![self.compile(cur, rel, op)?.0];
        for r in rights.into_iter().rev() {
            parts.push(self.compile(r, rel, op)?.0);
        }
        Ok(if chain == BinOp::And {
            CExpr::And(parts)
        } else {
            CExpr::Or(parts)
        })
    }

    /// A name: a column of `rel`, else a scalar `let`; a tabular `let` is an error here.
    fn compile_ident(
        &self,
        e: &Expr,
        name: &str,
        rel: &Rel,
        op: &str,
    ) -> Result<(CExpr, KqlType), KqlError> {
        if let Some(i) = rel.index(name) {
            return Ok((CExpr::Col(i), rel.cols[i].1));
        }
        match self.lets.get(name) {
            Some(Bound::Scalar(v, t)) => return Ok((CExpr::Lit(v.clone()), *t)),
            Some(Bound::Tabular(_) | Bound::Rows(_)) => {
                return Err(self.err(
                    format!("'{name}' is a table; use it with 'in' or as a source"),
                    e.pos,
                ));
            }
            Some(Bound::Function(_)) => {
                return Err(self.err(
                    format!("'{name}' is a function: call it, `{name}(...)`"),
                    e.pos,
                ));
            }
            None => {}
        }
        Err(self.unresolved(op, "scalar expression", name, e.pos, rel))
    }

    /// Compiles `a <op> b` for arithmetic, string and comparison operators (not `and`/`or`).
    fn compile_binary(
        &self,
        e: &Expr,
        (bop, a, b): (&BinOp, &Expr, &Expr),
        rel: &Rel,
        op: &str,
    ) -> Result<(CExpr, KqlType), KqlError> {
        let (ca, ta) = self.compile(a, rel, op)?;
        let (cb, tb) = self.compile(b, rel, op)?;
        Ok(match bop {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
                let t = scalar::arith_type(*bop, ta, tb).ok_or_else(|| {
                    self.types_err(
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
                    CExpr::Lit(v) if *sop == StrOp::Regex => {
                        Needle::Regex(regex::Regex::new(&scalar::to_text(&v)).map_err(|err| {
                            self.err(format!("invalid regular expression: {err}"), b.pos)
                        })?)
                    }
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
                    return Err(self.types_err(
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
        })
    }

    /// Compiles `x in (...)` and its kin: the list must be constant or a table's first column.
    fn compile_list(
        &self,
        (lop, lhs, items): (&ListOp, &Expr, &[ListItem]),
        rel: &Rel,
        op: &str,
    ) -> Result<(CExpr, KqlType), KqlError> {
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
        Ok((
            CExpr::List(*lop, Box::new(c), ListSet::new(*lop, values)),
            KqlType::Bool,
        ))
    }

    pub(crate) fn compile_call(
        &self,
        e: &Expr,
        name: &str,
        args: &[Expr],
        rel: &Rel,
        op: &str,
    ) -> Result<(CExpr, KqlType), KqlError> {
        if let Some(Bound::Function(f)) = self.lets.get(name) {
            let expanded = self.expand_scalar_call(e, name, f, args)?;
            let compiled = self.compile(&expanded, rel, op);
            self.calls.set(self.calls.get().saturating_sub(1));
            return compiled;
        }
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
            "column_ifexists" => return self.column_ifexists(e, args, rel, op),
            n if lifted::AGGREGATE_FUNCTIONS.contains(&n) => {
                return Err(self.err(
                    format!("'{name}' is an aggregation function: use it in 'summarize'"),
                    e.pos,
                ));
            }
            _ => {}
        }
        let Some((f, lo, hi)) = functions::lookup(name) else {
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
        let (compiled, types) = self.compile_arguments(f, args, rel, op)?;
        self.check_regex(f, args, &compiled)?;
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
        let ty = match f {
            // A typed argument's type is known now; only a dynamic one's waits for its value.
            Func::GetType if types.first().is_some_and(|t| *t != KqlType::Dynamic) => {
                let name = types.first().map_or("dynamic", |t| kql_name(*t));
                return Ok((CExpr::Lit(Value::str(name)), KqlType::String));
            }
            Func::ExtractJson => types.get(2).copied().unwrap_or(KqlType::String),
            _ => functions::return_type(f, &types),
        };
        Ok((fold(CExpr::Call(f, compiled)), ty))
    }

    /// A function's arguments compiled, with their types; `extractjson`'s `typeof(t)` becomes
    /// the type's name.
    fn compile_arguments(
        &self,
        f: Func,
        args: &[Expr],
        rel: &Rel,
        op: &str,
    ) -> Result<(Vec<CExpr>, Vec<KqlType>), KqlError> {
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
        Ok((compiled, types))
    }

    /// Refuses a literal regex argument that does not compile, as the service does before
    /// running the query.
    fn check_regex(&self, f: Func, args: &[Expr], compiled: &[CExpr]) -> Result<(), KqlError> {
        if let Some(i) = functions::regex_argument(f)
            && let Some(CExpr::Lit(v)) = compiled.get(i)
            && let Err(err) = regex::Regex::new(&scalar::to_text(v))
        {
            return Err(self.err(format!("invalid regular expression: {err}"), args[i].pos));
        }
        Ok(())
    }

    /// `column_ifexists(name, default)`: the column when the rows have it, else the default,
    /// decided when the query compiles as the rows' columns are known then.
    fn column_ifexists(
        &self,
        e: &Expr,
        args: &[Expr],
        rel: &Rel,
        op: &str,
    ) -> Result<(CExpr, KqlType), KqlError> {
        let [column, default] = args else {
            return Err(self.err(
                "'column_ifexists' expects a column name and a default".to_string(),
                e.pos,
            ));
        };
        let ExprKind::Lit(Value::String(name), _) = &column.kind else {
            return Err(self.err(
                "'column_ifexists' expects the column's name as a string literal".to_string(),
                column.pos,
            ));
        };
        match rel.index(name) {
            Some(i) => Ok((CExpr::Col(i), rel.cols[i].1)),
            None => self.compile(default, rel, op),
        }
    }

    pub(crate) fn first_column(&self, t: &TabExpr, out: &mut Vec<Value>) -> Result<(), KqlError> {
        let r = self.tabular(t)?;
        for row in &r.rows {
            if let Some(v) = row.first() {
                scalar::flatten_into(v, out);
            }
        }
        Ok(())
    }

    /// Compiles a `where` predicate, which must be a bool (or dynamic, judged per row).
    pub(crate) fn predicate(&self, e: &Expr, rel: &Rel) -> Result<CExpr, KqlError> {
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

    pub(crate) fn const_count(&self, e: &Expr, rel: &Rel, op: &str) -> Result<usize, KqlError> {
        let (c, _) = self.compile(e, rel, op)?;
        match c {
            CExpr::Lit(Value::Long(n)) => Ok(usize::try_from(n.max(0)).unwrap_or(usize::MAX)),
            _ => Err(self.err(
                format!("'{op}' operator: the row count must be a constant integer"),
                e.pos,
            )),
        }
    }
}
