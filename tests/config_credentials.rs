//! Instance credentials: exactly one, certificates and delegated sign-in, secrets from files,
//! the environment, systemd credentials, connection strings and Key Vault, and never a secret
//! in `Debug`.

#[path = "common/config.rs"]
mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::{CLIENT, Fixture, TENANT, all, assert_clean, with_instance};
use huntd::config::{
    self, AssertionAlg, Credential, EnvVars, KeyVaultAuth, KeyVaultRef, SecretSource,
};
use huntd::diagnostic::Diagnostics;

#[test]
fn missing_credential_says_what_to_add() {
    let (f, _, diags) = Fixture::contoso("");
    let d = f.error_at(&diags, "instance `Contoso` has no credential", 3);
    let hint = d.hint.as_deref().expect("hint");
    assert!(
        hint.contains("ClientSecret") && hint.contains("Certificate") && hint.contains("UserName")
    );
}

#[test]
fn two_credentials_are_an_error() {
    let (f, _, diags) = Fixture::contoso(
        "    ClientSecret: {File: secret.txt}\n    UserName: ann@contoso.example\n",
    );
    f.error_at(
        &diags,
        "instance `Contoso` has more than one credential: ClientSecret, UserName",
        3,
    );
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
    let (f, _, diags) = Fixture::contoso("    Certificate: missing.pem\n");
    f.error_at(&diags, "Certificate of instance `Contoso`: no such file", 6);
}

#[test]
fn unset_environment_variable_is_an_error() {
    let (f, _, diags) =
        Fixture::contoso("    ClientSecret: {EnvironmentVar: HUNTD_TEST_UNSET_SECRET}\n");
    let d = f.error_at(&diags, "environment variable `HUNTD_TEST_UNSET_SECRET`", 6);
    assert!(
        d.message
            .contains("ClientSecret of instance `Contoso`) is not set"),
        "{d}"
    );

    let env = EnvVars::from_vars([("HUNTD_TEST_UNSET_SECRET", "value")]);
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
    let (f, _, diags) = Fixture::contoso("    ClientSecret: {Credential: contoso}\n");
    let d = f.error_at(&diags, "$CREDENTIALS_DIRECTORY is not set", 6);
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
    let env = EnvVars::from_vars([("CREDENTIALS_DIRECTORY", creds.as_os_str())]);
    let text = format!(
        "{}  Other:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    ClientSecret: {{Credential: present}}\n",
        with_instance("Contoso", "    ClientSecret: {Credential: absent}\n")
    );
    let (config, diags) = f.load_env(&text, &env);
    let d = f.error_at(
        &diags,
        "systemd credential `absent` (ClientSecret of instance `Contoso`) not found",
        6,
    );
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
    let (f, _, diags) = Fixture::contoso("    ClientSecret: {File: nope.txt}\n");
    let d = f.error_at(&diags, "secret file", 6);
    assert!(
        d.message.contains("nope.txt") && d.message.contains("cannot be read"),
        "{d}"
    );
}

#[test]
fn unknown_secret_kind_gets_a_suggestion() {
    let (f, _, diags) = Fixture::contoso("    ClientSecret: {EnviromentVar: X}\n");
    let d = f.error_at(&diags, "unknown secret kind `EnviromentVar`", 6);
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
    let config = config::load_in(&f.config_path(), &EnvVars::default(), &mut diags);
    let d = f.warning_at(
        &diags,
        "ClientSecret of instance `Contoso` is written in plain text",
        6,
    );
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
fn connection_string_values_lose_their_quotes() {
    let (_dir, config, diags) = Fixture::loaded(&format!(
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
    let (f, _, diags) = Fixture::loaded(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    ConnectionString: \"tenant_id='t'; s3cr3t\"\n",
    );
    f.error_at(
        &diags,
        "ConnectionString of instance `Contoso`: part 2 has no `=`",
        4,
    );
    assert!(!all(&diags).contains("s3cr3t"));
}

#[test]
fn key_vault_reference_without_vault_name_is_an_error() {
    let (f, _, diags) = Fixture::contoso("    ClientSecret: {KeyVault: }\n");
    let d = f.error_at(&diags, "no KeyVault.VaultName is set", 6);
    assert!(
        d.message
            .contains("Key Vault secret `instances-Contoso-ClientSecret` in the default vault"),
        "{d}"
    );
}

#[test]
fn key_vault_references_take_msticpy_shapes() {
    let (_dir, config, diags) = Fixture::loaded(&format!(
        "{}  B:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    ClientSecret: {{KeyVault: other-vault/b-secret}}\n  C:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    ClientSecret: {{KeyVault: c-secret}}\nKeyVault:\n  VaultName: soc-vault\n  ManagedIdentity: true\n",
        with_instance("A", "    ClientSecret: {KeyVault: default}\n")
    ));
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
    let (f, _, diags) = Fixture::loaded(&format!(
        "{}KeyVault:\n  VaultName: soc-vault\n",
        with_instance("A", "    ClientSecret: {KeyVault: }\n")
    ));
    f.error_at(&diags, "does not say how to sign in to the vault", 6);
}

#[test]
fn key_vault_app_sign_in_needs_a_credential() {
    let (f, config, diags) = Fixture::loaded(&format!(
        "jobs: [jobs]\nKeyVault:\n  VaultName: soc-vault\n  TenantId: {TENANT}\n  ClientId: {CLIENT}\n"
    ));
    f.error_at(
        &diags,
        "the KeyVault section has a ClientId but no ClientSecret or Certificate",
        2,
    );
    assert!(config.expect("loaded").key_vault.is_none());
}

#[test]
fn key_vault_secret_cannot_come_from_key_vault() {
    let (f, _, diags) = Fixture::loaded(&format!(
        "jobs: [jobs]\nKeyVault:\n  VaultName: soc-vault\n  TenantId: {TENANT}\n  ClientId: {CLIENT}\n  ClientSecret: {{KeyVault: }}\n"
    ));
    f.error_at(&diags, "cannot come from Key Vault", 6);
}

#[test]
fn debug_of_a_loaded_config_never_shows_a_secret() {
    let (_dir, config, diags) = Fixture::loaded(&format!(
        "jobs: [jobs]\ndatabase: postgres://huntd:db-password-42@db.example/huntd\ninstances:\n  A:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    ClientSecret: plain-secret-42\n  B:\n    ConnectionString: \"tenant_id='{TENANT}'; client_id='{CLIENT}'; client_secret='cs-secret-42'\"\nKeyVault:\n  TenantId: {TENANT}\n  ClientId: {CLIENT}\n  ClientSecret: kv-secret-42\n"
    ));
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
