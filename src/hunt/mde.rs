//! Defender for Endpoint `advancedqueries/run` (`MDE`, `MDATP`, `M365D`).

use std::time::Duration;

use serde::Serialize;

use super::Window;
use super::client::Api;
use crate::auth::Resource;
use crate::config::Quota;

/// MDE's facts: path, permission, the 200-second limit, 45 calls per minute and 1,500 per hour.
pub(super) const API: Api = Api {
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
    body,
};

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "Query")]
    query: &'a str,
}

/// `{"Query"}` only: MDE has no time-span parameter, the window lives in the query text.
fn body(query: &str, _window: Option<Window>) -> String {
    serde_json::to_string(&Body { query }).expect("a struct of strings always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_only_the_query_with_its_case_sensitive_key() {
        assert_eq!(body("T | take 1", None), r#"{"Query":"T | take 1"}"#);
    }
}
