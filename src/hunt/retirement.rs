//! The retirement of the Defender for Endpoint hunting API: `huntd validate` warns on every
//! job still using it, until its instance says the user has decided.

use std::collections::BTreeMap;

use super::api::MDE_SUCCESSOR;
use crate::config::Instance;
use crate::diagnostic::Diagnostics;
use crate::jobs::{Environment, Job};

/// Warns on each enabled MDE job (`MDE`, `MDATP`, `M365D`) whose instance does not set
/// `MdeRetirementNoticed: true`.
pub fn check(jobs: &[Job], instances: &BTreeMap<String, Instance>, diags: &mut Diagnostics) {
    for job in jobs
        .iter()
        .filter(|j| j.enabled && j.environment == Environment::Mde)
    {
        let unnoticed: Vec<&str> = job
            .instances
            .iter()
            .filter(|name| {
                !instances
                    .get(*name)
                    .is_some_and(|i| i.mde_retirement_noticed)
            })
            .map(String::as_str)
            .collect();
        if unnoticed.is_empty() {
            continue;
        }
        diags
            .warning(
                &job.source,
                job.line_of(&["environment"]),
                format!(
                    "job `{}` uses the Defender for Endpoint hunting API (environment `{}`), \
                     which Microsoft began retiring in January 2026",
                    job.name, job.environment_name
                ),
            )
            .code("mde-retirement")
            .hint(format!(
                "{MDE_SUCCESSOR}; once decided, set `MdeRetirementNoticed: true` on instance \
                 {} to silence this",
                unnoticed
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
    }
}
