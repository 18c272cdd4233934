//! `huntd emulate --tls`: HTTPS with a certificate made at start-up, so clients exercise the
//! same TLS path (and the same per-instance CA file) as against the real service.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, rustls::pki_types::CertificateDer};

use super::{Error, Result};

/// The names the certificate is valid for: every way a client on this machine reaches it.
const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A client that has not finished its handshake by then is dropped, so it holds no slot.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const BACKLOG: usize = 64;

/// Makes a self-signed certificate for [`NAMES`], writes it as PEM to `path` for clients to
/// trust, and returns the acceptor that serves it. The private key never leaves memory.
pub(crate) fn self_signed(path: &Path) -> Result<TlsAcceptor> {
    let failed = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
    let names: Vec<String> = NAMES.iter().map(|&n| n.to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names).map_err(|e| failed(&e))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "huntd emulate");
    // A year from yesterday, not rcgen's centuries: some clients refuse very long lifetimes,
    // and a day back covers clocks that run a little behind.
    let day = |at: chrono::DateTime<chrono::Utc>| {
        use chrono::Datelike as _;
        let narrow = |n: u32| u8::try_from(n).expect("months and days fit in a byte");
        rcgen::date_time_ymd(at.year(), narrow(at.month()), narrow(at.day()))
    };
    let now = chrono::Utc::now();
    params.not_before = day(now - chrono::TimeDelta::days(1));
    params.not_after = day(now + chrono::TimeDelta::days(365));
    let key = rcgen::KeyPair::generate().map_err(|e| failed(&e))?;
    let certificate = params.self_signed(&key).map_err(|e| failed(&e))?;
    std::fs::write(path, certificate.pem()).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| failed(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| failed(&e))?
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(certificate.der().to_vec())], key)
    .map_err(|e| failed(&e))?;
    // The server speaks HTTP/1.1 only; announcing it keeps HTTP/2-capable clients from trying.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A listener whose connections arrive with their TLS handshake done.
#[derive(Debug)]
pub(crate) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `listener` in the background; each handshake runs in its own task so that
    /// a slow or refusing client (one that does not trust the certificate) delays nobody.
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> Result<TlsListener> {
        let local = listener.local_addr().map_err(Error::Serve)?;
        let (sender, ready) = mpsc::channel(BACKLOG);
        tokio::spawn(accept_loop(listener, acceptor, sender));
        Ok(TlsListener { local, ready })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            () = sender.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "the emulator cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    // A closed channel means the server is shutting down.
                    let _ = sender.send((tls, peer)).await;
                }
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "TLS handshake failed (does the client trust the emulator's certificate?)");
                }
                Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop only ends once this receiver is gone, so this never resolves.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
