//! The emulator answers valid KQL it does not evaluate with a 400 that names what it does not
//! support, and only invalid KQL with a syntax error.

#[path = "common/hunt.rs"]
mod common;
#[path = "common/emulator.rs"]
mod emu;

use emu::*;
use huntd::emulator::{DEMO_APP, DEMO_SECRET};

async fn message(query: &str) -> String {
    let e = start(options()).await;
    let token = token(&e.base_url, DEMO_APP, DEMO_SECRET, MDE_SCOPE).await;
    let (status, _, body) = call(&e.base_url, MDE, &token, query).await;
    assert_eq!(status, 400, "{query}: {body}");
    assert_eq!(body["error"]["code"], "BadRequest");
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn valid_kql_the_emulator_does_not_run_is_a_400_naming_it_not_a_syntax_error() {
    let named = message("DeviceInfo | top-hitters 3 of DeviceName").await;
    assert!(
        named.starts_with("'top-hitters' operator is not supported"),
        "{named}"
    );
    let method = message("DeviceInfo | extend x=DeviceName.length()").await;
    assert!(
        method.starts_with(
            "'x=DeviceName.length()' is valid KQL that huntd emulate does not support"
        ),
        "{method}"
    );
    let invalid = message("DeviceInfo | where DeviceName hass 'x'").await;
    assert!(invalid.starts_with("Syntax error"), "{invalid}");
}
