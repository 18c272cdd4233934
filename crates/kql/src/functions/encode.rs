//! Encodings and digests of text: base64, URL encoding, hashes, hex and GUIDs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::value::{KqlType, Value, parse_guid};

use super::args::{long, scalar, text};

/// A function of this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeFn {
    /// `base64_encode_tostring(s)`.
    Base64Encode,
    /// `base64_decode_tostring(s)`.
    Base64Decode,
    /// `url_encode(s)`: spaces as `+`, as forms encode them.
    UrlEncode,
    /// `url_encode_component(s)`: spaces as `%20`.
    UrlEncodeComponent,
    /// `hash_md5(x)`.
    Md5,
    /// `hash_sha1(x)`.
    Sha1,
    /// `hash_sha256(x)`.
    Sha256,
    /// `tohex(n [, min_length])`.
    ToHex,
    /// `toguid(s)`.
    ToGuid,
}

impl EncodeFn {
    /// The result type Kusto documents.
    pub(super) fn return_type(self) -> KqlType {
        match self {
            EncodeFn::ToGuid => KqlType::Guid,
            _ => KqlType::String,
        }
    }
}

/// Evaluates a function of this family.
pub(super) fn call(f: EncodeFn, args: &[Value]) -> Value {
    match f {
        EncodeFn::Base64Encode => Value::str(&STANDARD.encode(text(args, 0).as_bytes())),
        EncodeFn::Base64Decode => STANDARD
            .decode(text(args, 0).trim().as_bytes())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map_or(Value::Null, |s| Value::str(&s)),
        EncodeFn::UrlEncode => Value::str(&percent_encode(&text(args, 0), true)),
        EncodeFn::UrlEncodeComponent => Value::str(&percent_encode(&text(args, 0), false)),
        EncodeFn::Md5 | EncodeFn::Sha1 | EncodeFn::Sha256 => hash(f, args),
        EncodeFn::ToHex => to_hex(args),
        EncodeFn::ToGuid => to_guid(&scalar(args, 0)),
    }
}

/// A digest of the value's text as lowercase hex; a null value has no digest.
fn hash(f: EncodeFn, args: &[Value]) -> Value {
    if scalar(args, 0).is_null() {
        return Value::Null;
    }
    let bytes = text(args, 0);
    let bytes = bytes.as_bytes();
    let digest = match f {
        EncodeFn::Md5 => hex::encode(Md5::digest(bytes)),
        EncodeFn::Sha1 => hex::encode(Sha1::digest(bytes)),
        _ => hex::encode(Sha256::digest(bytes)),
    };
    Value::str(&digest)
}

/// Percent-encoding of the UTF-8 bytes as .NET's `HttpUtility.UrlEncode` does it (lowercase
/// hex, `-_.!*()` kept), as Kusto's examples show for both functions; only a space differs:
/// `+` in `url_encode`, `%20` in `url_encode_component`.
fn percent_encode(text: &str, form: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'!' | b'*' | b'(' | b')')
        {
            out.push(char::from(b));
        } else if form && b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push_str(&hex::encode([b]));
        }
    }
    out
}

/// `tohex(n [, min_length])`: lowercase hex, a negative number in two's complement, padded
/// with zeros to `min_length`; null when `n` is not a whole number.
fn to_hex(args: &[Value]) -> Value {
    let Some(n) = long(args, 0) else {
        return Value::Null;
    };
    #[allow(clippy::cast_sign_loss)] // two's complement is what Kusto prints for negatives
    let digits = format!("{:x}", n as u64);
    let width = args
        .get(1)
        .and_then(|_| long(args, 1))
        .and_then(|w| usize::try_from(w).ok())
        .unwrap_or(0)
        .min(64);
    Value::str(&format!("{digits:0>width$}"))
}

/// `toguid(s)`: the GUID in its lowercase hyphenated form; null for text .NET does not read
/// as one.
fn to_guid(v: &Value) -> Value {
    let Value::String(s) = v else {
        return Value::Null;
    };
    parse_guid(s.trim()).map_or(Value::Null, |g| Value::str(&g))
}
