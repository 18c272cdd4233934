//! The ways a run ends without results, each a named constructor of the [`RunFailure`] the
//! store records, so every end of the same kind is recorded alike.

use chrono::{DateTime, Utc};

use super::window::REASON_SKIPPED;
use crate::hunt::HuntError;
use crate::store::{RunCost, RunFailure, RunStatus};

/// Why a run cut short by shutdown is hunted again.
const SHUT_DOWN: &str = "huntd stopped before the run finished; the window is hunted again";

/// A run ended as `interrupted` before it called any API, so it can be claimed again.
pub fn interrupted(finished_at: DateTime<Utc>, why: &str) -> RunFailure<'_> {
    RunFailure {
        finished_at,
        status: RunStatus::Interrupted,
        error_class: "interrupted",
        error_message: why,
        api: None,
        http_status: None,
        client_request_id: None,
        cost: Some(RunCost::default()),
    }
}

/// The span `catch_up: skip` leaves out, recorded so history shows it.
pub fn skipped(finished_at: DateTime<Utc>) -> RunFailure<'static> {
    RunFailure {
        finished_at,
        status: RunStatus::Skipped,
        error_class: "skipped",
        error_message: REASON_SKIPPED,
        api: None,
        http_status: None,
        client_request_id: None,
        cost: Some(RunCost::default()),
    }
}

/// A run of `api` that shutdown stopped mid-hunt.
pub fn shut_down(finished_at: DateTime<Utc>, api: &str) -> RunFailure<'_> {
    RunFailure {
        finished_at,
        status: RunStatus::Interrupted,
        error_class: "interrupted",
        error_message: SHUT_DOWN,
        api: Some(api),
        http_status: None,
        client_request_id: None,
        // Calls made before shutdown cut the hunt short are not known.
        cost: None,
    }
}

/// A run of `api` that outlived its job's timeout; `message` says which.
pub fn timed_out<'a>(finished_at: DateTime<Utc>, api: &'a str, message: &'a str) -> RunFailure<'a> {
    RunFailure {
        finished_at,
        status: RunStatus::Failed,
        error_class: "timeout",
        error_message: message,
        api: Some(api),
        http_status: None,
        client_request_id: None,
        // Calls made before the timeout cut the hunt short are not known.
        cost: None,
    }
}

/// A run of `api` whose results the store could not write (a lost connection, a full disk):
/// `message` is the store's error. The next run hunts the window again.
pub fn store<'a>(finished_at: DateTime<Utc>, api: &'a str, message: &'a str) -> RunFailure<'a> {
    RunFailure {
        finished_at,
        status: RunStatus::Failed,
        error_class: "store",
        error_message: message,
        api: Some(api),
        http_status: None,
        client_request_id: None,
        cost: None,
    }
}

/// A run of `api` whose hunt failed with `error`; `request_id` is the error's request id as
/// text, which the caller keeps alive.
pub fn from_hunt_error<'a>(
    finished_at: DateTime<Utc>,
    api: &'a str,
    error: &'a HuntError,
    request_id: Option<&'a str>,
) -> RunFailure<'a> {
    RunFailure {
        finished_at,
        status: RunStatus::Failed,
        error_class: error.class.as_str(),
        error_message: &error.message,
        api: Some(api),
        http_status: error.http_status,
        client_request_id: request_id,
        cost: Some(RunCost {
            api_calls: error.attempts,
            throttle_wait: error.throttle_wait,
        }),
    }
}
