//! Job definitions: what to hunt, where, and when.
//!
//! Job files are YAML: one job per file, or a `jobs:` list. [`load`] checks every field and
//! records each problem with its file and line, so `huntd validate` can show them all at once;
//! only jobs without errors come back.

pub mod cases;
mod fields;
mod instances;
pub mod library;
mod load;
pub mod names;
pub mod syntax;
pub mod template;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::diagnostic::Location;
use crate::schedule::Schedule;

pub use cases::TestCase;
pub use instances::InstanceTags;
pub use library::{Library, LibraryQuery, ParamSpec};
pub use load::{load, load_for};
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
    /// The instances it hunts, keys of `Config::instances`; each (job, instance) pair is a
    /// stream of its own.
    pub instances: Vec<String>,
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
    /// How far back the job's first start hunts (`backfill_on_create`), like a custom
    /// detection scanning the past when it is created.
    pub backfill_on_create: Option<Duration>,
    /// Deterministic per-job offset from the fire time; `None` = daemon default.
    pub splay: Option<Duration>,
    /// Disabled jobs are loaded and validated but not scheduled.
    pub enabled: bool,
    /// Free labels.
    pub tags: Vec<String>,
    /// Where its new findings go: its `notify:` over `daemon.notify` once loaded for a config.
    pub notify: crate::config::Notify,
    /// The file it was defined in.
    pub source: PathBuf,
    /// The job as written (its test cases left out), for `hunt_jobs.definition`.
    pub definition: BTreeMap<String, serde_json::Value>,
    /// Its `tests:`, which `huntd test` runs; the daemon never reads them.
    pub tests: Vec<TestCase>,
}

impl Job {
    /// The query for the window `start..end`.
    pub fn render(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<String> {
        Ok(self.query.render(start, end)?)
    }

    /// Whether a run's window limits what the query returns: Graph sends it as `Timespan`, or
    /// the query uses both `{start}` and `{end}`. Otherwise a shorter window returns the same
    /// rows, so splitting a truncated answer cannot help.
    pub fn window_bounds_query(&self) -> bool {
        let sends_timespan = self.environment == Environment::Graph && self.timespan;
        sends_timespan
            || self.query.placeholders().is_ok_and(|names| {
                template::WINDOW_PLACEHOLDERS
                    .iter()
                    .all(|window| names.iter().any(|name| name == window))
            })
    }

    /// Where the first of `keys` is written for this job in its file (after the job's `name:`
    /// when the file holds several), for diagnostics found after loading; the file's top when
    /// it cannot be read or has no such key.
    pub fn line_of(&self, keys: &[&str]) -> Location {
        fn bare(line: &str) -> &str {
            line.trim_start().trim_start_matches("- ").trim_start()
        }
        let Ok(text) = std::fs::read_to_string(&self.source) else {
            return Location::START;
        };
        let raw: Vec<&str> = text.lines().collect();
        let named = |line: &&str| {
            bare(line)
                .strip_prefix("name:")
                .is_some_and(|rest| rest.trim().trim_matches(['"', '\'']) == self.name)
        };
        let name_at = raw.iter().position(named).unwrap_or(0);
        // The job's own keys may also stand before its `name:`: start at its list item.
        let item_start = raw[..=name_at.min(raw.len().saturating_sub(1))]
            .iter()
            .rposition(|line| line.trim_start().starts_with("- "))
            .unwrap_or(0);
        raw.iter()
            .enumerate()
            .skip(item_start)
            .find(|(_, line)| {
                let line = bare(line);
                keys.iter().any(|key| {
                    line.strip_prefix(key)
                        .is_some_and(|rest| rest.trim_start().starts_with(':'))
                })
            })
            .and_then(|(index, line)| {
                let column = line.len() - bare(line).len() + 1;
                Some(Location {
                    line: u32::try_from(index + 1).ok()?,
                    column: u32::try_from(column).ok()?,
                })
            })
            .unwrap_or(Location::START)
    }
}

/// One row of `huntd jobs`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobSummary {
    /// Job name.
    pub name: String,
    /// The instances it hunts.
    pub instances: Vec<String>,
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
            instances: job.instances.clone(),
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
