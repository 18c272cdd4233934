//! What the unit tests of several modules share.

use chrono::{DateTime, Utc};

/// A UTC time from RFC 3339 text.
pub(crate) fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test times are RFC 3339")
        .with_timezone(&Utc)
}
