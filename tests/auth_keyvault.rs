//! `{KeyVault: ...}` secrets over real loopback HTTP, signed in by app secret or managed identity.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

mod auth_support;

use auth_support::*;
use huntd::auth::{KeyVaultClient, Resource, TokenSource, Tokens, resolve_key_vault_secrets};
use huntd::config::{
    Cloud, Config, Credential, KeyVaultAuth, KeyVaultRef, KeyVaultSettings, Secret, SecretSource,
};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DEFAULT_SECRET: &str = "DataProviders-MicrosoftDefender-Args-ClientSecret";

fn settings(auth: KeyVaultAuth) -> KeyVaultSettings {
    KeyVaultSettings {
        tenant_id: Some(TENANT.into()),
        vault_name: Some("huntvault".into()),
        auth,
        cloud: Cloud::Global,
    }
}

fn vault_ref(vault: Option<&str>, secret: &str) -> Credential {
    Credential::ClientSecret(SecretSource::KeyVault(KeyVaultRef {
        vault: vault.map(str::to_owned),
        secret: secret.into(),
    }))
}

/// A Key Vault client whose login and vault endpoints are all on `server`.
fn vault_client<'a>(
    kv: &'a KeyVaultSettings,
    tokens: &'a Tokens,
    server: &MockServer,
) -> KeyVaultClient<'a> {
    KeyVaultClient::new(kv, tokens)
        .with_endpoints(server.uri(), format!("{}/vaults/{{vault}}", server.uri()))
}

/// Resolves the Key Vault references of `config` with the vault at `server`; how many it did.
async fn resolve_config(kv: &KeyVaultSettings, server: &MockServer, config: &mut Config) -> usize {
    let tokens = Tokens::with_options("/nonexistent", quick());
    vault_client(kv, &tokens, server)
        .resolve_config(config)
        .await
        .unwrap()
}

async fn mount_secret(server: &MockServer, vault: &str, name: &str, token: &str, value: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/vaults/{vault}/secrets/{name}")))
        .and(query_param("api-version", "7.4"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "value": value,
            "id": format!("https://{vault}.vault.azure.net/secrets/{name}/0123"),
            "attributes": {"enabled": true},
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn key_vault_secret_signed_in_by_client_secret_becomes_the_instance_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("client_secret=vault-app-secret"))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fvault.azure.net%2F.default",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("kv-token", None)))
        .expect(1)
        .mount(&server)
        .await;
    mount_secret(
        &server,
        "huntvault",
        DEFAULT_SECRET,
        "kv-token",
        "value-from-vault",
    )
    .await;
    mount_secret(
        &server,
        "othervault",
        "mde-secret",
        "kv-token",
        "other-value",
    )
    .await;
    // The instance token request then carries the secret read from the vault.
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("client_secret=value-from-vault"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("graph-token", None)))
        .expect(1)
        .mount(&server)
        .await;

    let kv = settings(KeyVaultAuth::App {
        client_id: "kv-client".into(),
        credential: secret_credential("vault-app-secret"),
    });
    let mut config = config(
        vec![
            instance("Default", &server.uri(), vault_ref(None, DEFAULT_SECRET)),
            instance(
                "Other",
                &server.uri(),
                vault_ref(Some("othervault"), "mde-secret"),
            ),
        ],
        Some(kv.clone()),
    );
    let resolved = resolve_config(&kv, &server, &mut config).await;
    assert_eq!(resolved, 2);
    assert_eq!(
        config.instances["Default"].credential,
        Credential::ClientSecret(SecretSource::Plain(Secret::new("value-from-vault")))
    );
    assert_eq!(
        config.instances["Other"].credential,
        Credential::ClientSecret(SecretSource::Plain(Secret::new("other-value")))
    );
    let tokens = Tokens::with_options("/nonexistent", quick());
    let token = tokens
        .token(&config.instances["Default"], Resource::Graph)
        .await
        .unwrap();
    assert_eq!(token.token.expose(), "graph-token");
}

#[tokio::test]
async fn key_vault_secret_signed_in_by_managed_identity_sends_the_metadata_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/metadata/identity/oauth2/token"))
        .and(header("metadata", "true"))
        .and(query_param("api-version", "2018-02-01"))
        .and(query_param("resource", "https://vault.azure.net"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "mi-token",
            "expires_in": "3599",
            "expires_on": "1795000000",
            "resource": "https://vault.azure.net",
            "token_type": "Bearer",
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount_secret(
        &server,
        "huntvault",
        "key-password",
        "mi-token",
        "pw-from-vault",
    )
    .await;

    let kv = settings(KeyVaultAuth::ManagedIdentity {
        endpoint: format!("{}/metadata/identity/oauth2/token", server.uri()),
    });
    let credential = Credential::Certificate {
        certificate: "/etc/huntd/cert.pem".into(),
        private_key: None,
        private_key_secret: Some(SecretSource::KeyVault(KeyVaultRef {
            vault: None,
            secret: "key-password".into(),
        })),
        assertion_alg: huntd::config::AssertionAlg::Ps256,
    };
    let mut config = config(
        vec![instance("Default", &server.uri(), credential)],
        Some(kv.clone()),
    );
    let resolved = resolve_config(&kv, &server, &mut config).await;
    assert_eq!(resolved, 1);
    let Credential::Certificate {
        private_key_secret, ..
    } = &config.instances["Default"].credential
    else {
        panic!("credential kind changed");
    };
    assert_eq!(
        private_key_secret.as_ref(),
        Some(&SecretSource::Plain(Secret::new("pw-from-vault")))
    );
}

#[tokio::test]
async fn missing_secret_and_denied_vault_are_explained() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/metadata/identity/oauth2/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "mi", "expires_in": "3599"})),
        )
        .mount(&server)
        .await;
    for (secret, status, code, message) in [
        (
            "absent",
            404,
            "SecretNotFound",
            "A secret with (name/id) absent was not found in this key vault.",
        ),
        ("denied", 403, "Forbidden", "Caller is not authorized."),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/vaults/huntvault/secrets/{secret}")))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(serde_json::json!({
                    "error": {"code": code, "message": message}
                })),
            )
            .mount(&server)
            .await;
    }
    let kv = settings(KeyVaultAuth::ManagedIdentity {
        endpoint: format!("{}/metadata/identity/oauth2/token", server.uri()),
    });
    let tokens = Tokens::with_options("/nonexistent", quick());
    let client = vault_client(&kv, &tokens, &server);
    let reference = |secret: &str| KeyVaultRef {
        vault: None,
        secret: secret.into(),
    };
    let err = client.secret(&reference("absent")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("secret absent not found in Key Vault huntvault"),
        "{err}"
    );
    let err = client.secret(&reference("denied")).await.unwrap_err();
    assert!(err.to_string().contains("Key Vault Secrets User"), "{err}");
    let err = client.secret(&reference("bad/name")).await.unwrap_err();
    assert!(err.to_string().contains("letters, digits"), "{err}");
}

#[tokio::test]
async fn vault_reference_without_a_key_vault_section_is_an_error() {
    let mut config = config(
        vec![instance(
            "Default",
            "http://127.0.0.1:9",
            vault_ref(None, "x"),
        )],
        None,
    );
    let tokens = Tokens::with_options("/nonexistent", quick());
    let err = resolve_key_vault_secrets(&mut config, &tokens)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no KeyVault section"), "{err}");
}
