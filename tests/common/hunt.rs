//! Shared pieces of the hunt tests: instances pointing at a loopback server, a fake token source.
// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Duration as ChronoDuration, Utc};
use huntd::auth::{self, AccessToken, Resource, TokenSource};
use huntd::config::{Cloud, Credential, Endpoints, Instance, Secret, SecretSource};
use huntd::hunt::{HunterOptions, Jitter, RetryPolicy};

/// An instance whose Graph and MDE endpoints are both `base`.
pub fn instance(name: &str, base: &str) -> Instance {
    Instance {
        name: name.to_string(),
        tenant_id: "00000000-0000-0000-0000-000000000001".into(),
        client_id: "00000000-0000-0000-0000-000000000002".into(),
        credential: Credential::ClientSecret(SecretSource::Plain(Secret::new("s"))),
        cloud: Cloud::Global,
        endpoints: Endpoints {
            login: base.to_string(),
            graph: base.to_string(),
            mde: format!("{base}/"),
            keyvault: base.to_string(),
            monitor: base.to_string(),
        },
        quota: None,
        ca_file: None,
        allow_overcommit: false,
        mde_retirement_noticed: false,
        tags: Vec::new(),
        source: PathBuf::from("huntd.yaml"),
    }
}

/// Options that retry quickly and deterministically (jitter always picks the ceiling).
pub fn fast_options() -> HunterOptions {
    HunterOptions {
        retry: RetryPolicy {
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_total: Duration::from_secs(60),
            max_attempts: 3,
            max_timeouts: 1,
        },
        jitter: Jitter::fixed(|ceiling| ceiling),
        ..HunterOptions::default()
    }
}

/// Hands out `token-<n>`, where n counts invalidations; records every call.
#[derive(Debug, Default)]
pub struct FakeTokens {
    state: Mutex<FakeState>,
    /// When set, every `token` call fails with this message.
    pub fail: Option<String>,
}

/// What the fake has been asked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FakeState {
    /// `token` calls.
    pub fetched: u32,
    /// `invalidate` calls.
    pub invalidated: u32,
    /// Resources asked for, in order.
    pub resources: Vec<Resource>,
}

impl FakeTokens {
    /// A source whose every `token` call fails with `message`.
    pub fn failing(message: &str) -> Self {
        Self {
            fail: Some(message.to_string()),
            ..Self::default()
        }
    }

    /// What it has been asked so far.
    pub fn state(&self) -> FakeState {
        self.state
            .lock()
            .expect("no test thread panicked holding the lock")
            .clone()
    }
}

#[async_trait]
impl TokenSource for FakeTokens {
    async fn token(&self, _instance: &Instance, resource: Resource) -> auth::Result<AccessToken> {
        let mut state = self
            .state
            .lock()
            .expect("no test thread panicked holding the lock");
        state.fetched += 1;
        state.resources.push(resource);
        if let Some(message) = &self.fail {
            return Err(auth::Error::Rejected(message.clone()));
        }
        Ok(AccessToken {
            token: Secret::new(format!("token-{}", state.invalidated + 1)),
            expires_at: Utc::now() + ChronoDuration::hours(1),
        })
    }

    async fn invalidate(&self, _instance: &Instance, _resource: Resource) {
        self.state
            .lock()
            .expect("no test thread panicked holding the lock")
            .invalidated += 1;
    }
}

/// A listener on a free loopback port and its `http://` base URL.
pub async fn loopback() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback port");
    let base = format!(
        "http://{}",
        listener.local_addr().expect("bound socket has an address")
    );
    (listener, base)
}
