//! Certificates registered for apps, and the client assertions signed with their keys.
//!
//! Only what checking an assertion needs is read from a certificate: its thumbprints (the
//! `x5t`/`x5t#S256` an assertion names its key by) and its RSA public key. A short DER walk
//! does that; a full X.509 parser would add a dependency for fields nobody reads here.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Error, Result};

/// OID 1.2.840.113549.1.1.1 (rsaEncryption), DER-encoded.
const RSA_ENCRYPTION: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// A certificate an app may sign client assertions with.
#[derive(Clone)]
pub(crate) struct AppCertificate {
    /// base64url SHA-1 of the DER certificate (`x5t`).
    pub x5t: String,
    /// base64url SHA-256 of the DER certificate (`x5t#S256`).
    pub x5t_s256: String,
    key: DecodingKey,
}

impl std::fmt::Debug for AppCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCertificate")
            .field("x5t_s256", &self.x5t_s256)
            .finish_non_exhaustive()
    }
}

/// One DER element: its tag, its content and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0_usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The PKCS#1 RSA public key inside a DER certificate.
fn rsa_public_key(der: &[u8]) -> Option<&[u8]> {
    let (0x30, certificate, _) = element(der)? else {
        return None;
    };
    let (0x30, mut tbs, _) = element(certificate)? else {
        return None;
    };
    // Optional [0] version, then serial, signature algorithm, issuer, validity, subject.
    if tbs.first() == Some(&0xa0) {
        tbs = element(tbs)?.2;
    }
    for _ in 0..5 {
        tbs = element(tbs)?.2;
    }
    let (0x30, spki, _) = element(tbs)? else {
        return None;
    };
    let (0x30, algorithm, rest) = element(spki)? else {
        return None;
    };
    let (0x06, oid, _) = element(algorithm)? else {
        return None;
    };
    if oid != RSA_ENCRYPTION {
        return None;
    }
    let (0x03, bits, _) = element(rest)? else {
        return None;
    };
    // The first content byte of a BIT STRING counts unused bits: a key has none.
    let (0, key) = bits.split_first()? else {
        return None;
    };
    Some(key)
}

impl AppCertificate {
    /// Reads a PEM or DER certificate file holding an RSA key.
    pub fn load(path: &Path) -> Result<AppCertificate> {
        let bad = |message: &str| Error::Config {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        let raw = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let der = match std::str::from_utf8(&raw)
            .ok()
            .and_then(|t| t.split("-----BEGIN CERTIFICATE-----").nth(1))
            .and_then(|t| t.split("-----END CERTIFICATE-----").next())
        {
            Some(body) => {
                let text: String = body.split_whitespace().collect();
                STANDARD
                    .decode(text)
                    .map_err(|_| bad("the PEM certificate is not valid base64"))?
            }
            None => raw,
        };
        let key = rsa_public_key(&der)
            .ok_or_else(|| bad("not an X.509 certificate with an RSA public key"))?;
        let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        Ok(AppCertificate {
            x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
            x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
            key: DecodingKey::from_rsa_der(key),
        })
    }
}

/// Why Entra ID refuses a client assertion: the AADSTS code and its text.
pub(crate) type Refusal = (u32, String);

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: String,
}

/// Checks a client assertion of `client_id` for `tenant` against the app's certificates:
/// a known thumbprint in the header, a valid RS256/PS256 signature, `aud` the token URL,
/// `iss` and `sub` the client id, and `exp` not passed.
pub(crate) fn verify_assertion(
    assertion: &str,
    client_id: &str,
    tenant: &str,
    certificates: &[AppCertificate],
) -> std::result::Result<(), Refusal> {
    let invalid = |reason: &str| {
        (
            700_027,
            format!("Client assertion contains an invalid signature. [Reason - {reason}]"),
        )
    };
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| invalid("The assertion is not a JWT."))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(invalid("The algorithm is not RS256 or PS256."));
    }
    let certificate = certificates
        .iter()
        .find(|c| {
            header.x5t_s256.as_deref() == Some(c.x5t_s256.as_str())
                || header.x5t.as_deref() == Some(c.x5t.as_str())
        })
        .ok_or_else(|| invalid("The key was not found."))?;
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let data = jsonwebtoken::decode::<AssertionClaims>(assertion, &certificate.key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => (
                700_024,
                "Client assertion is not within its valid time range.".to_string(),
            ),
            _ => invalid("The signature does not match the registered certificate."),
        })?;
    let claims = data.claims;
    if !claims
        .aud
        .ends_with(&format!("/{tenant}/oauth2/v2.0/token"))
    {
        return Err(invalid("The audience is not this tenant's token endpoint."));
    }
    if claims.iss != client_id || claims.sub != client_id {
        return Err(invalid("iss and sub must be the client id."));
    }
    Ok(())
}
