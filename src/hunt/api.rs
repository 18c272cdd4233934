//! What tells the two hunting APIs apart: URL, request body, time limit, token resource and
//! quota. Everything else about a hunt is the same for both.

use std::time::Duration;

use chrono::SecondsFormat;
use serde::Serialize;

use super::Window;
use crate::auth::Resource;
use crate::config::{Endpoints, Instance, Quota};
use crate::jobs::Environment;

/// The facts of one hunting API.
#[derive(Debug)]
pub(super) struct Api {
    /// The name messages call it by.
    pub name: &'static str,
    /// Path of the hunting call below the instance's base URL.
    pub path: &'static str,
    /// Picks this API's base URL from an instance's endpoints.
    pub base: fn(&Endpoints) -> &String,
    /// The application permission a call needs.
    pub permission: &'static str,
    /// The API that permission is granted on, as the portal names it.
    pub permission_on: &'static str,
    /// How long the API itself lets a query run.
    pub time_limit: Duration,
    /// Whose token a call carries.
    pub resource: Resource,
    /// The quota when the instance sets none.
    pub default_quota: Quota,
    /// The JSON request body for a query and its window.
    pub body: fn(&str, Option<Window>) -> String,
    /// For an API being retired, what to move a job to.
    pub successor: Option<&'static str>,
}

impl Api {
    /// The API a job's environment runs on.
    pub(super) fn of(environment: Environment) -> &'static Api {
        match environment {
            Environment::Graph => &GRAPH,
            Environment::Mde => &MDE,
        }
    }

    /// The full URL of the hunting call on `instance`.
    pub(super) fn url(&self, instance: &Instance) -> String {
        format!(
            "{}{}",
            (self.base)(&instance.endpoints).trim_end_matches('/'),
            self.path
        )
    }
}

/// Microsoft Graph `runHuntingQuery` (`M365DGraph`): the 3-minute limit, 45 calls per minute.
pub(super) const GRAPH: Api = Api {
    name: "Microsoft Graph runHuntingQuery",
    path: "/v1.0/security/runHuntingQuery",
    base: |endpoints| &endpoints.graph,
    permission: "ThreatHunting.Read.All",
    permission_on: "Microsoft Graph",
    time_limit: Duration::from_secs(180),
    resource: Resource::Graph,
    default_quota: Quota {
        per_minute: 45,
        per_hour: None,
    },
    body: graph_body,
    successor: None,
};

/// Defender for Endpoint `advancedqueries/run` (`MDE`, `MDATP`, `M365D`): the 200-second
/// limit, 45 calls per minute and 1,500 per hour.
pub(super) const MDE: Api = Api {
    name: "Defender for Endpoint advanced queries",
    path: "/api/advancedqueries/run",
    base: |endpoints| &endpoints.mde,
    permission: "AdvancedQuery.Read.All",
    permission_on: "WindowsDefenderATP",
    time_limit: Duration::from_secs(200),
    resource: Resource::Mde,
    default_quota: Quota {
        per_minute: 45,
        per_hour: Some(1500),
    },
    body: mde_body,
    successor: Some(MDE_SUCCESSOR),
};

/// What to do about MDE's retirement (message center MC1220762, from January 2026).
pub const MDE_SUCCESSOR: &str = "Microsoft is retiring the Defender for Endpoint advanced \
    hunting API (MC1220762): the same query runs on Microsoft Graph runHuntingQuery with \
    `environment: M365DGraph` in the job and the application permission \
    ThreatHunting.Read.All on Microsoft Graph";

#[derive(Serialize)]
struct GraphBody<'a> {
    #[serde(rename = "Query")]
    query: &'a str,
    #[serde(rename = "Timespan", skip_serializing_if = "Option::is_none")]
    timespan: Option<String>,
}

/// `{"Query", "Timespan": "start/end"}`: the window lets the API bound the data even when the
/// KQL forgets to.
fn graph_body(query: &str, window: Option<Window>) -> String {
    let timespan = window.map(|(start, end)| {
        format!(
            "{}/{}",
            start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            end.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
    });
    serde_json::to_string(&GraphBody { query, timespan })
        .expect("a struct of strings always serializes")
}

#[derive(Serialize)]
struct MdeBody<'a> {
    #[serde(rename = "Query")]
    query: &'a str,
}

/// `{"Query"}` only: MDE has no time-span parameter, the window lives in the query text.
fn mde_body(query: &str, _window: Option<Window>) -> String {
    serde_json::to_string(&MdeBody { query }).expect("a struct of strings always serializes")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn graph_body_carries_the_window_as_an_iso_interval_in_utc() {
        let start = chrono::Utc
            .with_ymd_and_hms(2024, 2, 1, 8, 0, 0)
            .single()
            .expect("a valid date");
        let end = chrono::Utc
            .with_ymd_and_hms(2024, 2, 15, 8, 0, 0)
            .single()
            .expect("a valid date");
        assert_eq!(
            graph_body("T | take 1", Some((start, end))),
            r#"{"Query":"T | take 1","Timespan":"2024-02-01T08:00:00Z/2024-02-15T08:00:00Z"}"#
        );
    }

    #[test]
    fn graph_body_without_window_has_no_timespan() {
        assert_eq!(graph_body("T", None), r#"{"Query":"T"}"#);
    }

    #[test]
    fn mde_body_is_only_the_query_with_its_case_sensitive_key() {
        assert_eq!(mde_body("T | take 1", None), r#"{"Query":"T | take 1"}"#);
    }
}
