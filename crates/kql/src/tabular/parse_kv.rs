//! `parse-kv`: the listed keys of a text's key/value pairs, each as a typed column.

use crate::ast::{KvMode, ParseKv};
use crate::context::Ctx;
use crate::error::KqlError;
use crate::operators::typed;
use crate::rel::Rel;
use crate::scalar;
use crate::table::Row;
use crate::value::{KqlType, Value};

impl Ctx<'_> {
    /// `parse-kv`: a column per listed key (replacing a same-named one), holding the key's first
    /// value converted to its type; a key the text lacks is an empty string in a `string`
    /// column and null in the others, as Kusto documents.
    pub(crate) fn parse_kv(&self, rel: &Rel, spec: &ParseKv) -> Result<Rel, KqlError> {
        let (source, _) = self.compile(&spec.source, rel, "parse-kv")?;
        let mut cols = rel.cols.clone();
        let slots: Vec<usize> = spec
            .keys
            .iter()
            .map(|(name, ty)| {
                if let Some(i) = cols.iter().position(|(n, _)| n == name) {
                    cols[i].1 = *ty;
                    i
                } else {
                    cols.push((name.clone(), *ty));
                    cols.len() - 1
                }
            })
            .collect();
        let width = cols.len();
        let mut rows = Vec::with_capacity(rel.rows.len());
        for r in &rel.rows {
            let text = scalar::to_text(&source.eval(r)).into_owned();
            let pairs = match &spec.mode {
                KvMode::Delimited {
                    pair,
                    kv,
                    greedy: true,
                    ..
                } => greedy_pairs(&text, pair, kv),
                KvMode::Delimited {
                    pair,
                    kv,
                    quotes,
                    escapes,
                    greedy: false,
                } => delimited_pairs(&text, pair, kv, quotes, escapes),
                KvMode::Free { quotes, escapes } => spec
                    .keys
                    .iter()
                    .filter_map(|(key, _)| {
                        Some((key.clone(), free_value(&text, key, quotes, escapes)?))
                    })
                    .collect(),
                KvMode::Regex(re) => re
                    .captures_iter(&text)
                    .filter_map(|c| Some((c.get(1)?.as_str().trim(), c.get(2)?.as_str().trim())))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            };
            let mut out = r.to_vec();
            out.resize(width, Value::Null);
            for ((name, ty), &slot) in spec.keys.iter().zip(&slots) {
                out[slot] = match pairs.iter().find(|(k, _)| k == name) {
                    Some((_, v)) => typed(v, *ty),
                    None if *ty == KqlType::String => Value::str(""),
                    None => Value::Null,
                };
            }
            rows.push(Row::from(out));
        }
        Ok(Rel { cols, rows })
    }
}

/// The key/value pairs of `text`, in order, keys and values trimmed; a quoted key or value
/// may hold the delimiters, and inside quotes an escape character makes the next one literal.
fn delimited_pairs(
    text: &str,
    pair: &str,
    kv: &str,
    quotes: &[(char, char)],
    escapes: &[char],
) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text;
    while !rest.trim().is_empty() {
        let Some((key, after_key)) = field(rest, kv, quotes, escapes) else {
            break;
        };
        // A stretch without a kv delimiter before the next pair delimiter is not a pair.
        let key = key
            .rsplit(pair)
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let (value, after_value) =
            field(after_key, pair, quotes, escapes).unwrap_or((after_key.trim().to_string(), ""));
        pairs.push((key, value));
        rest = after_value;
    }
    pairs
}

/// One key or value from the start of `text` up to `stop`, and the text after `stop`; `None`
/// when `stop` never comes (an unquoted field then runs to the end, which callers decide on).
fn field<'t>(
    text: &'t str,
    stop: &str,
    quotes: &[(char, char)],
    escapes: &[char],
) -> Option<(String, &'t str)> {
    let trimmed = text.trim_start();
    let mut chars = trimmed.char_indices();
    if let Some((_, open)) = chars.next()
        && let Some(&(_, close)) = quotes.iter().find(|(o, _)| *o == open)
    {
        let mut value = String::new();
        let mut end = trimmed.len();
        while let Some((i, c)) = chars.next() {
            if escapes.contains(&c) {
                if let Some((_, next)) = chars.next() {
                    value.push(next);
                }
            } else if c == close {
                end = i + c.len_utf8();
                break;
            } else {
                value.push(c);
            }
        }
        let after = &trimmed[end..];
        let rest = after.find(stop).map_or("", |at| &after[at + stop.len()..]);
        return Some((value, rest));
    }
    let at = trimmed.find(stop)?;
    Some((
        trimmed[..at].trim().to_string(),
        &trimmed[at + stop.len()..],
    ))
}

/// `greedy = true`: each kv delimiter with a key before it (after the last pair delimiter
/// since the previous value began) starts a pair, and its value runs to the pair delimiter
/// before the next such key, delimiters and all. Quotes are not read in this mode.
fn greedy_pairs(text: &str, pair: &str, kv: &str) -> Vec<(String, String)> {
    // Each pair's key start, its kv delimiter and where its value begins.
    let mut marks: Vec<(usize, usize, usize)> = Vec::new();
    for (at, _) in text.match_indices(kv) {
        let floor = marks.last().map_or(0, |m| m.2);
        if at < floor {
            continue;
        }
        let key_start = match text[floor..at].rfind(pair) {
            Some(i) => floor + i + pair.len(),
            None if marks.is_empty() => 0,
            None => continue,
        };
        marks.push((key_start, at, at + kv.len()));
    }
    let mut pairs = Vec::with_capacity(marks.len());
    for (i, &(key_start, at, value_start)) in marks.iter().enumerate() {
        let value_end = marks
            .get(i + 1)
            .map_or(text.len(), |next| next.0 - pair.len());
        let value = text
            .get(value_start..value_end.max(value_start))
            .unwrap_or("");
        pairs.push((
            text[key_start..at].trim().to_string(),
            value.trim().to_string(),
        ));
    }
    pairs
}

/// No delimiters: `key`'s first appearance as a whole word, then past the non-alphanumeric
/// characters after it, a quoted value or a run of letters and digits; `None` when the text
/// lacks the key.
fn free_value(text: &str, key: &str, quotes: &[(char, char)], escapes: &[char]) -> Option<String> {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let (at, _) = text.match_indices(key).find(|&(at, _)| {
        !word(text[..at].chars().next_back()) && !word(text[at + key.len()..].chars().next())
    })?;
    let opens = |c: char| quotes.iter().any(|&(open, _)| open == c);
    let rest =
        text[at + key.len()..].trim_start_matches(|c: char| !c.is_alphanumeric() && !opens(c));
    if rest.chars().next().is_some_and(opens) {
        // A quoted field ends at its closing quote, whatever stop it is given.
        return field(rest, "\u{0}", quotes, escapes).map(|(value, _)| value);
    }
    Some(rest.chars().take_while(|c| c.is_alphanumeric()).collect())
}
