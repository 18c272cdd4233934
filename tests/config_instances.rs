//! Instances in huntd.yaml: clouds and endpoints, tenant and client ids, and key and name case.

#[path = "common/config.rs"]
mod common;

use common::{CLIENT, Fixture, TENANT, all, assert_clean, with_instance};
use huntd::config::Cloud;

#[test]
fn misspelled_instance_key_gets_a_suggestion() {
    let (f, _, diags) = Fixture::contoso("    ClientSecret: {File: secret.txt}\n    Clould: eu\n");
    let d = f.error_at(&diags, "unknown key `Clould` in instance `Contoso`", 7);
    assert!(
        d.hint.as_deref().is_some_and(|h| h.contains("`Cloud`")),
        "{d:?}"
    );
}

#[test]
fn unknown_cloud_lists_the_valid_ones() {
    let (f, config, diags) =
        Fixture::contoso("    ClientSecret: {File: secret.txt}\n    Cloud: usgov\n");
    let d = f.error_at(&diags, "unknown cloud `usgov` for instance `Contoso`", 7);
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
    let (f, config, diags) = Fixture::contoso(
        "    ClientSecret: {File: secret.txt}\n    Endpoints:\n      mde: http://mde.example.com\n      graph: http://127.0.0.1:8080/\n      login: http://[::1]:9000\n",
    );
    let d = f.error_at(&diags, "Endpoints.mde of instance `Contoso`", 8);
    assert!(d.message.contains("must use https://"), "{d}");
    assert_eq!(diags.error_count(), 1, "{}", all(&diags));
    let config = config.expect("loaded");
    assert!(config.instances.is_empty());
    assert!(config.invalid_instances.contains("Contoso"));
}

#[test]
fn endpoint_overrides_replace_the_cloud_defaults() {
    let (_dir, config, diags) = Fixture::contoso(
        "    ClientSecret: {File: secret.txt}\n    Cloud: eu\n    Endpoints: {graph: 'http://127.0.0.1:8080/', keyvault: 'https://{vault}.vault.example'}\n",
    );
    assert_clean(&diags);
    let endpoints = &config.expect("loaded").instances["Contoso"].endpoints;
    assert_eq!(endpoints.graph, "http://127.0.0.1:8080");
    assert_eq!(endpoints.mde, "https://api-eu.securitycenter.microsoft.com");
    assert_eq!(endpoints.keyvault, "https://{vault}.vault.example");
}

#[test]
fn missing_tenant_id_names_the_instance_and_the_key() {
    let (f, config, diags) = Fixture::loaded(&format!(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    ClientId: {CLIENT}\n    ClientSecret: {{File: secret.txt}}\n"
    ));
    let d = f.error_at(&diags, "instance `Contoso` has no TenantId", 3);
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
    let (f, _, diags) = Fixture::loaded(&format!(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    TenantId: {TENANT}\n    ClientSecret: {{File: secret.txt}}\n"
    ));
    f.error_at(&diags, "instance `Contoso` has no ClientId", 3);
}

#[test]
fn client_id_must_be_a_guid() {
    let (f, _, diags) = Fixture::loaded(&format!(
        "jobs: [jobs]\ninstances:\n  Contoso:\n    TenantId: {TENANT}\n    ClientId: my-app\n    ClientSecret: {{File: secret.txt}}\n"
    ));
    f.error_at(
        &diags,
        "ClientId `my-app` of instance `Contoso` is not a GUID",
        5,
    );
}

#[test]
fn instance_keys_are_case_insensitive_including_lowercase_cloud() {
    let (_dir, config, diags) = Fixture::loaded(&format!(
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
    let (f, _, diags) =
        Fixture::contoso("    ClientSecret: {File: secret.txt}\n    Cloud: eu\n    cloud: uk\n");
    f.error_at(
        &diags,
        "`cloud` repeats `Cloud` (line 7) in instance `Contoso`",
        8,
    );
}

#[test]
fn instance_names_differing_only_in_case_are_an_error() {
    let (f, config, diags) = Fixture::loaded(&format!(
        "{}  contoso:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n    UserName: a@b.example\n",
        with_instance("Contoso", "    ClientSecret: {File: secret.txt}\n")
    ));
    f.error_at(
        &diags,
        "instance `contoso` is defined twice (also `Contoso` on line 3)",
        7,
    );
    assert_eq!(config.expect("loaded").instances.len(), 1);
}
