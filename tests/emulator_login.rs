//! `huntd login` (device code) against a real `huntd emulate` process whose tenants approve,
//! decline or let the sign-in expire: each outcome is reported clearly, with its exit code, and
//! only an approved sign-in leaves a refresh token file.

#[path = "common/process.rs"]
mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{Emulate, huntd, printed};
use huntd::auth::refresh_token_path;

const APP: &str = "0000000a-0000-4000-8000-000000000001";

/// Tenant of each outcome, and the instance signing in to it.
const OUTCOMES: [(&str, &str, &str); 3] = [
    (
        "Approver",
        "0000000a-0000-4000-8000-0000000000a1",
        "approve",
    ),
    (
        "Decliner",
        "0000000a-0000-4000-8000-0000000000a2",
        "decline",
    ),
    ("Sleeper", "0000000a-0000-4000-8000-0000000000a3", "expire"),
];

/// Starts an emulator with one tenant per outcome and writes a huntd config with one delegated
/// instance per tenant; the state directory is `dir/state`.
async fn setup(dir: &Path) -> Emulate {
    let mut tenants = String::from("tenants:\n");
    for (_, tenant, outcome) in OUTCOMES {
        write!(
            tenants,
            "  - id: {tenant}\n    user: analyst@contoso.com\n    device_code: {outcome}\n\
             \x20   apps: [{{client_id: {APP}, roles: [ThreatHunting.Read.All]}}]\n"
        )
        .expect("writing to a String cannot fail");
    }
    std::fs::write(dir.join("emulator.yaml"), tenants).expect("write");
    let emulate = Emulate::start(
        dir,
        &["--config", "emulator.yaml", "--rows-per-table", "10"],
    )
    .await;
    let base = &emulate.base_url;
    let mut config = format!(
        "database: sqlite://{db}\ndaemon: {{state_dir: {state}}}\ninstances:\n",
        db = dir.join("h.db").display(),
        state = dir.join("state").display(),
    );
    for (name, tenant, _) in OUTCOMES {
        write!(
            config,
            "  {name}:\n    TenantId: {tenant}\n    ClientId: {APP}\n    UserName: analyst@contoso.com\n\
             \x20   Endpoints: {{login: '{base}', graph: '{base}', mde: '{base}'}}\n"
        )
        .expect("writing to a String cannot fail");
    }
    std::fs::write(dir.join("huntd.yaml"), config).expect("write");
    emulate
}

/// `huntd login` for `instance`, which must exit 3: its stderr, and everything it printed.
async fn refused_login(dir: &Path, instance: &str) -> (String, String) {
    let out = huntd(dir, &["login", "--instance", instance]).await;
    let text = printed(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    (String::from_utf8_lossy(&out.stderr).into_owned(), text)
}

#[tokio::test]
async fn device_code_login_reports_approval_decline_and_expiry_and_stores_a_token_only_when_approved()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let _emulate = setup(dir.path()).await;
    let state = dir.path().join("state");

    let out = huntd(dir.path(), &["login", "--instance", "Approver"]).await;
    let text = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("microsoft.com/devicelogin"), "{text}");
    assert!(
        stdout.contains("signed in as analyst@contoso.com"),
        "{text}"
    );
    assert!(refresh_token_path(&state, "Approver").is_file(), "{text}");

    let (stderr, text) = refused_login(dir.path(), "Decliner").await;
    assert!(
        stderr.contains("the sign-in of instance Decliner was declined"),
        "{text}"
    );
    assert!(!refresh_token_path(&state, "Decliner").exists(), "{text}");

    let (stderr, text) = refused_login(dir.path(), "Sleeper").await;
    assert!(
        stderr.contains("the sign-in code expired before the sign-in finished"),
        "{text}"
    );
    assert!(
        stderr.contains("huntd login --instance Sleeper"),
        "says how to retry: {text}"
    );
    assert!(!refresh_token_path(&state, "Sleeper").exists(), "{text}");
}
