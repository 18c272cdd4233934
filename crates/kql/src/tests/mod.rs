//! The engine's behaviour, query by query, against small fixture tables.

mod activity;
mod apply;
mod binding;
mod branches;
mod date_functions;
mod dynamic_functions;
mod errors;
mod external;
mod funnel;
mod ip_functions;
mod plugins;
mod reduce;
mod reshape;
mod rolling;
mod scalar;
mod scan;
mod search;
mod semantics;
mod sequences;
mod series;
mod string_functions;
mod strings;
mod support;
mod tabular;
