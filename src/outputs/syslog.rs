//! Syslog: one RFC 5424 message per finding, over UDP (one datagram each, RFC 5426), TCP with
//! octet-counting framing (RFC 6587) or TLS with the same framing (RFC 5425); the message is the
//! finding's JSON, or ArcSight CEF with `format: cef`. Structured data names the job, run,
//! instance, finding and the key.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::SecondsFormat;
use rustls_platform_verifier::BuilderVerifierExt as _;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::{Finding, Notification, SendError};
use crate::config::{SyslogFormat, SyslogTransport};

/// PRI of every message: facility 10 (security/authorization, private) at severity 4 (warning).
const PRI: u8 = 10 * 8 + 4;
/// The structured data element's id: `name@<private enterprise number>`, with the number RFC
/// 5612 sets aside for documentation, as huntd has none of its own.
const SD_ID: &str = "huntd@32473";
/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

/// How a syslog output's messages travel, ready to connect.
#[derive(Clone)]
pub(super) enum Link {
    /// One datagram per message.
    Udp,
    /// Octet-counted messages on a TCP connection.
    Tcp,
    /// Octet-counted messages on a TLS connection, verified with this connector's roots.
    Tls(TlsConnector),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Link::Udp => "udp",
            Link::Tcp => "tcp",
            Link::Tls(_) => "tls",
        })
    }
}

impl Link {
    /// The link for `transport`; for TLS, trusting only `ca_file` when given, else the
    /// system's roots.
    pub(super) fn new(transport: SyslogTransport, ca_file: Option<&Path>) -> Result<Link, String> {
        Ok(match transport {
            SyslogTransport::Udp => Link::Udp,
            SyslogTransport::Tcp => Link::Tcp,
            SyslogTransport::Tls => Link::Tls(tls_connector(ca_file)?),
        })
    }
}

fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector, String> {
    let builder = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?;
    let config = match ca_file {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            let shown = path.display();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read ca_file {shown}: {e}"))?
            {
                let cert = cert.map_err(|e| format!("ca_file {shown}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("ca_file {shown}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("ca_file {shown} holds no certificate"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .with_platform_verifier()
            .map_err(|e| format!("cannot read the system's CA certificates: {e}"))?
            .with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Sends one message per finding to `address` (`host:port`) over `link`.
pub(super) async fn send(
    link: &Link,
    address: &str,
    format: SyslogFormat,
    host: &str,
    notification: &Notification,
) -> Result<(), SendError> {
    let messages: Vec<String> = notification
        .findings
        .iter()
        .map(|finding| message(format, host, notification, finding))
        .collect();
    let failed = |e: std::io::Error| SendError::transient(format!("syslog {address}: {e}"));
    match link {
        Link::Udp => {
            let socket = tokio::net::UdpSocket::bind(if address.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            })
            .await
            .map_err(failed)?;
            socket.connect(address).await.map_err(failed)?;
            for message in &messages {
                let bytes = message.as_bytes();
                socket
                    .send(&bytes[..bytes.len().min(MAX_DATAGRAM)])
                    .await
                    .map_err(failed)?;
            }
        }
        Link::Tcp => {
            let stream = connect(address).await?;
            write_framed(stream, &messages).await.map_err(failed)?;
        }
        Link::Tls(connector) => {
            let stream = connect(address).await?;
            let name = server_name(address)
                .map_err(|e| SendError::transient(format!("syslog {address}: {e}")))?;
            let stream = tokio::time::timeout(super::SEND_TIMEOUT, connector.connect(name, stream))
                .await
                .map_err(|_| {
                    SendError::transient(format!("syslog {address}: TLS handshake timed out"))
                })?
                .map_err(|e| SendError::transient(format!("syslog {address}: TLS: {e}")))?;
            write_framed(stream, &messages).await.map_err(failed)?;
        }
    }
    Ok(())
}

async fn connect(address: &str) -> Result<tokio::net::TcpStream, SendError> {
    tokio::time::timeout(super::SEND_TIMEOUT, tokio::net::TcpStream::connect(address))
        .await
        .map_err(|_| SendError::transient(format!("syslog {address}: timed out")))?
        .map_err(|e| SendError::transient(format!("syslog {address}: {e}")))
}

/// The name the receiver's certificate must carry: the address without its port.
fn server_name(address: &str) -> Result<ServerName<'static>, String> {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("`{host}` is no TLS server name: {e}"))
}

/// Writes `messages` with octet-counting framing (RFC 6587, also RFC 5425's), then closes.
async fn write_framed(
    mut stream: impl AsyncWrite + Unpin,
    messages: &[String],
) -> std::io::Result<()> {
    let mut framed = Vec::new();
    for message in messages {
        framed.extend_from_slice(format!("{} ", message.len()).as_bytes());
        framed.extend_from_slice(message.as_bytes());
    }
    stream.write_all(&framed).await?;
    stream.shutdown().await
}

/// One RFC 5424 message for `finding`.
pub(super) fn message(
    format: SyslogFormat,
    host: &str,
    notification: &Notification,
    finding: &Finding,
) -> String {
    let timestamp = notification
        .committed_at
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut text = format!(
        "<{PRI}>1 {timestamp} {} huntd {} finding [{SD_ID}",
        header_field(host, 255),
        std::process::id()
    );
    for (name, value) in [
        ("job", notification.job.as_str()),
        ("instance", notification.instance.as_str()),
        ("run", &notification.run_id.to_string()),
        ("finding", finding.row_hash.as_str()),
        ("key", notification.idempotency_key.as_str()),
    ] {
        let _ = write!(text, " {name}=\"{}\"", param_value(value));
    }
    text.push_str("] ");
    match format {
        SyslogFormat::Rfc5424 => {
            // The BOM says the message is UTF-8 (RFC 5424 section 6.4).
            text.push('\u{feff}');
            text.push_str(&finding.data.to_string());
        }
        SyslogFormat::Cef => text.push_str(&cef(notification, finding)),
    }
    text
}

/// An ArcSight CEF event for `finding`.
pub(super) fn cef(notification: &Notification, finding: &Finding) -> String {
    let name = format!("new finding from job {}", notification.job);
    let mut text = format!(
        "CEF:0|huntd|huntd|{}|{}|{}|5|",
        cef_header(env!("CARGO_PKG_VERSION")),
        cef_header(&notification.job),
        cef_header(&name)
    );
    let pairs = [
        ("rt", finding.first_seen_at.timestamp_millis().to_string()),
        ("cs1Label", "job".into()),
        ("cs1", notification.job.clone()),
        ("cs2Label", "instance".into()),
        ("cs2", notification.instance.clone()),
        ("cs3Label", "run".into()),
        ("cs3", notification.run_id.to_string()),
        ("cs4Label", "finding".into()),
        ("cs4", finding.row_hash.clone()),
        ("cs5Label", "key".into()),
        ("cs5", notification.idempotency_key.clone()),
        ("msg", finding.data.to_string()),
    ];
    let extension: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", cef_extension(value)))
        .collect();
    text.push_str(&extension.join(" "));
    text
}

/// A header field (HOSTNAME): printable US-ASCII without spaces, `-` when empty.
fn header_field(text: &str, max: usize) -> String {
    let kept: String = text
        .chars()
        .filter(char::is_ascii_graphic)
        .take(max)
        .collect();
    if kept.is_empty() { "-".into() } else { kept }
}

/// An SD parameter value: `"`, `\` and `]` escaped with a backslash.
fn param_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A CEF header field: `|` and `\` escaped; line breaks would end the event, so they are spaces.
fn cef_header(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A CEF extension value: `=` and `\` escaped, line breaks written `\n` and `\r`.
fn cef_extension(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '=' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Notification {
        let mut n = Notification::sample("s");
        n.job = "j|b".into();
        n.findings[0].data = serde_json::json!({"Cmd": "a=b\\c\nd"});
        n
    }

    #[test]
    fn structured_data_escapes_quotes_backslashes_and_brackets() {
        assert_eq!(param_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        let n = sample();
        let text = message(SyslogFormat::Rfc5424, "node 1", &n, &n.findings[0]);
        assert!(text.starts_with("<84>1 "), "{text}");
        assert!(text.contains(" node1 huntd "), "{text}");
        assert!(text.contains(&format!("[huntd@32473 job=\"j|b\" instance=\"none\" run=\"0\" finding=\"{}\" key=\"{}\"] \u{feff}{{", n.findings[0].row_hash, n.idempotency_key)), "{text}");
    }

    #[test]
    fn cef_escapes_its_header_and_extension_as_arcsight_reads_them() {
        let n = sample();
        let text = cef(&n, &n.findings[0]);
        assert!(text.starts_with("CEF:0|huntd|huntd|"), "{text}");
        assert!(
            text.contains(r"|j\|b|new finding from job j\|b|5|"),
            "{text}"
        );
        assert!(text.contains(r#"msg={"Cmd":"a\=b\\\\c\\nd"}"#), "{text}");
        assert!(!text.contains('\n'));
    }
}
