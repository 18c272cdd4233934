//! What one query's evaluation sees: the database, the query text, the clock, the window and
//! the `let` bindings. The compiler, the operators and the aggregates each add their methods.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::ast::{Function, TabExpr};
use crate::error::{Cause, KqlError, Unresolved};
use crate::external::ExternalBodies;
use crate::rel::Rel;
use crate::table::Database;
use crate::value::{KqlType, Value};

#[derive(Clone)]
pub(crate) enum Bound {
    Scalar(Value, KqlType),
    Tabular(TabExpr),
    Function(Function),
    /// Rows already read: a tabular parameter's argument.
    Rows(Rel),
}

/// Everything a query's evaluation needs.
pub struct Ctx<'a> {
    pub(crate) db: &'a Database,
    pub(crate) src: &'a str,
    pub(crate) now: DateTime<Utc>,
    pub(crate) window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The bodies fetched for the query's `externaldata` URLs.
    pub(crate) external: &'a ExternalBodies,
    pub(crate) lets: HashMap<String, Bound>,
    /// User-defined function calls being expanded, to refuse recursion.
    pub(crate) calls: std::cell::Cell<u32>,
    /// Results named by `as` so far: bound while the query runs, so they live beside `lets`.
    pub(crate) named: std::cell::RefCell<HashMap<String, Rel>>,
}

impl<'a> Ctx<'a> {
    /// A context for one query.
    pub fn new(
        db: &'a Database,
        src: &'a str,
        now: DateTime<Utc>,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
        external: &'a ExternalBodies,
    ) -> Self {
        Ctx {
            db,
            src,
            now,
            window,
            external,
            lets: HashMap::new(),
            calls: std::cell::Cell::new(0),
            named: std::cell::RefCell::new(HashMap::new()),
        }
    }

    /// A context for a query inside this one (a function's body, a partition's subquery):
    /// the same database, clock and named results, `lets` in scope, and `calls` function
    /// calls deep.
    pub(crate) fn inner(&self, lets: HashMap<String, Bound>, calls: u32) -> Ctx<'a> {
        Ctx {
            db: self.db,
            src: self.src,
            now: self.now,
            window: self.window,
            external: self.external,
            lets,
            calls: std::cell::Cell::new(calls),
            named: std::cell::RefCell::new(self.named.borrow().clone()),
        }
    }

    pub(crate) fn err(&self, msg: String, pos: usize) -> KqlError {
        KqlError::new(msg, self.src, pos)
    }

    /// "`op` operator: Failed to resolve `what` named 'name'", for a name `rel` lacks; the
    /// error carries the name and `rel`'s columns, which `validate` reports as an unknown column.
    pub(crate) fn unresolved(
        &self,
        op: &str,
        what: &str,
        name: &str,
        pos: usize,
        rel: &Rel,
    ) -> KqlError {
        let mut error = self.err(
            format!("'{op}' operator: Failed to resolve {what} named '{name}'"),
            pos,
        );
        error.cause = Some(Box::new(Cause::Unresolved(Unresolved {
            name: name.to_string(),
            offset: pos,
            columns: rel.cols.iter().map(|(c, _)| c.clone()).collect(),
        })));
        error
    }

    /// An error for operands of types Kusto refuses to compare or combine, which `validate`
    /// reports as `kql-type`.
    pub(crate) fn types_err(&self, msg: String, pos: usize) -> KqlError {
        let mut error = self.err(msg, pos);
        error.cause = Some(Box::new(Cause::Types(pos)));
        error
    }

    /// The rows `as` named `name`, when it did.
    pub(crate) fn named_rows(&self, name: &str) -> Option<Rel> {
        self.named.borrow().get(name).cloned()
    }

    pub(crate) fn is_tabular_name(&self, name: &str) -> bool {
        if self.named.borrow().contains_key(name) {
            return true;
        }
        match self.lets.get(name) {
            Some(Bound::Tabular(_) | Bound::Rows(_)) => true,
            Some(Bound::Scalar(..) | Bound::Function(_)) => false,
            None => self.db.tables.contains_key(name),
        }
    }
}
