//! One HTTP post to a receiver and what its answer means: 2xx delivered; 408, 429, 5xx and
//! transport failures worth another try (after `Retry-After` when given); any other answer
//! refused for good.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use super::SendError;
use crate::config::SinkUrl;

/// Most of a refusal's body quoted in its error.
const QUOTED_BODY: usize = 200;

/// Posts `body` as JSON with `headers`.
pub(super) async fn post_json(
    client: &reqwest::Client,
    url: &SinkUrl,
    body: &serde_json::Value,
    headers: &[(&str, String)],
) -> Result<(), SendError> {
    post(
        client,
        url.expose().clone(),
        url,
        body.to_string().into_bytes(),
        "application/json",
        headers,
    )
    .await
}

/// Posts `body` to `target` (`url` or a path under it) with `headers`.
pub(super) async fn post(
    client: &reqwest::Client,
    target: reqwest::Url,
    url: &SinkUrl,
    body: Vec<u8>,
    content_type: &str,
    headers: &[(&str, String)],
) -> Result<(), SendError> {
    let mut request = client
        .post(target)
        .header(CONTENT_TYPE, content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.map_err(|e| unsent(url, &e))?;
    answer(url, response).await
}

/// The error of a request that got no answer.
pub(super) fn unsent(url: &SinkUrl, error: &reqwest::Error) -> SendError {
    // reqwest's message names the URL, which may hold the receiver's credential.
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    SendError::transient(format!("{} {what}", url.shown()))
}

/// What the receiver's answer means: delivered on 2xx, else why not.
pub(super) async fn answer(url: &SinkUrl, response: reqwest::Response) -> Result<(), SendError> {
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, Utc::now()));
    let bytes = response.bytes().await.unwrap_or_default();
    Err(refused(url, status, &bytes, retry_after))
}

/// The error of a non-success answer.
pub(super) fn refused(
    url: &SinkUrl,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> SendError {
    let said: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(QUOTED_BODY)
        .collect();
    let said = said.trim();
    let mut message = format!("{} answered HTTP {status}", url.shown());
    if !said.is_empty() {
        message.push_str(": ");
        message.push_str(said);
    }
    let permanent = !(status == 408 || status == 429 || status >= 500);
    if (300..400).contains(&status) {
        message.push_str(" (redirects are not followed: point the output at the final URL)");
    }
    SendError {
        message,
        permanent,
        retry_after,
    }
}

/// A `Retry-After` value: seconds, or an HTTP date after `now`.
pub(super) fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    (at - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn only_408_429_and_5xx_are_worth_another_try() {
        let url = SinkUrl::parse("https://hooks.example/T/B/sekrit").expect("valid");
        for status in [408, 429, 500, 503] {
            assert!(!refused(&url, status, b"", None).permanent, "{status}");
        }
        for status in [301, 400, 401, 403, 404, 410] {
            assert!(refused(&url, status, b"", None).permanent, "{status}");
        }
        let e = refused(&url, 400, b"invalid_payload\n", None);
        assert_eq!(
            e.message,
            "https://hooks.example/… answered HTTP 400: invalid_payload"
        );
    }
}
