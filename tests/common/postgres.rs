//! A throwaway PostgreSQL database per test on the server `HUNTD_TEST_POSTGRES_URL` names.
// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use std::future::Future;

use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tokio::task::JoinError;

/// A database created for one test, dropped by [`Scratch::finish`].
pub struct Scratch {
    /// The server URL the test was given.
    pub base: String,
    /// The database's name.
    pub name: String,
    admin: PgConnection,
}

/// The server URL from `HUNTD_TEST_POSTGRES_URL`, or `None` (after a notice) when unset, so the
/// test skips; `HUNTD_REQUIRE_POSTGRES=1` makes an unset URL fail instead.
pub fn server_url() -> Option<String> {
    let Ok(base) = std::env::var("HUNTD_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("HUNTD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "HUNTD_REQUIRE_POSTGRES=1 but HUNTD_TEST_POSTGRES_URL is unset"
        );
        eprintln!("notice: HUNTD_TEST_POSTGRES_URL is unset; skipping the PostgreSQL test");
        return None;
    };
    Some(base)
}

/// Runs `body` with the URL of a fresh database `<prefix>_<uuid>`, then drops the database and
/// fails as `body` failed; does nothing (after a notice) when no server is configured.
pub async fn with_database<F, Fut>(prefix: &str, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = create(prefix).await else {
        return;
    };
    let outcome = tokio::spawn(body(db.url())).await;
    db.finish(outcome).await;
}

/// Creates `<prefix>_<uuid>`, or `None` when no server is configured.
pub async fn create(prefix: &str) -> Option<Scratch> {
    let base = server_url()?;
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&base)
        .await
        .expect("connect to HUNTD_TEST_POSTGRES_URL");
    sqlx::raw_sql(AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    Some(Scratch { base, name, admin })
}

impl Scratch {
    /// The database's URL: the server URL with the database's name as its path.
    pub fn url(&self) -> String {
        let root = &self.base[..self.base.rfind('/').expect("URL has a path")];
        format!("{root}/{}", self.name)
    }

    /// Drops the database, then re-raises the test body's panic so it still fails the test.
    pub async fn finish(mut self, outcome: Result<(), JoinError>) {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "drop database if exists {} with (force)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .expect("drop test database");
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic.into_panic());
        }
    }
}
