//! Error classes and the messages users see for each failed call.

use std::fmt;
use std::time::Duration;

use uuid::Uuid;

use super::api::Api;

/// What kind of failure a run had; stored with the run and decides whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// No token could be had, or the API said 401 even after a fresh one.
    Auth,
    /// 403: the app lacks the API permission or admin consent.
    Permission,
    /// 400: the API rejected the query (bad KQL, bad request).
    Query,
    /// The result is over the API's size limit.
    TooLarge,
    /// 429: the tenant's call rate or CPU allocation is used up.
    Throttled,
    /// No answer within the API's time limit plus a margin.
    Timeout,
    /// 5xx, a broken connection, or a cut or invalid body.
    Transient,
    /// The run was cancelled (shutdown) before it finished.
    Cancelled,
    /// The MDE hunting API answered that it is retired: the job must move to Graph.
    Retired,
}

impl ErrorClass {
    /// The class name stored with a run: `auth`, `permission`, `query`, `too_large`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Permission => "permission",
            Self::Query => "query",
            Self::TooLarge => "too_large",
            Self::Throttled => "throttled",
            Self::Timeout => "timeout",
            Self::Transient => "transient",
            Self::Cancelled => "cancelled",
            Self::Retired => "retired",
        }
    }

    /// Whether another attempt can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Timeout | Self::Transient)
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed hunt: its class, the message for the user, and what identifies the call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct HuntError {
    /// The class, which decided whether it was retried.
    pub class: ErrorClass,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// HTTP status of the last call, if one answered.
    pub http_status: Option<u16>,
    /// The API's `error.code`, if it sent one.
    pub api_code: Option<String>,
    /// The `client-request-id` of the last call, to trace it on Microsoft's side.
    pub client_request_id: Option<Uuid>,
    /// How long the API asked to wait (`Retry-After` or the body's "run queries again in").
    pub retry_after: Option<Duration>,
    /// True when a 429 said the tenant's CPU allocation is exhausted.
    pub cpu_exhausted: bool,
    /// API calls made before giving up.
    pub attempts: u32,
    /// Time spent waiting on throttling (the tenant's quota and between attempts) before
    /// giving up, recorded with the run.
    pub throttle_wait: Duration,
}

impl HuntError {
    /// An error of `class` with `message` and nothing else known yet.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            http_status: None,
            api_code: None,
            client_request_id: None,
            retry_after: None,
            cpu_exhausted: false,
            attempts: 0,
            throttle_wait: Duration::ZERO,
        }
    }

    pub(super) fn with_request_id(mut self, id: Uuid) -> Self {
        self.client_request_id = Some(id);
        self
    }

    pub(super) fn cancelled() -> Self {
        Self::new(
            ErrorClass::Cancelled,
            "the run was cancelled before it finished",
        )
    }
}

/// The `error` object both APIs send: Graph adds `innerError`, MDE a `target` correlation id.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ApiError {
    pub code: Option<String>,
    pub message: Option<String>,
}

impl ApiError {
    /// Reads `{"error": {"code", "message"}}` with keys in any case; other bodies give nothing.
    pub(super) fn parse(body: &[u8]) -> Self {
        let Ok(serde_json::Value::Object(top)) = serde_json::from_slice(body) else {
            return Self::default();
        };
        let Some(serde_json::Value::Object(error)) = get_ignore_case(&top, "error") else {
            return Self::default();
        };
        let text = |key| match get_ignore_case(error, key) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                Some(s.trim().to_string())
            }
            _ => None,
        };
        Self {
            code: text("code"),
            message: text("message"),
        }
    }
}

fn get_ignore_case<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<&'a serde_json::Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Longest stretch of an unparseable error body quoted back to the user.
const BODY_EXCERPT: usize = 300;

/// Turns a non-success answer into its class and message.
pub(super) fn classify_status(
    api: &Api,
    status: u16,
    retry_after_header: Option<&str>,
    body: &[u8],
) -> HuntError {
    let parsed = ApiError::parse(body);
    // A well-formed error object with an empty message says nothing; quote raw bodies only.
    let said = match (&parsed.message, &parsed.code) {
        (Some(message), _) => message.clone(),
        (None, Some(_)) => String::new(),
        (None, None) => excerpt(body),
    };
    let said_lower = said.to_ascii_lowercase();
    let code = parsed.code.clone();
    let code_part = code.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
    let quote = if said.is_empty() {
        String::from("no message")
    } else {
        format!("\"{said}\"")
    };
    let retry_in = parse_retry_in(&said);
    let header = retry_after_header
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let (class, message) = class_and_message(api, status, &said, &said_lower, &code_part, &quote);
    HuntError {
        class,
        message,
        http_status: Some(status),
        api_code: code,
        client_request_id: None,
        retry_after: match (header, retry_in) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        },
        // Only the CPU-allocation message pauses the tenant; a plain rate-limit 429 ("Rate
        // limit is exceeded. Try again in 5 seconds") says "again in" too but only asks this
        // call to wait.
        cpu_exhausted: class == ErrorClass::Throttled
            && said_lower.contains("exceeded processing resources"),
        attempts: 0,
        throttle_wait: Duration::ZERO,
    }
}

/// The class of a failed answer and the message users see, from its status and what it said.
fn class_and_message(
    api: &Api,
    status: u16,
    said: &str,
    said_lower: &str,
    code_part: &str,
    quote: &str,
) -> (ErrorClass, String) {
    let says_retired = said_lower.contains("deprecated") || said_lower.contains("retired");
    if let Some(successor) = api.successor
        && (status == 404 || status == 410 || says_retired)
    {
        return (
            ErrorClass::Retired,
            format!(
                "{} answered that it is retired (HTTP {status}{code_part}: {quote}); {successor}",
                api.name
            ),
        );
    }
    if said_lower.contains("result size") || said_lower.contains("allowed result size") {
        (
            ErrorClass::TooLarge,
            format!(
                "the result is over the {} size limit (HTTP {status}{code_part}: {quote}); \
                 aggregate with `summarize`, project fewer columns, or use a shorter window",
                api.name
            ),
        )
    } else if status == 429 || said_lower.contains("exceeded processing resources") {
        (
            ErrorClass::Throttled,
            format!(
                "the tenant is throttled by {} (HTTP {status}{code_part}: {quote})",
                api.name
            ),
        )
    } else if said_lower.contains("exceeded the timeout") {
        (
            ErrorClass::Timeout,
            format!(
                "the query ran over the {} time limit (HTTP {status}{code_part}: {quote}); \
                 narrow it or use a shorter window",
                api.name
            ),
        )
    } else if status == 401 {
        (
            ErrorClass::Auth,
            format!(
                "{} refused the access token even after a fresh one (HTTP 401{code_part}: {quote}); \
                 check the instance's tenant id, client id and cloud",
                api.name
            ),
        )
    } else if status == 403 {
        (
            ErrorClass::Permission,
            format!(
                "the app registration may not run hunting queries (HTTP 403{code_part}: {quote}): \
                 it needs the application permission {} on the {} API, and an administrator \
                 must grant admin consent for it",
                api.permission, api.permission_on
            ),
        )
    } else if status >= 500 {
        (
            ErrorClass::Transient,
            format!(
                "{} failed on its side (HTTP {status}{code_part}: {quote})",
                api.name
            ),
        )
    } else if status == 400 {
        (
            ErrorClass::Query,
            format!(
                "{} rejected the query (HTTP 400{code_part}): {said}",
                api.name
            ),
        )
    } else {
        (
            ErrorClass::Query,
            format!(
                "{} answered HTTP {status}{code_part} ({quote}); check the instance's endpoint",
                api.name
            ),
        )
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(BODY_EXCERPT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Reads the wait out of "... You can run queries again in <duration>."; lenient about the
/// duration's form: `00:02:00`, `1.00:00:00`, `2 minutes`, `120 seconds`, `1h 30m`, `2m`.
pub fn parse_retry_in(text: &str) -> Option<Duration> {
    const PHRASE: &str = "again in";
    let lower = text.to_ascii_lowercase();
    let at = lower.find(PHRASE)? + PHRASE.len();
    let rest = lower[at..].trim_start();
    let token = rest
        .split_whitespace()
        .next()?
        .trim_end_matches(['.', ',', ';']);
    if token.contains(':') {
        return parse_clock(token);
    }
    parse_units(rest)
}

/// `[d.]hh:mm:ss[.fff]`, as .NET writes a `TimeSpan`.
fn parse_clock(token: &str) -> Option<Duration> {
    let (days, clock) = match token.split_once('.') {
        Some((d, c)) if c.contains(':') => (d.parse::<u64>().ok()?, c),
        _ => (0, token),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => ("0", *m, *s),
        _ => return None,
    };
    let seconds: f64 = s.parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    let whole = days * 86_400 + h.parse::<u64>().ok()? * 3600 + m.parse::<u64>().ok()? * 60;
    Some(Duration::from_secs(whole) + Duration::from_secs_f64(seconds))
}

/// `2 minutes`, `120 seconds`, `1 hour and 5 minutes`, `2m`, `1h30m`: stops at the first word
/// that is neither a number nor a unit.
fn parse_units(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut found = false;
    let mut pending: Option<f64> = None;
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_ascii_digit() {
            let mut end = start;
            while let Some(&(i, d)) = chars.peek() {
                if d.is_ascii_digit() || d == '.' {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            // A trailing full stop ends the sentence, it is not a decimal point.
            pending = Some(text[start..end].trim_end_matches('.').parse().ok()?);
        } else if c.is_ascii_alphabetic() {
            let mut end = start;
            while let Some(&(i, d)) = chars.peek() {
                if d.is_ascii_alphabetic() {
                    end = i + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &text[start..end];
            if word == "and" {
                continue;
            }
            let unit = match word {
                "d" | "day" | "days" => 86_400.0,
                "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
                "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
                "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
                _ => break,
            };
            let Some(value) = pending.take() else { break };
            total += Duration::from_secs_f64(value * unit);
            found = true;
        } else if c.is_whitespace() || c == ',' {
            chars.next();
        } else {
            break;
        }
    }
    found.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_in_reads_every_duration_form() {
        let cases = [
            ("You can run queries again in 00:02:00.", 120),
            ("you can run queries again in 2 minutes.", 120),
            ("You can run queries again in 120 seconds", 120),
            ("You can run queries again in 2m.", 120),
            ("You can run queries again in 1h30m", 5400),
            ("You can run queries again in 1 hour and 5 minutes.", 3900),
            ("You can run queries again in 0.00:15:00", 900),
            ("You can run queries again in 14:59.", 899),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_retry_in(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
    }

    #[test]
    fn only_the_mde_api_is_retired_by_404_410_or_a_message_saying_so() {
        let mde = Api::of(crate::jobs::Environment::Mde);
        let graph = Api::of(crate::jobs::Environment::Graph);
        for (status, body) in [
            (404, &b""[..]),
            (410, br#"{"error":{"code":"Gone","message":"gone"}}"#),
            (
                400,
                br#"{"error":{"code":"BadRequest","message":"This API is deprecated."}}"#,
            ),
        ] {
            let error = classify_status(mde, status, None, body);
            assert_eq!(error.class, ErrorClass::Retired, "{status}: {error}");
            assert!(error.message.contains("M365DGraph"), "{}", error.message);
        }
        assert_eq!(
            classify_status(graph, 404, None, b"").class,
            ErrorClass::Query,
            "Graph is not being retired"
        );
    }

    #[test]
    fn retry_in_is_none_without_phrase_or_duration() {
        assert_eq!(parse_retry_in("Too many requests"), None);
        assert_eq!(parse_retry_in("You can run queries again in a while"), None);
        assert_eq!(parse_retry_in("again in"), None);
    }

    #[test]
    fn api_error_reads_both_shapes_and_any_key_case() {
        let graph = br#"{"error":{"code":"BadRequest","message":"A recognition error occurred.","innerError":{"date":"x","request-id":"r","client-request-id":"c"}}}"#;
        let mde = br#"{"Error":{"Code":"InvalidRequestBody","Message":"bad","target":"43f4cb08"}}"#;
        assert_eq!(
            ApiError::parse(graph),
            ApiError {
                code: Some("BadRequest".into()),
                message: Some("A recognition error occurred.".into())
            }
        );
        assert_eq!(
            ApiError::parse(mde).code.as_deref(),
            Some("InvalidRequestBody")
        );
        assert_eq!(ApiError::parse(b"<html>"), ApiError::default());
    }
}
