//! Certificate credentials: loading the certificate and RSA key, checking they belong together,
//! and signing the JWT client assertion Entra ID accepts instead of a secret.

use std::path::Path;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use pkcs8::der::Decode;

use super::{Error, Result, resolve_secret};
use crate::config::{AssertionAlg, Credential, Instance, Secret, SecretSource};

/// The `rsaEncryption` algorithm OID of an RSA certificate's public key.
const RSA_ENCRYPTION: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// How long a client assertion is valid; Entra ID accepts at most 10 minutes.
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// What `huntd validate` can show about a certificate credential whose key matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The certificate's subject, RFC 4514 style.
    pub subject: String,
    /// When it stops being valid.
    pub not_after: DateTime<Utc>,
    /// SHA-1 thumbprint in upper-case hex, as the Azure portal shows it.
    pub thumbprint_sha1: String,
}

impl CertificateInfo {
    /// Whether the certificate has already expired.
    pub fn expired(&self) -> bool {
        self.not_after <= Utc::now()
    }
}

/// Loads a certificate credential and checks that the key belongs to the certificate; this is
/// what `huntd validate` calls, so a wrong key is found before the daemon needs a token.
/// `private_key` `None` means the certificate file also holds the key; `password` unlocks an
/// encrypted PKCS#8 key.
pub fn check_certificate(
    certificate: &Path,
    private_key: Option<&Path>,
    password: Option<&Secret>,
) -> Result<CertificateInfo> {
    let loaded = ClientCertificate::load(certificate, private_key, password)?;
    Ok(loaded.info)
}

/// What `huntd validate` can check of an instance's credential without the network: secret
/// files, environment variables and systemd credentials exist, and a certificate's key loads and
/// matches it. Returns the certificate's details for certificate credentials. Settings that
/// come from Key Vault are skipped (they are read at start).
pub fn check_instance_credential(instance: &Instance) -> Result<Option<CertificateInfo>> {
    match &instance.credential {
        Credential::ClientSecret(SecretSource::KeyVault(_)) | Credential::Delegated { .. } => {
            Ok(None)
        }
        Credential::ClientSecret(source) => resolve_secret(source).map(|_| None),
        Credential::Certificate {
            private_key_secret: Some(SecretSource::KeyVault(_)),
            ..
        } => Ok(None),
        Credential::Certificate {
            certificate,
            private_key,
            private_key_secret,
            ..
        } => {
            let password = private_key_secret
                .as_ref()
                .map(resolve_secret)
                .transpose()?;
            check_certificate(certificate, private_key.as_deref(), password.as_ref()).map(Some)
        }
    }
}

/// A certificate and its RSA private key, ready to sign client assertions.
pub(crate) struct ClientCertificate {
    der: Vec<u8>,
    key: RsaKeyPair,
    info: CertificateInfo,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads the certificate (PEM or DER) and the key (PKCS#8, PKCS#1 or encrypted PKCS#8, PEM
    /// or DER) and checks that they match.
    pub(crate) fn load(
        certificate: &Path,
        private_key: Option<&Path>,
        password: Option<&Secret>,
    ) -> Result<Self> {
        let cert_bytes = read(certificate, "certificate")?;
        let der = certificate_der(&cert_bytes).ok_or_else(|| {
            Error::Credential(format!(
                "{} holds no certificate (expected PEM or DER)",
                certificate.display()
            ))
        })?;
        let parsed = x509_cert::Certificate::from_der(&der).map_err(|e| {
            Error::Credential(format!(
                "{} is not a readable X.509 certificate: {e}",
                certificate.display()
            ))
        })?;
        let tbs = parsed.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(Error::Credential(format!(
                "the certificate {} has no RSA key (OID {}); Entra ID client assertions need RSA",
                certificate.display(),
                spki.algorithm.oid
            )));
        }

        let (key_path, key_bytes) = match private_key {
            Some(path) => (path, read(path, "private key")?),
            None => (certificate, cert_bytes.clone()),
        };
        let key = parse_key(&key_bytes, key_path, password)?;
        if spki.subject_public_key.raw_bytes() != key.public_key().as_ref() {
            return Err(Error::Credential(format!(
                "the private key {} does not match the certificate {}: give the key the \
                 certificate was made with",
                key_path.display(),
                certificate.display()
            )));
        }
        let not_after_secs = tbs.validity().not_after.to_unix_duration().as_secs();
        let not_after = i64::try_from(not_after_secs)
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let info = CertificateInfo {
            subject: tbs.subject().to_string(),
            not_after,
            thumbprint_sha1: hex::encode_upper(digest::digest(
                &digest::SHA1_FOR_LEGACY_USE_ONLY,
                &der,
            )),
        };
        Ok(Self { der, key, info })
    }

    /// A signed JWT client assertion for `client_id` at token URL `audience`.
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        alg: AssertionAlg,
    ) -> Result<Secret> {
        let header = match alg {
            AssertionAlg::Ps256 => serde_json::json!({
                "alg": "PS256",
                "typ": "JWT",
                "x5t#S256": URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, &self.der)),
            }),
            AssertionAlg::Rs256 => serde_json::json!({
                "alg": "RS256",
                "typ": "JWT",
                "x5t": URL_SAFE_NO_PAD.encode(
                    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der)
                ),
            }),
        };
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let padding: &'static dyn signature::RsaEncoding = match alg {
            AssertionAlg::Ps256 => &signature::RSA_PSS_SHA256,
            AssertionAlg::Rs256 => &signature::RSA_PKCS1_SHA256,
        };
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                padding,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| {
                Error::Credential("the private key could not sign the client assertion".into())
            })?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig)
        )))
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Credential(format!("cannot read the {what} {}: {e}", path.display())))
}

/// The PEM blocks of a file as (label, DER); unreadable blocks are skipped.
fn pem_blocks(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let from_begin = &rest[start..];
        let Some(label_end) = from_begin["-----BEGIN ".len()..].find("-----") else {
            break;
        };
        let label = &from_begin["-----BEGIN ".len().."-----BEGIN ".len() + label_end];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = from_begin.find(&end_marker) else {
            break;
        };
        let block = &from_begin[..end + end_marker.len()];
        if let Ok((decoded_label, der)) = pkcs8::der::pem::decode_vec(block.as_bytes()) {
            blocks.push((decoded_label.to_owned(), der));
        } else {
            // Kept with no body so the key parser can explain legacy encrypted PEM.
            blocks.push((label.to_owned(), Vec::new()));
        }
        rest = &from_begin[end + end_marker.len()..];
    }
    blocks
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

fn certificate_der(bytes: &[u8]) -> Option<Vec<u8>> {
    if looks_like_pem(bytes) {
        pem_blocks(bytes)
            .into_iter()
            .find(|(label, der)| label == "CERTIFICATE" && !der.is_empty())
            .map(|(_, der)| der)
    } else if bytes.is_empty() {
        None
    } else {
        Some(bytes.to_vec())
    }
}

fn parse_key(bytes: &[u8], path: &Path, password: Option<&Secret>) -> Result<RsaKeyPair> {
    let shown = path.display();
    let not_rsa = || {
        Error::Credential(format!(
            "{shown} holds no RSA private key (PKCS#8, PKCS#1 or encrypted PKCS#8)"
        ))
    };
    if !looks_like_pem(bytes) {
        if let Some(password) = password
            && let Ok(encrypted) = pkcs8::EncryptedPrivateKeyInfoRef::try_from(bytes)
        {
            return decrypt(&encrypted, password, path);
        }
        return RsaKeyPair::from_pkcs8(bytes)
            .or_else(|_| RsaKeyPair::from_der(bytes))
            .map_err(|_| not_rsa());
    }
    for (label, der) in pem_blocks(bytes) {
        match label.as_str() {
            "PRIVATE KEY" => {
                return RsaKeyPair::from_pkcs8(&der).map_err(|e| {
                    Error::Credential(format!(
                        "{shown}: the PKCS#8 key is not a usable RSA key ({e})"
                    ))
                });
            }
            "RSA PRIVATE KEY" if der.is_empty() => {
                return Err(Error::Credential(format!(
                    "{shown} uses OpenSSL's legacy key encryption: convert it with `openssl pkcs8 \
                     -topk8 -v2 aes-256-cbc` and give the password as PrivateKeySecret"
                )));
            }
            "RSA PRIVATE KEY" => {
                return RsaKeyPair::from_der(&der).map_err(|e| {
                    Error::Credential(format!(
                        "{shown}: the PKCS#1 key is not a usable RSA key ({e})"
                    ))
                });
            }
            "ENCRYPTED PRIVATE KEY" => {
                let Some(password) = password else {
                    return Err(Error::Credential(format!(
                        "the private key {shown} is encrypted: give its password as PrivateKeySecret"
                    )));
                };
                let encrypted = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
                    .map_err(|e| {
                        Error::Credential(format!("{shown}: unreadable encrypted key ({e})"))
                    })?;
                return decrypt(&encrypted, password, path);
            }
            "EC PRIVATE KEY" => {
                return Err(Error::Credential(format!(
                    "{shown} holds an EC key; Entra ID client assertions need RSA"
                )));
            }
            _ => {}
        }
    }
    Err(not_rsa())
}

fn decrypt(
    encrypted: &pkcs8::EncryptedPrivateKeyInfoRef<'_>,
    password: &Secret,
    path: &Path,
) -> Result<RsaKeyPair> {
    let document = encrypted.decrypt(password.expose()).map_err(|_| {
        Error::Credential(format!(
            "cannot decrypt the private key {}: is PrivateKeySecret its password?",
            path.display()
        ))
    })?;
    RsaKeyPair::from_pkcs8(document.as_bytes()).map_err(|e| {
        Error::Credential(format!(
            "{}: the decrypted key is not a usable RSA key ({e})",
            path.display()
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_finds_every_block_with_its_label() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n\
                    -----BEGIN PRIVATE KEY-----\nAwQ=\n-----END PRIVATE KEY-----\n";
        let blocks = pem_blocks(text.as_bytes());
        assert_eq!(
            blocks,
            vec![
                ("CERTIFICATE".to_owned(), vec![0, 1, 2]),
                ("PRIVATE KEY".to_owned(), vec![3, 4])
            ]
        );
    }

    #[test]
    fn legacy_encrypted_pem_key_gets_a_conversion_hint() {
        let text = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let err = parse_key(text.as_bytes(), Path::new("k.pem"), None).unwrap_err();
        assert!(err.to_string().contains("openssl pkcs8"), "{err}");
    }

    #[test]
    fn garbage_is_no_rsa_key() {
        let err = parse_key(b"\x01\x02\x03", Path::new("k.der"), None).unwrap_err();
        assert!(err.to_string().contains("no RSA private key"), "{err}");
    }
}
