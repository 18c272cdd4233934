//! The heartbeat that keeps a run's lease while its hunt is in flight.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::window::delta;
use crate::store::{Lease, Store};

/// Renews a lease every third of its length; cancels the hunt if the lease is lost.
#[derive(Debug)]
pub struct Heartbeat {
    task: JoinHandle<bool>,
    done: CancellationToken,
}

impl Heartbeat {
    /// Starts renewing `lease` for `length` at a time; `hunt` is cancelled when it is lost.
    pub fn start(
        store: Arc<dyn Store>,
        lease: Lease,
        length: Duration,
        hunt: CancellationToken,
    ) -> Self {
        let done = CancellationToken::new();
        let stop = done.clone();
        let task = tokio::spawn(async move {
            let every = length / 3;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return false,
                    () = tokio::time::sleep(every) => {}
                }
                match store.renew_lease(&lease, Utc::now() + delta(length)).await {
                    Ok(true) => {}
                    Ok(false) => {
                        hunt.cancel();
                        return true;
                    }
                    // A database hiccup is not a lost lease; the next beat tries again.
                    Err(e) => warn!(error = %e, "cannot renew the lease"),
                }
            }
        });
        Self { task, done }
    }

    /// Stops renewing; returns whether the lease was lost meanwhile.
    pub async fn stop(self) -> bool {
        self.done.cancel();
        self.task.await.unwrap_or(false)
    }
}
