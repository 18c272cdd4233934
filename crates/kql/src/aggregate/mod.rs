//! `summarize` and its aggregation functions: the compiled aggregates and their per-group
//! state (`state`), compiling an aggregate call (`compile`), grouping rows (`summarize`),
//! `stdev`/`variance`'s running moments (`stats`) and exact nearest-rank percentiles
//! (`percentiles`).

mod compile;
mod percentiles;
mod state;
mod stats;
mod summarize;

pub(crate) use state::{AggSpec, AggState};
