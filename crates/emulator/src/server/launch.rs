//! Starting the emulator: loading its state, routing each endpoint, serving until shut down.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use chrono::Utc;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio_util::sync::CancellationToken;

use super::aad::form_endpoint;
use super::device_code::start_device_code;
use super::hunting::{Api, endpoint};
use super::key_vault::vault_secret;
use super::managed_identity::managed_identity;
use super::state::{Counters, EmulatorState, Sessions};
use super::token::issue_token;
use super::{external, sinks, syslog};
use crate::certs::AppCertificate;
use crate::data::{self, SampleOptions};
use crate::jsonl;
use crate::live::Feed;
use crate::tls;
use crate::tokens::Signer;
use crate::{DataSource, EmulatorOptions, Error, Received, Result};

/// A running emulator.
#[derive(Debug)]
pub struct Emulator {
    /// `http://127.0.0.1:<port>` (`https://` with TLS): the login, Graph and MDE base URL alike.
    pub base_url: String,
    /// With TLS, the PEM file holding the certificate clients must trust.
    pub certificate: Option<PathBuf>,
    /// Cancel to stop the server.
    pub shutdown: CancellationToken,
    /// What the sinks take; subscribe to hear of each.
    pub received: tokio::sync::broadcast::Sender<Received>,
    /// Where the syslog receiver listens (UDP and TCP), when asked for.
    pub syslog: Option<std::net::SocketAddr>,
    /// The server task; ends after `shutdown` is cancelled.
    pub task: tokio::task::JoinHandle<Result<()>>,
}

/// Starts the emulator on a free loopback port in this process (for tests and `huntd demo`).
pub async fn start(options: EmulatorOptions) -> Result<Emulator> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Error::Serve)?;
    serve(options, listener).await
}

/// Loads the data (and with TLS writes the certificate), then serves on `listener` in a
/// background task until the returned [`Emulator`]'s `shutdown` is cancelled.
#[tracing::instrument(skip_all)]
pub async fn serve(
    options: EmulatorOptions,
    listener: tokio::net::TcpListener,
) -> Result<Emulator> {
    let addr = listener.local_addr().map_err(Error::Serve)?;
    let certificate = options.tls_certificate.clone();
    let acceptor = certificate.as_deref().map(tls::self_signed).transpose()?;
    let live = match options.data {
        DataSource::Sample { seed, .. } => options.live_every.map(|every| (seed, every)),
        DataSource::Dir(_) | DataSource::Tables(_) => None,
    };
    let syslog_listen = options.syslog_listen;
    let shared = Arc::new(build(options)?);
    let shutdown = CancellationToken::new();
    let syslog = match syslog_listen {
        Some(addr) => Some(syslog::listen(addr, Arc::clone(&shared), shutdown.clone()).await?),
        None => None,
    };
    let received = shared.received.clone();
    if let Some((seed, every)) = live {
        tokio::spawn(feed(Arc::clone(&shared), seed, every, shutdown.clone()));
    }
    let app = router(shared);
    let stop = shutdown.clone();
    let (scheme, task) = match acceptor {
        Some(acceptor) => {
            let listener = tls::TlsListener::new(listener, acceptor)?;
            ("https", tokio::spawn(run(listener, app, stop)))
        }
        None => ("http", tokio::spawn(run(listener, app, stop))),
    };
    Ok(Emulator {
        base_url: format!("{scheme}://{addr}"),
        certificate,
        shutdown,
        received,
        syslog,
        task,
    })
}

/// Appends the live feed's events every `every` until `shutdown`.
async fn feed(shared: Arc<EmulatorState>, seed: u64, every: Duration, shutdown: CancellationToken) {
    let mut feed = Feed::new(seed);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the sample already covers up to now.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => shared.append(feed.next(Utc::now())),
        }
    }
}

pub(super) fn build(options: EmulatorOptions) -> Result<EmulatorState> {
    let db = match &options.data {
        DataSource::Sample {
            seed,
            rows_per_table,
        } => Arc::new(data::sample(&SampleOptions {
            seed: *seed,
            rows_per_table: *rows_per_table,
            now: Utc::now(),
        })),
        DataSource::Dir(dir) => Arc::new(jsonl::load_dir(dir)?),
        DataSource::Tables(db) => Arc::clone(db),
    };
    let log = match &options.request_log {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?,
        )),
        None => None,
    };
    let seed = match options.data {
        DataSource::Sample { seed, .. } => seed,
        DataSource::Dir(_) | DataSource::Tables(_) => 0,
    };
    let mut certificates: HashMap<String, Vec<AppCertificate>> = HashMap::new();
    for app in options.config.tenants.iter().flat_map(|t| &t.apps) {
        for path in &app.certificates {
            certificates
                .entry(app.client_id.to_ascii_lowercase())
                .or_default()
                .push(AppCertificate::load(path)?);
        }
    }
    Ok(EmulatorState {
        certificates,
        sessions: Mutex::new(Sessions::default()),
        db: RwLock::new(db),
        signer: Signer::new(),
        counters: Mutex::new(Counters::default()),
        rng: Mutex::new(StdRng::seed_from_u64(seed)),
        log,
        received: tokio::sync::broadcast::channel(1024).0,
        fetcher: external::client(&options.external_data)?,
        options,
    })
}

pub(super) fn router(shared: Arc<EmulatorState>) -> Router {
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            form_endpoint("token", issue_token),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            form_endpoint("devicecode", start_device_code),
        )
        .route(Api::Graph.path(), endpoint(Api::Graph))
        .route(Api::Mde.path(), endpoint(Api::Mde))
        .route("/secrets/{name}", get(vault_secret))
        .route("/metadata/identity/oauth2/token", get(managed_identity))
        .route(sinks::WEBHOOK_PATH, post(sinks::webhook))
        .route(sinks::LOGS_INGESTION_PATH, post(sinks::logs_ingestion))
        .route(sinks::HEC_PATH, post(sinks::hec))
        .with_state(shared)
}

pub(super) async fn run<L>(listener: L, app: Router, shutdown: CancellationToken) -> Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(Error::Serve)
}
