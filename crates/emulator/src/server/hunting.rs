//! The Graph and MDE hunting APIs: authorization, quotas and injected faults, the time window,
//! and answers in each API's shape.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use chrono::{DateTime, TimeDelta, Utc};
use kql::ExternalBodies;
use rand::Rng;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::external;
use super::state::EmulatorState;
use crate::tokens::{Claims, Refusal};
use crate::{GRAPH_ROLE, MDE_ROLE};

/// Rows an answer holds at most; more are cut off silently, as the service does.
pub const MAX_ROWS: usize = 100_000;

/// How far back the APIs let a query see.
pub(super) const DATA_DAYS: i64 = 30;

/// The two hunting APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    Graph,
    Mde,
}

impl Api {
    pub(super) fn path(self) -> &'static str {
        match self {
            Api::Graph => "/v1.0/security/runHuntingQuery",
            Api::Mde => "/api/advancedqueries/run",
        }
    }

    pub(super) fn role(self) -> &'static str {
        match self {
            Api::Graph => GRAPH_ROLE,
            Api::Mde => MDE_ROLE,
        }
    }

    /// Whether a token's audience is this API's resource (any cloud's host).
    pub(super) fn accepts_audience(self, aud: &str) -> bool {
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

/// An API answer before it is rendered in the API's shape.
pub(super) struct Failure {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    pub(super) retry_after: Option<u64>,
}

impl Failure {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Failure {
        Failure {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(super) fn render(self, api: Api, headers: &HeaderMap) -> Response {
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

/// The route of `api`'s hunting endpoint: a POST of the query.
pub(super) fn endpoint(api: Api) -> MethodRouter<Arc<EmulatorState>> {
    post(
        move |State(shared): State<Arc<EmulatorState>>, headers: HeaderMap, body: String| {
            hunt(shared, api, headers, body)
        },
    )
}

pub(super) fn query_hash(query: &str) -> String {
    hex::encode(&Sha256::digest(query.as_bytes())[..8])
}

#[tracing::instrument(skip_all, fields(api = ?api))]
pub(super) async fn hunt(
    shared: Arc<EmulatorState>,
    api: Api,
    headers: HeaderMap,
    body: String,
) -> Response {
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
    let outcome = match admit(&shared, api, &claims.tid, &hash) {
        Err(failure) => Err(failure),
        Ok(()) => run(&shared, api, &request, query).await,
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

/// The query's window, its external data fetched, then the query run on a blocking thread.
async fn run(
    shared: &Arc<EmulatorState>,
    api: Api,
    request: &Json,
    query: String,
) -> std::result::Result<String, Failure> {
    let now = Utc::now();
    let window = window(api, request, now)?;
    // A query that does not parse lists no URL here; running it reports why it does not parse.
    let urls = kql::external_urls(&query).unwrap_or_default();
    let external =
        external::fetch_all(shared.fetcher.as_ref(), &shared.options.external_data, urls)
            .await
            .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, "BadRequest", e.to_string()))?;
    let worker = Arc::clone(shared);
    tokio::task::spawn_blocking(move || answer(&worker, api, &query, now, window, &external))
        .await
        .unwrap_or_else(|e| {
            Err(Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UnknownError",
                format!("query worker failed: {e}"),
            ))
        })
}

pub(super) fn authorize(
    shared: &EmulatorState,
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
pub(super) fn admit(
    shared: &EmulatorState,
    api: Api,
    tenant: &str,
    hash: &str,
) -> std::result::Result<(), Failure> {
    let options = &shared.options;
    if api == Api::Mde && options.mde_retired {
        // Microsoft has not published the retired API's answer; 410 with a message saying
        // so is what huntd must recognise either way.
        return Err(Failure::new(
            StatusCode::GONE,
            "Gone",
            "The Microsoft Defender for Endpoint advanced hunting API has been retired. \
             Use Microsoft Graph runHuntingQuery instead.",
        ));
    }
    let mut counters = shared.lock_counters();
    let now = Instant::now();
    let minute = counters.minute.entry(tenant.to_string()).or_default();
    within_quota(minute, now, options.per_minute, QuotaSpan::Minute)?;
    if api == Api::Mde {
        let hour = counters.mde_hour.entry(tenant.to_string()).or_default();
        within_quota(hour, now, options.mde_per_hour, QuotaSpan::Hour)?;
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

/// The spans the API counts calls over.
#[derive(Debug, Clone, Copy)]
enum QuotaSpan {
    Minute,
    Hour,
}

impl QuotaSpan {
    fn length(self) -> Duration {
        match self {
            Self::Minute => Duration::from_secs(60),
            Self::Hour => Duration::from_secs(3600),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
        }
    }
}

/// Forgets the `calls` older than `span`; a 429 like the API's when `limit` calls remain, with
/// the wait until the oldest of them leaves the span.
fn within_quota(
    calls: &mut VecDeque<Instant>,
    now: Instant,
    limit: u32,
    span: QuotaSpan,
) -> std::result::Result<(), Failure> {
    prune(calls, now, span.length());
    if calls.len() >= limit as usize
        && let Some(&oldest) = calls.front()
    {
        let wait = (oldest + span.length())
            .saturating_duration_since(now)
            .as_secs()
            + 1;
        let per = span.name();
        let mut failure = Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!(
                "Rate limit is exceeded: {limit} calls per {per}. Try again in {wait} seconds."
            ),
        );
        failure.retry_after = Some(wait);
        return Err(failure);
    }
    Ok(())
}

pub(super) fn prune(calls: &mut VecDeque<Instant>, now: Instant, span: Duration) {
    while calls.front().is_some_and(|&t| t + span <= now) {
        calls.pop_front();
    }
}

pub(super) fn bad_timespan(text: &str) -> Failure {
    Failure::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!(
            "Invalid Timespan '{text}': expected an ISO 8601 interval such as start/end, P30D/end, start/P30D or P30D."
        ),
    )
}

pub(super) fn iso_duration(text: &str) -> Option<TimeDelta> {
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
pub(super) fn window(
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
pub(super) fn answer(
    shared: &EmulatorState,
    api: Api,
    query: &str,
    now: DateTime<Utc>,
    window: (DateTime<Utc>, DateTime<Utc>),
    external: &ExternalBodies,
) -> std::result::Result<String, Failure> {
    let mut result =
        kql::run_with_external(&shared.tables(), query, now, Some(window), external)
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
