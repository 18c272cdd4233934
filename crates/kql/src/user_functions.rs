//! Calling user-defined functions (`let f = (x:string, n:long = 3) { ... }`): a scalar body is
//! expanded in place with its parameters replaced by the call's arguments, so it sees the
//! caller's row; a tabular body is evaluated with its parameters bound as scalar `let`s, and
//! its tabular parameters (`T:(*)`) bound to the rows of the table the call names.

use std::collections::HashMap;

use crate::ast::{Expr, ExprKind, Function, FunctionBody, Param, Source};
use crate::context::{Bound, Ctx};
use crate::error::KqlError;
use crate::rel::Rel;

/// How deeply function calls may expand: Kusto has no recursion, and a function calling
/// itself would otherwise expand for ever.
const MAX_CALL_DEPTH: u32 = 32;

impl Ctx<'_> {
    /// The arguments of a call in parameter order, defaults filling the ones not given.
    fn arguments<'e>(
        &self,
        name: &str,
        function: &'e Function,
        args: &'e [Expr],
        pos: usize,
    ) -> Result<Vec<(&'e Param, &'e Expr)>, KqlError> {
        if args.len() > function.params.len() {
            return Err(self.err(
                format!(
                    "function '{name}' takes {} arguments, got {}",
                    function.params.len(),
                    args.len()
                ),
                pos,
            ));
        }
        function
            .params
            .iter()
            .enumerate()
            .map(|(i, param)| {
                let value = args.get(i).or(param.default.as_ref()).ok_or_else(|| {
                    self.err(
                        format!("function '{name}': no value for parameter '{}'", param.name),
                        pos,
                    )
                })?;
                Ok((param, value))
            })
            .collect()
    }

    /// A scalar function's body with its parameters replaced by the call's arguments; the
    /// caller compiles it and then ends the call (`calls` counts the calls being expanded).
    pub(crate) fn expand_scalar_call(
        &self,
        e: &Expr,
        name: &str,
        function: &Function,
        args: &[Expr],
    ) -> Result<Expr, KqlError> {
        let FunctionBody::Scalar(body) = &function.body else {
            return Err(self.err(
                format!("'{name}' is a tabular function: use it as a source, `{name}(...) | ...`"),
                e.pos,
            ));
        };
        if self.calls.get() >= MAX_CALL_DEPTH {
            return Err(self.err(
                format!("function '{name}' calls itself: recursion is not allowed"),
                e.pos,
            ));
        }
        let mut bindings: HashMap<&str, &Expr> = HashMap::new();
        for (param, arg) in self.arguments(name, function, args, e.pos)? {
            if param.tabular {
                return Err(self.err(
                    format!(
                        "'{name}' takes a table ('{}'): a scalar function cannot",
                        param.name
                    ),
                    e.pos,
                ));
            }
            bindings.insert(param.name.as_str(), arg);
        }
        self.calls.set(self.calls.get() + 1);
        Ok(body.rewrite(&mut |x| match &x.kind {
            ExprKind::Ident(n) => bindings.get(n.as_str()).map(|arg| (*arg).clone()),
            _ => None,
        }))
    }

    /// The rows a tabular parameter is bound to: the argument names a table or a tabular `let`,
    /// or is `(T | ...)`, read in the caller's scope (so a parameter named like a table does not
    /// read itself).
    fn table_argument(&self, name: &str, param: &Param, arg: &Expr) -> Result<Rel, KqlError> {
        match &arg.kind {
            ExprKind::Ident(table) if self.is_tabular_name(table) => {
                self.source(&Source::Name(table.clone(), arg.pos))
            }
            ExprKind::Table(table) => self.tabular(table),
            _ => Err(self.err(
                format!(
                    "function '{name}': parameter '{}' takes a table: pass a table, a tabular `let` or `(T | ...)`",
                    param.name
                ),
                arg.pos,
            )),
        }
    }

    /// A tabular function called as a source: its body evaluated with each parameter bound to
    /// the call's argument (evaluated once, as a `let` would be).
    pub(crate) fn call_tabular(
        &self,
        name: &str,
        args: &[Expr],
        pos: usize,
    ) -> Result<Rel, KqlError> {
        let Some(Bound::Function(function)) = self.lets.get(name) else {
            return Err(self.err(
                format!("Failed to resolve table or function named '{name}'"),
                pos,
            ));
        };
        if self.calls.get() >= MAX_CALL_DEPTH {
            return Err(self.err(
                format!("function '{name}' calls itself: recursion is not allowed"),
                pos,
            ));
        }
        let empty = Rel {
            cols: Vec::new(),
            rows: Vec::new(),
        };
        let mut lets = self.lets.clone();
        for (param, arg) in self.arguments(name, function, args, pos)? {
            let bound = if param.tabular {
                Bound::Rows(self.table_argument(name, param, arg)?)
            } else {
                let (c, ty) = self.compile(arg, &empty, name)?;
                Bound::Scalar(c.eval(&[]).into_owned(), ty)
            };
            lets.insert(param.name.clone(), bound);
        }
        let inner = self.inner(lets, self.calls.get() + 1);
        match &function.body {
            FunctionBody::Tabular(body) => inner.tabular(body),
            // `{ SomeTable }`: a bare name is a table.
            FunctionBody::Scalar(Expr {
                kind: ExprKind::Ident(table),
                pos,
            }) => inner.source(&Source::Name(table.clone(), *pos)),
            FunctionBody::Scalar(_) => Err(self.err(
                format!("'{name}' is a scalar function: call it inside an expression"),
                pos,
            )),
        }
    }
}
