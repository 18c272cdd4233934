//! The hunter: sends one hunt to the right API of the right tenant, with quotas and retries.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::api::{self, Api};
use super::error::classify_status;
use super::quota::{self, Limiter, Quotas, TenantKey};
use super::response::BodyParser;
use super::retry::{self, Jitter, RetryPolicy};
use super::{ErrorClass, HuntError, HuntOutcome, HuntResult, MAX_ANSWER_BYTES, MAX_ROWS, Window};
use crate::auth::{self, Resource, TokenSource};
use crate::config::{Instance, Quota};
use crate::jobs::Environment;

const JSON_UTF8: &str = "application/json; charset=utf-8";

fn user_agent() -> String {
    format!("huntd/{}", env!("CARGO_PKG_VERSION"))
}

/// Tuning of a [`Hunter`].
#[derive(Debug, Clone)]
pub struct HunterOptions {
    /// When and how often to retry.
    pub retry: RetryPolicy,
    /// Randomness of the backoff.
    pub jitter: Jitter,
    /// Added to the API's own limit (Graph 3 min, MDE 200 s) before a call counts as timed out.
    pub timeout_margin: Duration,
    /// Graph's time limit per request.
    pub graph_time_limit: Duration,
    /// MDE's time limit per request.
    pub mde_time_limit: Duration,
    /// Where an answer's rows are spooled once they outgrow memory (the daemon's state dir).
    pub spool_dir: std::path::PathBuf,
}

impl Default for HunterOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            jitter: Jitter::full(),
            timeout_margin: Duration::from_secs(30),
            graph_time_limit: api::GRAPH.time_limit,
            mde_time_limit: api::MDE.time_limit,
            spool_dir: std::env::temp_dir(),
        }
    }
}

/// Runs hunts for every instance; one per daemon, shared by all jobs.
#[derive(Debug)]
pub struct Hunter {
    tokens: Arc<dyn TokenSource>,
    options: HunterOptions,
    quotas: Quotas,
    /// HTTP clients by extra CA file: instances trusting the same roots share connections.
    clients: Mutex<HashMap<Option<std::path::PathBuf>, reqwest::Client>>,
    /// Cancelled at shutdown: a run still waiting for quota ends at once, since only calls
    /// in flight are worth the shutdown grace.
    stop_waiting: CancellationToken,
}

/// A run's claim on its instance's quota, taken once per API call.
struct Slot<'a> {
    limiter: &'a Limiter,
    /// The instance, for the throttle-wait metric.
    instance: &'a str,
    environment: Environment,
    quota: Quota,
    cancel: &'a CancellationToken,
    stop_waiting: &'a CancellationToken,
    waited_nanos: AtomicU64,
}

impl Slot<'_> {
    async fn take(&self) -> Result<(), HuntError> {
        // Dropping `acquire` mid-wait is safe: it records a start only when it returns one.
        let waited = tokio::select! {
            biased;
            () = self.stop_waiting.cancelled() => Err(quota::Cancelled),
            waited = self.limiter.acquire(self.environment, self.quota, self.cancel) => waited,
        }
        .map_err(|_| HuntError::cancelled())?;
        if !waited.is_zero() {
            super::throttle_waited(self.instance, "quota", waited);
        }
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.waited_nanos.fetch_add(nanos, Ordering::Relaxed);
        Ok(())
    }

    /// Time waited for the tenant's quota so far.
    fn quota_wait(&self) -> Duration {
        Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed))
    }
}

/// What a single call attempt produced, for the retry loop.
type Attempt = Result<HuntResult, HuntError>;

impl Hunter {
    /// A hunter getting its tokens from `tokens`.
    pub fn new(tokens: Arc<dyn TokenSource>, options: HunterOptions) -> Self {
        Self {
            tokens,
            options,
            quotas: Quotas::new(),
            clients: Mutex::new(HashMap::new()),
            stop_waiting: CancellationToken::new(),
        }
    }

    /// The same hunter, whose runs still waiting for quota end when `stop` is cancelled.
    #[must_use]
    pub fn stop_waiting_on(mut self, stop: CancellationToken) -> Self {
        self.stop_waiting = stop;
        self
    }

    /// The per-instance limiters, e.g. to report a tenant's pause.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// Runs `query` on `instance`'s `environment` API for `window` (Graph sends it as
    /// `Timespan`; `None` sends none), retrying what can succeed.
    #[tracing::instrument(
        skip(self, instance, query, window, cancel),
        fields(instance = %instance.name)
    )]
    pub async fn run(
        &self,
        instance: &Instance,
        environment: Environment,
        query: &str,
        window: Option<Window>,
        cancel: &CancellationToken,
    ) -> Result<HuntOutcome, HuntError> {
        let api = Api::of(environment);
        let client = self.client(instance)?;
        let body = (api.body)(query, window);
        let limiter = self.quotas.limiter(&TenantKey::of(instance));
        let quota = instance.quota.unwrap_or(api.default_quota);
        let slot = Slot {
            limiter: &limiter,
            instance: &instance.name,
            environment,
            quota,
            cancel,
            stop_waiting: &self.stop_waiting,
            waited_nanos: AtomicU64::new(0),
        };
        let retry = &self.options.retry;
        let jitter = &self.options.jitter;
        let (result, stats) = retry::run(retry, jitter, &instance.name, cancel, |_| {
            let (client, body, slot) = (&client, &body, &slot);
            async move {
                let result = self
                    .call_refreshing(client, api, instance, body, slot)
                    .await;
                if let Err(error) = &result
                    && error.cpu_exhausted
                    && let Some(after) = error.retry_after
                {
                    slot.limiter.pause_until(Instant::now() + after);
                }
                result
            }
        })
        .await
        .map_err(|mut error| {
            error.throttle_wait += slot.quota_wait();
            error
        })?;
        Ok(HuntOutcome {
            result,
            attempts: stats.attempts,
            quota_wait: slot.quota_wait(),
            retry_wait: stats.waited,
        })
    }

    /// One attempt: a call, and after a 401 one more call with a fresh token.
    async fn call_refreshing(
        &self,
        client: &reqwest::Client,
        api: &Api,
        instance: &Instance,
        body: &str,
        slot: &Slot<'_>,
    ) -> Attempt {
        slot.take().await?;
        match self.call(client, api, instance, body).await {
            Err(error) if error.http_status == Some(401) => {
                tracing::info!(
                    client_request_id = ?error.client_request_id,
                    "401 from {}; fetching a fresh token", api.name
                );
                self.tokens.invalidate(instance, api.resource).await;
                // The call with the fresh token counts against the quota like any other.
                slot.take().await?;
                self.call(client, api, instance, body).await
            }
            other => other,
        }
    }

    /// One HTTP call with its own `client-request-id` and time limit.
    async fn call(
        &self,
        client: &reqwest::Client,
        api: &Api,
        instance: &Instance,
        body: &str,
    ) -> Attempt {
        let token = self
            .tokens
            .token(instance, api.resource)
            .await
            .map_err(|e| {
                HuntError::new(
                    ErrorClass::Auth,
                    format!("no access token for instance `{}`: {e}", instance.name),
                )
            })?;
        let request_id = Uuid::new_v4();
        let url = api.url(instance);
        let limit = match api.resource {
            Resource::Mde => self.options.mde_time_limit,
            _ => self.options.graph_time_limit,
        } + self.options.timeout_margin;
        tracing::info!(client_request_id = %request_id, %url, "calling {}", api.name);
        let mut headers = HeaderMap::new();
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.token.expose()))
            .map_err(|_| {
                HuntError::new(
                    ErrorClass::Auth,
                    "the access token is not a valid header value",
                )
            })?;
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        headers.insert(
            "client-request-id",
            HeaderValue::from_str(&request_id.to_string()).expect("a UUID is a valid header value"),
        );
        let started = Instant::now();
        let exchange = async {
            let response = client
                .post(&url)
                .headers(headers)
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| transport_error(api, &e))?;
            let status = response.status().as_u16();
            if !response.status().is_success() {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let bytes = response.bytes().await.unwrap_or_default();
                return Err(classify_status(api, status, retry_after.as_deref(), &bytes));
            }
            let spool_dir = self.options.spool_dir.clone();
            read_body(api, response, status, started, request_id, spool_dir).await
        };
        let result = match tokio::time::timeout(limit, exchange).await {
            Ok(result) => result,
            Err(_) => Err(HuntError::new(
                ErrorClass::Timeout,
                format!(
                    "{} did not answer within {} (its limit plus a margin); \
                     the query may be too heavy: narrow it or use a shorter window",
                    api.name,
                    seconds(limit)
                ),
            )),
        };
        let answered = match &result {
            Ok(result) => Some(result.http_status),
            Err(error) => error.http_status,
        };
        super::api_called(&instance.name, answered);
        match result {
            Ok(result) => {
                tracing::info!(
                    client_request_id = %request_id,
                    rows = result.rows.len(),
                    truncated = result.truncated,
                    api_ms = u64::try_from(result.api_time.as_millis()).unwrap_or(u64::MAX),
                    "{} answered", api.name
                );
                Ok(result)
            }
            Err(error) => {
                let error = error.with_request_id(request_id);
                tracing::warn!(
                    client_request_id = %request_id,
                    class = error.class.as_str(),
                    status = ?error.http_status,
                    "{error}"
                );
                Err(error)
            }
        }
    }

    fn client(&self, instance: &Instance) -> Result<reqwest::Client, HuntError> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&instance.ca_file) {
            return Ok(client.clone());
        }
        // Per-call time limits are the hunt's own (API limit plus margin), not the client's.
        let options = auth::HttpOptions {
            timeout: None,
            ..auth::HttpOptions::default()
        };
        let client = auth::http_client(instance.ca_file.as_deref(), &options)
            .map_err(|e| HuntError::new(ErrorClass::Transient, e.to_string()))?;
        clients.insert(instance.ca_file.clone(), client.clone());
        Ok(client)
    }
}

/// Streams the body into the parser on a blocking thread, so a 100 MB answer neither blocks
/// the runtime nor sits in memory next to its rows.
async fn read_body(
    api: &Api,
    response: reqwest::Response,
    status: u16,
    started: Instant,
    request_id: Uuid,
    spool_dir: std::path::PathBuf,
) -> Attempt {
    let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(CHANNEL_CHUNKS);
    let parser = tokio::task::spawn_blocking(move || {
        let mut parser = BodyParser::new(&spool_dir);
        while let Some(chunk) = rx.blocking_recv() {
            parser.feed(&chunk)?;
        }
        parser.finish()
    });
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES)
    {
        return Err(too_big(api));
    }
    let mut stream = response.bytes_stream();
    let mut body_bytes = 0u64;
    let mut broken = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                body_bytes += chunk.len() as u64;
                if body_bytes > MAX_ANSWER_BYTES {
                    // Dropping the sender stops the parser, which frees what it holds.
                    return Err(too_big(api));
                }
                // A send error means the parser stopped early; its own error says why.
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(error) => {
                broken = Some(error);
                break;
            }
        }
    }
    drop(tx);
    let parsed = parser.await.map_err(|e| {
        HuntError::new(
            ErrorClass::Transient,
            format!("the answer parser failed: {e}"),
        )
    })?;
    if let Some(error) = broken {
        // The parser saw a cut body; the connection error is the better explanation.
        return Err(HuntError::new(
            ErrorClass::Transient,
            format!(
                "{}: the connection broke while reading the answer: {}",
                api.name,
                error_chain(&error)
            ),
        ));
    }
    let body =
        parsed.map_err(|e| HuntError::new(ErrorClass::Transient, format!("{}: {e}", api.name)))?;
    let truncated = body.rows.len() == MAX_ROWS;
    if truncated {
        tracing::warn!(
            "{} returned exactly {MAX_ROWS} rows: the API cut the result",
            api.name
        );
    }
    Ok(HuntResult {
        columns: body.columns,
        rows: body.rows,
        truncated,
        stats: body.stats,
        api_time: started.elapsed(),
        client_request_id: request_id,
        http_status: status,
        body_bytes,
    })
}

/// An answer past [`MAX_ANSWER_BYTES`]: no retry can make it smaller.
fn too_big(api: &Api) -> HuntError {
    HuntError::new(
        ErrorClass::TooLarge,
        format!(
            "{}: the answer is over {} MiB, huntd's limit (the API documents 124 MB); \
             aggregate with `summarize`, project fewer columns, or use a shorter window",
            api.name,
            MAX_ANSWER_BYTES / (1024 * 1024)
        ),
    )
}

/// Chunks in flight between download and parser; bounds the memory of a slow parse.
const CHANNEL_CHUNKS: usize = 4;

/// `210 s`, or `0.150 s` for limits shorter than whole seconds.
fn seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.3} s", duration.as_secs_f64())
    }
}

fn transport_error(api: &Api, error: &reqwest::Error) -> HuntError {
    let what = if error.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    };
    HuntError::new(
        ErrorClass::Transient,
        format!("{}: {what}: {}", api.name, error_chain(error)),
    )
}

/// reqwest's Display stops at the outermost cause; the chain says e.g. "connection reset".
fn error_chain(error: &reqwest::Error) -> String {
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

/// A request as it would be sent, minus the token: for `huntd once --dry-run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// Always `POST`.
    pub method: &'static str,
    /// The full URL.
    pub url: String,
    /// Headers in sending order; the bearer token is shown as `Bearer [redacted]`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
}

/// Describes the request [`Hunter::run`] would send for this hunt, without sending it.
pub fn dry_run(
    instance: &Instance,
    environment: Environment,
    query: &str,
    window: Option<Window>,
) -> DryRun {
    let api = Api::of(environment);
    DryRun {
        method: "POST",
        url: api.url(instance),
        headers: vec![
            ("Authorization".into(), "Bearer [redacted]".into()),
            ("Content-Type".into(), JSON_UTF8.into()),
            ("User-Agent".into(), user_agent()),
            ("client-request-id".into(), "<new GUID per call>".into()),
        ],
        body: (api.body)(query, window),
    }
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.method, self.url)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        writeln!(f)?;
        writeln!(f, "{}", self.body)
    }
}
