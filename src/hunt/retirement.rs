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
        if instances
            .get(&job.instance)
            .is_some_and(|instance| instance.mde_retirement_noticed)
        {
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
                 `{}` to silence this",
                job.instance
            ));
    }
}
