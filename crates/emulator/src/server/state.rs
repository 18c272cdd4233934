//! The state every endpoint shares: data, signer, registered certificates, sign-in sessions,
//! quota counters, the fault RNG and the request log.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::sync::{Arc, Mutex, RwLock};

use axum::http::StatusCode;
use chrono::Utc;
use rand::rngs::StdRng;
use serde_json::json;
use tokio::time::Instant;

use crate::certs::AppCertificate;
use crate::tokens::Signer;
use crate::{EmulatorOptions, Received, TenantConfig};
use kql::Database;

/// Call counts behind quotas and injected faults.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) minute: HashMap<String, VecDeque<Instant>>,
    pub(super) mde_hour: HashMap<String, VecDeque<Instant>>,
    pub(super) tenant_calls: HashMap<String, u32>,
    pub(super) query_calls: HashMap<String, u32>,
}

/// A delegated sign-in in progress or done: who, for which app and API.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    pub(super) tenant: String,
    pub(super) client_id: String,
    pub(super) resource: String,
    pub(super) scope: String,
    pub(super) offline: bool,
}

/// Device codes waiting for their first poll, and live refresh tokens.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    /// Device code -> grant and whether it was polled once (the first poll is pending).
    pub(super) device_codes: HashMap<String, (Grant, bool)>,
    pub(super) refresh_tokens: HashMap<String, Grant>,
}

#[derive(Debug)]
pub(super) struct EmulatorState {
    pub(super) sessions: Mutex<Sessions>,
    /// Registered certificates by lowercase client id.
    pub(super) certificates: HashMap<String, Vec<AppCertificate>>,
    /// The tables; replaced copy-on-write when the live feed appends, so a query in flight
    /// keeps the snapshot it started with.
    pub(super) db: RwLock<Arc<Database>>,
    pub(super) options: EmulatorOptions,
    pub(super) signer: Signer,
    pub(super) counters: Mutex<Counters>,
    pub(super) rng: Mutex<StdRng>,
    pub(super) log: Option<Mutex<std::fs::File>>,
    /// What the sinks took, for whoever listens (`huntd demo`, tests).
    pub(super) received: tokio::sync::broadcast::Sender<Received>,
    /// The client `externaldata`'s URLs are fetched with; `None` when that is disabled.
    pub(super) fetcher: Option<reqwest::Client>,
}

impl EmulatorState {
    /// The tables as they are now.
    pub(super) fn tables(&self) -> Arc<Database> {
        Arc::clone(
            &self
                .db
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Appends `(table, row)` pairs; rows for a table the data lacks are left out.
    pub(super) fn append(&self, rows: Vec<(&str, Vec<kql::Value>)>) {
        let mut db = self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let db = Arc::make_mut(&mut db);
        for (name, row) in rows {
            if let Some(table) = db.tables.get_mut(name)
                && let Err(e) = table.push(row)
            {
                tracing::warn!(error = %e, "live event does not fit its table");
            }
        }
    }

    /// Tells the listeners what a sink took; nobody listening is fine.
    pub(super) fn announce(&self, received: Received) {
        let _ = self.received.send(received);
    }

    pub(super) fn lock_counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn log(
        &self,
        tenant: &str,
        path: &str,
        query_hash: Option<&str>,
        status: StatusCode,
    ) {
        let Some(log) = &self.log else { return };
        let line = json!({
            "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "tenant": tenant,
            "path": path,
            "query_hash": query_hash,
            "status": status.as_u16(),
        });
        let mut file = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = writeln!(file, "{line}") {
            tracing::warn!(error = %e, "cannot write the emulator's request log");
        }
    }
}

pub(super) fn find_tenant<'a>(shared: &'a EmulatorState, tenant: &str) -> Option<&'a TenantConfig> {
    shared
        .options
        .config
        .tenants
        .iter()
        .find(|t| t.id.eq_ignore_ascii_case(tenant))
}

pub(super) fn lock_sessions(shared: &EmulatorState) -> std::sync::MutexGuard<'_, Sessions> {
    shared
        .sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
