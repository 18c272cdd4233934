//! The tabular operators and sources that have a module of their own.

mod hitters;
mod invoke;
mod mv_apply;
mod parse_kv;
mod partition;
mod range;
mod reduce;
mod scan;
mod search;
mod top_nested;
