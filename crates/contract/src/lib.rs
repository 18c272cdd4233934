//! What huntd and its emulator agree on, kept apart so that neither depends on the other: the
//! headers huntd's webhook signs with and the emulator's receiver checks, the Logs Ingestion
//! call limit huntd's sender keeps to and the emulator's endpoint enforces, and [`Secret`], the
//! redacting holder of the keys and tokens one side sends and the other checks.

use std::fmt;

/// The header carrying a webhook's signature, `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Huntd-Signature";
/// The header carrying the Unix time a webhook's signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Huntd-Timestamp";

/// Most bytes one Logs Ingestion call carries (the API's documented 1 MB limit).
pub const MAX_CALL_BYTES: usize = 1_000_000;

/// A secret in memory. `Debug` and `Display` print `[redacted]`, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is sent to the service that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
