//! The network side of the emulator: Entra ID's token endpoint, the two hunting APIs, Key Vault
//! and managed identity, each in its own success and error shapes, with quotas and injected
//! faults; and the receivers huntd's outputs send to (webhook, Logs Ingestion, HEC, syslog).

mod aad;
mod device_code;
mod external;
mod hunting;
mod key_vault;
mod launch;
mod managed_identity;
mod sinks;
mod state;
mod syslog;
mod token;

pub use hunting::MAX_ROWS;
pub use launch::{Emulator, serve, start};
pub use sinks::{HEC_PATH, WEBHOOK_PATH};
