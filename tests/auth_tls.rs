//! The instance's extra CA file is trusted for the token endpoint, and only with it.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod auth_support;

use std::sync::Arc;

use auth_support::*;
use huntd::auth::{Error, Resource, TokenSource, Tokens};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A test CA, and an HTTPS token endpoint on loopback whose certificate that CA signed.
async fn https_token_endpoint() -> (String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![server_cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A failed handshake (the untrusting client) just ends this connection.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = tls.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let body = token_body("tls-token", None).to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                tls.write_all(response.as_bytes()).await.unwrap();
                tls.shutdown().await.unwrap();
            });
        }
    });
    (format!("https://127.0.0.1:{port}"), ca.pem())
}

#[tokio::test]
async fn extra_ca_file_is_trusted_for_the_token_endpoint() {
    let (login, ca_pem) = https_token_endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let mut inst = instance("Proxied", &login, secret_credential("s"));
    inst.ca_file = Some(write(dir.path(), "ca.pem", ca_pem));
    let tokens = Tokens::with_options("/nonexistent", quick());
    let token = tokens.token(&inst, Resource::Graph).await.unwrap();
    assert_eq!(token.token.expose(), "tls-token");
}

#[tokio::test]
async fn without_the_ca_file_the_tls_failure_names_the_endpoint() {
    let (login, _) = https_token_endpoint().await;
    let err = graph_token_error("Proxied", &login).await;
    assert!(matches!(err, Error::Unreachable(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&login), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
}
