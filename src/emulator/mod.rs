//! `huntd emulate`: an offline Defender API. This part holds the KQL engine that answers
//! hunting queries over in-memory tables.

pub mod kql;
