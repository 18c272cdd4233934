//! Readers for the fields of a job mapping: each checks one key and records its problems.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::library::{self, Library, LibraryQuery};
use super::template::{ParamType, ParamValue, QueryTemplate};
use super::{CatchUp, Environment};
use crate::config::is_valid_name;
use crate::diagnostic::{Location, did_you_mean};
use crate::schedule::{self, Schedule};
use crate::yaml::{self, Checker, Node, Value};

/// What job validation checks names and references against.
#[derive(Clone, Copy)]
pub(super) struct Context<'a> {
    /// The query library `query_ref` names point into.
    pub library: &'a Library,
    /// The instances jobs may use, with their tags.
    pub instances: &'a super::InstanceTags,
}

/// Where each job name was first defined, for duplicate errors.
pub(super) type SeenNames = BTreeMap<String, (PathBuf, Location)>;

/// A job mapping in which a key with no value (`description:`) counts as absent.
pub(super) struct Fields<'n> {
    /// The job mapping.
    pub node: &'n Node,
}

impl<'n> Fields<'n> {
    /// The value of `key`, unless it is missing or null.
    pub(super) fn get(&self, key: &str) -> Option<&'n Node> {
        self.node.get(key).filter(|n| !n.is_null())
    }
}

/// A `true`/`false` field.
pub(super) fn boolean(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<bool> {
    check.boolean(node, what)
}

/// Reads `key` with `read`, or gives `default` when it is absent.
pub(super) fn optional<T>(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    key: &str,
    default: T,
    read: impl FnOnce(&mut Checker<'_>, &Node, &str) -> Option<T>,
) -> Option<T> {
    match fields.get(key) {
        Some(n) => read(check, n, &format!("`{key}`")),
        None => Some(default),
    }
}

fn required<'n>(
    check: &mut Checker<'_>,
    fields: &Fields<'n>,
    key: &str,
    at: Location,
    hint: &str,
) -> Option<&'n Node> {
    let node = fields.get(key);
    if node.is_none() {
        check
            .error(at, format!("job has no `{key}`"))
            .hint(hint.to_string());
    }
    node
}

/// The job's `name`: valid and not used by an earlier job.
pub(super) fn job_name(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    at: Location,
    seen: &mut SeenNames,
) -> Option<String> {
    let node = required(
        check,
        fields,
        "name",
        at,
        "add `name:`, e.g. `name: encoded-powershell`",
    )?;
    let name = check.string(node, "`name`")?;
    if !is_valid_name(&name) {
        check
            .error(node.location, format!("invalid job name `{name}`"))
            .hint("use 1 to 48 lowercase letters, digits, `-` or `_`, starting with a letter or digit");
        return None;
    }
    if let Some((file, location)) = seen.get(&name) {
        let message = format!(
            "duplicate job name `{name}`: also defined at {}:{}",
            file.display(),
            location.line
        );
        check
            .error(node.location, message)
            .hint("job names must be unique across all job files");
        return None;
    }
    seen.insert(name.clone(), (check.file.to_path_buf(), node.location));
    Some(name)
}

/// The job's `environment` and its name as written.
pub(super) fn environment(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    at: Location,
) -> Option<(Environment, String)> {
    let node = required(
        check,
        fields,
        "environment",
        at,
        "`environment: M365DGraph` (Graph API) or `environment: MDE` (Defender for Endpoint API)",
    )?;
    let name = check.string(node, "`environment`")?;
    if let Some((env, deprecated)) = Environment::parse(&name) {
        if deprecated {
            check
                .warning(
                    node.location,
                    format!("environment `{name}` is deprecated; it runs as MDE"),
                )
                .hint("write `MDE`, or `M365DGraph` for the Graph API");
        }
        Some((env, name))
    } else {
        let diag = check.error(node.location, format!("unknown environment `{name}`"));
        match did_you_mean(&name, Environment::NAMES) {
            Some(s) => diag.hint(format!(
                "did you mean `{s}`? one of: {}",
                Environment::NAMES.join(", ")
            )),
            None => diag.hint(format!("one of: {}", Environment::NAMES.join(", "))),
        };
        None
    }
}

/// The job's `schedule` or `every`, in its `timezone`.
pub(super) fn schedule(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    at: Location,
    crons: &mut schedule::CronCache,
) -> Option<Schedule> {
    let timezone = match fields.get("timezone") {
        Some(node) => {
            let name = check.string(node, "`timezone`")?;
            match schedule::parse_timezone(&name) {
                Ok(tz) => tz,
                Err(e) => {
                    let diag = check.error(node.location, e.to_string());
                    match did_you_mean(&name, schedule::timezone_names()) {
                        Some(s) => diag.hint(format!("did you mean `{s}`?")),
                        None => diag.hint("use an IANA name such as Europe/Amsterdam or UTC"),
                    };
                    return None;
                }
            }
        }
        None => chrono_tz::UTC,
    };
    match (fields.get("schedule"), fields.get("every")) {
        (Some(_), Some(every)) => {
            check
                .error(
                    every.location,
                    "job has both `schedule` and `every`: use one",
                )
                .hint("`schedule` takes a cron expression, `every` a duration such as 15m");
            None
        }
        (None, None) => {
            check
                .error(at, "job has neither `schedule` nor `every`")
                .hint("add `schedule: \"*/15 * * * *\"` (cron) or `every: 15m`");
            None
        }
        (Some(node), None) => {
            let text = check.string(node, "`schedule`")?;
            match crons.cron(&text, timezone) {
                Ok(s) => Some(s),
                Err(e) => {
                    check
                        .error(node.location, e.to_string())
                        .hint("5 fields (minute hour day month weekday) or 6 with seconds first");
                    None
                }
            }
        }
        (None, Some(node)) => {
            let every = positive_duration(check, node, "`every`")?;
            Schedule::every(every, timezone).ok()
        }
    }
}

/// A duration such as `15m` or `1h30m`.
pub(super) fn duration(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<Duration> {
    let text = check.string(node, what)?;
    match crate::duration::parse(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            check.error(node.location, format!("{what}: {e}"));
            None
        }
    }
}

/// A duration that must not be zero.
pub(super) fn positive_duration(
    check: &mut Checker<'_>,
    node: &Node,
    what: &str,
) -> Option<Duration> {
    let d = duration(check, node, what)?;
    if d.is_zero() {
        check.error(node.location, format!("{what} must be longer than zero"));
        return None;
    }
    Some(d)
}

/// The job's `catch_up` policy, `all` when absent.
pub(super) fn catch_up(check: &mut Checker<'_>, fields: &Fields<'_>) -> Option<CatchUp> {
    let Some(node) = fields.get("catch_up") else {
        return Some(CatchUp::default());
    };
    let text = check.string(node, "`catch_up`")?;
    let policy = CatchUp::parse(&text);
    if policy.is_none() {
        check
            .error(node.location, format!("unknown `catch_up` policy `{text}`"))
            .hint(format!("one of: {}", CatchUp::NAMES.join(", ")));
    }
    policy
}

/// The dedup columns; `None` when absent or invalid (an invalid value records an error).
pub(super) fn dedup(check: &mut Checker<'_>, fields: &Fields<'_>) -> Option<Vec<String>> {
    let node = fields.get("dedup")?;
    let entries = check.map(node, "`dedup`")?;
    check.unknown_keys(entries, &["columns"], "`dedup`");
    let Some(columns) = node.get("columns") else {
        check
            .error(node.location, "`dedup` has no `columns`")
            .hint("list the columns that identify a finding, e.g. `columns: [DeviceId, ReportId]`");
        return None;
    };
    let columns = check.strings(columns, "`dedup.columns`")?;
    if columns.is_empty() {
        check.error(node.location, "`dedup.columns` is empty");
        return None;
    }
    Some(columns.into_iter().map(|(c, _)| c).collect())
}

/// The query text, where it came from (for messages), its node and its declared parameters.
struct QuerySource<'n> {
    text: String,
    node: &'n Node,
    library: Option<&'n LibraryQuery>,
}

/// The job's query template from `query`, `query_file` or `query_ref`, with its `params`.
pub(super) fn query(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    at: Location,
    environment: Environment,
    context: Context<'_>,
) -> Option<QueryTemplate> {
    let source = query_source(check, fields, at, environment, context)?;
    let params = params(check, fields, &source)?;
    let template = QueryTemplate::new(source.text, params);
    let placeholders = match template.placeholders() {
        Ok(p) => p,
        Err(e) => {
            check.error(source.node.location, e.to_string());
            return None;
        }
    };
    if source.library.is_none()
        && let Some(params_node) = fields.get("params")
        && let Some(entries) = params_node.as_map()
    {
        for (key, _) in entries {
            if !placeholders.contains(&key.name) {
                check.warning(
                    key.location,
                    format!("parameter `{}` is not used by the query", key.name),
                );
            }
        }
    }
    if let Err(e) = template.check() {
        let diag = check.error(source.node.location, e.to_string());
        if source.library.is_none() {
            diag.hint("give it a value under `params:`, or write `{{`/`}}` for literal braces");
        }
        return None;
    }
    Some(template)
}

fn query_source<'n>(
    check: &mut Checker<'_>,
    fields: &Fields<'n>,
    at: Location,
    environment: Environment,
    context: Context<'n>,
) -> Option<QuerySource<'n>> {
    let given: Vec<(&str, &Node)> = ["query", "query_file", "query_ref"]
        .into_iter()
        .filter_map(|k| fields.get(k).map(|n| (k, n)))
        .collect();
    let (key, node) = match given.as_slice() {
        [one] => *one,
        [] => {
            check.error(at, "job has no query").hint(
                "add `query:` (KQL), `query_file:` (a path) or `query_ref:` (a library query)",
            );
            return None;
        }
        [_, (second, node), ..] => {
            check.error(
                node.location,
                format!(
                    "job has more than one of `query`, `query_file` and `query_ref` (`{second}` here)"
                ),
            );
            return None;
        }
    };
    let text = check.string(node, &format!("`{key}`"))?;
    match key {
        "query" => Some(QuerySource {
            text,
            node,
            library: None,
        }),
        "query_file" => {
            let path = check.file.parent().unwrap_or(Path::new(".")).join(&text);
            match read_query_file(&path) {
                Ok(text) => Some(QuerySource {
                    text,
                    node,
                    library: None,
                }),
                Err(e) => {
                    check
                        .error(
                            node.location,
                            format!("cannot read query file `{}`: {e}", path.display()),
                        )
                        .hint("`query_file` is relative to the job file");
                    None
                }
            }
        }
        _ => {
            let Some(found) = context.library.get(&text) else {
                let diag = check.error(node.location, format!("unknown query_ref `{text}`"));
                match did_you_mean(&text, context.library.names()) {
                    Some(s) => diag.hint(format!("did you mean `{s}`?")),
                    None if context.library.is_empty() => {
                        diag.hint("the query library is empty: set `query_library` in huntd.yaml")
                    }
                    None => diag.hint(format!(
                        "library queries are named <folder>/<query name>; {} are loaded",
                        context.library.len()
                    )),
                };
                return None;
            };
            if !found.supports(environment) {
                check
                    .error(
                        node.location,
                        format!(
                            "query `{text}` does not support environment {}: its data_environments are {}",
                            environment.name(),
                            found.data_environments.join(", ")
                        ),
                    )
                    .hint("pick a query for this environment or change `environment`");
                return None;
            }
            Some(QuerySource {
                text: found.query.clone(),
                node,
                library: Some(found),
            })
        }
    }
}

fn read_query_file(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if meta.len() > yaml::MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "{} bytes is over the {} byte limit",
            meta.len(),
            yaml::MAX_FILE_BYTES
        )));
    }
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("not UTF-8 text"))
}

fn params(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    source: &QuerySource<'_>,
) -> Option<BTreeMap<String, ParamValue>> {
    let mut values = BTreeMap::new();
    let mut ok = true;
    if let Some(node) = fields.get("params") {
        let entries = check.map(node, "`params`")?;
        for (key, value) in entries {
            let what = format!("parameter `{}`", key.name);
            let declared = source.library.and_then(|q| q.parameters.get(&key.name));
            let parsed = match (source.library, declared) {
                (_, Some(spec)) => library::param_value(check, value, spec.param_type, &what),
                (Some(q), None) => {
                    let diag = check.warning(
                        key.location,
                        format!("query `{}` declares no parameter `{}`", q.name, key.name),
                    );
                    if let Some(s) =
                        did_you_mean(&key.name, q.parameters.keys().map(String::as_str))
                    {
                        diag.hint(format!("did you mean `{s}`?"));
                    }
                    inferred_value(check, value, &what)
                }
                (None, None) => inferred_value(check, value, &what),
            };
            match parsed {
                Some(v) => {
                    values.insert(key.name.clone(), v);
                }
                None => ok = false,
            }
        }
    }
    if let Some(q) = source.library {
        for (name, spec) in &q.parameters {
            if let Some(default) = &spec.default {
                values
                    .entry(name.clone())
                    .or_insert_with(|| default.clone());
            }
        }
        let missing: Vec<&str> = q
            .required_parameters()
            .filter(|name| !values.contains_key(*name))
            .collect();
        if !missing.is_empty() {
            let mut hint = String::from("add under `params:`");
            for name in &missing {
                let spec = &q.parameters[*name];
                write!(hint, "\n    {name}: <{}>", spec.param_type.name())
                    .expect("writing to a String cannot fail");
                if !spec.description.is_empty() {
                    write!(hint, "   # {}", spec.description)
                        .expect("writing to a String cannot fail");
                }
            }
            let at = fields.get("params").unwrap_or(source.node).location;
            check
                .error(
                    at,
                    format!(
                        "query `{}` needs parameter{} {}",
                        q.name,
                        if missing.len() == 1 { "" } else { "s" },
                        missing
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .hint(hint);
            ok = false;
        }
    }
    ok.then_some(values)
}

/// A value for an inline query's parameter, typed by how it is written.
fn inferred_value(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<ParamValue> {
    match &node.value {
        Value::Int(i) => Some(ParamValue::Int(*i)),
        Value::Seq(_) => library::param_value(check, node, ParamType::List, what),
        _ => library::param_value(check, node, ParamType::Str, what),
    }
}

/// A YAML node as JSON, for storing the job as written.
pub(super) fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or_else(
            || serde_json::Value::String(f.to_string()),
            serde_json::Value::Number,
        ),
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// The job mapping as JSON, for `hunt_jobs.definition`; its test cases (input rows that can
/// be long) are no part of what the daemon runs and are left out.
pub(super) fn definition(node: &Node) -> BTreeMap<String, serde_json::Value> {
    node.as_map()
        .unwrap_or_default()
        .iter()
        .filter(|(k, _)| k.name != "tests")
        .map(|(k, v)| (k.name.clone(), to_json(v)))
        .collect()
}
