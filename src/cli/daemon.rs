//! `huntd run`: loads everything, opens the store and runs the daemon until SIGTERM/SIGINT.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::shared::{EXIT_INVALID, runtime, tokens_for, valid};
use crate::config;
use crate::daemon;
use crate::load::{Loaded, Scope};
use crate::store;

/// Runs the scheduler daemon with a lease of `lease_secs`.
pub fn run(config: Option<&Path>, lease_secs: u64) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        // Signals first, before loading, signing in or connecting: a SIGTERM that comes while
        // the database is still unreachable (a restart under systemd) is then a clean stop,
        // not the default kill with status 143 that leaves the last runs behind.
        let shutdown = CancellationToken::new();
        let reload = daemon::signals::listen(shutdown.clone())?;
        let path = match config::locate(config) {
            Ok(path) => path,
            Err(diagnostic) => {
                eprintln!("{diagnostic}");
                return Ok(ExitCode::from(EXIT_INVALID));
            }
        };
        let (mut config, jobs) = match valid(Loaded::from_path(&path, Scope::Jobs)) {
            Ok(loaded) => loaded,
            Err(code) => return Ok(code),
        };
        let tokens = Arc::new(tokens_for(&mut config, None).await?);
        let store = tokio::select! {
            store = store::open(&config.database) => store?,
            () = shutdown.cancelled() => {
                tracing::info!("stopped before the database could be reached");
                return Ok(ExitCode::SUCCESS);
            }
        };
        let mut options = daemon::Options::new(path);
        options.reload = Some(reload);
        options.lease = std::time::Duration::from_secs(lease_secs);
        options.key_vault = Some(Arc::clone(&tokens));
        daemon::run(config, jobs, Arc::clone(&store), tokens, shutdown, options).await?;
        store.close().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
