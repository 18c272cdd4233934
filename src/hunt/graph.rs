//! Microsoft Graph `runHuntingQuery` (`M365DGraph`).

use std::time::Duration;

use chrono::SecondsFormat;
use serde::Serialize;

use super::Window;
use super::client::Api;
use crate::auth::Resource;
use crate::config::Quota;

/// Graph's facts: path, permission, the 3-minute limit, 45 calls per minute.
pub(super) const API: Api = Api {
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
    body,
};

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "Query")]
    query: &'a str,
    #[serde(rename = "Timespan", skip_serializing_if = "Option::is_none")]
    timespan: Option<String>,
}

/// `{"Query", "Timespan": "start/end"}`: the window lets the API bound the data even when the
/// KQL forgets to.
fn body(query: &str, window: Option<Window>) -> String {
    let timespan = window.map(|(start, end)| {
        format!(
            "{}/{}",
            start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            end.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
    });
    serde_json::to_string(&Body { query, timespan }).expect("a struct of strings always serializes")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn body_carries_the_window_as_an_iso_interval_in_utc() {
        let start = chrono::Utc
            .with_ymd_and_hms(2024, 2, 1, 8, 0, 0)
            .single()
            .expect("a valid date");
        let end = chrono::Utc
            .with_ymd_and_hms(2024, 2, 15, 8, 0, 0)
            .single()
            .expect("a valid date");
        assert_eq!(
            body("T | take 1", Some((start, end))),
            r#"{"Query":"T | take 1","Timespan":"2024-02-01T08:00:00Z/2024-02-15T08:00:00Z"}"#
        );
    }

    #[test]
    fn body_without_window_has_no_timespan() {
        assert_eq!(body("T", None), r#"{"Query":"T"}"#);
    }
}
