//! huntd.yaml and msticpyconfig.yaml loading: one test per kind of problem, each checking the
//! message, the file and the line, plus the inputs that must load cleanly.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use huntd::config::{
    self, AssertionAlg, Cloud, Config, Credential, Environment, KeyVaultAuth, KeyVaultRef,
    SecretSource,
};
use huntd::diagnostic::{Diagnostic, Diagnostics, Severity};

const TENANT: &str = "00000000-0000-0000-0000-000000000000";
const CLIENT: &str = "11111111-1111-1111-1111-111111111111";

/// A directory holding a huntd.yaml under test, its secret files and job directories.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let fixture = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        fixture.write("secret.txt", "not-a-real-secret\n");
        std::fs::create_dir(fixture.path("jobs")).expect("jobs dir");
        fixture
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file readable by its owner only, as a careful admin would.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write fixture file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    fn config_path(&self) -> PathBuf {
        self.path("huntd.yaml")
    }

    fn load_env(&self, text: &str, env: &Environment) -> (Option<Config>, Diagnostics) {
        let path = self.write("huntd.yaml", text);
        let mut diags = Diagnostics::new();
        let config = config::load_in(&path, env, &mut diags);
        (config, diags)
    }

    fn load(&self, text: &str) -> (Option<Config>, Diagnostics) {
        self.load_env(text, &Environment::from_vars::<&str, &str>([]))
    }
}

/// huntd.yaml with one instance whose extra settings are `extra` (indented four spaces).
fn with_instance(name: &str, extra: &str) -> String {
    format!(
        "jobs: [jobs]\ninstances:\n  {name}:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n{extra}"
    )
}

/// The single diagnostic whose message contains `needle`; fails listing all of them otherwise.
fn find<'a>(diags: &'a Diagnostics, needle: &str) -> &'a Diagnostic {
    let matching: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.message.contains(needle))
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one diagnostic containing {needle:?}, got:\n{}",
        all(diags)
    );
    matching[0]
}

fn all(diags: &Diagnostics) -> String {
    diags.iter().fold(String::new(), |mut out, d| {
        writeln!(out, "{d}").expect("writing to a String");
        out
    })
}

fn assert_at(d: &Diagnostic, file: &Path, line: u32, severity: Severity) {
    assert_eq!(d.file, file, "{d}");
    assert_eq!(d.location.line, line, "{d}");
    assert_eq!(d.severity, severity, "{d}");
}

fn assert_clean(diags: &Diagnostics) {
    assert!(
        diags.is_empty(),
        "expected no diagnostics, got:\n{}",
        all(diags)
    );
}

#[test]
fn a_minimal_config_loads_with_defaults() {
    let f = Fixture::new();
    let (config, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {File: secret.txt}\n",
    ));
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
    let env = Environment::from_vars([("STATE_DIRECTORY", "/var/lib/huntd-test:/var/lib/other")]);
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
    let f = Fixture::new();
    let (config, diags) = f.load("jobs: [jobs]\ninstances: {Contoso: [unclosed\ndaemon: {}\n");
    assert!(config.is_none());
    let d = find(&diags, "invalid YAML");
    assert_eq!(d.file, f.config_path());
    assert!(d.location.line >= 2, "{d}");
}

#[test]
fn misspelled_top_level_key_gets_a_suggestion() {
    let f = Fixture::new();
    let (config, diags) = f.load("jobs: [jobs]\ndatabse: sqlite://x.db\n");
    assert!(config.is_some());
    let d = find(&diags, "unknown key `databse` in huntd.yaml");
    assert_at(d, &f.config_path(), 2, Severity::Error);
    assert_eq!(d.hint.as_deref(), Some("did you mean `database`?"));
}

#[test]
fn misspelled_instance_key_gets_a_suggestion() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {File: secret.txt}\n    Clould: eu\n",
    ));
    let d = find(&diags, "unknown key `Clould` in instance `Contoso`");
    assert_at(d, &f.config_path(), 7, Severity::Error);
    assert!(
        d.hint.as_deref().is_some_and(|h| h.contains("`Cloud`")),
        "{d:?}"
    );
}

#[test]
fn misspelled_daemon_key_gets_a_suggestion() {
    let f = Fixture::new();
    let (_, diags) = f.load("jobs: [jobs]\ndaemon:\n  max_concurent_runs: 3\n");
    let d = find(&diags, "unknown key `max_concurent_runs` in daemon");
    assert_at(d, &f.config_path(), 3, Severity::Error);
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean `max_concurrent_runs`?")
    );
}

#[test]
fn wrong_type_is_reported_with_what_was_found() {
    let f = Fixture::new();
    let (_, diags) = f.load("jobs: {a: 1}\ndaemon:\n  max_concurrent_runs: many\n");
    let d = find(&diags, "jobs must be a list of strings, found a mapping");
    assert_at(d, &f.config_path(), 1, Severity::Error);
    let d = find(
        &diags,
        "daemon.max_concurrent_runs must be a whole number, found a string",
    );
    assert_at(d, &f.config_path(), 3, Severity::Error);
}

#[test]
fn out_of_range_number_names_the_range() {
    let f = Fixture::new();
    let (config, diags) = f.load("jobs: [jobs]\ndaemon:\n  max_concurrent_runs: 0\n");
    let d = find(
        &diags,
        "daemon.max_concurrent_runs is 0, must be between 1 and 256",
    );
    assert_at(d, &f.config_path(), 3, Severity::Error);
    assert_eq!(config.expect("loaded").daemon.max_concurrent_runs, 4);
}

#[test]
fn bad_duration_explains_the_format() {
    let f = Fixture::new();
    let (_, diags) = f.load("jobs: [jobs]\ndaemon:\n  shutdown_grace: 30 seconds\n  splay: 2h\n");
    let d = find(
        &diags,
        "daemon.shutdown_grace: `30 seconds` is not a duration",
    );
    assert_at(d, &f.config_path(), 3, Severity::Error);
    let d = find(&diags, "daemon.splay is 2h, must be between 0s and 1h");
    assert_at(d, &f.config_path(), 4, Severity::Error);
}

#[test]
fn bad_metrics_address_is_an_error() {
    let f = Fixture::new();
    let (_, diags) = f.load("jobs: [jobs]\ndaemon:\n  metrics_listen: localhost\n");
    let d = find(
        &diags,
        "daemon.metrics_listen `localhost` is not an address and port",
    );
    assert_at(d, &f.config_path(), 3, Severity::Error);
}

#[test]
fn missing_job_and_library_paths_are_errors() {
    let f = Fixture::new();
    let (_, diags) = f.load("jobs: [jobs, nowhere]\nquery_library: [jobs/none]\n");
    let d = find(&diags, "jobs: no such file or directory");
    assert_at(d, &f.config_path(), 1, Severity::Error);
    assert!(d.message.contains("nowhere"), "{d}");
    let d = find(&diags, "query_library: no such directory");
    assert_at(d, &f.config_path(), 2, Severity::Error);
}

#[test]
fn unknown_cloud_lists_the_valid_ones() {
    let f = Fixture::new();
    let (config, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {File: secret.txt}\n    Cloud: usgov\n",
    ));
    let d = find(&diags, "unknown cloud `usgov` for instance `Contoso`");
    assert_at(d, &f.config_path(), 7, Severity::Error);
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("global, us, eu, uk, gcc, gcc-high, dod")),
        "{d:?}"
    );
    assert!(config.is_some());
}

#[test]
fn plain_http_endpoint_is_refused_unless_loopback() {
    let f = Fixture::new();
    let (config, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {File: secret.txt}\n    Endpoints:\n      mde: http://mde.example.com\n      graph: http://127.0.0.1:8080/\n      login: http://[::1]:9000\n",
    ));
    let d = find(&diags, "Endpoints.mde of instance `Contoso`");
    assert_at(d, &f.config_path(), 8, Severity::Error);
    assert!(d.message.contains("must use https://"), "{d}");
    assert_eq!(diags.error_count(), 1, "{}", all(&diags));
    let config = config.expect("loaded");
    assert!(config.instances.is_empty());
    assert!(config.invalid_instances.contains("Contoso"));
}

#[test]
fn endpoint_overrides_replace_the_cloud_defaults() {
    let f = Fixture::new();
    let (config, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {File: secret.txt}\n    Cloud: eu\n    Endpoints: {graph: 'http://127.0.0.1:8080/', keyvault: 'https://{vault}.vault.example'}\n",
    ));
    assert_clean(&diags);
    let endpoints = &config.expect("loaded").instances["Contoso"].endpoints;
    assert_eq!(endpoints.graph, "http://127.0.0.1:8080");
    assert_eq!(endpoints.mde, "https://api-eu.securitycenter.microsoft.com");
    assert_eq!(endpoints.keyvault, "https://{vault}.vault.example");
}

#[test]
fn missing_tenant_id_names_the_instance_and_the_key() {
    let f = Fixture::new();
    let (config, diags) = f.load(&format!(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    ClientId: {CLIENT}\n    ClientSecret: {{File: secret.txt}}\n"
    ));
    let d = find(&diags, "instance `Contoso` has no TenantId");
    assert_at(d, &f.config_path(), 3, Severity::Error);
    assert!(d.hint.as_deref().is_some_and(|h| h.contains("TenantId:")));
    assert!(
        config
            .expect("loaded")
            .invalid_instances
            .contains("Contoso")
    );
}

#[test]
fn missing_client_id_names_the_instance_and_the_key() {
    let f = Fixture::new();
    let (_, diags) = f.load(&format!(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    TenantId: {TENANT}\n    ClientSecret: {{File: secret.txt}}\n"
    ));
    let d = find(&diags, "instance `Contoso` has no ClientId");
    assert_at(d, &f.config_path(), 3, Severity::Error);
}

#[test]
fn client_id_must_be_a_guid() {
    let f = Fixture::new();
    let (_, diags) = f.load(&format!(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    TenantId: {TENANT}\n    ClientId: my-app\n    ClientSecret: {{File: secret.txt}}\n"
    ));
    let d = find(
        &diags,
        "ClientId `my-app` of instance `Contoso` is not a GUID",
    );
    assert_at(d, &f.config_path(), 5, Severity::Error);
}

#[test]
fn missing_credential_says_what_to_add() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance("Contoso", ""));
    let d = find(&diags, "instance `Contoso` has no credential");
    assert_at(d, &f.config_path(), 3, Severity::Error);
    let hint = d.hint.as_deref().expect("hint");
    assert!(
        hint.contains("ClientSecret") && hint.contains("Certificate") && hint.contains("UserName")
    );
}

#[test]
fn two_credentials_are_an_error() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {File: secret.txt}\n    UserName: ann@contoso.example\n",
    ));
    let d = find(
        &diags,
        "instance `Contoso` has more than one credential: ClientSecret, UserName",
    );
    assert_at(d, &f.config_path(), 3, Severity::Error);
}

#[test]
fn certificate_and_delegated_credentials_load() {
    let f = Fixture::new();
    f.write("app.pem", "-----BEGIN CERTIFICATE-----\n");
    f.write("app.key", "-----BEGIN PRIVATE KEY-----\n");
    let text = format!(
        "{}  Delegated:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    UserName: ann@contoso.example\n",
        with_instance(
            "Cert",
            "    Cert: app.pem\n    PrivateKey: app.key\n    PrivateKeySecret: {File: secret.txt}\n    AssertionAlg: rs256\n",
        )
    );
    let (config, diags) = f.load(&text);
    assert_clean(&diags);
    let config = config.expect("loaded");
    assert_eq!(
        config.instances["Cert"].credential,
        Credential::Certificate {
            certificate: f.path("app.pem"),
            private_key: Some(f.path("app.key")),
            private_key_secret: Some(SecretSource::File(f.path("secret.txt"))),
            assertion_alg: AssertionAlg::Rs256,
        }
    );
    assert_eq!(
        config.instances["Delegated"].credential,
        Credential::Delegated {
            user_name: "ann@contoso.example".into()
        }
    );
}

#[test]
fn missing_certificate_file_is_an_error() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance("Contoso", "    Certificate: missing.pem\n"));
    let d = find(&diags, "Certificate of instance `Contoso`: no such file");
    assert_at(d, &f.config_path(), 6, Severity::Error);
}

#[test]
fn unset_environment_variable_is_an_error() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {EnvironmentVar: HUNTD_TEST_UNSET_SECRET}\n",
    ));
    let d = find(&diags, "environment variable `HUNTD_TEST_UNSET_SECRET`");
    assert_at(d, &f.config_path(), 6, Severity::Error);
    assert!(
        d.message
            .contains("ClientSecret of instance `Contoso`) is not set"),
        "{d}"
    );

    let env = Environment::from_vars([("HUNTD_TEST_UNSET_SECRET", "value")]);
    let (config, diags) = f.load_env(
        &with_instance(
            "Contoso",
            "    ClientSecret: {EnvironmentVar: HUNTD_TEST_UNSET_SECRET}\n",
        ),
        &env,
    );
    assert_clean(&diags);
    assert_eq!(
        config.expect("loaded").instances["Contoso"].credential,
        Credential::ClientSecret(SecretSource::EnvironmentVar(
            "HUNTD_TEST_UNSET_SECRET".into()
        ))
    );
}

#[test]
fn credential_without_credentials_directory_points_at_load_credential() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {Credential: contoso}\n",
    ));
    let d = find(&diags, "$CREDENTIALS_DIRECTORY is not set");
    assert_at(d, &f.config_path(), 6, Severity::Error);
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("LoadCredential=contoso:")),
        "{d:?}"
    );
}

#[test]
fn missing_credential_file_is_an_error() {
    let f = Fixture::new();
    let creds = f.path("creds");
    std::fs::create_dir(&creds).expect("mkdir");
    std::fs::write(creds.join("present"), "x").expect("write");
    let env = Environment::from_vars([("CREDENTIALS_DIRECTORY", creds.as_os_str())]);
    let text = format!(
        "{}  Other:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    ClientSecret: {{Credential: present}}\n",
        with_instance("Contoso", "    ClientSecret: {Credential: absent}\n")
    );
    let (config, diags) = f.load_env(&text, &env);
    let d = find(
        &diags,
        "systemd credential `absent` (ClientSecret of instance `Contoso`) not found",
    );
    assert_at(d, &f.config_path(), 6, Severity::Error);
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("LoadCredential="))
    );
    assert_eq!(diags.error_count(), 1, "{}", all(&diags));
    assert_eq!(
        config.expect("loaded").instances["Other"].credential,
        Credential::ClientSecret(SecretSource::Credential("present".into()))
    );
}

#[test]
fn missing_secret_file_is_an_error() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {File: nope.txt}\n",
    ));
    let d = find(&diags, "secret file");
    assert_at(d, &f.config_path(), 6, Severity::Error);
    assert!(
        d.message.contains("nope.txt") && d.message.contains("cannot be read"),
        "{d}"
    );
}

#[test]
fn unknown_secret_kind_gets_a_suggestion() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {EnviromentVar: X}\n",
    ));
    let d = find(&diags, "unknown secret kind `EnviromentVar`");
    assert_at(d, &f.config_path(), 6, Severity::Error);
    assert_eq!(d.hint.as_deref(), Some("did you mean `EnvironmentVar`?"));
}

#[test]
fn plain_secret_in_a_world_readable_file_is_a_warning() {
    let f = Fixture::new();
    let text = with_instance("Contoso", "    ClientSecret: plain-value-123\n");
    let (config, diags) = f.load(&text);
    assert_clean(&diags);
    assert!(config.is_some());

    std::fs::set_permissions(f.config_path(), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let mut diags = Diagnostics::new();
    let config = config::load_in(&f.config_path(), &Environment::default(), &mut diags);
    let d = find(
        &diags,
        "ClientSecret of instance `Contoso` is written in plain text",
    );
    assert_at(d, &f.config_path(), 6, Severity::Warning);
    assert!(d.message.contains("mode 644"), "{d}");
    assert!(
        d.hint.as_deref().is_some_and(|h| h.contains("chmod 600")),
        "{d:?}"
    );
    assert!(!all(&diags).contains("plain-value-123"));
    assert!(!diags.has_errors());
    assert!(config.is_some());
}

#[test]
fn key_vault_reference_without_vault_name_is_an_error() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {KeyVault: }\n",
    ));
    let d = find(&diags, "no KeyVault.VaultName is set");
    assert_at(d, &f.config_path(), 6, Severity::Error);
    assert!(
        d.message
            .contains("Key Vault secret `instances-Contoso-ClientSecret` in the default vault"),
        "{d}"
    );
}

#[test]
fn key_vault_references_take_msticpy_shapes() {
    let f = Fixture::new();
    let text = format!(
        "{}  B:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    ClientSecret: {{KeyVault: other-vault/b-secret}}\n  C:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    ClientSecret: {{KeyVault: c-secret}}\nKeyVault:\n  VaultName: soc-vault\n  ManagedIdentity: true\n",
        with_instance("A", "    ClientSecret: {KeyVault: default}\n")
    );
    let (config, diags) = f.load(&text);
    assert_clean(&diags);
    let config = config.expect("loaded");
    let reference = |name: &str| match &config.instances[name].credential {
        Credential::ClientSecret(SecretSource::KeyVault(r)) => r.clone(),
        other => panic!("unexpected credential {other:?}"),
    };
    assert_eq!(
        reference("A"),
        KeyVaultRef {
            vault: None,
            secret: "instances-A-ClientSecret".into()
        }
    );
    assert_eq!(
        reference("B"),
        KeyVaultRef {
            vault: Some("other-vault".into()),
            secret: "b-secret".into()
        }
    );
    assert_eq!(reference("C").secret, "c-secret");
    let vault = config.key_vault.expect("key vault settings");
    assert_eq!(vault.vault_name.as_deref(), Some("soc-vault"));
    assert!(
        matches!(vault.auth, KeyVaultAuth::ManagedIdentity { ref endpoint } if endpoint.starts_with("http://169.254.169.254/"))
    );
}

#[test]
fn key_vault_reference_without_a_way_to_sign_in_is_an_error() {
    let f = Fixture::new();
    let text = format!(
        "{}KeyVault:\n  VaultName: soc-vault\n",
        with_instance("A", "    ClientSecret: {KeyVault: }\n")
    );
    let (_, diags) = f.load(&text);
    let d = find(&diags, "does not say how to sign in to the vault");
    assert_at(d, &f.config_path(), 6, Severity::Error);
}

#[test]
fn unsupported_database_url_is_an_error() {
    let f = Fixture::new();
    let (config, diags) = f.load("jobs: [jobs]\ndatabase: mysql://root:pw@db/huntd\n");
    let d = find(&diags, "unsupported database URL scheme `mysql://`");
    assert_at(d, &f.config_path(), 2, Severity::Error);
    assert!(!d.to_string().contains("pw@"), "{d}");
    assert!(config.is_some());
}

#[test]
fn relative_sqlite_database_is_beside_the_config() {
    let f = Fixture::new();
    let (config, diags) = f.load("jobs: [jobs]\ndatabase: sqlite://data/h.db\n");
    assert_clean(&diags);
    assert_eq!(
        config.expect("loaded").database,
        format!("sqlite://{}", f.path("data/h.db").display())
    );
}

fn write_msticpy(f: &Fixture, text: &str) -> PathBuf {
    f.write("msticpyconfig.yaml", text)
}

#[test]
fn native_instance_overrides_msticpy_with_a_warning() {
    let f = Fixture::new();
    let mpath = write_msticpy(
        &f,
        &format!(
            "DataProviders:\n  MicrosoftDefender-Contoso:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: old@contoso.example\n"
        ),
    );
    let text = format!(
        "msticpyconfig: msticpyconfig.yaml\n{}",
        with_instance("Contoso", "    ClientSecret: {File: secret.txt}\n")
    );
    let (config, diags) = f.load(&text);
    let d = find(&diags, "instance `Contoso` is also defined in");
    assert_at(d, &f.config_path(), 4, Severity::Warning);
    assert!(d.message.contains(&format!("{}:2", mpath.display())), "{d}");
    assert!(
        d.message.ends_with("the definition in huntd.yaml is used"),
        "{d}"
    );
    assert!(!diags.has_errors(), "{}", all(&diags));
    let contoso = &config.expect("loaded").instances["Contoso"];
    assert_eq!(contoso.source, f.config_path());
    assert!(matches!(contoso.credential, Credential::ClientSecret(_)));
}

#[test]
fn msticpy_sections_become_instances() {
    let f = Fixture::new();
    let mpath = write_msticpy(
        &f,
        &format!(
            "DataProviders:\n  MicrosoftDefender:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      ClientSecret: {{File: secret.txt}}\n  MicrosoftDefender-Fabrikam:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: ann@fabrikam.example\n  MDATPApp-Legacy:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      Cert: secret.txt\n"
        ),
    );
    let (config, diags) = f.load("jobs: [jobs]\nmsticpyconfig: msticpyconfig.yaml\n");
    assert_clean(&diags);
    let config = config.expect("loaded");
    assert_eq!(
        config.instances.keys().collect::<Vec<_>>(),
        ["Default", "Fabrikam", "Legacy"]
    );
    assert_eq!(config.instances["Default"].source, mpath);
    assert_eq!(config.msticpyconfig.as_deref(), Some(mpath.as_path()));
    assert!(matches!(
        config.instances["Legacy"].credential,
        Credential::Certificate { .. }
    ));
}

#[test]
fn legacy_mdatpapp_section_is_read_and_loses_to_microsoft_defender() {
    let f = Fixture::new();
    let mpath = write_msticpy(
        &f,
        &format!(
            "DataProviders:\n  MDATPApp:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: legacy@contoso.example\n"
        ),
    );
    let (config, diags) = f.load("jobs: [jobs]\nmsticpyconfig: msticpyconfig.yaml\n");
    assert_clean(&diags);
    assert_eq!(
        config.expect("loaded").instances["Default"].credential,
        Credential::Delegated {
            user_name: "legacy@contoso.example".into()
        }
    );

    write_msticpy(
        &f,
        &format!(
            "DataProviders:\n  MDATPApp:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: legacy@contoso.example\n  MicrosoftDefender:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: new@contoso.example\n"
        ),
    );
    let (config, diags) = f.load("jobs: [jobs]\nmsticpyconfig: msticpyconfig.yaml\n");
    let d = find(
        &diags,
        "section `MDATPApp` is ignored: `MicrosoftDefender` (line 7)",
    );
    assert_at(d, &mpath, 2, Severity::Warning);
    assert_eq!(
        config.expect("loaded").instances["Default"].credential,
        Credential::Delegated {
            user_name: "new@contoso.example".into()
        }
    );
}

#[test]
fn msticpy_problems_are_reported_in_the_msticpy_file() {
    let f = Fixture::new();
    let mpath = write_msticpy(
        &f,
        &format!(
            "DataProviders:\n  MicrosoftDefender:\n    Args:\n      TenantId: {TENANT}\n      cloud: mars\n      ClientSecret: {{File: secret.txt}}\n      Extra: 1\n"
        ),
    );
    let (_, diags) = f.load("jobs: [jobs]\nmsticpyconfig: msticpyconfig.yaml\n");
    let d = find(&diags, "instance `Default` has no ClientId");
    assert_at(d, &mpath, 2, Severity::Error);
    let d = find(&diags, "unknown cloud `mars` for instance `Default`");
    assert_at(d, &mpath, 5, Severity::Error);
    let d = find(
        &diags,
        "unknown key `Extra` in instance `Default`; it is ignored",
    );
    assert_at(d, &mpath, 7, Severity::Warning);
}

#[test]
fn msticpyconfig_environment_variable_is_used() {
    let f = Fixture::new();
    let mpath = write_msticpy(
        &f,
        &format!(
            "DataProviders:\n  MicrosoftDefender:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: a@b.example\n"
        ),
    );
    let env = Environment::from_vars([("MSTICPYCONFIG", mpath.as_os_str())]);
    let (config, diags) = f.load_env("jobs: [jobs]\n", &env);
    assert_clean(&diags);
    assert!(config.expect("loaded").instances.contains_key("Default"));

    let env = Environment::from_vars([("MSTICPYCONFIG", "/nonexistent/msticpyconfig.yaml")]);
    let (_, diags) = f.load_env("jobs: [jobs]\n", &env);
    let d = find(
        &diags,
        "$MSTICPYCONFIG names /nonexistent/msticpyconfig.yaml",
    );
    assert_at(d, &f.config_path(), 1, Severity::Error);
}

#[test]
fn tilde_in_msticpyconfig_is_the_home_directory() {
    let f = Fixture::new();
    std::fs::create_dir(f.path(".msticpy")).expect("mkdir");
    f.write(
        ".msticpy/msticpyconfig.yaml",
        &format!(
            "DataProviders:\n  MicrosoftDefender:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: a@b.example\n"
        ),
    );
    let env = Environment::from_vars([("HOME", f.dir.path().as_os_str())]);
    let (config, diags) = f.load_env(
        "jobs: [jobs]\nmsticpyconfig: ~/.msticpy/msticpyconfig.yaml\n",
        &env,
    );
    assert_clean(&diags);
    assert!(config.expect("loaded").instances.contains_key("Default"));
}

#[test]
fn instance_keys_are_case_insensitive_including_lowercase_cloud() {
    let f = Fixture::new();
    let (config, diags) = f.load(&format!(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    tenantid: {TENANT}\n    CLIENTID: {CLIENT}\n    clientSecret: {{file: secret.txt}}\n    cloud: GCC-High\n"
    ));
    assert_clean(&diags);
    let contoso = &config.expect("loaded").instances["Contoso"];
    assert_eq!(contoso.cloud, Cloud::GccHigh);
    assert_eq!(contoso.endpoints.graph, "https://graph.microsoft.us");
    assert_eq!(contoso.tenant_id, TENANT);
}

#[test]
fn the_same_key_in_two_cases_is_an_error() {
    let f = Fixture::new();
    let (_, diags) = f.load(&with_instance(
        "Contoso",
        "    ClientSecret: {File: secret.txt}\n    Cloud: eu\n    cloud: uk\n",
    ));
    let d = find(
        &diags,
        "`cloud` repeats `Cloud` (line 7) in instance `Contoso`",
    );
    assert_at(d, &f.config_path(), 8, Severity::Error);
}

#[test]
fn connection_string_values_lose_their_quotes() {
    let f = Fixture::new();
    let (config, diags) = f.load(&format!(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    ConnectionString: \"tenant_id='{TENANT}'; client_id='{CLIENT}'; client_secret='cs-secret'\"\n"
    ));
    assert_clean(&diags);
    let contoso = &config.expect("loaded").instances["Contoso"];
    assert_eq!(contoso.tenant_id, TENANT);
    assert_eq!(contoso.client_id, CLIENT);
    let Credential::ClientSecret(source) = &contoso.credential else {
        panic!("expected a client secret");
    };
    assert_eq!(source.resolve().expect("plain").expose(), "cs-secret");
}

#[test]
fn broken_connection_string_is_an_error_without_its_text() {
    let f = Fixture::new();
    let (_, diags) = f.load(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    ConnectionString: \"tenant_id='t'; s3cr3t\"\n",
    );
    let d = find(
        &diags,
        "ConnectionString of instance `Contoso`: part 2 has no `=`",
    );
    assert_at(d, &f.config_path(), 4, Severity::Error);
    assert!(!all(&diags).contains("s3cr3t"));
}

#[test]
fn yaml_bomb_is_refused_with_a_clear_error() {
    let f = Fixture::new();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..40 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        writeln!(bomb, "a{i}: &a{i} [{refs}]").expect("writing to a String");
    }
    let (config, diags) = f.load(&bomb);
    assert!(config.is_none());
    let d = find(&diags, "invalid YAML");
    assert_eq!(d.file, f.config_path());
}

#[test]
fn fifty_megabyte_file_is_refused_before_reading() {
    let f = Fixture::new();
    let path = f.config_path();
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(50 * 1024 * 1024).expect("grow to 50 MB");
    let mut diags = Diagnostics::new();
    assert!(config::load(&path, &mut diags).is_none());
    let d = find(&diags, "over the 4194304 byte limit");
    assert_at(d, &path, 1, Severity::Error);
}

#[test]
fn binary_file_is_refused() {
    let f = Fixture::new();
    let path = f.config_path();
    std::fs::write(&path, [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0]).expect("write");
    let mut diags = Diagnostics::new();
    assert!(config::load(&path, &mut diags).is_none());
    let d = find(&diags, "binary data");
    assert_at(d, &path, 1, Severity::Error);
}

#[test]
fn empty_file_is_refused() {
    let f = Fixture::new();
    let (config, diags) = f.load("");
    assert!(config.is_none());
    let d = find(&diags, "file is empty");
    assert_at(d, &f.config_path(), 1, Severity::Error);
}

#[test]
fn a_config_that_is_not_a_mapping_is_refused() {
    let f = Fixture::new();
    let (config, diags) = f.load("- jobs\n- instances\n");
    assert!(config.is_none());
    let d = find(&diags, "huntd.yaml must be a mapping, found a list");
    assert_at(d, &f.config_path(), 1, Severity::Error);
}

#[test]
fn debug_of_a_loaded_config_never_shows_a_secret() {
    let f = Fixture::new();
    let text = format!(
        "jobs: [jobs]\ndatabase: postgres://huntd:db-password-42@db.example/huntd\ninstances:\n  A:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    ClientSecret: plain-secret-42\n  B:\n    ConnectionString: \"tenant_id='{TENANT}'; client_id='{CLIENT}'; client_secret='cs-secret-42'\"\nKeyVault:\n  TenantId: {TENANT}\n  ClientId: {CLIENT}\n  ClientSecret: kv-secret-42\n"
    );
    let (config, diags) = f.load(&text);
    assert_clean(&diags);
    let config = config.expect("loaded");
    let debug = format!("{config:?} {config:#?}");
    for secret in [
        "plain-secret-42",
        "cs-secret-42",
        "kv-secret-42",
        "db-password-42",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
    assert!(debug.contains("[redacted]"));
    assert!(matches!(
        config.key_vault.expect("vault").auth,
        KeyVaultAuth::App { .. }
    ));
}

#[test]
fn realistic_msticpyconfig_loads_ignoring_unrelated_sections() {
    let f = Fixture::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/msticpyconfig.yaml");
    let text = format!(
        "jobs: [jobs]\nmsticpyconfig: {}\nKeyVault:\n  ManagedIdentity: true\n",
        fixture.display()
    );
    let env = Environment::from_vars([("FABRIKAM_MDE_SECRET", "value")]);
    let (config, diags) = f.load_env(&text, &env);
    assert_clean(&diags);
    let config = config.expect("loaded");
    assert_eq!(
        config.instances.keys().collect::<Vec<_>>(),
        ["Default", "Fabrikam"]
    );
    let default = &config.instances["Default"];
    assert_eq!(
        default.credential,
        Credential::ClientSecret(SecretSource::KeyVault(KeyVaultRef {
            vault: None,
            secret: "DataProviders-MicrosoftDefender-Args-ClientSecret".into(),
        }))
    );
    let fabrikam = &config.instances["Fabrikam"];
    assert_eq!(fabrikam.cloud, Cloud::Eu);
    assert_eq!(
        fabrikam.endpoints.mde,
        "https://api-eu.securitycenter.microsoft.com"
    );
    let vault = config.key_vault.expect("merged KeyVault settings");
    assert_eq!(vault.vault_name.as_deref(), Some("soc-secrets"));
    assert_eq!(vault.cloud, Cloud::Global);
    assert!(matches!(vault.auth, KeyVaultAuth::ManagedIdentity { .. }));
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
        &Environment::default(),
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
    let f = Fixture::new();
    let (config, diags) = f.load("daemon: {max_concurrent_runs: 2}\n");
    let d = find(&diags, "no `jobs` configured");
    assert_at(d, &f.config_path(), 1, Severity::Warning);
    assert_eq!(config.expect("loaded").daemon.max_concurrent_runs, 2);
}

#[test]
fn msticpyconfig_key_naming_a_missing_file_is_an_error() {
    let f = Fixture::new();
    let (_, diags) = f.load("jobs: [jobs]\nmsticpyconfig: nowhere/msticpyconfig.yaml\n");
    let d = find(&diags, "msticpyconfig: no such file");
    assert_at(d, &f.config_path(), 2, Severity::Error);
}

#[test]
fn key_vault_app_sign_in_needs_a_credential() {
    let f = Fixture::new();
    let (config, diags) = f.load(&format!(
        "jobs: [jobs]\nKeyVault:\n  VaultName: soc-vault\n  TenantId: {TENANT}\n  ClientId: {CLIENT}\n"
    ));
    let d = find(
        &diags,
        "the KeyVault section has a ClientId but no ClientSecret or Certificate",
    );
    assert_at(d, &f.config_path(), 2, Severity::Error);
    assert!(config.expect("loaded").key_vault.is_none());
}

#[test]
fn key_vault_secret_cannot_come_from_key_vault() {
    let f = Fixture::new();
    let (_, diags) = f.load(&format!(
        "jobs: [jobs]\nKeyVault:\n  VaultName: soc-vault\n  TenantId: {TENANT}\n  ClientId: {CLIENT}\n  ClientSecret: {{KeyVault: }}\n"
    ));
    let d = find(&diags, "cannot come from Key Vault");
    assert_at(d, &f.config_path(), 6, Severity::Error);
}

#[test]
fn problems_of_an_overridden_msticpy_section_are_not_reported() {
    let f = Fixture::new();
    write_msticpy(
        &f,
        "DataProviders:\n  MicrosoftDefender:\n    Args:\n      Cloud: mars\n",
    );
    let text = format!(
        "msticpyconfig: msticpyconfig.yaml\n{}",
        with_instance("default", "    ClientSecret: {File: secret.txt}\n")
    );
    let (config, diags) = f.load(&text);
    find(&diags, "instance `default` is also defined in");
    assert!(!diags.has_errors(), "{}", all(&diags));
    let config = config.expect("loaded");
    assert_eq!(config.instances.keys().collect::<Vec<_>>(), ["default"]);
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Prints how fast a realistic config loads, against parsing the same YAML alone, and how
/// fast hostile files are refused. Run with `--release -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: prints figures"]
fn benchmark_config_loading() {
    use std::time::Instant;
    let f = Fixture::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/msticpyconfig.yaml");
    let text = format!(
        "msticpyconfig: {}\nKeyVault:\n  ManagedIdentity: true\n{}",
        fixture.display(),
        with_instance(
            "Contoso",
            "    ClientSecret: {File: secret.txt}\n    Cloud: eu\n"
        )
    );
    let path = f.write("huntd.yaml", &text);
    let env = Environment::from_vars([("FABRIKAM_MDE_SECRET", "value")]);
    let rounds = 2_000;

    let start = Instant::now();
    for _ in 0..rounds {
        huntd::yaml::load_file(&path).expect("parses");
        huntd::yaml::load_file(&fixture).expect("parses");
    }
    let parse_only = start.elapsed();

    let start = Instant::now();
    for _ in 0..rounds {
        let mut diags = Diagnostics::new();
        let config = config::load_in(&path, &env, &mut diags).expect("loads");
        assert!(diags.is_empty() && config.instances.len() == 3);
    }
    let full = start.elapsed();

    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..40 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        writeln!(bomb, "a{i}: &a{i} [{refs}]").expect("writing to a String");
    }
    let bomb_path = f.write("bomb.yaml", &bomb);
    let start = Instant::now();
    assert!(config::load(&bomb_path, &mut Diagnostics::new()).is_none());
    let bomb_time = start.elapsed();

    let big = f.path("big.yaml");
    std::fs::write(&big, "a: b\n".repeat(10 * 1024 * 1024)).expect("50 MB file");
    let start = Instant::now();
    assert!(config::load(&big, &mut Diagnostics::new()).is_none());
    let big_time = start.elapsed();

    let per_load = full.as_secs_f64() / f64::from(rounds);
    println!(
        "config load (huntd.yaml + msticpyconfig.yaml, 3 instances): {:.0} loads/s, {:.1} us/load",
        1.0 / per_load,
        per_load * 1e6
    );
    println!(
        "baseline (YAML parse of both files only): {:.1} us; full load / parse = {:.2}x",
        parse_only.as_secs_f64() / f64::from(rounds) * 1e6,
        full.as_secs_f64() / parse_only.as_secs_f64()
    );
    println!(
        "alias bomb refused in {:.2} ms",
        bomb_time.as_secs_f64() * 1e3
    );
    println!(
        "50 MB file refused in {:.3} ms",
        big_time.as_secs_f64() * 1e3
    );
    println!("peak RSS (VmHWM): {} KiB", peak_rss_kib());
}

#[test]
fn instance_names_differing_only_in_case_are_an_error() {
    let f = Fixture::new();
    let text = format!(
        "{}  contoso:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    UserName: a@b.example\n",
        with_instance("Contoso", "    ClientSecret: {File: secret.txt}\n")
    );
    let (config, diags) = f.load(&text);
    let d = find(
        &diags,
        "instance `contoso` is defined twice (also `Contoso` on line 3)",
    );
    assert_at(d, &f.config_path(), 7, Severity::Error);
    assert_eq!(config.expect("loaded").instances.len(), 1);
}
