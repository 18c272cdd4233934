//! The engine's behaviour, query by query, against small fixture tables.

mod errors;
mod scalar;
mod scan;
mod semantics;
mod support;
mod tabular;
