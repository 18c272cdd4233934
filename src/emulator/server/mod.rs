//! The HTTP side of the emulator: Entra ID's token endpoint, the two hunting APIs, Key Vault and
//! managed identity, each in its own success and error shapes, with quotas and injected faults.

mod aad;
mod device_code;
mod hunting;
mod key_vault;
mod launch;
mod managed_identity;
mod state;
mod token;

pub use hunting::MAX_ROWS;
pub use launch::{Emulator, serve, start};
