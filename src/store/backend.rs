//! The Rust both backends run around their own SQL: error mapping, the lease fence's verdict,
//! the claim's verdict, the end of `finish_run`'s transaction and time arithmetic.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Database, Transaction};

use super::records::{Claim, Finished, Lease, RunFailure, RunStatus, RunSuccess};
use super::{Error, Result, Store};

/// A foreign-key violation on the job column means the job was never registered.
pub(super) fn map_unknown_job(job: &str, error: Error) -> Error {
    match &error {
        Error::Database(e)
            if e.as_database_error()
                .is_some_and(sqlx::error::DatabaseError::is_foreign_key_violation) =>
        {
            Error::UnknownJob(job.to_string())
        }
        _ => error,
    }
}

/// The error of a write whose fence found the lease taken over or the run finished.
pub(super) fn lease_lost(lease: &Lease) -> Error {
    Error::LeaseLost {
        run_id: lease.run_id,
        attempt: lease.attempt,
    }
}

/// A fenced update's verdict: it changed the one run row, or the lease was lost.
pub(super) fn fenced(lease: &Lease, rows_affected: u64) -> Result<()> {
    if rows_affected == 1 {
        Ok(())
    } else {
        Err(lease_lost(lease))
    }
}

/// The `error_class` of a run whose answer the database refused.
const UNSTORABLE: &str = "unstorable";

/// Whether the database refused a statement for what it was asked to store rather than for
/// its own state: retrying the same answer would be refused again. PostgreSQL: SQLSTATE
/// classes 22 (data exception: a NUL, a number `numeric` cannot hold) and 54 (program limit
/// exceeded: too many columns). SQLite: the primary codes ERROR (1: the SQL it refused, e.g.
/// too many columns), TOOBIG (18), MISMATCH (20) and RANGE (25); a trigger's or constraint's
/// refusal is not among them.
fn refuses_the_answer(error: &sqlx::Error) -> bool {
    let Some(db) = error.as_database_error() else {
        return false;
    };
    let code = db.code().unwrap_or_default();
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        code.starts_with("22") || code.starts_with("54")
    } else {
        // SQLite reports extended codes; the primary code is the low byte.
        code.parse::<i32>()
            .is_ok_and(|n| matches!(n & 0xff, 1 | 18 | 20 | 25))
    }
}

/// What `finish_run` returns for a write that failed: when the database refused the answer,
/// the run is recorded `failed` (fenced like any end) and [`Error::Unstorable`] returned;
/// any other error (a lost connection, a lock) leaves the run `running`, for its caller to end.
pub(super) async fn end_unstorable<S: Store + ?Sized>(
    store: &S,
    lease: &Lease,
    result: &RunSuccess<'_>,
    error: Error,
) -> Error {
    let Error::Database(source) = error else {
        return error;
    };
    if !refuses_the_answer(&source) {
        return Error::Database(source);
    }
    let message = source.to_string();
    let failure = RunFailure {
        finished_at: result.finished_at,
        status: RunStatus::Failed,
        error_class: UNSTORABLE,
        error_message: &message,
        api: Some(result.api),
        http_status: result.http_status,
        client_request_id: result.client_request_id,
        cost: Some(result.cost),
    };
    match store.fail_run(lease, &failure).await {
        Ok(()) => {
            tracing::warn!(run = lease.run_id, error = %message, "the database refused the run's answer: run failed");
            Error::Unstorable {
                run_id: lease.run_id,
                source,
            }
        }
        Err(e) => e,
    }
}

/// Ends `finish_run`'s transaction: commits what `written` wrote, or rolls it back first when
/// the writes failed, since its locks (SQLite's write lock, PostgreSQL's lock on the run row)
/// would make failing the run on another connection wait. Either failure goes through
/// [`end_unstorable`].
pub(super) async fn commit_run<DB: Database, S: Store + ?Sized>(
    store: &S,
    tx: Transaction<'_, DB>,
    written: Result<Finished>,
    lease: &Lease,
    result: &RunSuccess<'_>,
) -> Result<Finished> {
    match written {
        Ok(finished) => match tx.commit().await {
            Ok(()) => Ok(finished),
            Err(e) => Err(end_unstorable(store, lease, result, e.into()).await),
        },
        Err(e) => {
            tx.rollback().await.ok();
            Err(end_unstorable(store, lease, result, e).await)
        }
    }
}

/// What a backend found for a claim, read inside the transaction that holds the job's lock.
#[derive(Debug)]
pub(super) struct ClaimState {
    /// The slot's existing run: `(id, attempt, status)`.
    pub existing: Option<(i64, i32, String)>,
    /// A running run of the job (the slot's own one included).
    pub running: Option<i64>,
    /// What of the requested window is hunted already.
    pub coverage: Coverage,
}

/// The covered time a claim's window is checked against.
#[derive(Debug)]
pub(super) enum Coverage {
    /// A scheduled or manual run: the job's high-water mark, which its window starts at.
    HighWater(Option<DateTime<Utc>>),
    /// A backfill chunk, which hunts the past below the mark: the end of a succeeded or
    /// skipped window overlapping the chunk, if any.
    Overlap(Option<DateTime<Utc>>),
}

/// The claim's verdict: a finished [`Claim`], or the window start to insert the run with.
pub(super) fn decide_claim(
    state: ClaimState,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Result<std::result::Result<DateTime<Utc>, Claim>> {
    if let Some((run_id, attempt, status)) = state.existing {
        let status: RunStatus = status.parse()?;
        if status != RunStatus::Interrupted {
            return Ok(Err(Claim::Lost {
                run_id,
                attempt,
                status,
            }));
        }
    }
    if let Some(run_id) = state.running {
        return Ok(Err(Claim::Busy { run_id }));
    }
    match state.coverage {
        // Clamped to the high-water mark, a window never overlaps one already hunted, however
        // stale the plan it came from (another node's run committed since, or a re-claimed
        // interrupted slot).
        Coverage::HighWater(Some(until)) if until >= window.1 => Ok(Err(Claim::Covered { until })),
        Coverage::HighWater(until) => Ok(Ok(until.map_or(window.0, |u| u.max(window.0)))),
        // A chunk planned before another run covered part of it is left for the next plan.
        Coverage::Overlap(Some(until)) => Ok(Err(Claim::Covered { until })),
        Coverage::Overlap(None) => Ok(Ok(window.0)),
    }
}

/// Each job's `(name, retention_seconds)`, by name: what the prunes walk. The same SQL on both
/// backends.
pub(super) const JOB_RETENTIONS: &str =
    r"select name, retention_seconds from hunt_jobs order by name";

/// A duration in whole seconds for the database, saturating.
pub(super) fn whole_seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The instant `seconds` before `now`, clamped to the earliest representable time.
pub(super) fn cutoff(now: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    chrono::TimeDelta::try_seconds(seconds)
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
