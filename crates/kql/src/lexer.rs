//! Splits query text into tokens that remember their byte offset, for positioned errors.

use crate::error::KqlError;
use crate::value::timespan_unit;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name or keyword; hyphenated operator names (`project-away`) are one token.
    Ident(String),
    /// A string literal, escapes resolved.
    Str(String),
    /// An integer literal.
    Long(i64),
    /// A real literal.
    Real(f64),
    /// A timespan literal (`7d`) in ticks.
    TimeSpan(i64),
    /// The raw text inside `datetime(...)`, `time(...)`, `timespan(...)` or `guid(...)`.
    Raw(String),
    /// Punctuation and operators.
    Sym(&'static str),
    /// End of input.
    Eof,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Byte offset in the query text.
    pub pos: usize,
}

const SYMBOLS: [&str; 27] = [
    "..", "==", "!=", "<>", "<=", ">=", "=~", "!~", "=>", "|", "(", ")", "[", "]", "{", "}", ",",
    ";", ".", "=", "<", ">", "+", "-", "*", "/", "%",
];

/// Operator names written with a hyphen, lexed as one word (the syntax checker has its own
/// list, every hyphenated keyword of Kusto's).
pub(crate) const HYPHENATED: [&str; 13] = [
    "project-away",
    "project-keep",
    "project-rename",
    "project-reorder",
    "mv-expand",
    "mv-apply",
    "make-series",
    "parse-where",
    "parse-kv",
    "top-nested",
    "top-hitters",
    "sample-distinct",
    "project-smart",
];

/// Functions whose argument is raw literal text rather than an expression.
const RAW_LITERALS: [&str; 4] = ["datetime", "time", "timespan", "guid"];

/// Where the next token starts at or after byte `i`: past white space and `//` comments (the
/// length of `bytes` when none is left). Both lexers skip the same way.
pub(crate) fn skip_trivia(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
        } else if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else {
            break;
        }
    }
    i
}

/// Tokenizes a whole query.
pub fn lex(src: &str) -> Result<Vec<Token>, KqlError> {
    let bytes = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    loop {
        i = skip_trivia(bytes, i);
        let Some(&c) = bytes.get(i) else {
            break;
        };
        let start = i;
        if c == b'"' || c == b'\'' {
            let (text, next) = lex_string(src, i + 1, c, false)?;
            out.push(Token {
                tok: Tok::Str(text),
                pos: start,
            });
            i = next;
            continue;
        }
        // `h@"..."`: obfuscated and verbatim, how a SAS token is written in a storage URL.
        let obfuscated_verbatim = (c == b'h' || c == b'H') && bytes.get(i + 1) == Some(&b'@');
        let prefix = 1 + usize::from(obfuscated_verbatim);
        if (c == b'@' || c == b'h' || c == b'H')
            && matches!(bytes.get(i + prefix), Some(b'"' | b'\''))
        {
            let verbatim = c == b'@' || obfuscated_verbatim;
            let (text, next) = lex_string(src, i + prefix + 1, bytes[i + prefix], verbatim)?;
            out.push(Token {
                tok: Tok::Str(text),
                pos: start,
            });
            i = next;
            continue;
        }
        if c.is_ascii_digit() {
            let (tok, next) = lex_number(src, i)?;
            out.push(Token { tok, pos: start });
            i = next;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            i = lex_word(src, i, &mut out)?;
            continue;
        }
        if let Some(sym) = SYMBOLS.iter().find(|s| src[i..].starts_with(**s)) {
            out.push(Token {
                tok: Tok::Sym(sym),
                pos: start,
            });
            i += sym.len();
            continue;
        }
        if c == b'!' || c == b'~' || c == b':' {
            let sym = match c {
                b'!' => "!",
                b'~' => "~",
                _ => ":",
            };
            out.push(Token {
                tok: Tok::Sym(sym),
                pos: start,
            });
            i += 1;
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or('?');
        return Err(KqlError::syntax(
            &format!("unexpected character '{ch}'"),
            src,
            i,
        ));
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

/// Lexes a word starting at `i` (joining the hyphenated operator names) and, after `datetime`,
/// `timespan` and the other raw-literal functions, their parenthesized text as one raw token.
/// Returns where the next token starts.
fn lex_word(src: &str, mut i: usize, out: &mut Vec<Token>) -> Result<usize, KqlError> {
    let bytes = src.as_bytes();
    let mut j = i + 1;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        j += 1;
    }
    let mut word = src[i..j].to_string();
    if bytes.get(j) == Some(&b'-') {
        let mut k = j + 1;
        while k < bytes.len() && (bytes[k].is_ascii_alphanumeric() || bytes[k] == b'_') {
            k += 1;
        }
        let joined = &src[i..k];
        if HYPHENATED.contains(&joined) {
            word = joined.to_string();
            j = k;
        }
    }
    let raw = RAW_LITERALS.contains(&word.as_str()) && next_non_space(bytes, j) == Some(b'(');
    out.push(Token {
        tok: Tok::Ident(word),
        pos: i,
    });
    i = j;
    if raw {
        while bytes[i] != b'(' {
            i += 1;
        }
        out.push(Token {
            tok: Tok::Sym("("),
            pos: i,
        });
        let close = src[i..]
            .find(')')
            .map(|k| i + k)
            .ok_or_else(|| KqlError::syntax("missing ')'", src, i))?;
        let inner = src[i + 1..close].trim();
        let inner = inner
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
            .unwrap_or(inner);
        out.push(Token {
            tok: Tok::Raw(inner.to_string()),
            pos: i + 1,
        });
        out.push(Token {
            tok: Tok::Sym(")"),
            pos: close,
        });
        i = close + 1;
    }
    Ok(i)
}

fn next_non_space(bytes: &[u8], mut i: usize) -> Option<u8> {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    bytes.get(i).copied()
}

fn lex_string(
    src: &str,
    mut i: usize,
    quote: u8,
    verbatim: bool,
) -> Result<(String, usize), KqlError> {
    let bytes = src.as_bytes();
    let open = i - 1;
    let mut text = String::new();
    let mut run_start = i;
    while i < bytes.len() {
        let c = bytes[i];
        if c == quote {
            if verbatim && bytes.get(i + 1) == Some(&quote) {
                text.push_str(&src[run_start..=i]);
                i += 2;
                run_start = i;
                continue;
            }
            text.push_str(&src[run_start..i]);
            return Ok((text, i + 1));
        }
        if c == b'\n' {
            break;
        }
        if c == b'\\' && !verbatim {
            text.push_str(&src[run_start..i]);
            let escaped = src[i + 1..].chars().next().unwrap_or('\\');
            text.push(match escaped {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                other => other,
            });
            i += 1 + escaped.len_utf8();
            run_start = i;
            continue;
        }
        i += 1;
    }
    Err(KqlError::syntax("unterminated string literal", src, open))
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), KqlError> {
    let bytes = src.as_bytes();
    let mut i = start;
    if src[i..].starts_with("0x") || src[i..].starts_with("0X") {
        let mut j = i + 2;
        while j < bytes.len() && bytes[j].is_ascii_hexdigit() {
            j += 1;
        }
        let value = i64::from_str_radix(&src[i + 2..j], 16)
            .map_err(|_| KqlError::syntax("invalid hexadecimal literal", src, start))?;
        return Ok((Tok::Long(value), j));
    }
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let mut real = false;
    // `1..5` is a range, not the real `1.` followed by `.5`.
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
        real = true;
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E'))
        && (bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
            || (matches!(bytes.get(i + 1), Some(b'+' | b'-'))
                && bytes.get(i + 2).is_some_and(u8::is_ascii_digit)))
    {
        real = true;
        i += 2;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    let number = &src[start..i];
    let mut j = i;
    while j < bytes.len() && bytes[j].is_ascii_alphabetic() {
        j += 1;
    }
    if j > i {
        let unit = &src[i..j];
        let per = timespan_unit(unit)
            .ok_or_else(|| KqlError::syntax(&format!("unknown timespan unit '{unit}'"), src, i))?;
        let n: f64 = number
            .parse()
            .map_err(|_| KqlError::syntax("invalid number", src, start))?;
        #[allow(clippy::cast_possible_truncation)]
        return Ok((Tok::TimeSpan((n * per).round() as i64), j));
    }
    let tok = if real {
        Tok::Real(
            number
                .parse()
                .map_err(|_| KqlError::syntax("invalid number", src, start))?,
        )
    } else {
        Tok::Long(
            number
                .parse()
                .map_err(|_| KqlError::syntax("integer literal out of range", src, start))?,
        )
    };
    Ok((tok, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src)
            .expect("fixture value")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn hyphenated_operators_and_comments_lex_as_expected() {
        assert_eq!(
            toks("T // c\n| project-away A"),
            vec![
                Tok::Ident("T".into()),
                Tok::Sym("|"),
                Tok::Ident("project-away".into()),
                Tok::Ident("A".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("a-b")[1], Tok::Sym("-"));
    }

    #[test]
    fn strings_in_all_quote_styles() {
        assert_eq!(toks(r#""a\"b""#)[0], Tok::Str("a\"b".into()));
        assert_eq!(toks(r"'it\'s'")[0], Tok::Str("it's".into()));
        assert_eq!(toks(r#"@"C:\Windows""#)[0], Tok::Str(r"C:\Windows".into()));
        assert_eq!(toks(r"@'a''b'")[0], Tok::Str("a'b".into()));
    }

    #[test]
    fn escaped_non_ascii_characters_do_not_split_code_points() {
        assert_eq!(toks("'a\\é'")[0], Tok::Str("aé".into()));
    }

    #[test]
    fn numbers_timespans_and_ranges() {
        assert_eq!(toks("7d")[0], Tok::TimeSpan(7 * 864_000_000_000));
        assert_eq!(toks("1.5")[0], Tok::Real(1.5));
        assert_eq!(
            toks("1..5"),
            vec![Tok::Long(1), Tok::Sym(".."), Tok::Long(5), Tok::Eof]
        );
        assert_eq!(toks("10ms")[0], Tok::TimeSpan(100_000));
    }

    #[test]
    fn datetime_argument_is_raw_text() {
        assert_eq!(
            toks("datetime(2024-01-01T00:00:00Z)")[2],
            Tok::Raw("2024-01-01T00:00:00Z".into())
        );
    }

    #[test]
    fn unterminated_string_reports_its_opening_position() {
        let err = lex("T\n| where A == 'x").expect_err("the query must fail");
        assert_eq!((err.line, err.column), (2, 14));
    }
}
