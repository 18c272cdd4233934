//! The status page in a real browser: `huntd run` against `huntd emulate` with a job that
//! succeeds and one whose query the API refuses, the page at `/` on `metrics_listen` loaded in
//! headless Chromium, its rendered DOM checked for the jobs, the timeline and the failure, and
//! a screenshot saved as `target/status-page.png`.
//!
//! Without `/usr/bin/chromium` the test prints a notice and skips, unless
//! `HUNTD_REQUIRE_CHROMIUM=1` (set by `.ci/run`) makes that a failure.

#[path = "common/process.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Daemon, Emulate, WINDOW_LOGONS, huntd, printed, two_second_jobs, write_config_dir};
use huntd::emulator::{DEMO_APP, DEMO_SECRET, DEMO_TENANT};
use huntd::store::{self, HistoryFilter, RunStatus};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A config whose one instance signs in to the emulator, with the page on a free loopback
/// port, and two jobs every 2 seconds: one that succeeds and one the API refuses.
fn write_setup(dir: &Path, base: &str) {
    let config = format!(
        "database: sqlite://{db}\njobs: [./jobs]\n\
         daemon: {{state_dir: {state}, metrics_listen: '127.0.0.1:0'}}\n\
         instances:\n  Contoso:\n    TenantId: {DEMO_TENANT}\n    ClientId: {DEMO_APP}\n\
         \x20   ClientSecret: {{File: ./secret}}\n\
         \x20   Endpoints: {{login: '{base}', graph: '{base}', mde: '{base}'}}\n\
         \x20   AllowOvercommit: true\n",
        db = dir.join("huntd.db").display(),
        state = dir.display(),
    );
    let jobs = two_second_jobs(&[
        ("graph-logons", "Contoso", "M365DGraph", WINDOW_LOGONS),
        (
            "broken-hunt",
            "Contoso",
            "M365DGraph",
            "NoSuchTable | take 1",
        ),
    ]);
    write_config_dir(dir, DEMO_SECRET, &config, &jobs);
}

/// The address the daemon logged for its page, once it did.
async fn page_address(daemon: &Daemon) -> String {
    for _ in 0..300 {
        if let Some(bound) = daemon
            .log()
            .lines()
            .filter(|line| line.contains("serving the status page"))
            .find_map(|line| line.split("bound=").nth(1))
        {
            return bound.split_whitespace().next().unwrap_or(bound).to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the daemon logged no page address:\n{}", daemon.log());
}

/// Waits until both jobs have ended runs: a success and a failure to show.
async fn wait_for_runs(dir: &Path, daemon: &Daemon) {
    let store = store::open(&format!("sqlite://{}", dir.join("huntd.db").display()))
        .await
        .expect("store opens");
    for _ in 0..300 {
        let runs = store
            .history(&HistoryFilter::default())
            .await
            .expect("history");
        let ended = |job: &str, status| {
            runs.iter()
                .filter(|r| r.job == job && r.status == status)
                .count()
        };
        if ended("graph-logons", RunStatus::Succeeded) >= 2
            && ended("broken-hunt", RunStatus::Failed) >= 2
        {
            store.close().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the jobs did not run:\n{}", daemon.log());
}

/// Runs headless Chromium with `args` and returns what it printed.
fn chromium(profile: &Path, args: &[&str]) -> String {
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            // The test runs as root in CI, where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where the screenshot goes: `target/status-page.png` of this workspace.
fn screenshot_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("status-page.png")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_shows_jobs_timelines_and_failures_in_a_real_browser() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("HUNTD_REQUIRE_CHROMIUM").is_none(),
            "HUNTD_REQUIRE_CHROMIUM is set but {CHROMIUM} is missing: apt-get install chromium"
        );
        eprintln!("notice: {CHROMIUM} is missing (apt-get install chromium); test skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let emulate = Emulate::start(dir.path(), &["--rows-per-table", "200"]).await;
    write_setup(dir.path(), &emulate.base_url);
    let mut daemon = Daemon::start(dir.path(), &[], &[]);
    let address = page_address(&daemon).await;
    wait_for_runs(dir.path(), &daemon).await;

    let url = format!("http://{address}/");
    let profile = dir.path().join("chromium");
    let dom = chromium(&profile, &["--dump-dom", &url]);
    let context = format!("DOM:\n{dom}\ndaemon log:\n{}", daemon.log());
    assert!(dom.contains("<h1>huntd status</h1>"), "{context}");
    for job in ["graph-logons", "broken-hunt"] {
        assert!(
            dom.contains(&format!(r#"<tr data-job="{job}">"#)),
            "jobs table row of {job}: {context}"
        );
        assert!(
            dom.contains(&format!(r#"<svg data-job="{job}""#)),
            "timeline of {job}: {context}"
        );
    }
    assert!(dom.contains(r#"<rect class="covered""#), "{context}");
    assert!(dom.contains(r#"<table id="failures">"#), "{context}");
    assert!(dom.contains(r#"href="/metrics""#), "{context}");
    assert!(!dom.contains("<script"), "{context}");
    assert!(
        !dom.contains(DEMO_SECRET),
        "no secret on the page: {context}"
    );

    let shot = screenshot_path();
    std::fs::create_dir_all(shot.parent().expect("target dir")).expect("mkdir target");
    chromium(
        &profile,
        &[
            "--window-size=1400,1000",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG at {}", shot.display());

    // Read-only: the page answers GET with a policy that forbids scripts and anything from
    // elsewhere, and refuses other methods.
    let client = reqwest::Client::new();
    let page = client.get(&url).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ASCII header");
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    let post = client.post(&url).send().await.expect("POST /");
    assert_eq!(post.status(), 405);

    // The terminal shows the same jobs, read from the same file while the daemon runs.
    let out = huntd(dir.path(), &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("graph-logons") && text.contains("broken-hunt"),
        "{text}"
    );

    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}
