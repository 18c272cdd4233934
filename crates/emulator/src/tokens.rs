//! Access tokens the emulator issues and checks: HS256 JWTs under a key made at start-up.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The claims clients and the APIs care about, named as Entra ID names them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub appid: String,
    pub sub: String,
    pub roles: Vec<String>,
    pub ver: String,
    /// Delegated permissions (space-separated), on tokens a user signed in for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// The signed-in user, on delegated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
}

/// Why a presented token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No token, or one whose signature or shape is wrong.
    Invalid,
    /// Past its `exp` (or before its `nbf`).
    Expired,
}

/// Signs and verifies the emulator's tokens.
pub(crate) struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
}

impl Signer {
    /// A signer with a fresh random key: tokens of one emulator run are useless to the next.
    pub fn new() -> Signer {
        let key: [u8; 32] = rand::rng().random();
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked by `verify` against the same clock that issued the token.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        Signer {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
        }
    }

    /// Issues an app token for `appid` of tenant `tid` for audience `aud`, valid `ttl_secs`.
    pub fn issue(
        &self,
        tid: &str,
        appid: &str,
        aud: &str,
        roles: &[String],
        ttl_secs: i64,
    ) -> String {
        self.sign(&Signer::claims(tid, appid, aud, roles, ttl_secs))
    }

    /// Issues a delegated token: `scp` instead of roles, and the user's `upn`.
    pub fn issue_delegated(
        &self,
        tid: &str,
        appid: &str,
        aud: &str,
        scp: &str,
        upn: &str,
        ttl_secs: i64,
    ) -> String {
        let mut claims = Signer::claims(tid, appid, aud, &[], ttl_secs);
        claims.scp = Some(scp.to_string());
        claims.upn = Some(upn.to_string());
        self.sign(&claims)
    }

    fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    fn claims(tid: &str, appid: &str, aud: &str, roles: &[String], ttl_secs: i64) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            aud: aud.to_string(),
            iss: format!("https://sts.windows.net/{tid}/"),
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
            tid: tid.to_string(),
            appid: appid.to_string(),
            sub: appid.to_string(),
            roles: roles.to_vec(),
            ver: "1.0".to_string(),
            scp: None,
            upn: None,
        }
    }

    /// The claims of a token this signer issued and that has not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, Refusal> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Refusal::Invalid)?;
        let now = Utc::now().timestamp();
        if data.claims.exp <= now || data.claims.nbf > now {
            return Err(Refusal::Expired);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_carry_their_claims() {
        let signer = Signer::new();
        let token = signer.issue("t", "a", "https://graph.microsoft.com", &["R".into()], 60);
        let claims = signer.verify(&token).expect("valid");
        assert_eq!((claims.tid.as_str(), claims.appid.as_str()), ("t", "a"));
        assert_eq!(claims.roles, ["R"]);
    }

    #[test]
    fn expired_foreign_and_garbled_tokens_are_refused() {
        let signer = Signer::new();
        let expired = signer.issue("t", "a", "x", &[], -1);
        assert_eq!(signer.verify(&expired).map(|_| ()), Err(Refusal::Expired));
        let foreign = Signer::new().issue("t", "a", "x", &[], 60);
        assert_eq!(signer.verify(&foreign).map(|_| ()), Err(Refusal::Invalid));
        assert_eq!(signer.verify("abc").map(|_| ()), Err(Refusal::Invalid));
    }
}
