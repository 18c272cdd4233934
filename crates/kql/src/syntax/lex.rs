//! Tokens of the whole query language, with byte spans; a bad token is a token too, so the
//! parser reports it where it stands and lexing never fails.

use super::STRING_OPERATORS;
use super::keywords::is_hyphenated;
use crate::lexer::skip_trivia;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A name or keyword, including hyphenated operator names and the negated operators
    /// (`!has`, `!in~`).
    Word,
    /// A string literal in any of its forms.
    Str,
    /// A number, a timespan (`7d`) or any digits run into letters, as Kusto lexes them.
    Num,
    /// A typed literal whose text is raw up to its `)`: `datetime(...)`, `long(...)`, ...
    Typed,
    /// Punctuation.
    Punct(&'static str),
    /// A string without its closing quote.
    Unterminated,
    /// A character no token starts with.
    Stray,
    /// End of input.
    Eof,
}

/// A token and its byte span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    /// The token's kind.
    pub kind: Kind,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

const PUNCT: [&str; 31] = [
    "==", "!=", "<>", "<=", ">=", "=~", "!~", "=>", "..", "|", "(", ")", "[", "]", "{", "}", ",",
    ";", ".", "=", "<", ">", "+", "-", "*", "/", "%", "!", ":", "?", "@",
];

/// Words that may follow `!` as one operator token, besides the [`STRING_OPERATORS`].
const NEGATABLE: [&str; 10] = [
    "in",
    "between",
    "has_all",
    "like",
    "likecs",
    "contains_any",
    "in_cs",
    "matches",
    "has_any",
    "notin",
];

/// Typed-literal keywords whose parenthesized text is raw (up to the first `)`); Kusto has no
/// `boolean(...)` literal, though `boolean` is a type name.
pub(crate) const TYPED: [&str; 13] = [
    "datetime", "date", "time", "timespan", "guid", "long", "int", "int32", "int64", "real",
    "double", "decimal", "bool",
];

/// Splits `src` into tokens, ending with one `Eof`.
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = skip_trivia(bytes, 0);
    while i < bytes.len() {
        let (kind, end) = token_at(src, i);
        out.push(Token {
            kind,
            start: i,
            end,
        });
        i = skip_trivia(bytes, end);
    }
    out.push(Token {
        kind: Kind::Eof,
        start: src.len(),
        end: src.len(),
    });
    out
}

/// The token starting at byte `i` (not whitespace) and where it ends.
fn token_at(src: &str, i: usize) -> (Kind, usize) {
    let bytes = src.as_bytes();
    let c = bytes[i];
    if let Some(found) = string_at(bytes, i) {
        return found;
    }
    if c.is_ascii_digit() {
        return (Kind::Num, number_end(bytes, i));
    }
    if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
        return word_at(src, i);
    }
    if c == b'!' {
        let end = word_end(bytes, i + 1);
        let word = &src[i + 1..end];
        if NEGATABLE.contains(&word) || STRING_OPERATORS.contains(&word) {
            let end = if word == "in" && bytes.get(end) == Some(&b'~') {
                end + 1
            } else {
                end
            };
            return (Kind::Word, end);
        }
    }
    if let Some(p) = PUNCT.iter().find(|p| src[i..].starts_with(**p)) {
        return (Kind::Punct(p), i + p.len());
    }
    let width = src[i..].chars().next().map_or(1, char::len_utf8);
    (Kind::Stray, i + width)
}

fn word_end(bytes: &[u8], mut j: usize) -> usize {
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        j += 1;
    }
    j
}

/// A word at `i`: a hyphenated operator name, `in~`, a typed literal with its raw text, or a name.
fn word_at(src: &str, i: usize) -> (Kind, usize) {
    let bytes = src.as_bytes();
    let mut j = word_end(bytes, i + 1);
    if bytes.get(j) == Some(&b'-') {
        let mut k = j + 1;
        loop {
            k = word_end(bytes, k);
            let word = &src[i..k];
            if is_hyphenated(word) {
                j = k;
                break;
            }
            if bytes.get(k) == Some(&b'-') && k > j + 1 {
                k += 1;
            } else {
                break;
            }
        }
    }
    let word = &src[i..j];
    if word == "in" && bytes.get(j) == Some(&b'~') {
        return (Kind::Word, j + 1);
    }
    if TYPED.contains(&word) && bytes.get(j) == Some(&b'(') {
        return match src[j..].find(')') {
            Some(close) => (Kind::Typed, j + close + 1),
            None => (Kind::Unterminated, src.len()),
        };
    }
    (Kind::Word, j)
}

/// A number: digits (or hex), an optional fraction and exponent, then any letters run into it
/// (a timespan unit, or a bad suffix that only the analysis after parsing reports).
fn number_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    if bytes[i] == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X')) {
        return word_end(bytes, i + 2);
    }
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    // `1..5` is a range; `1.` and `1.5` are reals.
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1) != Some(&b'.') {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let digits_at = if matches!(bytes.get(i + 1), Some(b'+' | b'-')) {
            i + 2
        } else {
            i + 1
        };
        if bytes.get(digits_at).is_some_and(u8::is_ascii_digit) {
            i = digits_at;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    word_end(bytes, i)
}

/// A string literal at `i` in any form: quoted, verbatim `@`, obfuscated `h`, or a
/// ```` ``` ```` multi-line string; `None` when no string starts here.
fn string_at(bytes: &[u8], i: usize) -> Option<(Kind, usize)> {
    let mut j = i;
    if matches!(bytes[j], b'h' | b'H') {
        j += 1;
    }
    let verbatim = bytes.get(j) == Some(&b'@');
    if verbatim {
        j += 1;
    }
    if bytes.get(j..j + 3) == Some(b"```") && !verbatim {
        return Some(match find(bytes, j + 3, b"```") {
            Some(k) => (Kind::Str, k + 3),
            None => (Kind::Unterminated, bytes.len()),
        });
    }
    let quote = *bytes.get(j).filter(|q| matches!(q, b'"' | b'\''))?;
    if j > i && !verbatim && !matches!(bytes[i], b'h' | b'H') {
        return None;
    }
    let mut k = j + 1;
    while k < bytes.len() {
        match bytes[k] {
            b'\n' | b'\r' => break,
            b'\\' if !verbatim => k += 2,
            q if q == quote => {
                if verbatim && bytes.get(k + 1) == Some(&quote) {
                    k += 2;
                } else {
                    return Some((Kind::Str, k + 1));
                }
            }
            _ => k += 1,
        }
    }
    Some((Kind::Unterminated, k.min(bytes.len())))
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}
