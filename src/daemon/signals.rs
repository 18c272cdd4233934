//! Unix signals: SIGTERM and SIGINT stop the daemon, SIGHUP reloads it.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Installs the handlers: SIGTERM/SIGINT cancel `shutdown`, each SIGHUP sends on the returned
/// channel. Must be called inside a Tokio runtime.
pub fn listen(shutdown: CancellationToken) -> std::io::Result<mpsc::Receiver<()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (reload, requests) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {
                    tracing::info!("SIGTERM: stopping");
                    shutdown.cancel();
                }
                _ = int.recv() => {
                    tracing::info!("SIGINT: stopping");
                    shutdown.cancel();
                }
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading config and jobs");
                    // A reload already queued covers this one too.
                    let _ = reload.try_send(());
                }
            }
        }
    });
    Ok(requests)
}
