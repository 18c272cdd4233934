//! Fetching the URLs a query's `externaldata` reads, before the engine runs it: http and https
//! only, all at once, each within a time limit, with a size cap checked as the body streams in
//! (a huge body is cut off, never held whole) and a few redirects.
//!
//! A URL is shown only through [`kql::redact_url`]: its query string holds a storage SAS token.

use std::collections::HashMap;
use std::time::Duration;

use kql::ExternalBodies;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::ExternalDataOptions;

/// Fetches of one query running at once: a query naming many URLs opens few connections at a
/// time, and holds few bodies while it reads them.
const CONCURRENT_FETCHES: usize = 8;

/// Why a query's external data could not be read; every URL in it is redacted.
#[derive(Debug, thiserror::Error)]
pub(super) enum FetchError {
    /// The emulator was told not to fetch.
    #[error(
        "'externaldata' cannot read {url}: external data is disabled in this emulator \
         (huntd emulate --no-external-data)"
    )]
    Disabled {
        /// The first URL the query reads.
        url: String,
    },
    /// Not an http or https URL.
    #[error("'externaldata' cannot read {url}: only http and https URLs are fetched")]
    Scheme {
        /// The URL.
        url: String,
    },
    /// The server answered with an error status.
    #[error("'externaldata' could not fetch {url}: the server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// No whole answer within the time limit.
    #[error("'externaldata' could not fetch {url}: no whole answer within {} s", .limit.as_secs_f64())]
    Timeout {
        /// The URL.
        url: String,
        /// The time limit.
        limit: Duration,
    },
    /// The body is larger than the cap.
    #[error("'externaldata' could not fetch {url}: the body is larger than {max_bytes} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        max_bytes: u64,
    },
    /// The connection or the redirects failed.
    #[error("'externaldata' could not fetch {url}: {cause}")]
    Failed {
        /// The URL.
        url: String,
        /// What went wrong, without the URL.
        cause: String,
    },
}

/// The client `externaldata` fetches with; `None` when external data is disabled.
pub(super) fn client(options: &ExternalDataOptions) -> crate::Result<Option<reqwest::Client>> {
    if !options.enabled {
        return Ok(None);
    }
    reqwest::Client::builder()
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::limited(options.max_redirects))
        .user_agent(concat!("huntd-emulate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map(Some)
        .map_err(|e| crate::Error::Tls(format!("externaldata's HTTP client: {e}")))
}

/// Every body of `urls`, fetched [`CONCURRENT_FETCHES`] at a time; the first failure when one
/// fails.
pub(super) async fn fetch_all(
    client: Option<&reqwest::Client>,
    options: &ExternalDataOptions,
    urls: Vec<String>,
) -> Result<ExternalBodies, FetchError> {
    let Some(first) = urls.first() else {
        return Ok(ExternalBodies::new());
    };
    let Some(client) = client else {
        return Err(FetchError::Disabled {
            url: kql::redact_url(first),
        });
    };
    let mut fetches = JoinSet::new();
    let mut by_task = HashMap::new();
    let permits = std::sync::Arc::new(Semaphore::new(CONCURRENT_FETCHES));
    for url in urls {
        let client = client.clone();
        let permits = std::sync::Arc::clone(&permits);
        let (limit, max_bytes) = (options.timeout, options.max_bytes);
        let task = fetches.spawn({
            let url = url.clone();
            async move {
                // The semaphore is never closed, so the permit always comes; held to the end.
                let _permit = permits.acquire_owned().await;
                fetch(&client, &url, limit, max_bytes).await
            }
        });
        by_task.insert(task.id(), url);
    }
    let mut bodies = ExternalBodies::new();
    while let Some(done) = fetches.join_next_with_id().await {
        let (id, body) = match done {
            Ok((id, body)) => (id, body),
            Err(e) => (
                e.id(),
                Err(FetchError::Failed {
                    url: by_task
                        .get(&e.id())
                        .map_or_else(String::new, |u| kql::redact_url(u)),
                    cause: "the fetch stopped before it finished".to_string(),
                }),
            ),
        };
        // Returning drops `fetches`, which cancels the fetches still running.
        let body = body?;
        if let Some(url) = by_task.remove(&id) {
            bodies.insert(url, body);
        }
    }
    Ok(bodies)
}

/// One URL's body, read chunk by chunk so that the cap holds however much the server sends.
#[tracing::instrument(skip_all, fields(url = %kql::redact_url(url)))]
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    limit: Duration,
    max_bytes: u64,
) -> Result<Vec<u8>, FetchError> {
    let shown = || kql::redact_url(url);
    let failed = |e: reqwest::Error| cause(e, url, limit);
    let parsed = reqwest::Url::parse(url).map_err(|e| FetchError::Failed {
        url: shown(),
        cause: format!("not a URL ({e})"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(FetchError::Scheme { url: shown() });
    }
    let mut response = client.get(parsed).send().await.map_err(failed)?;
    if !response.status().is_success() {
        return Err(FetchError::Status {
            url: shown(),
            status: response.status().as_u16(),
        });
    }
    let too_large = || FetchError::TooLarge {
        url: shown(),
        max_bytes,
    };
    if response.content_length().is_some_and(|n| n > max_bytes) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    tracing::debug!(bytes = body.len(), "externaldata fetched");
    Ok(body)
}

/// A client error as a [`FetchError`] that names neither the URL it was for nor one a redirect
/// led to (reqwest's message holds the whole URL, query string and all).
fn cause(error: reqwest::Error, url: &str, limit: Duration) -> FetchError {
    let shown = kql::redact_url(url);
    if error.is_timeout() {
        return FetchError::Timeout { url: shown, limit };
    }
    let what = if error.is_redirect() {
        "too many redirects".to_string()
    } else {
        let error = error.without_url();
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        text
    };
    // A cause that quotes the URL anyway is cut to what is safe to show.
    let cause = match url.find(['?', '#', ';']) {
        Some(i) if what.contains(&url[i..]) => "the request failed".to_string(),
        _ => what,
    };
    FetchError::Failed { url: shown, cause }
}
