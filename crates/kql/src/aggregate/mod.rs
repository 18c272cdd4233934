//! `summarize` and its aggregation functions: the compiled aggregates and their per-group
//! state (`state`), compiling an aggregate call (`compile`), grouping rows (`summarize`).

mod compile;
mod state;
mod summarize;

pub(crate) use state::{AggSpec, AggState};
