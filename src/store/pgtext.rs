//! What PostgreSQL's `text` and `jsonb` cannot hold: the NUL character. huntd stores it as the
//! six characters `\u0000` instead, so the row is kept rather than refused.

use std::borrow::Cow;

/// The text PostgreSQL stores in place of a NUL character.
const NUL_STAND_IN: &str = "\\u0000";

/// A raw JSON text with every `\u0000` escape (a NUL) turned into an escaped backslash, so the
/// value reads `\u0000`; an escaped backslash followed by `u0000` is left alone.
pub(super) fn json_without_nul(json: &str) -> Cow<'_, str> {
    if !json.contains(NUL_STAND_IN) {
        return Cow::Borrowed(json);
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len() + 8);
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        // In valid JSON a backslash only starts an escape, and an escape is never split.
        if bytes[i + 1..].starts_with(b"u0000") {
            out.push_str(&json[start..i]);
            out.push_str("\\\\u0000");
            i += 6;
            start = i;
        } else {
            i += 2;
        }
    }
    out.push_str(&json[start..]);
    Cow::Owned(out)
}

/// A plain text (a column name) with every NUL character written as `\u0000`.
pub(super) fn text_without_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', NUL_STAND_IN))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nul_escapes_are_replaced() {
        assert_eq!(json_without_nul(r#"{"a":"x"}"#), r#"{"a":"x"}"#);
        assert_eq!(
            json_without_nul(r#"{"a\u0000":"x\u0000y"}"#),
            r#"{"a\\u0000":"x\\u0000y"}"#
        );
        assert_eq!(json_without_nul(r#"{"a":"\\u0000"}"#), r#"{"a":"\\u0000"}"#);
        assert_eq!(
            json_without_nul(r#"{"a":"\\\u0000"}"#),
            r#"{"a":"\\\\u0000"}"#
        );
        assert_eq!(text_without_nul("n\0l"), "n\\u0000l");
    }
}
