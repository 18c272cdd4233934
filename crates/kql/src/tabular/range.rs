//! The `range` source: a column of values from a start to a stop by a step.

use crate::ast::Expr;
use crate::context::Ctx;
use crate::error::KqlError;
use crate::functions::series::{self, MAX_VALUES};
use crate::operators::cast_expanded;
use crate::rel::Rel;
use crate::table::Row;
use crate::value::{KqlType, Value};

impl Ctx<'_> {
    /// `range name from A to B step S`: A, A + S, ... while not past B, in a column typed as A
    /// (a real when a whole-number range steps by a real).
    pub(crate) fn range_rows(
        &self,
        name: &str,
        from: &Expr,
        to: &Expr,
        step: &Expr,
    ) -> Result<Rel, KqlError> {
        let empty = Rel {
            cols: Vec::new(),
            rows: Vec::new(),
        };
        let constant = |e: &Expr| -> Result<(Value, KqlType), KqlError> {
            let (c, ty) = self.compile(e, &empty, "range")?;
            Ok((c.eval(&[]).into_owned(), ty))
        };
        let (first, ty) = constant(from)?;
        let (last, _) = constant(to)?;
        let (by, step_ty) = constant(step)?;
        let ty = match (ty, step_ty) {
            (KqlType::Long | KqlType::Int, KqlType::Real) => KqlType::Real,
            (KqlType::Int, _) => KqlType::Long,
            (ty, _) => ty,
        };
        let values = series::range(&[first, last, by]);
        let Some(values) = (match &values {
            Value::Dynamic(json) => json.as_array(),
            _ => None,
        }) else {
            return Err(self.err(
                "'range' operator: 'from', 'to' and 'step' do not make a range (a step of zero, \
                 or values of types that do not add up)"
                    .to_string(),
                step.pos,
            ));
        };
        if values.len() >= MAX_VALUES {
            return Err(self.err(
                format!("'range' operator: {MAX_VALUES} rows or more; use a larger 'step'"),
                step.pos,
            ));
        }
        let rows = values
            .iter()
            .map(|v| Row::from(vec![cast_expanded(Value::dynamic(v.clone()), ty)]))
            .collect();
        Ok(Rel {
            cols: vec![(name.to_string(), ty)],
            rows,
        })
    }
}
