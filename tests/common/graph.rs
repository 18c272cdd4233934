//! The loopback fake of Entra ID and Graph that the daemon and store outage tests hunt against.

use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// A loopback server giving any tenant a token and answering Graph hunts with `hunts`.
pub async fn fake_graph(hunts: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/[^/]+/oauth2/v2\.0/token$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": 3600, "access_token": "fake-token"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .respond_with(hunts)
        .mount(&server)
        .await;
    server
}
