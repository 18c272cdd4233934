//! Safe YAML loading into a tree that remembers where every value came from.
//!
//! Config, job and query-library files are read into [`Node`]s first and checked field by field
//! afterwards, so one pass can report every problem with its line and column instead of
//! stopping at the first serde error. The loader refuses what cannot be config before parsing:
//! huge files, binary data, empty files, and alias bombs (through serde-saphyr's budget).

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::diagnostic::Diagnostics;
use crate::diagnostic::{Diagnostic, Location, Severity, did_you_mean};

/// The largest YAML file huntd reads; real config and job files are a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A YAML value with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value starts.
    pub location: Location,
}

/// A YAML value; mappings keep their keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Any other scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The key as text (numbers and booleans used as keys are turned into text).
    pub name: String,
    /// Where the key starts.
    pub location: Location,
}

impl Node {
    /// The kind of value, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The mapping's entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The sequence's items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The string, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Any scalar as text (numbers and booleans too), as YAML users expect for ids and names.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The value under `key` of a mapping (exact match).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The entry under `key` of a mapping, ignoring ASCII case.
    pub fn get_ignore_case(&self, key: &str) -> Option<(&Key, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name.eq_ignore_ascii_case(key))
            .map(|(k, v)| (k, v))
    }

    /// Whether this is `null` or empty.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
}

/// Reads and parses a YAML file, refusing input that cannot be a config file.
pub fn load_file(path: &Path) -> Result<Node, Diagnostic> {
    let fail = |message: String, hint: &str| Diagnostic {
        severity: Severity::Error,
        file: path.to_path_buf(),
        location: Location::START,
        message,
        hint: (!hint.is_empty()).then(|| hint.to_string()),
        code: Some("yaml"),
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        fail(
            format!("cannot read file: {e}"),
            "check the path and its permissions",
        )
    })?;
    if meta.is_dir() {
        return Err(fail("is a directory, not a YAML file".into(), ""));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(
            format!(
                "file is {} bytes, over the {} byte limit for YAML input",
                meta.len(),
                MAX_FILE_BYTES
            ),
            "config and job files are small text files; is this the right path?",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        fail(
            format!("cannot read file: {e}"),
            "check the path and its permissions",
        )
    })?;
    parse_bytes(path, &bytes)
}

/// Parses YAML text already in memory; `path` is only used in messages.
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Node, Diagnostic> {
    let fail = |location: Location, message: String, hint: &str| Diagnostic {
        severity: Severity::Error,
        file: path.to_path_buf(),
        location,
        message,
        hint: (!hint.is_empty()).then(|| hint.to_string()),
        code: Some("yaml"),
    };
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(fail(
            location_of_offset(bytes, offset),
            "binary data (a NUL byte): this is not a YAML text file".into(),
            "",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        fail(
            location_of_offset(bytes, e.valid_up_to()),
            "not valid UTF-8 text: this is not a YAML text file".into(),
            "save the file as UTF-8",
        )
    })?;
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(fail(
            Location::START,
            "file is empty".into(),
            "a YAML mapping is expected here",
        ));
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_events: 1_000_000,
            max_recorded_anchor_events: 100_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
        },
        // YAML 1.2 booleans only: `y`, `on` and `no` stay strings, as in every modern parser.
        strict_booleans: true,
    };
    serde_saphyr::from_str_with_options::<Node>(text, options).map_err(|e| {
        let location = e
            .location()
            .map_or(Location::START, |l| location_from_saphyr(&l));
        let plain = e.without_snippet().to_string();
        fail(
            location,
            format!("invalid YAML: {}", first_line(&plain)),
            "",
        )
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text).trim()
}

fn location_of_offset(bytes: &[u8], offset: usize) -> Location {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    Location::new(saturate(line), saturate(column))
}

fn saturate(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

fn location_from_saphyr(l: &serde_saphyr::Location) -> Location {
    Location::new(saturate(l.line()), saturate(l.column()))
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            location: location_from_saphyr(&spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| Value::Str(v.to_string()), Value::Int))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| Value::Str(v.to_string()), Value::Int))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| Value::Str(v.to_string()), Value::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let name = key.scalar_text().ok_or_else(|| {
                de::Error::custom(format!(
                    "a mapping key must be a string, found {}",
                    key.kind()
                ))
            })?;
            let value = map.next_value::<Node>()?;
            entries.push((
                Key {
                    name,
                    location: key.location,
                },
                value,
            ));
        }
        Ok(Value::Map(entries))
    }
}

/// Checks a mapping field by field, recording every problem in one file's diagnostics.
///
/// The config, job and library loaders share this so that unknown keys, wrong types and
/// "did you mean" hints read the same everywhere.
#[derive(Debug)]
pub struct Checker<'a> {
    /// The file being checked, for diagnostics.
    pub file: &'a Path,
    /// Where problems go.
    pub diags: &'a mut Diagnostics,
}

impl<'a> Checker<'a> {
    /// Starts checking `file`, recording into `diags`.
    pub fn new(file: &'a Path, diags: &'a mut Diagnostics) -> Self {
        Self { file, diags }
    }

    /// Records an error at a node's location.
    pub fn error(&mut self, at: Location, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.error(self.file, at, message)
    }

    /// Records a warning at a node's location.
    pub fn warning(&mut self, at: Location, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.warning(self.file, at, message)
    }

    /// The entries of a mapping node; anything else is an error naming `what`.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Key, Node)]> {
        node.as_map()
            .or_else(|| self.wrong_kind(node, what, "a mapping"))
    }

    /// Records that `what` is not `expected` but the kind `node` is; always `None`.
    fn wrong_kind<T>(&mut self, node: &Node, what: &str, expected: &str) -> Option<T> {
        self.error(
            node.location,
            format!("{what} must be {expected}, found {}", node.kind()),
        );
        None
    }

    /// Reports every key of `entries` that is not in `known`, suggesting the closest known key.
    pub fn unknown_keys(&mut self, entries: &[(Key, Node)], known: &[&str], what: &str) {
        for (key, _) in entries {
            if known.contains(&key.name.as_str()) {
                continue;
            }
            let diag = self
                .error(
                    key.location,
                    format!("unknown key `{}` in {what}", key.name),
                )
                .code("unknown-key");
            match did_you_mean(&key.name, known.iter().copied()) {
                Some(suggestion) => diag.hint(format!("did you mean `{suggestion}`?")),
                None => diag.hint(format!("known keys: {}", known.join(", "))),
            };
        }
    }

    /// A string value; numbers are accepted as text. Records an error for other kinds.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        node.scalar_text()
            .or_else(|| self.wrong_kind(node, what, "a string"))
    }

    /// A boolean value.
    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        if let Value::Bool(b) = node.value {
            Some(b)
        } else {
            self.wrong_kind(node, what, "true or false")
        }
    }

    /// An integer within `range`.
    pub fn integer(
        &mut self,
        node: &Node,
        what: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        match node.value {
            Value::Int(i) if range.contains(&i) => Some(i),
            Value::Int(i) => {
                self.error(
                    node.location,
                    format!(
                        "{what} is {i}, must be between {} and {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            _ => self.wrong_kind(node, what, "a whole number"),
        }
    }

    /// A duration such as `30s` or `1h30m` within `range`.
    pub fn duration(
        &mut self,
        node: &Node,
        what: &str,
        range: std::ops::RangeInclusive<std::time::Duration>,
    ) -> Option<std::time::Duration> {
        let Value::Str(text) = &node.value else {
            return self.wrong_kind(node, what, "a duration such as 30s, 15m or 1h30m");
        };
        match crate::duration::parse(text) {
            Ok(d) if range.contains(&d) => Some(d),
            Ok(d) => {
                self.error(
                    node.location,
                    format!(
                        "{what} is {}, must be between {} and {}",
                        crate::duration::format(d),
                        crate::duration::format(*range.start()),
                        crate::duration::format(*range.end())
                    ),
                );
                None
            }
            Err(e) => {
                self.error(node.location, format!("{what}: {e}"));
                None
            }
        }
    }

    /// A list of strings; a single string is taken as a one-item list.
    pub fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<(String, Location)>> {
        match &node.value {
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(s) = self.string(item, &format!("each item of {what}")) {
                        out.push((s, item.location));
                    }
                }
                Some(out)
            }
            Value::Str(s) => Some(vec![(s.clone(), node.location)]),
            _ => self.wrong_kind(node, what, "a list of strings"),
        }
    }
}

/// Parses `text` as the file `file` and runs `read` with a checker of it: what `read` gives and
/// the diagnostics it recorded, for the loaders' unit tests.
#[cfg(test)]
pub(crate) fn check_text<T>(
    file: &str,
    text: &str,
    read: impl FnOnce(&mut Checker<'_>, &Node) -> T,
) -> (T, Diagnostics) {
    let path = Path::new(file);
    let node = parse_bytes(path, text.as_bytes()).expect("the test's YAML parses");
    let mut diags = Diagnostics::new();
    let got = read(&mut Checker::new(path, &mut diags), &node);
    (got, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Node, Diagnostic> {
        parse_bytes(Path::new("t.yaml"), text.as_bytes())
    }

    #[test]
    fn nodes_remember_line_and_column_of_keys_and_values() {
        let root = parse("a: 1\nb:\n  c: [x, y]\n").expect("valid yaml");
        let (key, b) = root.get_ignore_case("B").expect("b present");
        assert_eq!(key.location, Location::new(2, 1));
        let c = b.get("c").expect("c present");
        let items = c.as_seq().expect("a list");
        assert_eq!(items[1].as_str(), Some("y"));
        assert_eq!(items[1].location.line, 3);
    }

    #[test]
    fn syntax_error_reports_its_line() {
        let err = parse("a: 1\nb: [unclosed\nc: 2\n").expect_err("invalid yaml");
        assert!(err.message.starts_with("invalid YAML"), "{err}");
        assert!(err.location.line >= 2, "{err}");
    }

    #[test]
    fn empty_and_comment_only_files_are_rejected() {
        assert!(parse("").expect_err("empty").message.contains("empty"));
        assert!(
            parse("# nothing\n\n")
                .expect_err("comments")
                .message
                .contains("empty")
        );
    }

    #[test]
    fn binary_data_is_rejected_with_its_position() {
        let err = parse_bytes(Path::new("b"), b"a: 1\nb: \x00\x01").expect_err("binary");
        assert!(err.message.contains("binary"), "{err}");
        assert_eq!(err.location, Location::new(2, 4));
        let err = parse_bytes(Path::new("b"), b"a: \xff\xfe").expect_err("not utf8");
        assert!(err.message.contains("UTF-8"), "{err}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        use std::fmt::Write as _;
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..30 {
            let p = i - 1;
            let refs = vec![format!("*a{p}"); 10].join(", ");
            writeln!(bomb, "a{i}: &a{i} [{refs}]").expect("writing to a String");
        }
        let err = parse(&bomb).expect_err("bomb refused");
        assert!(err.message.contains("invalid YAML"), "{err}");
    }

    #[test]
    fn checker_reports_unknown_keys_with_a_suggestion() {
        let root = parse("name: x\nshedule: '* * * * *'\n").expect("valid");
        let mut diags = Diagnostics::new();
        let mut check = Checker::new(Path::new("job.yaml"), &mut diags);
        let entries = check.map(&root, "a job").expect("mapping");
        check.unknown_keys(entries, &["name", "schedule"], "a job");
        let d = diags.sorted()[0].clone();
        assert_eq!(d.location, Location::new(2, 1));
        assert_eq!(d.hint.as_deref(), Some("did you mean `schedule`?"));
    }
}
