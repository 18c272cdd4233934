//! huntd: runs Microsoft Defender advanced hunting queries on a schedule and keeps their
//! results, run history and findings in SQLite or PostgreSQL.
//!
//! The binary is a thin shell over this library: [`cli`] parses the command line and calls
//! into the modules below, each named for the concept it owns.

pub mod auth;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod diagnostic;
pub mod duration;
pub mod error_chain;
pub mod examples;
pub mod hunt;
pub mod hunt_tests;
pub mod jobs;
pub mod load;
pub mod outputs;
pub mod schedule;
pub mod spool;
pub mod status;
pub mod store;
pub mod yaml;

/// `huntd emulate`'s offline Defender API, a crate of its own (`crates/emulator`) so that a change
/// to huntd does not compile it again; kept at `huntd::emulator` for the commands and tests.
pub use emulator;

/// The Defender advanced hunting schema, a crate of its own (`crates/defender-schema`) that both
/// `validate`'s name checks and the emulator's sample tables read; kept at `huntd::defender_schema`.
pub use defender_schema;

#[cfg(test)]
mod testing;
