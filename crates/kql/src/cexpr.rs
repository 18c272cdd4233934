//! Compiled scalar expressions: columns resolved to indexes, constants folded, evaluated per row.

use std::borrow::Cow;

use crate::ast::{BinOp, ListOp, StrOp};
use crate::functions::{self, Func};
use crate::scalar;
use crate::value::Value;

/// The right-hand side of a string operator.
pub(crate) enum Needle {
    Const(String),
    Regex(regex::Regex),
    Dyn(Box<CExpr>),
}

/// A precomputed list for `in`/`has_any`: strings are kept lowercased for the `~` forms.
pub(crate) struct ListSet {
    values: Vec<Value>,
    texts: Vec<String>,
}

impl ListSet {
    pub(crate) fn new(op: ListOp, values: Vec<Value>) -> ListSet {
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
pub(crate) enum CExpr {
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
    pub(crate) fn is_lit(&self) -> bool {
        matches!(self, CExpr::Lit(_))
    }

    /// Whether a predicate holds for a row (null and non-booleans count as false).
    ///
    /// Inlined into the scan with `leaf_truthy`: a filter is nearly always an `and` of
    /// column-against-constant comparisons, and a call of the general `truthy_general` (whose
    /// many cases make a long prologue) per part, and of `scalar::comparison`, cost the emulator
    /// benchmark's filter 62 instructions a row (495 -> 433 with both inlined).
    #[inline]
    pub(crate) fn truthy(&self, row: &[Value]) -> bool {
        match self {
            CExpr::And(parts) => parts.iter().all(|p| p.leaf_truthy(row)),
            _ => self.leaf_truthy(row),
        }
    }

    #[inline]
    fn leaf_truthy(&self, row: &[Value]) -> bool {
        match self {
            // A column against a constant reads the cell in place: going through `eval` for
            // both sides cost the emulator benchmark's filter (two such comparisons) 180 of its
            // 720 instructions a row.
            CExpr::Cmp(op, a, b) => match (&**a, &**b) {
                (CExpr::Col(i), CExpr::Lit(v)) => scalar::comparison(*op, &row[*i], v),
                _ => scalar::comparison(*op, &a.eval(row), &b.eval(row)),
            },
            _ => self.truthy_general(row),
        }
    }

    fn truthy_general(&self, row: &[Value]) -> bool {
        match self {
            CExpr::And(parts) => parts.iter().all(|p| p.truthy(row)),
            CExpr::Or(parts) => parts.iter().any(|p| p.truthy(row)),
            CExpr::Cmp(..) => self.leaf_truthy(row),
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
    pub(crate) fn eval<'r>(&'r self, row: &'r [Value]) -> Cow<'r, Value> {
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
                Cow::Owned(functions::call(*f, &vals))
            }
            CExpr::Extract(re, group, text) => {
                Cow::Owned(functions::extract(re, &group.eval(row), &text.eval(row)))
            }
            CExpr::Member(inner, field) => Cow::Owned(member(&inner.eval(row), &Value::str(field))),
            CExpr::Index(inner, index) => Cow::Owned(member(&inner.eval(row), &index.eval(row))),
        }
    }
}

/// `x.field`, `x["field"]`, `x[0]` (negative indexes count from the end); missing gives null.
pub(crate) fn member(v: &Value, key: &Value) -> Value {
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

/// Folds an expression whose inputs are all constants into a literal.
pub(crate) fn fold(c: CExpr) -> CExpr {
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
