//! Loading job files: finding them, reading each job, and checking the fields together.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use super::fields::{
    Context, Fields, SeenNames, boolean, catch_up, dedup, definition, duration, environment,
    job_name, optional, positive_duration, query, schedule,
};
use super::library::{self, Library};
use super::{Environment, InstanceTags, Job};
use crate::diagnostic::{Diagnostics, Location};
use crate::schedule::{self, Schedule};
use crate::yaml::{self, Checker, Node};

/// Every key a job may have.
const JOB_KEYS: &[&str] = &[
    "name",
    "description",
    "instance",
    "instances",
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
    "backfill_on_create",
    "notify",
    "tests",
];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 86_400);
const DEFAULT_MAX_WINDOW: Duration = Duration::from_secs(86_400);
/// The hunting APIs only see the last 30 days; a longer window cannot return more.
const MAX_LOOKBACK: Duration = Duration::from_secs(30 * 86_400);

/// Loads a config's query library and jobs, checking jobs against its instances.
///
/// This is what `huntd validate`, the commands and the daemon (at start and on SIGHUP) read.
pub fn load_for(config: &crate::config::Config, diags: &mut Diagnostics) -> (Library, Vec<Job>) {
    let library = Library::load(&config.query_library, diags);
    // Jobs naming an instance that failed validation already have its error; treat the name as
    // known so they do not also get a misleading "unknown instance".
    let instances: InstanceTags = config
        .invalid_instances
        .iter()
        .map(|name| (name.clone(), Vec::new()))
        .chain(
            config
                .instances
                .iter()
                .map(|(name, instance)| (name.clone(), instance.tags.clone())),
        )
        .collect();
    let mut jobs = load(&config.jobs, &library, &instances, diags);
    let outputs: BTreeSet<String> = config
        .outputs
        .keys()
        .chain(&config.invalid_outputs)
        .cloned()
        .collect();
    for job in &mut jobs {
        if job.notify.to.is_some() {
            let mut check = Checker::new(&job.source, diags);
            // `to:` on its own line, else the `notify:` holding it (`notify: {to: [...]}`).
            let at = match job.line_of(&["to"]) {
                Location::START => job.line_of(&["notify"]),
                at => at,
            };
            crate::config::notify::check_targets(&mut check, &job.notify, at, &outputs);
        }
        job.notify = job.notify.over(&config.daemon.notify);
    }
    (library, jobs)
}

/// Loads and validates the jobs in `paths` (directories, non-recursive, or files).
///
/// Every problem goes to `diags`; a job with any error is left out of the result.
pub fn load(
    paths: &[PathBuf],
    library: &Library,
    instances: &InstanceTags,
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

/// One job mapping as a [`Job`]; `None` when any of its fields has an error.
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
    let instances = super::instances::instances(check, &fields, node.location, context.instances);
    let environment = environment(check, &fields, node.location);
    let schedule = schedule(check, &fields, node.location, crons);

    let interval = schedule.as_ref().map(Schedule::interval);
    let (lookback, delay) = window_lengths(check, &fields, node.location, interval);

    let query = environment
        .as_ref()
        .and_then(|(env, _)| query(check, &fields, node.location, *env, context));
    let (timeout, retention, max_window) = limits(check, &fields);
    let splay = fields
        .get("splay")
        .and_then(|n| duration(check, n, "`splay`"));
    let backfill_on_create = fields
        .get("backfill_on_create")
        .and_then(|n| backfill_span(check, n));
    let catch_up = catch_up(check, &fields);
    let dedup_columns = dedup(check, &fields);
    let enabled = optional(check, &fields, "enabled", true, boolean);
    let timespan = optional(check, &fields, "timespan", true, boolean);
    let notify = fields
        .get("notify")
        .map(|n| crate::config::notify::notify(check, n, "notify"));
    let tags = fields
        .get("tags")
        .and_then(|n| check.strings(n, "`tags`"))
        .map(|tags| tags.into_iter().map(|(t, _)| t).collect())
        .unwrap_or_default();
    let tests = test_cases(check, &fields);

    if check.diags.error_count() > errors_before {
        return None;
    }
    let (environment, environment_name) = environment?;
    let job = Job {
        name: name?,
        description,
        instances: instances?,
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
        backfill_on_create,
        splay,
        enabled: enabled?,
        tags,
        notify: notify.flatten().unwrap_or_default(),
        source: check.file.to_path_buf(),
        definition: definition(node),
        tests,
    };
    warn_if_unbounded(check, &fields, &job);
    Some(job)
}

/// `timeout`, `retention` and `max_window`, each its default when left out.
fn limits(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
) -> (Option<Duration>, Option<Duration>, Option<Duration>) {
    let mut limit =
        |key: &str, default: Duration| optional(check, fields, key, default, positive_duration);
    (
        limit("timeout", DEFAULT_TIMEOUT),
        limit("retention", DEFAULT_RETENTION),
        limit("max_window", DEFAULT_MAX_WINDOW),
    )
}

/// `tests:`, whose input files start at the job file's folder.
fn test_cases(check: &mut Checker<'_>, fields: &Fields<'_>) -> Vec<super::cases::TestCase> {
    let base_dir = check
        .file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    fields
        .get("tests")
        .map(|n| super::cases::parse(check, n, &base_dir))
        .unwrap_or_default()
}

/// `backfill_on_create`: a positive span within the 30 days of data the hunting APIs keep.
fn backfill_span(check: &mut Checker<'_>, node: &Node) -> Option<Duration> {
    let span = positive_duration(check, node, "`backfill_on_create`")?;
    if span > MAX_LOOKBACK {
        check
            .error(
                node.location,
                format!(
                    "`backfill_on_create` {} is longer than the 30 days of data the hunting APIs keep",
                    crate::duration::format(span)
                ),
            )
            .hint("use 30d or less");
        return None;
    }
    Some(span)
}

/// Warns when the job sets `lookback` or `catch_up`, which only mean something if the window
/// limits the query, and the window cannot (see [`Job::window_bounds_query`]).
fn warn_if_unbounded(check: &mut Checker<'_>, fields: &Fields<'_>, job: &Job) {
    if job.window_bounds_query() {
        return;
    }
    let Some(key) = ["lookback", "catch_up"]
        .into_iter()
        .find(|key| fields.get(key).is_some())
    else {
        return;
    };
    let at = fields.get(key).map_or(Location::START, |n| n.location);
    let how = if job.environment == Environment::Graph {
        "uses neither `{start}` and `{end}` nor `timespan: true`"
    } else {
        "does not use both `{start}` and `{end}` (MDE sends no time span)"
    };
    check
        .warning(
            at,
            format!(
                "`{key}` is set but the run's window cannot bound this query: it {how}, so \
                 every run returns the API's default 30 days and a truncated answer cannot be \
                 split into shorter windows"
            ),
        )
        .hint("filter with `where Timestamp between (datetime({start}) .. datetime({end}))`");
}

/// The job's `lookback` (the schedule interval when absent) and `delay`, with the warnings and
/// errors that only the two together, or lookback and the interval, can show.
fn window_lengths(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    at: Location,
    interval: Option<Duration>,
) -> (Option<Duration>, Option<Duration>) {
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
        let at = fields.get("delay").map_or(at, |n| n.location);
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
    (lookback, delay)
}
