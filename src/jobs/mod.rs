//! Job definitions: what to hunt, where, and when.

pub mod template;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::schedule::Schedule;

/// Which hunting API a job calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// Microsoft Graph `runHuntingQuery` (`M365DGraph`).
    Graph,
    /// Defender for Endpoint `advancedqueries/run` (`MDE`, `MDATP`, `M365D`).
    Mde,
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
