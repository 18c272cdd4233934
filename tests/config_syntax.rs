//! huntd.yaml's own keys: defaults, YAML and key errors with their file and line, types,
//! ranges, durations, addresses, paths and database URLs, and the shipped example.

#[path = "common/config.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::{Fixture, assert_clean, find};
use huntd::config::{self, Cloud, Credential, EnvVars, SecretSource};
use huntd::diagnostic::Diagnostics;

#[test]
fn a_minimal_config_loads_with_defaults() {
    let (f, config, diags) = Fixture::contoso("    ClientSecret: {File: secret.txt}\n");
    assert_clean(&diags);
    let config = config.expect("loaded");
    let contoso = &config.instances["Contoso"];
    assert_eq!(contoso.cloud, Cloud::Global);
    assert_eq!(contoso.endpoints, Cloud::Global.endpoints());
    assert_eq!(
        contoso.credential,
        Credential::ClientSecret(SecretSource::File(f.path("secret.txt")))
    );
    assert_eq!(config.jobs, vec![f.path("jobs")]);
    assert_eq!(config.daemon.max_concurrent_runs, 4);
    assert_eq!(config.daemon.shutdown_grace.as_secs(), 30);
    assert_eq!(config.daemon.state_dir, PathBuf::from("/var/lib/huntd"));
    assert_eq!(config.database, "sqlite:///var/lib/huntd/huntd.db");
}

#[test]
fn state_directory_from_systemd_sets_the_default_database() {
    let f = Fixture::new();
    let env = EnvVars::from_vars([("STATE_DIRECTORY", "/var/lib/huntd-test:/var/lib/other")]);
    let (config, diags) = f.load_env("jobs: [jobs]\n", &env);
    assert_clean(&diags);
    let config = config.expect("loaded");
    assert_eq!(
        config.daemon.state_dir,
        PathBuf::from("/var/lib/huntd-test")
    );
    assert_eq!(config.database, "sqlite:///var/lib/huntd-test/huntd.db");
}

#[test]
fn yaml_syntax_error_names_file_and_line() {
    let (f, config, diags) =
        Fixture::loaded("jobs: [jobs]\ninstances: {Contoso: [unclosed\ndaemon: {}\n");
    assert!(config.is_none());
    let d = find(&diags, "invalid YAML");
    assert_eq!(d.file, f.config_path());
    assert!(d.location.line >= 2, "{d}");
}

#[test]
fn misspelled_top_level_key_gets_a_suggestion() {
    let (f, config, diags) = Fixture::loaded("jobs: [jobs]\ndatabse: sqlite://x.db\n");
    assert!(config.is_some());
    let d = f.error_at(&diags, "unknown key `databse` in huntd.yaml", 2);
    assert_eq!(d.hint.as_deref(), Some("did you mean `database`?"));
}

#[test]
fn misspelled_daemon_key_gets_a_suggestion() {
    let (f, _, diags) = Fixture::loaded("jobs: [jobs]\ndaemon:\n  max_concurent_runs: 3\n");
    let d = f.error_at(&diags, "unknown key `max_concurent_runs` in daemon", 3);
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean `max_concurrent_runs`?")
    );
}

#[test]
fn wrong_type_is_reported_with_what_was_found() {
    let (f, _, diags) = Fixture::loaded("jobs: {a: 1}\ndaemon:\n  max_concurrent_runs: many\n");
    f.error_at(&diags, "jobs must be a list of strings, found a mapping", 1);
    f.error_at(
        &diags,
        "daemon.max_concurrent_runs must be a whole number, found a string",
        3,
    );
}

#[test]
fn out_of_range_number_names_the_range() {
    let (f, config, diags) = Fixture::loaded("jobs: [jobs]\ndaemon:\n  max_concurrent_runs: 0\n");
    f.error_at(
        &diags,
        "daemon.max_concurrent_runs is 0, must be between 1 and 256",
        3,
    );
    assert_eq!(config.expect("loaded").daemon.max_concurrent_runs, 4);
}

#[test]
fn bad_duration_explains_the_format() {
    let (f, _, diags) =
        Fixture::loaded("jobs: [jobs]\ndaemon:\n  shutdown_grace: 30 seconds\n  splay: 2h\n");
    f.error_at(
        &diags,
        "daemon.shutdown_grace: `30 seconds` is not a duration",
        3,
    );
    f.error_at(&diags, "daemon.splay is 2h, must be between 0s and 1h", 4);
}

#[test]
fn bad_metrics_address_is_an_error() {
    let (f, _, diags) = Fixture::loaded("jobs: [jobs]\ndaemon:\n  metrics_listen: localhost\n");
    f.error_at(
        &diags,
        "daemon.metrics_listen `localhost` is not an address and port",
        3,
    );
}

#[test]
fn missing_job_and_library_paths_are_errors() {
    let (f, _, diags) = Fixture::loaded("jobs: [jobs, nowhere]\nquery_library: [jobs/none]\n");
    let d = f.error_at(&diags, "jobs: no such file or directory", 1);
    assert!(d.message.contains("nowhere"), "{d}");
    f.error_at(&diags, "query_library: no such directory", 2);
}

#[test]
fn unsupported_database_url_is_an_error() {
    let (f, config, diags) = Fixture::loaded("jobs: [jobs]\ndatabase: mysql://root:pw@db/huntd\n");
    let d = f.error_at(&diags, "unsupported database URL scheme `mysql://`", 2);
    assert!(!d.to_string().contains("pw@"), "{d}");
    assert!(config.is_some());
}

#[test]
fn relative_sqlite_database_is_beside_the_config() {
    let (f, config, diags) = Fixture::loaded("jobs: [jobs]\ndatabase: sqlite://data/h.db\n");
    assert_clean(&diags);
    assert_eq!(
        config.expect("loaded").database,
        format!("sqlite://{}", f.path("data/h.db").display())
    );
}

#[test]
fn example_config_validates_on_a_fresh_machine() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The example points at the repository's jobs/ and queries/; their contents are the jobs
    // loader's business, so a copy with empty directories checks the config alone.
    let f = Fixture::new();
    let examples = f.path("examples");
    std::fs::create_dir_all(examples.join("secrets")).expect("mkdir");
    std::fs::create_dir(f.path("queries")).expect("mkdir");
    for name in [
        "huntd.yaml",
        "secrets/contoso-client-secret",
        "secrets/fabrikam-client-secret",
    ] {
        std::fs::copy(repo.join("examples").join(name), examples.join(name)).expect("copy");
    }
    let mut diags = Diagnostics::new();
    let config = config::load_in(
        &examples.join("huntd.yaml"),
        &EnvVars::default(),
        &mut diags,
    );
    assert_clean(&diags);
    let config = config.expect("loaded");
    assert_eq!(config.instances["Contoso"].cloud, Cloud::Global);
    assert_eq!(config.instances["Fabrikam"].cloud, Cloud::Eu);
    let Credential::ClientSecret(secret) = &config.instances["Fabrikam"].credential else {
        panic!("expected a client secret");
    };
    assert_eq!(
        secret.resolve().expect("example secret file").expose(),
        "example-not-a-real-secret"
    );
}

#[test]
fn a_config_without_jobs_warns_that_nothing_will_run() {
    let (f, config, diags) = Fixture::loaded("daemon: {max_concurrent_runs: 2}\n");
    f.warning_at(&diags, "no `jobs` configured", 1);
    assert_eq!(config.expect("loaded").daemon.max_concurrent_runs, 2);
}
