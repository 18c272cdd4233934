//! What the enabled jobs cost against their tenants' call quotas at steady state, for
//! `huntd validate` (warnings and errors) and `huntd jobs --costs` (the table).
//!
//! At steady state a run's window is one schedule interval (it starts where the last one
//! ended), split into `max_window` chunks, one call each. A cron schedule counts at its
//! shortest gap: that is its peak rate, which is what the per-minute budget must carry.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::api::Api;
use super::quota::TenantKey;
use crate::config::Instance;
use crate::diagnostic::Diagnostics;
use crate::jobs::{Environment, Job};

/// Above this share of a quota, `validate` warns: bursts and retries need the rest.
pub const WARN_SHARE: f64 = 0.8;

/// The steady-state calls of one enabled job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobCost {
    /// Job name.
    pub job: String,
    /// Instance name.
    pub instance: String,
    /// `graph` or `mde`.
    pub api: &'static str,
    /// Calls per run: the interval in `max_window` chunks.
    pub calls_per_run: u64,
    /// Calls per minute at the schedule's peak rate.
    pub per_minute: f64,
    /// Calls per hour at the schedule's peak rate.
    pub per_hour: f64,
}

/// One tenant's demand against its budget, its costliest jobs first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantDemand {
    /// The tenant id, as configured.
    pub tenant_id: String,
    /// The instances on it that have jobs.
    pub instances: Vec<String>,
    /// Calls per minute, both APIs.
    pub per_minute: f64,
    /// The per-minute budget: the smallest quota of its instances.
    pub minute_quota: u32,
    /// MDE calls per hour.
    pub mde_per_hour: f64,
    /// MDE's hourly budget, when an instance with MDE jobs has one.
    pub hour_quota: Option<u32>,
    /// Whether every instance on it sets `AllowOvercommit: true`.
    pub overcommit_allowed: bool,
    /// The jobs, costliest first.
    pub jobs: Vec<JobCost>,
}

impl TenantDemand {
    /// The larger of the minute and hour demand as a share of its quota.
    pub fn share(&self) -> f64 {
        let minute = self.per_minute / f64::from(self.minute_quota.max(1));
        let hour = self
            .hour_quota
            .map_or(0.0, |quota| self.mde_per_hour / f64::from(quota.max(1)));
        minute.max(hour)
    }
}

/// The steady-state cost of `job` on `instance`: each instance a job hunts is a stream with
/// this cost of its own.
pub fn job_cost(job: &Job, instance: &str) -> JobCost {
    let interval = job.schedule.interval().max(Duration::from_secs(1));
    let chunk = job.max_window.max(Duration::from_secs(1));
    let calls_per_run = interval.as_secs().div_ceil(chunk.as_secs()).max(1);
    #[allow(clippy::cast_precision_loss)] // counts and seconds far below 2^52
    let per_second = calls_per_run as f64 / interval.as_secs_f64();
    JobCost {
        job: job.name.clone(),
        instance: instance.to_string(),
        api: match job.environment {
            Environment::Graph => "graph",
            Environment::Mde => "mde",
        },
        calls_per_run,
        per_minute: per_second * 60.0,
        per_hour: per_second * 3600.0,
    }
}

/// Each tenant's demand from the enabled jobs whose instance is known, highest share first.
pub fn demand(jobs: &[Job], instances: &BTreeMap<String, Instance>) -> Vec<TenantDemand> {
    let mut tenants: HashMap<TenantKey, TenantDemand> = HashMap::new();
    let streams = jobs
        .iter()
        .filter(|j| j.enabled)
        .flat_map(|job| job.instances.iter().map(move |name| (job, name)));
    for (job, name) in streams {
        let Some(instance) = instances.get(name) else {
            continue;
        };
        let api = Api::of(job.environment);
        let quota = instance.quota.unwrap_or(api.default_quota);
        let cost = job_cost(job, name);
        let tenant = tenants
            .entry(TenantKey::of(instance))
            .or_insert_with(|| TenantDemand {
                tenant_id: instance.tenant_id.clone(),
                instances: Vec::new(),
                per_minute: 0.0,
                minute_quota: quota.per_minute,
                mde_per_hour: 0.0,
                hour_quota: None,
                overcommit_allowed: true,
                jobs: Vec::new(),
            });
        if !tenant.instances.contains(&instance.name) {
            tenant.instances.push(instance.name.clone());
            tenant.overcommit_allowed &= instance.allow_overcommit;
        }
        tenant.minute_quota = tenant.minute_quota.min(quota.per_minute);
        tenant.per_minute += cost.per_minute;
        if job.environment == Environment::Mde {
            tenant.mde_per_hour += cost.per_hour;
            if let Some(hour) = quota.per_hour {
                tenant.hour_quota = Some(tenant.hour_quota.map_or(hour, |h| h.min(hour)));
            }
        }
        tenant.jobs.push(cost);
    }
    let mut demands: Vec<TenantDemand> = tenants.into_values().collect();
    for tenant in &mut demands {
        tenant
            .jobs
            .sort_by(|a, b| b.per_minute.total_cmp(&a.per_minute));
    }
    demands.sort_by(|a, b| {
        b.share()
            .total_cmp(&a.share())
            .then_with(|| a.tenant_id.cmp(&b.tenant_id))
    });
    demands
}

/// Warns on each tenant whose jobs need more than [`WARN_SHARE`] of its quota, and reports an
/// error above all of it (runs would fall behind for ever) unless its instances allow it.
pub fn check(jobs: &[Job], instances: &BTreeMap<String, Instance>, diags: &mut Diagnostics) {
    for tenant in demand(jobs, instances) {
        let share = tenant.share();
        if share <= WARN_SHARE {
            continue;
        }
        let Some(costliest) = tenant.jobs.first() else {
            continue;
        };
        let Some(job) = jobs.iter().find(|j| j.name == costliest.job) else {
            continue;
        };
        let message = format!(
            "the jobs on tenant {} (instances {}) need {:.0}% of its quota: {}; costliest: {}",
            tenant.tenant_id,
            tenant.instances.join(", "),
            share * 100.0,
            rates(&tenant),
            costliest_jobs(&tenant),
        );
        let at = job.line_of(&["schedule", "every"]);
        let hint = "run the costliest jobs less often (each run costs a call per `max_window` \
                    of its interval), or raise `Quota` if the tenant really allows more; \
                    `huntd jobs --costs` shows every job's cost";
        if share > 1.0 && !tenant.overcommit_allowed {
            diags
                .error(
                    &job.source,
                    at,
                    format!("{message}: runs would fall behind for ever"),
                )
                .hint(format!(
                    "{hint}; set `AllowOvercommit: true` on the instance to accept the backlog"
                ));
        } else {
            diags.warning(&job.source, at, message).hint(hint);
        }
    }
}

/// "N calls a minute of Q" and, for MDE, the hourly figures.
fn rates(tenant: &TenantDemand) -> String {
    let mut text = format!(
        "{:.1} calls a minute of {}",
        tenant.per_minute, tenant.minute_quota
    );
    if let Some(hour) = tenant.hour_quota {
        let _ = write!(
            text,
            ", {:.0} MDE calls an hour of {hour}",
            tenant.mde_per_hour
        );
    }
    text
}

/// The three costliest jobs with what each costs a minute; a job costing on several of the
/// tenant's instances names the instance.
fn costliest_jobs(tenant: &TenantDemand) -> String {
    tenant
        .jobs
        .iter()
        .take(3)
        .map(|cost| {
            if tenant.instances.len() > 1 {
                format!(
                    "{} on {} {:.1}/min",
                    cost.job, cost.instance, cost.per_minute
                )
            } else {
                format!("{} {:.1}/min", cost.job, cost.per_minute)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
