//! Job definitions: what to hunt, where, and when.
//!
//! Job files are YAML: one job per file, or a `jobs:` list. [`load`] checks every field and
//! records each problem with its file and line, so `huntd validate` can show them all at once;
//! only jobs without errors come back.

pub mod library;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::diagnostic::{Diagnostics, Location, did_you_mean};
use crate::schedule::{self, Schedule};
use crate::yaml::{self, Checker, Node, Value};

pub use library::{Library, LibraryQuery, ParamSpec};
pub use template::{ParamType, ParamValue, QueryTemplate};

/// Why a loaded job cannot produce its query.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query template does not render.
    #[error(transparent)]
    Template(#[from] template::Error),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Which hunting API a job calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// Microsoft Graph `runHuntingQuery` (`M365DGraph`).
    Graph,
    /// Defender for Endpoint `advancedqueries/run` (`MDE`, `MDATP`, `M365D`).
    Mde,
}

impl Environment {
    /// The names users may write, as msticpy spells them.
    pub const NAMES: [&'static str; 4] = ["M365DGraph", "MDE", "MDATP", "M365D"];

    /// Reads an environment name (any case); the flag says the name is deprecated (`M365D`).
    pub fn parse(name: &str) -> Option<(Self, bool)> {
        match name.trim().to_ascii_lowercase().as_str() {
            "m365dgraph" => Some((Self::Graph, false)),
            "mde" | "mdatp" => Some((Self::Mde, false)),
            "m365d" => Some((Self::Mde, true)),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Graph => "M365DGraph",
            Self::Mde => "MDE",
        }
    }
}

/// What to do with slots missed while huntd was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// Run each missed slot in order.
    #[default]
    All,
    /// One run whose window covers the whole missed span.
    Latest,
    /// Record the missed span as a gap and resume from now.
    Skip,
}

impl CatchUp {
    /// The names users may write.
    pub const NAMES: [&'static str; 3] = ["all", "latest", "skip"];

    /// Reads a policy name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "all" => Some(Self::All),
            "latest" => Some(Self::Latest),
            "skip" => Some(Self::Skip),
            _ => None,
        }
    }
}

/// A validated job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique name, `[a-z0-9][a-z0-9_-]{0,47}`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Instance name, a key of `Config::instances`.
    pub instance: String,
    /// The API to call.
    pub environment: Environment,
    /// The environment as written (`MDATP`, `M365D`, ...), for display.
    pub environment_name: String,
    /// When it fires.
    pub schedule: Schedule,
    /// Window length of a first run.
    pub lookback: Duration,
    /// Ingestion delay: windows end this long before the fire time.
    pub delay: Duration,
    /// The KQL template with `{start}`, `{end}` and parameter placeholders.
    pub query: crate::jobs::template::QueryTemplate,
    /// Whether Graph calls send the window as `Timespan`.
    pub timespan: bool,
    /// Per-run time limit.
    pub timeout: Duration,
    /// Missed-slot policy.
    pub catch_up: CatchUp,
    /// Columns whose values identify a finding; `None` = the whole row.
    pub dedup_columns: Option<Vec<String>>,
    /// How long results are kept.
    pub retention: Duration,
    /// Longest window one API call covers; longer windows are split.
    pub max_window: Duration,
    /// Deterministic per-job offset from the fire time; `None` = daemon default.
    pub splay: Option<Duration>,
    /// Disabled jobs are loaded and validated but not scheduled.
    pub enabled: bool,
    /// Free labels.
    pub tags: Vec<String>,
    /// The file it was defined in.
    pub source: PathBuf,
    /// The job as written, for `hunt_jobs.definition`.
    pub definition: BTreeMap<String, serde_json::Value>,
}

impl Job {
    /// The query for the window `start..end`.
    pub fn render(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<String> {
        Ok(self.query.render(start, end)?)
    }
}

/// Every key a job may have.
const JOB_KEYS: &[&str] = &[
    "name",
    "description",
    "instance",
    "environment",
    "schedule",
    "every",
    "timezone",
    "lookback",
    "delay",
    "query",
    "query_file",
    "query_ref",
    "params",
    "timeout",
    "catch_up",
    "dedup",
    "retention",
    "enabled",
    "tags",
    "timespan",
    "max_window",
    "splay",
];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 86_400);
const DEFAULT_MAX_WINDOW: Duration = Duration::from_secs(86_400);
const MAX_NAME_LEN: usize = 48;
/// The hunting APIs only see the last 30 days; a longer window cannot return more.
const MAX_LOOKBACK: Duration = Duration::from_secs(30 * 86_400);

/// What job validation checks names and references against.
#[derive(Clone, Copy)]
struct Context<'a> {
    library: &'a Library,
    instances: &'a BTreeSet<String>,
}

/// Where each job name was first defined, for duplicate errors.
type SeenNames = BTreeMap<String, (PathBuf, Location)>;

/// Loads a config's query library and jobs, checking jobs against its instances.
///
/// This is what `huntd validate`, the commands and the daemon (at start and on SIGHUP) read.
pub fn load_for(config: &crate::config::Config, diags: &mut Diagnostics) -> (Library, Vec<Job>) {
    let library = Library::load(&config.query_library, diags);
    // Jobs naming an instance that failed validation already have its error; treat the name as
    // known so they do not also get a misleading "unknown instance".
    let instances: BTreeSet<String> = config
        .instances
        .keys()
        .chain(&config.invalid_instances)
        .cloned()
        .collect();
    let jobs = load(&config.jobs, &library, &instances, diags);
    (library, jobs)
}

/// Loads and validates the jobs in `paths` (directories, non-recursive, or files).
///
/// Every problem goes to `diags`; a job with any error is left out of the result.
pub fn load(
    paths: &[PathBuf],
    library: &Library,
    instances: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> Vec<Job> {
    let context = Context { library, instances };
    let mut seen = SeenNames::new();
    let mut crons = schedule::CronCache::default();
    let mut jobs = Vec::new();
    for file in job_files(paths, diags) {
        let root = match yaml::load_file(&file) {
            Ok(root) => root,
            Err(diag) => {
                diags.push(diag);
                continue;
            }
        };
        let mut check = Checker::new(&file, diags);
        let items: Vec<&Node> = match root.get("jobs") {
            Some(list) => {
                if let Some(entries) = root.as_map() {
                    check.unknown_keys(entries, &["jobs"], "a file with a `jobs:` list");
                }
                if let Some(items) = list.as_seq() {
                    items.iter().collect()
                } else {
                    check.error(
                        list.location,
                        format!("`jobs` must be a list of jobs, found {}", list.kind()),
                    );
                    Vec::new()
                }
            }
            None => vec![&root],
        };
        for node in items {
            if let Some(job) = parse_job(&mut check, node, context, &mut seen, &mut crons) {
                jobs.push(job);
            }
        }
    }
    jobs
}

fn job_files(paths: &[PathBuf], diags: &mut Diagnostics) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let listing = std::fs::read_dir(path).and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.path()))
                    .collect::<std::io::Result<Vec<_>>>()
            });
            match listing {
                Ok(mut entries) => {
                    entries.sort();
                    files.extend(
                        entries
                            .into_iter()
                            .filter(|p| p.is_file() && library::is_yaml(p)),
                    );
                }
                Err(e) => {
                    diags.error(
                        path,
                        Location::START,
                        format!("cannot read job folder: {e}"),
                    );
                }
            }
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            diags
                .error(path, Location::START, "job path does not exist")
                .hint("check `jobs` in huntd.yaml");
        }
    }
    files
}

/// Whether `name` matches `[a-z0-9][a-z0-9_-]{0,47}`.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// A job mapping in which a key with no value (`description:`) counts as absent.
struct Fields<'n> {
    node: &'n Node,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.node.get(key).filter(|n| !n.is_null())
    }
}

fn parse_job(
    check: &mut Checker<'_>,
    node: &Node,
    context: Context<'_>,
    seen: &mut SeenNames,
    crons: &mut schedule::CronCache,
) -> Option<Job> {
    let entries = check.map(node, "a job")?;
    let errors_before = check.diags.error_count();
    check.unknown_keys(entries, JOB_KEYS, "a job");
    let fields = Fields { node };

    let name = job_name(check, &fields, node.location, seen);
    let description = fields
        .get("description")
        .and_then(|n| check.string(n, "`description`"))
        .unwrap_or_default();
    let instance = instance(check, &fields, node.location, context.instances);
    let environment = environment(check, &fields, node.location);
    let schedule = schedule(check, &fields, node.location, crons);

    let interval = schedule.as_ref().map(Schedule::interval);
    let lookback = match fields.get("lookback") {
        Some(n) => positive_duration(check, n, "`lookback`"),
        None => interval,
    };
    if let Some(lookback) = lookback
        && lookback > MAX_LOOKBACK
        && let Some(n) = fields.get("lookback")
    {
        check
            .warning(
                n.location,
                format!(
                    "`lookback` {} is longer than the 30 days of data the hunting APIs keep",
                    crate::duration::format(lookback)
                ),
            )
            .hint("a first run cannot see further back than 30d");
    }
    if let (Some(lookback), Some(interval), Some(n)) = (lookback, interval, fields.get("lookback"))
        && lookback < interval
    {
        check
            .warning(
                n.location,
                format!(
                    "`lookback` {} is shorter than the schedule interval {}: windows would have gaps",
                    crate::duration::format(lookback),
                    crate::duration::format(interval)
                ),
            )
            .hint("huntd still covers the gaps from the last finished window; set lookback to at least the interval to make that explicit");
    }
    let delay = match fields.get("delay") {
        Some(n) => duration(check, n, "`delay`"),
        None => Some(Duration::ZERO),
    };
    if let (Some(delay), Some(lookback)) = (delay, lookback)
        && delay > lookback
    {
        let at = fields.get("delay").map_or(node.location, |n| n.location);
        check
            .error(
                at,
                format!(
                    "`delay` {} is longer than `lookback` {}",
                    crate::duration::format(delay),
                    crate::duration::format(lookback)
                ),
            )
            .hint("the ingestion delay shifts the window back; it cannot exceed the window length");
    }

    let query = environment
        .as_ref()
        .and_then(|(env, _)| query(check, &fields, node.location, *env, context));
    let timeout = optional(
        check,
        &fields,
        "timeout",
        DEFAULT_TIMEOUT,
        positive_duration,
    );
    let retention = optional(
        check,
        &fields,
        "retention",
        DEFAULT_RETENTION,
        positive_duration,
    );
    let max_window = optional(
        check,
        &fields,
        "max_window",
        DEFAULT_MAX_WINDOW,
        positive_duration,
    );
    let splay = fields
        .get("splay")
        .and_then(|n| duration(check, n, "`splay`"));
    let catch_up = catch_up(check, &fields);
    let dedup_columns = dedup(check, &fields);
    let enabled = optional(check, &fields, "enabled", true, boolean);
    let timespan = optional(check, &fields, "timespan", true, boolean);
    let tags = fields
        .get("tags")
        .and_then(|n| check.strings(n, "`tags`"))
        .map(|tags| tags.into_iter().map(|(t, _)| t).collect())
        .unwrap_or_default();

    if check.diags.error_count() > errors_before {
        return None;
    }
    let (environment, environment_name) = environment?;
    Some(Job {
        name: name?,
        description,
        instance: instance?,
        environment,
        environment_name,
        schedule: schedule?,
        lookback: lookback?,
        delay: delay?,
        query: query?,
        timespan: timespan?,
        timeout: timeout?,
        catch_up: catch_up?,
        dedup_columns,
        retention: retention?,
        max_window: max_window?,
        splay,
        enabled: enabled?,
        tags,
        source: check.file.to_path_buf(),
        definition: definition(node),
    })
}

fn boolean(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<bool> {
    check.boolean(node, what)
}

/// Reads `key` with `read`, or gives `default` when it is absent.
fn optional<T>(
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

fn job_name(
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

fn instance(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    at: Location,
    instances: &BTreeSet<String>,
) -> Option<String> {
    let node = required(
        check,
        fields,
        "instance",
        at,
        "name the Defender instance to query, e.g. `instance: Default`",
    )?;
    let name = check.string(node, "`instance`")?;
    if instances.contains(&name) {
        return Some(name);
    }
    let known = instances
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let diag = check.error(node.location, format!("unknown instance `{name}`"));
    match did_you_mean(&name, instances.iter().map(String::as_str)) {
        _ if instances.is_empty() => diag.hint(
            "no instances are defined: add one under `instances:` in huntd.yaml or in msticpyconfig.yaml",
        ),
        Some(suggestion) => diag.hint(format!(
            "did you mean `{suggestion}`? known instances: {known}"
        )),
        None => diag.hint(format!("known instances: {known}")),
    };
    None
}

fn environment(
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

fn schedule(
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

fn duration(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<Duration> {
    let text = check.string(node, what)?;
    match crate::duration::parse(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            check.error(node.location, format!("{what}: {e}"));
            None
        }
    }
}

fn positive_duration(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<Duration> {
    let d = duration(check, node, what)?;
    if d.is_zero() {
        check.error(node.location, format!("{what} must be longer than zero"));
        return None;
    }
    Some(d)
}

fn catch_up(check: &mut Checker<'_>, fields: &Fields<'_>) -> Option<CatchUp> {
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
fn dedup(check: &mut Checker<'_>, fields: &Fields<'_>) -> Option<Vec<String>> {
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

fn query(
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
fn to_json(node: &Node) -> serde_json::Value {
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

fn definition(node: &Node) -> BTreeMap<String, serde_json::Value> {
    node.as_map()
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| (k.name.clone(), to_json(v)))
        .collect()
}

/// One row of `huntd jobs`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobSummary {
    /// Job name.
    pub name: String,
    /// Instance name.
    pub instance: String,
    /// Environment as written.
    pub environment: String,
    /// Cron expression or `every <duration>`.
    pub schedule: String,
    /// IANA zone name.
    pub timezone: String,
    /// The next three fire times, UTC; empty for a disabled job.
    pub next: Vec<DateTime<Utc>>,
    /// Whether the daemon schedules it.
    pub enabled: bool,
}

/// How many upcoming fire times `huntd jobs` shows.
const LISTED_FIRE_TIMES: usize = 3;

/// The rows of `huntd jobs`, in the order of `jobs`.
pub fn listing(jobs: &[Job], now: DateTime<Utc>) -> Vec<JobSummary> {
    jobs.iter()
        .map(|job| JobSummary {
            name: job.name.clone(),
            instance: job.instance.clone(),
            environment: job.environment_name.clone(),
            schedule: job.schedule.text.clone(),
            timezone: job.schedule.timezone.name().to_string(),
            next: if job.enabled {
                job.schedule.fire_times(now, LISTED_FIRE_TIMES)
            } else {
                Vec::new()
            },
            enabled: job.enabled,
        })
        .collect()
}

/// `rows` as an aligned plain-text table with a header line.
pub fn render_table(rows: &[JobSummary]) -> String {
    const HEADER: [&str; 7] = [
        "NAME",
        "INSTANCE",
        "ENVIRONMENT",
        "SCHEDULE",
        "TIMEZONE",
        "NEXT (UTC)",
        "ENABLED",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let next = if r.next.is_empty() {
                "-".to_string()
            } else {
                r.next
                    .iter()
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            [
                r.name.clone(),
                r.instance.clone(),
                r.environment.clone(),
                r.schedule.clone(),
                r.timezone.clone(),
                next,
                if r.enabled { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_string);
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                write!(line, "{cell:<width$}  ").expect("writing to a String cannot fail");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
