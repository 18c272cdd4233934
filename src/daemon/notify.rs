//! systemd's notify protocol: one datagram per state change to `$NOTIFY_SOCKET`.

use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where state changes go; does nothing when huntd does not run under `Type=notify`.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (honouring `$WATCHDOG_PID`).
    pub fn from_env() -> Self {
        let target = std::env::var("NOTIFY_SOCKET").ok().and_then(|path| {
            // A leading `@` names a socket in the abstract namespace.
            let addr = match path.strip_prefix('@') {
                Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
                None => SocketAddr::from_pathname(&path),
            }
            .ok()?;
            Some((UnixDatagram::unbound().ok()?, addr))
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.parse::<u64>().ok())
            .filter(|usec| *usec > 0 && for_us)
            .map(Duration::from_micros);
        Self { target, watchdog }
    }

    /// Sends `state` (`READY=1`, `STATUS=...`); failures are logged, never fatal.
    pub fn notify(&self, state: &str) {
        if let Some((socket, addr)) = &self.target
            && let Err(e) = socket.send_to_addr(state.as_bytes(), addr)
        {
            tracing::debug!(error = %e, "cannot notify systemd");
        }
    }

    /// How often to send `WATCHDOG=1`: half the watchdog timeout, if one is set.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|timeout| timeout / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_arrive_as_datagrams_on_the_notify_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let notifier = Notifier {
            target: Some((
                UnixDatagram::unbound().expect("socket"),
                SocketAddr::from_pathname(&path).expect("path address"),
            )),
            watchdog: Some(Duration::from_secs(20)),
        };
        notifier.notify("READY=1\nSTATUS=2 jobs, 0 running");
        let mut buf = [0u8; 128];
        let n = receiver.recv(&mut buf).expect("datagram");
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=2 jobs, 0 running");
        assert_eq!(notifier.watchdog_every(), Some(Duration::from_secs(10)));
    }
}
