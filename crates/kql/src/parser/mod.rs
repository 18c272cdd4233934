//! A recursive-descent parser for the supported KQL subset, from tokens to the syntax tree.

mod apply;
mod binding;
mod cursor;
mod expr;
mod external;
mod pattern;
mod plugins;
mod reduce;
mod scan;
mod search;
mod series;
mod tabular;

pub use tabular::parse;

#[cfg(test)]
mod tests;
