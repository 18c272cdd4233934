//! The HTTP side of the emulator: Entra ID's token endpoint and the two hunting APIs, each in
//! its own success and error shapes, with quotas and injected faults.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::certs::{self, AppCertificate};
use super::data::{self, SampleOptions};
use super::kql::{self, Database};
use super::tls;
use super::tokens::{Claims, Refusal, Signer};
use super::{DataSource, DeviceCodeOutcome, EmulatorOptions, Error, GRAPH_ROLE, MDE_ROLE, Result};

/// Rows an answer holds at most; more are cut off silently, as the service does.
pub const MAX_ROWS: usize = 100_000;

/// Result size over which the APIs refuse an answer (MDE documents 124 MB).
pub const MAX_RESULT_BYTES: usize = 124 * 1024 * 1024;

/// How far back the APIs let a query see.
const DATA_DAYS: i64 = 30;

/// The two hunting APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Graph,
    Mde,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::Graph => "/v1.0/security/runHuntingQuery",
            Api::Mde => "/api/advancedqueries/run",
        }
    }

    fn role(self) -> &'static str {
        match self {
            Api::Graph => GRAPH_ROLE,
            Api::Mde => MDE_ROLE,
        }
    }

    /// Whether a token's audience is this API's resource (any cloud's host).
    fn accepts_audience(self, aud: &str) -> bool {
        let host = aud
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_ascii_lowercase();
        match self {
            Api::Graph => {
                host.ends_with("graph.microsoft.com") || host.ends_with("graph.microsoft.us")
            }
            Api::Mde => host.contains("securitycenter") || host.ends_with("security.microsoft.com"),
        }
    }
}

/// Call counts behind quotas and injected faults.
#[derive(Debug, Default)]
struct Counters {
    minute: HashMap<String, VecDeque<Instant>>,
    mde_hour: HashMap<String, VecDeque<Instant>>,
    tenant_calls: HashMap<String, u32>,
    query_calls: HashMap<String, u32>,
}

/// A delegated sign-in in progress or done: who, for which app and API.
#[derive(Debug, Clone)]
struct Grant {
    tenant: String,
    client_id: String,
    resource: String,
    scope: String,
    offline: bool,
}

/// Device codes waiting for their first poll, and live refresh tokens.
#[derive(Debug, Default)]
struct Sessions {
    /// Device code -> grant and whether it was polled once (the first poll is pending).
    device_codes: HashMap<String, (Grant, bool)>,
    refresh_tokens: HashMap<String, Grant>,
}

#[derive(Debug)]
struct Shared {
    sessions: Mutex<Sessions>,
    /// Registered certificates by lowercase client id.
    certificates: HashMap<String, Vec<AppCertificate>>,
    db: Arc<Database>,
    options: EmulatorOptions,
    signer: Signer,
    counters: Mutex<Counters>,
    rng: Mutex<StdRng>,
    log: Option<Mutex<std::fs::File>>,
}

/// A running emulator.
#[derive(Debug)]
pub struct Emulator {
    /// `http://127.0.0.1:<port>` (`https://` with TLS): the login, Graph and MDE base URL alike.
    pub base_url: String,
    /// With TLS, the PEM file holding the certificate clients must trust.
    pub certificate: Option<PathBuf>,
    /// Cancel to stop the server.
    pub shutdown: CancellationToken,
    /// The server task; ends after `shutdown` is cancelled.
    pub task: tokio::task::JoinHandle<Result<()>>,
}

/// Starts the emulator on a free loopback port in this process (for tests and `huntd demo`).
pub async fn start(options: EmulatorOptions) -> Result<Emulator> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Error::Serve)?;
    serve(options, listener)
}

/// Loads the data (and with TLS writes the certificate), then serves on `listener` in a
/// background task until the returned [`Emulator`]'s `shutdown` is cancelled.
#[tracing::instrument(skip_all)]
pub fn serve(options: EmulatorOptions, listener: tokio::net::TcpListener) -> Result<Emulator> {
    let addr = listener.local_addr().map_err(Error::Serve)?;
    let certificate = options.tls_certificate.clone();
    let acceptor = certificate.as_deref().map(tls::self_signed).transpose()?;
    let shared = Arc::new(build(options)?);
    let shutdown = CancellationToken::new();
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
        task,
    })
}

fn build(options: EmulatorOptions) -> Result<Shared> {
    let db = match &options.data {
        DataSource::Sample {
            seed,
            rows_per_table,
        } => Arc::new(data::sample(&SampleOptions {
            seed: *seed,
            rows_per_table: *rows_per_table,
            now: Utc::now(),
        })),
        DataSource::Dir(dir) => Arc::new(data::load_dir(dir)?),
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
    Ok(Shared {
        certificates,
        sessions: Mutex::new(Sessions::default()),
        db,
        signer: Signer::new(),
        counters: Mutex::new(Counters::default()),
        rng: Mutex::new(StdRng::seed_from_u64(seed)),
        log,
        options,
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
        .route(Api::Graph.path(), post(graph))
        .route(Api::Mde.path(), post(mde))
        .route("/secrets/{name}", get(vault_secret))
        .route("/metadata/identity/oauth2/token", get(managed_identity))
        .with_state(shared)
}

async fn run<L>(listener: L, app: Router, shutdown: CancellationToken) -> Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(Error::Serve)
}

impl Shared {
    fn lock_counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn log(&self, tenant: &str, path: &str, query_hash: Option<&str>, status: StatusCode) {
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

// ---- Entra ID ----

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    device_code: Option<String>,
    refresh_token: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn aadsts(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let trace = uuid::Uuid::new_v4();
    let correlation = uuid::Uuid::new_v4();
    let now = Utc::now();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {}",
            now.format("%Y-%m-%d %H:%M:%SZ")
        ),
        "error_codes": [code],
        "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace.to_string(),
        "correlation_id": correlation.to_string(),
    });
    (status, axum::Json(body)).into_response()
}

#[tracing::instrument(skip_all, fields(tenant = %tenant))]
async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let response = issue_token(&shared, &tenant, &form);
    shared.log(&tenant, "/oauth2/v2.0/token", None, response.status());
    response
}

fn issue_token(shared: &Shared, tenant: &str, form: &TokenForm) -> Response {
    let Some(tenant_config) = shared
        .options
        .config
        .tenants
        .iter()
        .find(|t| t.id.eq_ignore_ascii_case(tenant))
    else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(DEVICE_CODE_GRANT) => return redeem_device_code(shared, tenant_config, form),
        Some("refresh_token") => return redeem_refresh_token(shared, tenant_config, form),
        _ => {
            return aadsts(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            );
        }
    }
    let client_id = form.client_id.as_deref().unwrap_or_default();
    let Some(app) = tenant_config
        .apps
        .iter()
        .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        );
    };
    if let (Some(JWT_BEARER), Some(assertion)) = (
        form.client_assertion_type.as_deref(),
        form.client_assertion.as_deref(),
    ) {
        let registered = shared
            .certificates
            .get(&app.client_id.to_ascii_lowercase())
            .map_or(&[][..], Vec::as_slice);
        if let Err((code, text)) =
            certs::verify_assertion(assertion, &app.client_id, tenant, registered)
        {
            return aadsts(StatusCode::UNAUTHORIZED, "invalid_client", code, &text);
        }
    } else {
        let Some(secret) = &form.client_secret else {
            return aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        };
        if app.secret.as_ref().is_none_or(|s| s.expose() != secret) {
            return aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    app.client_id
                ),
            );
        }
    }
    let scope = form.scope.as_deref().unwrap_or_default();
    let Some(resource) = scope.strip_suffix("/.default").filter(|r| !r.is_empty()) else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{scope}'."
            ),
        );
    };
    let ttl = i64::try_from(shared.options.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let token = shared
        .signer
        .issue(&tenant_config.id, &app.client_id, resource, &app.roles, ttl);
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": ttl,
        "ext_expires_in": ttl,
        "access_token": token,
    }))
    .into_response()
}

// ---- delegated sign-in: device code and refresh tokens ----

fn find_tenant<'a>(shared: &'a Shared, tenant: &str) -> Option<&'a super::TenantConfig> {
    shared
        .options
        .config
        .tenants
        .iter()
        .find(|t| t.id.eq_ignore_ascii_case(tenant))
}

fn lock_sessions(shared: &Shared) -> std::sync::MutexGuard<'_, Sessions> {
    shared
        .sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_code(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(raw)
}

#[derive(Debug, Deserialize)]
struct DeviceCodeForm {
    client_id: Option<String>,
    scope: Option<String>,
}

/// Starts a device code sign-in that the emulated user approves, declines or lets expire (the
/// tenant's `device_code`) by the second poll.
#[tracing::instrument(skip_all, fields(tenant = %tenant))]
async fn device_code(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<DeviceCodeForm>,
) -> Response {
    let response = start_device_code(&shared, &tenant, &form);
    shared.log(&tenant, "/oauth2/v2.0/devicecode", None, response.status());
    response
}

fn start_device_code(shared: &Shared, tenant: &str, form: &DeviceCodeForm) -> Response {
    let Some(tenant_config) = find_tenant(shared, tenant) else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    };
    let client_id = form.client_id.as_deref().unwrap_or_default();
    if !tenant_config
        .apps
        .iter()
        .any(|a| a.client_id.eq_ignore_ascii_case(client_id))
    {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    }
    let scope = form.scope.clone().unwrap_or_default();
    let Some(resource) = scope
        .split_whitespace()
        .find_map(|s| s.strip_suffix("/.default"))
        .map(str::to_string)
    else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!("The provided value for the input parameter 'scope' is not valid: '{scope}'."),
        );
    };
    let grant = Grant {
        tenant: tenant_config.id.clone(),
        client_id: client_id.to_string(),
        resource,
        offline: scope.split_whitespace().any(|s| s == "offline_access"),
        scope,
    };
    let device_code = random_code(24);
    let user_code = random_code(4).to_ascii_uppercase();
    lock_sessions(shared)
        .device_codes
        .insert(device_code.clone(), (grant, false));
    axum::Json(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900,
        "interval": 1,
        "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate."),
    }))
    .into_response()
}

/// A delegated token answer for `grant`, with a fresh refresh token when it asked for one.
fn delegated_answer(shared: &Shared, tenant: &super::TenantConfig, grant: Grant) -> Response {
    let ttl = i64::try_from(shared.options.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let roles: Vec<String> = tenant
        .apps
        .iter()
        .find(|a| a.client_id.eq_ignore_ascii_case(&grant.client_id))
        .map(|a| a.roles.clone())
        .unwrap_or_default();
    let user = tenant
        .user
        .clone()
        .unwrap_or_else(|| "analyst@emulator.local".to_string());
    let access = shared.signer.issue_delegated(
        &grant.tenant,
        &grant.client_id,
        &grant.resource,
        &roles.join(" "),
        &user,
        ttl,
    );
    let mut body = json!({
        "token_type": "Bearer",
        "scope": grant.scope,
        "expires_in": ttl,
        "ext_expires_in": ttl,
        "access_token": access,
    });
    if grant.offline {
        let refresh = random_code(32);
        body["refresh_token"] = json!(refresh);
        lock_sessions(shared).refresh_tokens.insert(refresh, grant);
    }
    axum::Json(body).into_response()
}

fn redeem_device_code(shared: &Shared, tenant: &super::TenantConfig, form: &TokenForm) -> Response {
    let code = form.device_code.as_deref().unwrap_or_default();
    let mut sessions = lock_sessions(shared);
    let Some((grant, polled)) = sessions.device_codes.get_mut(code) else {
        return expired_device_code();
    };
    if !*polled {
        *polled = true;
        return aadsts(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        );
    }
    let grant = grant.clone();
    sessions.device_codes.remove(code);
    drop(sessions);
    match tenant.device_code {
        DeviceCodeOutcome::Approve => delegated_answer(shared, tenant, grant),
        DeviceCodeOutcome::Decline => aadsts(
            StatusCode::BAD_REQUEST,
            "authorization_declined",
            70000,
            "The user declined the sign-in request.",
        ),
        DeviceCodeOutcome::Expire => expired_device_code(),
    }
}

fn expired_device_code() -> Response {
    aadsts(
        StatusCode::BAD_REQUEST,
        "expired_token",
        70020,
        "The provided value for the input parameter 'device_code' is not valid or has expired.",
    )
}

fn redeem_refresh_token(
    shared: &Shared,
    tenant: &super::TenantConfig,
    form: &TokenForm,
) -> Response {
    let token = form.refresh_token.as_deref().unwrap_or_default();
    // Refresh tokens rotate: each is good once, as Entra ID lets clients assume.
    let grant = lock_sessions(shared).refresh_tokens.remove(token);
    match grant {
        Some(grant) if grant.tenant == tenant.id => delegated_answer(shared, tenant, grant),
        _ => aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            700_082,
            "The refresh token has expired due to inactivity.",
        ),
    }
}

// ---- managed identity and Key Vault ----

#[derive(Debug, Deserialize)]
struct IdentityQuery {
    resource: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn managed_identity(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<IdentityQuery>,
) -> Response {
    let refuse = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let response = if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        )
    } else if let Some(identity) = &shared.options.config.managed_identity {
        match query.resource.filter(|r| !r.is_empty()) {
            None => refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Required query variable 'resource' is missing",
            ),
            Some(resource) => {
                let ttl = i64::try_from(shared.options.token_ttl.as_secs()).unwrap_or(i64::MAX / 2);
                let resource = resource.trim_end_matches('/').to_string();
                let token = shared.signer.issue(
                    &identity.tenant,
                    &identity.client_id,
                    &resource,
                    &identity.roles,
                    ttl,
                );
                axum::Json(json!({
                    "access_token": token,
                    "client_id": identity.client_id,
                    "expires_in": ttl.to_string(),
                    "expires_on": (Utc::now().timestamp() + ttl).to_string(),
                    "resource": resource,
                    "token_type": "Bearer",
                }))
                .into_response()
            }
        }
    } else {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found",
        )
    };
    shared.log(
        "",
        "/metadata/identity/oauth2/token",
        None,
        response.status(),
    );
    response
}

fn vault_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

#[tracing::instrument(skip_all, fields(secret = %name))]
async fn vault_secret(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let claims = token.map(|t| shared.signer.verify(t));
    let (tenant, response) = match claims {
        None | Some(Err(Refusal::Invalid)) => (
            String::new(),
            vault_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
            ),
        ),
        Some(Err(Refusal::Expired)) => (
            String::new(),
            vault_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "AKV10022: Invalid audience or the token is expired.",
            ),
        ),
        Some(Ok(claims))
            if !claims.aud.contains("vault.azure.net")
                && !claims.aud.contains("vault.usgovcloudapi.net") =>
        {
            (
                claims.tid,
                vault_error(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    &format!(
                        "AKV10022: Invalid audience. Expected https://vault.azure.net, found: {}.",
                        claims.aud
                    ),
                ),
            )
        }
        Some(Ok(claims)) => {
            let found = shared
                .options
                .config
                .key_vault
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(&name));
            let response = match found {
                Some(secret) => axum::Json(json!({
                    "value": secret.value.expose(),
                    "id": format!("https://emulator.vault.azure.net/secrets/{}/0", secret.name),
                    "attributes": {"enabled": true},
                }))
                .into_response(),
                None => vault_error(
                    StatusCode::NOT_FOUND,
                    "SecretNotFound",
                    &format!(
                        "A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command."
                    ),
                ),
            };
            (claims.tid, response)
        }
    };
    shared.log(&tenant, "/secrets", None, response.status());
    response
}

// ---- hunting APIs ----

/// An API answer before it is rendered in the API's shape.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn render(self, api: Api, headers: &HeaderMap) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string();
        let body = match api {
            Api::Graph => {
                let client_request_id = headers
                    .get("client-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map_or_else(|| request_id.clone(), str::to_string);
                json!({"error": {
                    "code": self.code,
                    "message": self.message,
                    "innerError": {
                        "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                        "request-id": request_id,
                        "client-request-id": client_request_id,
                    }
                }})
            }
            Api::Mde => json!({"error": {
                "code": self.code,
                "message": self.message,
                "target": request_id,
            }}),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

async fn graph(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    hunt(shared, Api::Graph, headers, body).await
}

async fn mde(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    hunt(shared, Api::Mde, headers, body).await
}

fn query_hash(query: &str) -> String {
    hex::encode(&Sha256::digest(query.as_bytes())[..8])
}

#[tracing::instrument(skip_all, fields(api = ?api))]
async fn hunt(shared: Arc<Shared>, api: Api, headers: HeaderMap, body: String) -> Response {
    if !shared.options.latency.is_zero() {
        tokio::time::sleep(shared.options.latency).await;
    }
    let claims = match authorize(&shared, api, &headers) {
        Ok(claims) => claims,
        Err(failure) => {
            let status = failure.status;
            shared.log("", api.path(), None, status);
            return failure.render(api, &headers);
        }
    };
    let request: Json = match serde_json::from_str(&body) {
        Ok(request) => request,
        Err(e) => {
            let failure = Failure::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("The request body is not valid JSON: {e}"),
            );
            shared.log(&claims.tid, api.path(), None, failure.status);
            return failure.render(api, &headers);
        }
    };
    let Some(query) = request
        .get("Query")
        .and_then(Json::as_str)
        .map(str::to_string)
    else {
        let failure = Failure::new(
            StatusCode::BAD_REQUEST,
            if api == Api::Mde {
                "MissingRequiredParameter"
            } else {
                "BadRequest"
            },
            "Query is a required parameter.",
        );
        shared.log(&claims.tid, api.path(), None, failure.status);
        return failure.render(api, &headers);
    };
    let hash = query_hash(&query);
    let now = Utc::now();
    let outcome = match admit(&shared, api, &claims.tid, &hash) {
        Err(failure) => Err(failure),
        Ok(()) => match window(api, &request, now) {
            Err(failure) => Err(failure),
            Ok(window) => {
                let worker = Arc::clone(&shared);
                tokio::task::spawn_blocking(move || answer(&worker, api, &query, now, window))
                    .await
                    .unwrap_or_else(|e| {
                        Err(Failure::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "UnknownError",
                            format!("query worker failed: {e}"),
                        ))
                    })
            }
        },
    };
    match outcome {
        Ok(body) => {
            shared.log(&claims.tid, api.path(), Some(&hash), StatusCode::OK);
            (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body,
            )
                .into_response()
        }
        Err(failure) => {
            shared.log(&claims.tid, api.path(), Some(&hash), failure.status);
            failure.render(api, &headers)
        }
    }
}

fn authorize(
    shared: &Shared,
    api: Api,
    headers: &HeaderMap,
) -> std::result::Result<Claims, Failure> {
    let unauthorized = |message: &str| {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            if api == Api::Graph {
                "InvalidAuthenticationToken"
            } else {
                "Unauthorized"
            },
            message,
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("Access token is empty."))?;
    let claims = shared
        .signer
        .verify(token)
        .map_err(|refusal| match refusal {
            Refusal::Expired => unauthorized("Lifetime validation failed, the token is expired."),
            Refusal::Invalid => unauthorized("Access token validation failure. Invalid signature."),
        })?;
    // A client whose Graph and MDE endpoints both point here asks for tokens for this server's
    // own origin, as it would for any overridden endpoint; such a token serves both APIs.
    let for_this_server = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| {
            let aud = claims.aud.trim_end_matches('/');
            let aud = aud
                .strip_prefix("http://")
                .or_else(|| aud.strip_prefix("https://"));
            aud.is_some_and(|aud| aud.eq_ignore_ascii_case(host))
        });
    if !for_this_server && !api.accepts_audience(&claims.aud) {
        return Err(unauthorized(&format!(
            "Invalid audience: the token is for '{}'.",
            claims.aud
        )));
    }
    let delegated = claims.scp.as_deref().is_some_and(|scp| {
        scp.split_whitespace()
            .any(|s| s == api.role() || Some(s) == api.role().strip_suffix(".All"))
    });
    if !delegated && !claims.roles.iter().any(|r| r == api.role()) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "Missing application roles. API required roles: {}. Application roles: {}.",
                api.role(),
                claims.roles.join(", ")
            ),
        ));
    }
    Ok(claims)
}

/// Counts the call against the tenant's quotas and injects the configured faults.
fn admit(shared: &Shared, api: Api, tenant: &str, hash: &str) -> std::result::Result<(), Failure> {
    let options = &shared.options;
    let mut counters = shared.lock_counters();
    let now = Instant::now();
    let throttle = |oldest: Instant, span: Duration, limit: u32, per: &str| {
        let wait = (oldest + span).saturating_duration_since(now).as_secs() + 1;
        let mut failure = Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!(
                "Rate limit is exceeded: {limit} calls per {per}. Try again in {wait} seconds."
            ),
        );
        failure.retry_after = Some(wait);
        failure
    };
    let minute = counters.minute.entry(tenant.to_string()).or_default();
    prune(minute, now, Duration::from_secs(60));
    if minute.len() >= options.per_minute as usize
        && let Some(&oldest) = minute.front()
    {
        return Err(throttle(
            oldest,
            Duration::from_secs(60),
            options.per_minute,
            "minute",
        ));
    }
    if api == Api::Mde {
        let hour = counters.mde_hour.entry(tenant.to_string()).or_default();
        prune(hour, now, Duration::from_secs(3600));
        if hour.len() >= options.mde_per_hour as usize
            && let Some(&oldest) = hour.front()
        {
            return Err(throttle(
                oldest,
                Duration::from_secs(3600),
                options.mde_per_hour,
                "hour",
            ));
        }
        hour.push_back(now);
    }
    counters
        .minute
        .entry(tenant.to_string())
        .or_default()
        .push_back(now);
    let calls = counters.tenant_calls.entry(tenant.to_string()).or_default();
    *calls += 1;
    if options.cpu_quota_after.is_some_and(|after| *calls > after) {
        let mut failure = Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "You have exceeded processing resources allocated to this tenant. You can run queries again in 2m.",
        );
        failure.retry_after = Some(120);
        return Err(failure);
    }
    let query_calls = counters.query_calls.entry(hash.to_string()).or_default();
    *query_calls += 1;
    if *query_calls <= options.fail_first {
        return Err(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable.",
        ));
    }
    drop(counters);
    if options.fail_rate > 0.0 {
        let mut rng = shared
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rng.random_bool(options.fail_rate.clamp(0.0, 1.0)) {
            let status = if rng.random_bool(0.5) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            return Err(Failure::new(status, "UnknownError", ""));
        }
    }
    Ok(())
}

fn prune(calls: &mut VecDeque<Instant>, now: Instant, span: Duration) {
    while calls.front().is_some_and(|&t| t + span <= now) {
        calls.pop_front();
    }
}

fn bad_timespan(text: &str) -> Failure {
    Failure::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!(
            "Invalid Timespan '{text}': expected an ISO 8601 interval such as start/end, P30D/end, start/P30D or P30D."
        ),
    )
}

fn iso_duration(text: &str) -> Option<TimeDelta> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = TimeDelta::zero();
    if !days.is_empty() {
        let n: i64 = days.strip_suffix('D')?.parse().ok()?;
        total += TimeDelta::try_days(n)?;
    }
    let mut number = String::new();
    for c in time.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        total += match c {
            'H' => TimeDelta::try_hours(n)?,
            'M' => TimeDelta::try_minutes(n)?,
            'S' => TimeDelta::try_seconds(n)?,
            _ => return None,
        };
    }
    number.is_empty().then_some(total)
}

/// The `[start, end]` a query may see: Graph's `Timespan` (default 30 days), cut to 30 days.
fn window(
    api: Api,
    request: &Json,
    now: DateTime<Utc>,
) -> std::result::Result<(DateTime<Utc>, DateTime<Utc>), Failure> {
    let floor = now - TimeDelta::days(DATA_DAYS);
    let timespan = match api {
        Api::Graph => request.get("Timespan").and_then(Json::as_str),
        Api::Mde => None,
    };
    let Some(text) = timespan else {
        return Ok((floor, now));
    };
    let instant = |part: &str| part.parse::<DateTime<Utc>>().ok();
    let (start, end) = match text.split_once('/') {
        Some((a, b)) => match (instant(a), instant(b), iso_duration(a), iso_duration(b)) {
            (Some(s), Some(e), _, _) => (s, e),
            (None, Some(e), Some(d), _) => (e - d, e),
            (Some(s), None, _, Some(d)) => (s, s + d),
            _ => return Err(bad_timespan(text)),
        },
        None => match (instant(text), iso_duration(text)) {
            (Some(s), _) => (s, now),
            (None, Some(d)) => (now - d, now),
            _ => return Err(bad_timespan(text)),
        },
    };
    if start > end {
        return Err(bad_timespan(text));
    }
    Ok((start.max(floor), end.min(now)))
}

/// Runs the query and renders the success body in the API's shape.
fn answer(
    shared: &Shared,
    api: Api,
    query: &str,
    now: DateTime<Utc>,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> std::result::Result<String, Failure> {
    let mut result = kql::run(&shared.db, query, now, Some(window))
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, "BadRequest", e.to_string()))?;
    result.rows.truncate(MAX_ROWS);
    let schema: Vec<Json> = result
        .schema()
        .into_iter()
        .map(|(name, kind)| match api {
            Api::Graph => json!({"name": name, "type": kind}),
            Api::Mde => json!({"Name": name, "Type": kind}),
        })
        .collect();
    let rows = result.rows_json();
    let body = match api {
        Api::Graph => json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
            "schema": schema,
            "results": rows,
        }),
        Api::Mde => json!({
            "Stats": {
                "ExecutionTime": 0.0,
                "resource_usage": {"cache": {}, "cpu": {}, "memory": {}},
                "dataset_statistics": [{"table_row_count": rows.len(), "table_size": 0}],
            },
            "Schema": schema,
            "Results": rows,
        }),
    };
    let text = body.to_string();
    if text.len() > shared.options.max_result_bytes {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            match api {
                Api::Graph => {
                    "Result size limit exceeded. Use \"summarize\" or \"project\" to reduce the result, or \"take\" to return fewer rows."
                }
                Api::Mde => {
                    "Query execution has exceeded the allowed result size. Optimize your query by limiting the number of results and try again."
                }
            },
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("valid time")
    }

    #[test]
    fn timespans_in_every_documented_form_bound_the_window() {
        let now = at("2026-03-01T12:00:00Z");
        let w = |t: &str| {
            window(Api::Graph, &json!({"Query": "T", "Timespan": t}), now).map_err(|f| f.message)
        };
        assert_eq!(
            w("2026-02-27T00:00:00Z/2026-02-28T00:00:00Z").ok(),
            Some((at("2026-02-27T00:00:00Z"), at("2026-02-28T00:00:00Z")))
        );
        assert_eq!(
            w("P1D/2026-02-28T00:00:00Z").ok(),
            Some((at("2026-02-27T00:00:00Z"), at("2026-02-28T00:00:00Z")))
        );
        assert_eq!(
            w("2026-02-27T00:00:00Z/PT12H").ok(),
            Some((at("2026-02-27T00:00:00Z"), at("2026-02-27T12:00:00Z")))
        );
        assert_eq!(w("PT1H30M").ok(), Some((at("2026-03-01T10:30:00Z"), now)));
        assert_eq!(
            w("2026-03-01T11:00:00Z").ok(),
            Some((at("2026-03-01T11:00:00Z"), now))
        );
        assert_eq!(
            w("P90D").ok(),
            Some((now - TimeDelta::days(30), now)),
            "the 30-day limit"
        );
        assert!(w("yesterday").is_err());
        assert!(w("P1X").is_err());
    }

    #[test]
    fn mde_ignores_timespan_and_sees_30_days() {
        let now = at("2026-03-01T12:00:00Z");
        let w = window(Api::Mde, &json!({"Query": "T", "Timespan": "PT1H"}), now)
            .map_err(|f| f.message);
        assert_eq!(w.ok(), Some((now - TimeDelta::days(30), now)));
    }

    #[test]
    fn audiences_of_every_cloud_are_recognised_per_api() {
        assert!(Api::Graph.accepts_audience("https://graph.microsoft.com"));
        assert!(Api::Graph.accepts_audience("https://dod-graph.microsoft.us"));
        assert!(!Api::Graph.accepts_audience("https://api.securitycenter.microsoft.com"));
        assert!(Api::Mde.accepts_audience("https://api-us.securitycenter.microsoft.com"));
        assert!(Api::Mde.accepts_audience("https://api.security.microsoft.com"));
        assert!(!Api::Mde.accepts_audience("https://graph.microsoft.com"));
    }
}
