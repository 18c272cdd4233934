//! msticpyconfig.yaml: its sections as instances, where it is found, its problems reported in
//! its own file, and huntd.yaml's instances winning over it.

#[path = "common/config.rs"]
mod common;

use std::path::Path;

use common::{CLIENT, Fixture, TENANT, all, assert_at, assert_clean, find, with_instance};
use huntd::config::{Cloud, Credential, EnvVars, KeyVaultAuth, KeyVaultRef, SecretSource};
use huntd::diagnostic::Severity;

#[test]
fn native_instance_overrides_msticpy_with_a_warning() {
    let f = Fixture::new();
    let mpath = f.write_msticpy(&format!(
            "DataProviders:\n  MicrosoftDefender-Contoso:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: old@contoso.example\n"
        ),
    );
    let text = format!(
        "msticpyconfig: msticpyconfig.yaml\n{}",
        with_instance("Contoso", "    ClientSecret: {File: secret.txt}\n")
    );
    let (config, diags) = f.load(&text);
    let d = f.warning_at(&diags, "instance `Contoso` is also defined in", 4);
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
    let (_dir, mpath, config, diags) = Fixture::msticpy(&format!(
        "DataProviders:\n  MicrosoftDefender:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      ClientSecret: {{File: secret.txt}}\n  MicrosoftDefender-Fabrikam:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: ann@fabrikam.example\n  MDATPApp-Legacy:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      Cert: secret.txt\n"
    ));
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
    let (mpath, config, diags) = f.load_msticpy(&format!(
            "DataProviders:\n  MDATPApp:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: legacy@contoso.example\n"
        ));
    assert_clean(&diags);
    assert_eq!(
        config.expect("loaded").instances["Default"].credential,
        Credential::Delegated {
            user_name: "legacy@contoso.example".into()
        }
    );

    let (_, config, diags) = f.load_msticpy(&format!(
            "DataProviders:\n  MDATPApp:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: legacy@contoso.example\n  MicrosoftDefender:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: new@contoso.example\n"
        ));
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
    let (mpath, _, diags) = f.load_msticpy(&format!(
            "DataProviders:\n  MicrosoftDefender:\n    Args:\n      TenantId: {TENANT}\n      cloud: mars\n      ClientSecret: {{File: secret.txt}}\n      Extra: 1\n"
        ));
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
    let mpath = f.write_msticpy(&format!(
            "DataProviders:\n  MicrosoftDefender:\n    Args:\n      TenantId: {TENANT}\n      ClientId: {CLIENT}\n      UserName: a@b.example\n"
        ),
    );
    let env = EnvVars::from_vars([("MSTICPYCONFIG", mpath.as_os_str())]);
    let (config, diags) = f.load_env("jobs: [jobs]\n", &env);
    assert_clean(&diags);
    assert!(config.expect("loaded").instances.contains_key("Default"));

    let env = EnvVars::from_vars([("MSTICPYCONFIG", "/nonexistent/msticpyconfig.yaml")]);
    let (_, diags) = f.load_env("jobs: [jobs]\n", &env);
    f.error_at(
        &diags,
        "$MSTICPYCONFIG names /nonexistent/msticpyconfig.yaml",
        1,
    );
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
    let env = EnvVars::from_vars([("HOME", f.dir.path().as_os_str())]);
    let (config, diags) = f.load_env(
        "jobs: [jobs]\nmsticpyconfig: ~/.msticpy/msticpyconfig.yaml\n",
        &env,
    );
    assert_clean(&diags);
    assert!(config.expect("loaded").instances.contains_key("Default"));
}

#[test]
fn realistic_msticpyconfig_loads_ignoring_unrelated_sections() {
    let f = Fixture::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/msticpyconfig.yaml");
    let text = format!(
        "jobs: [jobs]\nmsticpyconfig: {}\nKeyVault:\n  ManagedIdentity: true\n",
        fixture.display()
    );
    let env = EnvVars::from_vars([("FABRIKAM_MDE_SECRET", "value")]);
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
fn msticpyconfig_key_naming_a_missing_file_is_an_error() {
    let (f, _, diags) =
        Fixture::loaded("jobs: [jobs]\nmsticpyconfig: nowhere/msticpyconfig.yaml\n");
    f.error_at(&diags, "msticpyconfig: no such file", 2);
}

#[test]
fn problems_of_an_overridden_msticpy_section_are_not_reported() {
    let f = Fixture::new();
    f.write_msticpy("DataProviders:\n  MicrosoftDefender:\n    Args:\n      Cloud: mars\n");
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
