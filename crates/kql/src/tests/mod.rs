//! The engine's behaviour, query by query, against small fixture tables.

mod apply;
mod binding;
mod branches;
mod errors;
mod external;
mod reshape;
mod scalar;
mod scan;
mod search;
mod semantics;
mod sequences;
mod series;
mod support;
mod tabular;
