//! The `evaluate` plugins, a module each; their arguments are in `ast::plugins`.

mod activity;
mod activity_metrics;
mod bag_unpack;
mod dcount_intersect;
mod diff_patterns;
mod funnel;
mod ip_lookup;
pub(crate) mod pivot;
mod rolling_percentile;
mod segments;
mod sessions;
