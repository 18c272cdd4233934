//! Reaching PostgreSQL at start-up: a database that is down (still booting, restarting, a
//! wrong port) is retried for a while with a log line per attempt, and then named with its
//! real cause instead of sqlx's bare "pool timed out".

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::time::Instant;

use super::Error;

/// How long start-up waits for an unreachable database before giving up.
pub const START_PATIENCE: Duration = Duration::from_secs(30);

/// The first wait between attempts; it doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// "PostgreSQL at host:port, database `name` as `user`": never the password.
pub fn describe(options: &PgConnectOptions) -> String {
    let database = options.get_database().unwrap_or("(default)");
    format!(
        "PostgreSQL at {}:{}, database `{database}` as `{}`",
        options.get_host(),
        options.get_port(),
        options.get_username()
    )
}

/// Returns once one connection to `options` opened, retrying the failures a later attempt can
/// cure (refused, reset, DNS, TLS handshake, timeouts) until `patience` has passed.
pub async fn wait_until_reachable(
    options: &PgConnectOptions,
    patience: Duration,
) -> Result<(), Error> {
    let target = describe(options);
    let deadline = Instant::now() + patience;
    let mut delay = FIRST_DELAY;
    let mut attempt = 1u32;
    loop {
        let error = match options.connect().await {
            Ok(connection) => {
                let _ = connection.close().await;
                if attempt > 1 {
                    tracing::info!(database = %target, attempt, "the database is reachable");
                }
                return Ok(());
            }
            Err(error) => error,
        };
        // sqlx's own text hides the OS error, which is in the source chain.
        let cause = crate::error_chain::one_line(&error);
        if !retryable(&error) || Instant::now() + delay > deadline {
            return Err(Error::Unreachable {
                target,
                cause,
                tried: attempt,
            });
        }
        tracing::warn!(
            database = %target,
            attempt,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "cannot reach the database: {cause}; retrying"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_DELAY);
        attempt += 1;
    }
}

/// Failures of reaching the server, as opposed to what it answered (a wrong password or an
/// unknown database does not get better by waiting).
fn retryable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut
    ) || matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("57P03"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    #[test]
    fn the_description_names_host_port_database_and_user_but_never_the_password() {
        let options = PgConnectOptions::from_str("postgres://ann:hunter2@db.example:6543/hunts")
            .expect("url");
        let text = describe(&options);
        assert_eq!(
            text,
            "PostgreSQL at db.example:6543, database `hunts` as `ann`"
        );
        assert!(!text.contains("hunter2"));
    }
}
