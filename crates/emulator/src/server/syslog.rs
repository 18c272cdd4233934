//! A syslog receiver on one port for UDP (a message per datagram, RFC 5426) and TCP
//! (octet-counting framing, RFC 6587): each message is checked for RFC 5424's header, written
//! to the request log and announced like the HTTP sinks' notifications.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::state::EmulatorState;
use crate::{Error, Received, Result};

/// Longest message taken over TCP; a longer frame ends the connection.
const MAX_FRAME: usize = 1024 * 1024;

/// Binds TCP on `addr` and UDP on the same address and port, and receives on both until
/// `shutdown`; returns the bound address.
pub(super) async fn listen(
    addr: SocketAddr,
    shared: Arc<EmulatorState>,
    shutdown: CancellationToken,
) -> Result<SocketAddr> {
    let tcp = TcpListener::bind(addr).await.map_err(Error::Serve)?;
    let bound = tcp.local_addr().map_err(Error::Serve)?;
    let udp = UdpSocket::bind(bound).await.map_err(Error::Serve)?;
    tokio::spawn(receive_tcp(tcp, Arc::clone(&shared), shutdown.clone()));
    tokio::spawn(receive_udp(udp, shared, shutdown));
    Ok(bound)
}

async fn receive_udp(socket: UdpSocket, shared: Arc<EmulatorState>, shutdown: CancellationToken) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            got = socket.recv(&mut buffer) => match got {
                Ok(n) => take(&shared, "udp", &buffer[..n]),
                Err(e) => tracing::debug!(error = %e, "syslog datagram lost"),
            },
        }
    }
}

async fn receive_tcp(
    listener: TcpListener,
    shared: Arc<EmulatorState>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => if let Ok((stream, _)) = accepted {
                tokio::spawn(read_frames(stream, Arc::clone(&shared)));
            },
        }
    }
}

/// Reads `LENGTH SP MESSAGE` frames until the sender closes or breaks the framing.
async fn read_frames(mut stream: TcpStream, shared: Arc<EmulatorState>) {
    let mut bytes = Vec::new();
    if stream.read_to_end(&mut bytes).await.is_err() {
        return;
    }
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let Some((length, message)) = frame(rest) else {
            shared.log("sink", "syslog/tcp", None, StatusCode::BAD_REQUEST);
            return;
        };
        take(&shared, "tcp", &message[..length]);
        rest = &message[length..];
    }
}

/// The length of the frame at the start of `bytes` and what follows its `LENGTH SP`.
fn frame(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let space = bytes.iter().take(8).position(|b| *b == b' ')?;
    let length: usize = std::str::from_utf8(&bytes[..space]).ok()?.parse().ok()?;
    let message = &bytes[space + 1..];
    (length <= MAX_FRAME && length <= message.len()).then_some((length, message))
}

/// Checks one message's RFC 5424 header (`<PRI>1 `, PRI 0 to 191), logs and announces it.
fn take(shared: &EmulatorState, transport: &str, message: &[u8]) {
    let text = String::from_utf8_lossy(message);
    let path = format!("syslog/{transport}");
    let valid = text
        .strip_prefix('<')
        .and_then(|t| t.split_once(">1 "))
        .and_then(|(pri, _)| pri.parse::<u8>().ok())
        .is_some_and(|pri| pri <= 191);
    if !valid {
        shared.log("sink", &path, None, StatusCode::BAD_REQUEST);
        return;
    }
    shared.log("sink", &path, None, StatusCode::OK);
    let key = text
        .split_once(" key=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(key, _)| key.to_string());
    shared.announce(Received {
        sink: "syslog".into(),
        summary: format!("a message over {transport}"),
        key,
        body: serde_json::Value::String(text.into_owned()),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_by_their_octet_count_and_broken_ones_refused() {
        assert_eq!(frame(b"5 hello3 abc"), Some((5, &b"hello3 abc"[..])));
        assert_eq!(frame(b"9 short"), None);
        assert_eq!(frame(b"<84>1 no length"), None);
    }
}
