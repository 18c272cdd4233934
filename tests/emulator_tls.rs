//! `huntd emulate --tls`: a real emulator process serving HTTPS with the certificate it made at
//! start-up, trusted by a huntd instance through its `CaFile`, and only through it.

#[path = "common/process.rs"]
mod common;

use std::path::Path;

use common::{Emulate, LabSetup, huntd, printed};
use huntd::emulator::{self, DEMO_APP, DEMO_SECRET, DEMO_TENANT, EmulatorOptions};

/// A config with one Graph and one MDE job on instance `Lab`, signing in to the emulator at
/// `base` with the demo app; `ca_file` becomes the instance's `CaFile`.
fn write_setup(dir: &Path, base: &str, ca_file: Option<&str>) {
    LabSetup {
        tenant: DEMO_TENANT,
        client_id: DEMO_APP,
        secret: DEMO_SECRET,
        base,
        ca_file,
        graph_query: "DeviceInfo | where Timestamp between (datetime({start}) .. datetime({end})) | take 3",
        mde_query: "DeviceInfo | where Timestamp > datetime({start}) | take 3",
    }
    .write(dir);
}

#[tokio::test]
async fn huntd_once_hunts_both_apis_over_tls_when_the_instance_trusts_the_emulators_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulate = Emulate::start(
        dir.path(),
        &[
            "--tls",
            "--tls-cert",
            "emulator.pem",
            "--rows-per-table",
            "200",
        ],
    )
    .await;
    assert!(
        emulate.base_url.starts_with("https://127.0.0.1:"),
        "{}",
        emulate.base_url
    );
    let log = emulate.log();
    assert!(
        log.contains(&dir.path().join("emulator.pem").display().to_string()),
        "the certificate's path is printed:\n{log}"
    );
    let pem = std::fs::read_to_string(dir.path().join("emulator.pem")).expect("certificate");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(
        !pem.contains("PRIVATE KEY"),
        "only the certificate is written"
    );

    write_setup(dir.path(), &emulate.base_url, Some("./emulator.pem"));
    for job in ["graph-hunt", "mde-hunt"] {
        let out = huntd(dir.path(), &["once", job, "--start", "2h"]).await;
        let text = printed(&out);
        assert_eq!(out.status.code(), Some(0), "{job}: {text}");
        assert!(text.contains("rows: "), "{job}: {text}");
    }
}

#[tokio::test]
async fn without_the_ca_file_huntd_once_fails_at_once_with_a_certificate_error_naming_the_endpoint_and_ca_file()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulate = Emulate::start(dir.path(), &["--tls", "--rows-per-table", "50"]).await;
    assert!(
        dir.path().join("huntd-emulator.pem").is_file(),
        "the default certificate file is in the current directory"
    );
    write_setup(dir.path(), &emulate.base_url, None);
    let out = huntd(dir.path(), &["once", "graph-hunt", "--start", "2h"]).await;
    let text = printed(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(stderr.contains("certificate"), "{text}");
    assert!(stderr.contains(&emulate.base_url), "{text}");
    assert!(
        stderr.contains("after 1 tries") && stderr.contains("set cafile"),
        "an untrusted certificate is not retried, and the error says how to trust it: {text}"
    );
}

#[tokio::test]
async fn the_in_process_emulator_serves_https_to_a_client_trusting_its_certificate_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = dir.path().join("emulator.pem");
    let e = emulator::start(EmulatorOptions {
        tls_certificate: Some(pem.clone()),
        data: emulator::DataSource::Sample {
            seed: 1,
            rows_per_table: 10,
        },
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts");
    assert!(e.base_url.starts_with("https://"), "{}", e.base_url);
    assert_eq!(e.certificate.as_deref(), Some(pem.as_path()));
    let trusted = huntd::auth::http_client(Some(&pem), &huntd::auth::HttpOptions::default())
        .expect("client builds");
    let url = format!("{}/{DEMO_TENANT}/oauth2/v2.0/token", e.base_url);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEMO_APP),
        ("client_secret", DEMO_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let ask_token = |client: &reqwest::Client| client.post(&url).form(&form).send();
    let answer = ask_token(&trusted)
        .await
        .expect("TLS handshake and request succeed");
    assert_eq!(answer.status(), 200);

    let untrusting = huntd::auth::http_client(None, &huntd::auth::HttpOptions::default())
        .expect("client builds");
    let err = ask_token(&untrusting)
        .await
        .expect_err("an unknown certificate is refused");
    assert!(err.is_connect(), "{err:?}");
    e.shutdown.cancel();
    e.task.await.expect("join").expect("server ends cleanly");
}
