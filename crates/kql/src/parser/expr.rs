//! Parsing scalar expressions, by precedence from `or` down to literals.

use super::cursor::{NEST_WEIGHT, Parser, UNSUPPORTED_STRING_OPERATORS};
use crate::ast::{BinOp, Expr, ExprKind, ListItem, ListOp, StrOp};
use crate::error::KqlError;
use crate::lexer::Tok;
use crate::value::{KqlType, Value, format_timespan, parse_datetime, parse_timespan};

impl Parser<'_> {
    /// Parses a scalar expression.
    pub(super) fn expr(&mut self) -> Result<Expr, KqlError> {
        self.deeper(NEST_WEIGHT)?;
        let e = self.or_expr();
        self.depth -= NEST_WEIGHT;
        e
    }

    pub(super) fn or_expr(&mut self) -> Result<Expr, KqlError> {
        self.left_chain(Self::and_expr, |p| p.is_word("or").then_some(BinOp::Or))
    }

    pub(super) fn and_expr(&mut self) -> Result<Expr, KqlError> {
        self.left_chain(Self::cmp_expr, |p| p.is_word("and").then_some(BinOp::And))
    }

    /// A left-associative chain of `operand`s joined by the operators `operator` recognises at
    /// the current token; each operator counts one level deeper, so a huge chain hits the limit.
    pub(super) fn left_chain(
        &mut self,
        mut operand: impl FnMut(&mut Self) -> Result<Expr, KqlError>,
        operator: impl Fn(&Self) -> Option<BinOp>,
    ) -> Result<Expr, KqlError> {
        let mut lhs = operand(self)?;
        let start = self.depth;
        while let Some(op) = operator(self) {
            self.deeper(1)?;
            let pos = self.pos();
            self.bump();
            let rhs = operand(self)?;
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                pos,
            };
        }
        self.depth = start;
        Ok(lhs)
    }

    pub(super) fn cmp_expr(&mut self) -> Result<Expr, KqlError> {
        let lhs = self.add_expr()?;
        let pos = self.pos();
        let sym_op = match self.peek() {
            Tok::Sym("==") => Some(BinOp::Eq),
            Tok::Sym("!=" | "<>") => Some(BinOp::Ne),
            Tok::Sym("<") => Some(BinOp::Lt),
            Tok::Sym("<=") => Some(BinOp::Le),
            Tok::Sym(">") => Some(BinOp::Gt),
            Tok::Sym(">=") => Some(BinOp::Ge),
            Tok::Sym("=~") => Some(BinOp::EqCi),
            Tok::Sym("!~") => Some(BinOp::NeCi),
            _ => None,
        };
        if let Some(op) = sym_op {
            self.bump();
            let rhs = self.add_expr()?;
            return Ok(Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                pos,
            });
        }
        let negate = self.is_sym("!") && matches!(self.peek_at(1), Tok::Ident(_));
        let word = match (negate, self.peek(), self.peek_at(1)) {
            (false, Tok::Ident(w), _) | (true, _, Tok::Ident(w)) => w.clone(),
            _ => return Ok(lhs),
        };
        let legacy = (!negate).then(|| StrOp::from_legacy_word(&word)).flatten();
        if let Some((op, negate)) = StrOp::from_word(&word).map(|op| (op, negate)).or(legacy) {
            self.eat_sym("!");
            self.bump();
            let rhs = self.add_expr()?;
            return Ok(Expr {
                kind: ExprKind::Binary(BinOp::Str(op, negate), Box::new(lhs), Box::new(rhs)),
                pos,
            });
        }
        match word.as_str() {
            "matches" if !negate => {
                self.bump();
                self.expect_word("regex")?;
                let rhs = self.add_expr()?;
                Ok(Expr {
                    kind: ExprKind::Binary(
                        BinOp::Str(StrOp::Regex, false),
                        Box::new(lhs),
                        Box::new(rhs),
                    ),
                    pos,
                })
            }
            "in" | "has_any" | "has_all" => self.list_expr(lhs, &word, negate, pos),
            "between" => {
                self.bump();
                if negate {
                    self.bump();
                }
                self.expect_sym("(")?;
                let lo = self.add_expr()?;
                self.expect_sym("..")?;
                let hi = self.add_expr()?;
                self.expect_sym(")")?;
                Ok(Expr {
                    kind: ExprKind::Between {
                        lhs: Box::new(lhs),
                        lo: Box::new(lo),
                        hi: Box::new(hi),
                        negate,
                    },
                    pos,
                })
            }
            w if UNSUPPORTED_STRING_OPERATORS.contains(&w) || (negate && !w.is_empty()) => {
                Err(KqlError::new(
                    format!(
                        "'{}{w}' operator is not supported",
                        if negate { "!" } else { "" }
                    ),
                    self.src,
                    pos,
                ))
            }
            _ => Ok(lhs),
        }
    }

    /// `x in (...)`, `x !in~ (...)`, `x has_any (...)`: the operator word is the current token.
    fn list_expr(
        &mut self,
        lhs: Expr,
        word: &str,
        negate: bool,
        pos: usize,
    ) -> Result<Expr, KqlError> {
        self.bump();
        if negate {
            self.bump();
        }
        let ci = word == "in" && self.eat_sym("~");
        let op = match (word, negate, ci) {
            ("in", false, false) => ListOp::In,
            ("in", true, false) => ListOp::NotIn,
            ("in", false, true) => ListOp::InCi,
            ("in", true, true) => ListOp::NotInCi,
            ("has_any", false, _) => ListOp::HasAny,
            ("has_all", false, _) => ListOp::HasAll,
            _ => {
                return Err(KqlError::new(
                    format!("'!{word}' operator is not supported"),
                    self.src,
                    pos,
                ));
            }
        };
        let items = self.list_items()?;
        Ok(Expr {
            kind: ExprKind::List {
                op,
                lhs: Box::new(lhs),
                items,
            },
            pos,
        })
    }

    pub(super) fn list_items(&mut self) -> Result<Vec<ListItem>, KqlError> {
        self.expect_sym("(")?;
        let mut items = Vec::new();
        if self.eat_sym(")") {
            return Ok(items);
        }
        // A tabular item is a name followed by a pipe, or a tabular keyword.
        let tabular = self.is_word("union")
            || (matches!(self.peek(), Tok::Ident(_)) && matches!(self.peek_at(1), Tok::Sym("|")))
            || self.at_keyword_source()
            || (self.is_sym("(") && self.let_is_tabular());
        if tabular {
            items.push(ListItem::Tabular(self.tabular()?));
            self.expect_sym(")")?;
            return Ok(items);
        }
        items = self.comma_list(|p| Ok(ListItem::Scalar(p.expr()?)))?;
        self.expect_sym(")")?;
        Ok(items)
    }

    pub(super) fn add_expr(&mut self) -> Result<Expr, KqlError> {
        self.left_chain(Self::mul_expr, |p| match p.peek() {
            Tok::Sym("+") => Some(BinOp::Add),
            Tok::Sym("-") => Some(BinOp::Sub),
            _ => None,
        })
    }

    pub(super) fn mul_expr(&mut self) -> Result<Expr, KqlError> {
        self.left_chain(Self::unary, |p| match p.peek() {
            Tok::Sym("*") => Some(BinOp::Mul),
            Tok::Sym("/") => Some(BinOp::Div),
            Tok::Sym("%") => Some(BinOp::Mod),
            _ => None,
        })
    }

    pub(super) fn unary(&mut self) -> Result<Expr, KqlError> {
        let pos = self.pos();
        if self.eat_sym("-") {
            self.deeper(1)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(match inner.kind {
                ExprKind::Lit(Value::Long(n), t) => Expr {
                    kind: ExprKind::Lit(Value::Long(-n), t),
                    pos,
                },
                ExprKind::Lit(Value::Real(r), t) => Expr {
                    kind: ExprKind::Lit(Value::Real(-r), t),
                    pos,
                },
                ExprKind::Lit(Value::TimeSpan(n), t) => Expr {
                    kind: ExprKind::Lit(Value::TimeSpan(-n), t),
                    pos,
                },
                kind => Expr {
                    kind: ExprKind::Neg(Box::new(Expr {
                        kind,
                        pos: inner.pos,
                    })),
                    pos,
                },
            });
        }
        if self.eat_sym("+") {
            self.deeper(1)?;
            let inner = self.unary();
            self.depth -= 1;
            return inner;
        }
        self.postfix()
    }

    pub(super) fn postfix(&mut self) -> Result<Expr, KqlError> {
        let mut e = self.primary()?;
        let start = self.depth;
        loop {
            let pos = self.pos();
            if self.is_sym(".") || self.is_sym("[") {
                self.deeper(1)?;
            }
            if self.is_sym(".") && matches!(self.peek_at(1), Tok::Ident(_)) {
                self.bump();
                let field = self.ident()?;
                e = Expr {
                    kind: ExprKind::Member(Box::new(e), field),
                    pos,
                };
            } else if self.eat_sym("[") {
                let index = self.expr()?;
                self.expect_sym("]")?;
                e = Expr {
                    kind: ExprKind::Index(Box::new(e), Box::new(index)),
                    pos,
                };
            } else {
                self.depth = start;
                return Ok(e);
            }
        }
    }

    pub(super) fn primary(&mut self) -> Result<Expr, KqlError> {
        let pos = self.pos();
        let lit = |v: Value, t: KqlType| {
            Ok(Expr {
                kind: ExprKind::Lit(v, t),
                pos,
            })
        };
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                let mut text = s;
                // Adjacent string literals concatenate, as in KQL.
                while let Tok::Str(more) = self.peek().clone() {
                    self.bump();
                    text.push_str(&more);
                }
                lit(Value::str(&text), KqlType::String)
            }
            Tok::Long(n) => {
                self.bump();
                lit(Value::Long(n), KqlType::Long)
            }
            Tok::Real(r) => {
                self.bump();
                lit(Value::Real(r), KqlType::Real)
            }
            Tok::TimeSpan(t) => {
                self.bump();
                lit(Value::TimeSpan(t), KqlType::TimeSpan)
            }
            Tok::Sym("(") => {
                self.bump();
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Sym("*") => {
                self.bump();
                Ok(Expr {
                    kind: ExprKind::Star,
                    pos,
                })
            }
            Tok::Ident(w) => {
                self.bump();
                self.word_expr(w, pos)
            }
            Tok::Sym("[") => {
                let name = self.ident()?;
                Ok(Expr {
                    kind: ExprKind::Ident(name),
                    pos,
                })
            }
            _ => Err(self.err_here("an expression")),
        }
    }

    /// What follows a word: a keyword literal, `toscalar(...)`, a typed null, a call or a name.
    fn word_expr(&mut self, w: String, pos: usize) -> Result<Expr, KqlError> {
        let lit = |v: Value, t: KqlType| {
            Ok(Expr {
                kind: ExprKind::Lit(v, t),
                pos,
            })
        };
        match w.as_str() {
            "true" | "false" if !self.is_sym("(") => {
                return lit(Value::Bool(w == "true"), KqlType::Bool);
            }
            "datetime" | "time" | "timespan" | "guid" if self.is_sym("(") => {
                return self.raw_literal(&w, pos);
            }
            "dynamic" if self.is_sym("(") => {
                self.bump();
                let json = self.dynamic_literal()?;
                self.expect_sym(")")?;
                return lit(Value::dynamic(json), KqlType::Dynamic);
            }
            "toscalar" if self.is_sym("(") => {
                self.bump();
                let inner = self.tabular()?;
                self.expect_sym(")")?;
                return Ok(Expr {
                    kind: ExprKind::ToScalar(Box::new(inner)),
                    pos,
                });
            }
            _ => {}
        }
        if let Some(ty) = KqlType::from_kql_name(&w).filter(|_| self.is_sym("(")) {
            // Typed literals such as `long(5)`, `bool(null)`, `real(1.5)`.
            if matches!(self.peek_at(1), Tok::Ident(n) if n == "null")
                && matches!(self.peek_at(2), Tok::Sym(")"))
            {
                self.bump();
                self.bump();
                self.bump();
                return lit(Value::Null, ty);
            }
        }
        if self.eat_sym("(") {
            let mut args = Vec::new();
            if !self.eat_sym(")") {
                args = self.comma_list(Self::expr)?;
                self.expect_sym(")")?;
            }
            return Ok(Expr {
                kind: ExprKind::Call(w, args),
                pos,
            });
        }
        Ok(Expr {
            kind: ExprKind::Ident(w),
            pos,
        })
    }

    pub(super) fn raw_literal(&mut self, kind: &str, pos: usize) -> Result<Expr, KqlError> {
        self.bump();
        let raw_pos = self.pos();
        let Tok::Raw(text) = self.bump().tok else {
            return Err(KqlError::syntax("expected a literal", self.src, raw_pos));
        };
        self.expect_sym(")")?;
        let bad = |what: &str| {
            KqlError::syntax(
                &format!("invalid {what} literal '{text}'"),
                self.src,
                raw_pos,
            )
        };
        let (value, ty) = if text == "null" {
            let ty = match kind {
                "datetime" => KqlType::DateTime,
                "guid" => KqlType::Guid,
                _ => KqlType::TimeSpan,
            };
            (Value::Null, ty)
        } else {
            match kind {
                "datetime" => (
                    Value::DateTime(parse_datetime(&text).ok_or_else(|| bad("datetime"))?),
                    KqlType::DateTime,
                ),
                "guid" => (Value::str(&text), KqlType::Guid),
                _ => (
                    Value::TimeSpan(parse_timespan(&text).ok_or_else(|| bad("timespan"))?),
                    KqlType::TimeSpan,
                ),
            }
        };
        Ok(Expr {
            kind: ExprKind::Lit(value, ty),
            pos,
        })
    }

    pub(super) fn dynamic_literal(&mut self) -> Result<serde_json::Value, KqlError> {
        let pos = self.pos();
        let tok = self.bump().tok;
        Ok(match tok {
            Tok::Sym("[") => {
                let mut items = Vec::new();
                if !self.eat_sym("]") {
                    items = self.comma_list(Self::dynamic_literal)?;
                    self.expect_sym("]")?;
                }
                serde_json::Value::Array(items)
            }
            Tok::Sym("{") => {
                let mut map = serde_json::Map::new();
                if !self.eat_sym("}") {
                    loop {
                        let (Tok::Str(key) | Tok::Ident(key)) = self.bump().tok else {
                            return Err(KqlError::syntax(
                                "expected a property name",
                                self.src,
                                pos,
                            ));
                        };
                        self.expect_sym(":")?;
                        map.insert(key, self.dynamic_literal()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.expect_sym("}")?;
                }
                serde_json::Value::Object(map)
            }
            Tok::Str(s) => serde_json::Value::String(s),
            // Kusto keeps a timespan inside `dynamic` as its text (`dynamic([1h])` is
            // `["01:00:00"]`).
            Tok::TimeSpan(t) => serde_json::Value::String(format_timespan(t)),
            Tok::Long(n) => serde_json::Value::from(n),
            Tok::Real(r) => serde_json::Number::from_f64(r)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Tok::Sym("-") => match self.bump().tok {
                Tok::Long(n) => serde_json::Value::from(-n),
                Tok::Real(r) => serde_json::Number::from_f64(-r)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
                _ => return Err(KqlError::syntax("expected a number", self.src, pos)),
            },
            Tok::Ident(w) if w == "true" || w == "false" => serde_json::Value::Bool(w == "true"),
            Tok::Ident(w) if w == "null" => serde_json::Value::Null,
            _ => {
                return Err(KqlError::syntax(
                    "expected a dynamic literal value",
                    self.src,
                    pos,
                ));
            }
        })
    }
}
