//! `/metrics` (Prometheus text), `/healthz` and the status page `/` on `daemon.metrics_listen`.
//!
//! Series are recorded through the `metrics` facade where things happen, so modules below the
//! daemon need no dependency on it: runs, rows, findings and coverage here; API calls per HTTP
//! answer and throttle waits in `hunt`; token requests in `auth`'s token cache.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode, header};
use axum::routing::get;
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::jobs::Job;
use crate::store::Store;

/// Run duration histogram buckets, in seconds: sub-second hunts to the 10-minute default timeout.
const DURATION_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 300.0, 600.0,
];

/// Throttle wait histogram buckets, in seconds: a short backoff to a 15-minute CPU-quota pause.
const WAIT_BUCKETS: [f64; 10] = [0.5, 1.0, 2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0];

/// Commit-to-delivered lag buckets, in seconds: the next poll to a day of retries.
const LAG_BUCKETS: [f64; 12] = [
    0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];

/// The process-wide Prometheus recorder, installed once.
static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();

/// Installs the recorder (once per process); `None` when another recorder is already installed.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("huntd_run_duration_seconds".into()),
                    &DURATION_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "huntd_throttle_wait_seconds".into(),
                    ),
                    &WAIT_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("huntd_delivery_lag_seconds".into()),
                    &LAG_BUCKETS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}

/// Records the end of a run.
pub fn run_finished(job: &str, status: &'static str, took: Duration) {
    metrics::counter!("huntd_runs_total", "job" => job.to_string(), "status" => status)
        .increment(1);
    metrics::histogram!("huntd_run_duration_seconds", "job" => job.to_string())
        .record(took.as_secs_f64());
}

/// Records a `skipped` run: counted by status like the others, but it took no time to hunt.
pub fn run_skipped(job: &str) {
    metrics::counter!("huntd_runs_total", "job" => job.to_string(), "status" => "skipped")
        .increment(1);
}

/// Records a committed run's rows, new findings and how far coverage lags now.
pub fn committed(job: &str, rows: i64, new_findings: i64, window_end: DateTime<Utc>) {
    let job = job.to_string();
    metrics::counter!("huntd_rows_total", "job" => job.clone())
        .increment(u64::try_from(rows).unwrap_or(0));
    metrics::counter!("huntd_new_findings_total", "job" => job.clone())
        .increment(u64::try_from(new_findings).unwrap_or(0));
    let now = Utc::now();
    #[allow(clippy::cast_precision_loss)]
    {
        metrics::gauge!("huntd_last_success_timestamp_seconds", "job" => job.clone())
            .set(now.timestamp() as f64);
        metrics::gauge!("huntd_coverage_lag_seconds", "job" => job)
            .set((now - window_end).num_milliseconds() as f64 / 1000.0);
    }
}

/// Records how one delivery attempt ended (`delivered`, `retry`, `dead`) and, once delivered,
/// how long after its run's commit.
pub fn delivery_ended(output: &str, outcome: &'static str, lag_seconds: Option<f64>) {
    metrics::counter!("huntd_deliveries_total", "output" => output.to_string(), "outcome" => outcome)
        .increment(1);
    if let Some(lag) = lag_seconds {
        metrics::histogram!("huntd_delivery_lag_seconds", "output" => output.to_string())
            .record(lag);
    }
}

/// Sets the pending deliveries of each configured output (zero for those with none).
pub fn deliveries_pending(outputs: &[String], pending: &[(String, i64)]) {
    for output in outputs {
        let count = pending
            .iter()
            .find(|(name, _)| name == output)
            .map_or(0, |(_, n)| *n);
        #[allow(clippy::cast_precision_loss, reason = "a gauge is a float")]
        metrics::gauge!("huntd_deliveries_pending", "output" => output.clone()).set(count as f64);
    }
}

/// What `/healthz` checks: the scheduler loop's last beat and the database.
#[derive(Debug)]
pub struct Health {
    /// Unix milliseconds of the scheduler loop's last tick.
    pub last_tick_ms: AtomicI64,
    /// How old the last tick may be before the loop counts as hung.
    pub max_silence: Duration,
    /// The store to ping.
    pub store: Arc<dyn Store>,
}

impl Health {
    /// Called by the scheduler loop on every tick.
    pub fn beat(&self) {
        self.last_tick_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }
}

/// What the status page reads: the store, and the config and jobs the daemon runs now (for
/// next fire times and quotas), replaced on every reload.
#[derive(Debug)]
pub struct PageSource {
    /// The store to read the status from.
    pub store: Arc<dyn Store>,
    /// The config and jobs in force.
    pub loaded: std::sync::RwLock<Arc<(Config, Vec<Job>)>>,
}

impl PageSource {
    /// Puts a reloaded config and jobs in force for the page.
    pub fn replace(&self, config: Config, jobs: Vec<Job>) {
        let mut loaded = self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *loaded = Arc::new((config, jobs));
    }

    fn current(&self) -> Arc<(Config, Vec<Job>)> {
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&loaded)
    }
}

#[derive(Clone)]
struct AppState {
    handle: Option<PrometheusHandle>,
    health: Arc<Health>,
    page: Arc<PageSource>,
}

/// Serves `/metrics`, `/healthz` and the status page `/` on `addr` until `shutdown`; only
/// `GET` (and `HEAD`) is answered, so nothing here changes anything.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    page: Arc<PageSource>,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let state = AppState {
        handle: install(),
        health,
        page,
    };
    let app = Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(render))
        .route("/healthz", get(healthz))
        .with_state(state);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "metrics listener failed");
        }
    });
    Ok(bound)
}

async fn render(State(state): State<AppState>) -> (StatusCode, String) {
    match &state.handle {
        Some(handle) => {
            handle.run_upkeep();
            (StatusCode::OK, handle.render())
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n".into(),
        ),
    }
}

/// How long the status page waits for the database before it says so.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

async fn status_page(
    State(state): State<AppState>,
) -> (StatusCode, [(HeaderName, &'static str); 3], String) {
    let loaded = state.page.current();
    let (config, jobs) = &*loaded;
    let read = tokio::time::timeout(
        PAGE_TIMEOUT,
        crate::status::read(&*state.page.store, config, jobs, Utc::now()),
    )
    .await;
    let (code, body) = match read {
        Ok(Ok(status)) => (StatusCode::OK, super::page::render(&status)),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            super::page::unavailable(&e.to_string()),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            super::page::unavailable("the database did not answer within 10 seconds"),
        ),
    };
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        // Nothing on the page comes from elsewhere or runs: say so to the browser too.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
        ),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (code, headers, body)
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let health = &state.health;
    let silence = Utc::now().timestamp_millis() - health.last_tick_ms.load(Ordering::Relaxed);
    let max = i64::try_from(health.max_silence.as_millis()).unwrap_or(i64::MAX);
    if silence > max {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "scheduler loop is not ticking\n",
        );
    }
    let ping = tokio::time::timeout(
        Duration::from_secs(5),
        health.store.high_water_mark("healthz", "healthz"),
    )
    .await;
    match ping {
        Ok(Ok(_)) => (StatusCode::OK, "ok\n"),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database does not answer\n",
        ),
    }
}
