//! Delegated sign-in's refresh tokens: kept in the state directory (mode 0600), redeemed for
//! access tokens and rotated with every redemption.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entra::{Context, TokenResponse, parse_token_response, post_form};
use super::{Error, Result, Tokens};
use crate::config::{Credential, Instance, Secret};

/// The file holding the refresh token of `instance` under `state_dir`.
pub fn refresh_token_path(state_dir: &Path, instance: &str) -> PathBuf {
    let safe: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join("tokens").join(format!("{safe}.json"))
}

/// The stored form; never `Debug`, it holds the refresh token in clear.
#[derive(Serialize, Deserialize)]
struct Stored {
    instance: String,
    tenant_id: String,
    client_id: String,
    user_name: Option<String>,
    refresh_token: String,
    saved_at: DateTime<Utc>,
}

fn login_again(instance: &str, why: &str) -> Error {
    Error::LoginRequired(format!(
        "{why}: run `huntd login --instance {instance}` again"
    ))
}

/// Stores `refresh_token` for `instance`, replacing the file atomically; returns its path.
pub(crate) fn save(
    state_dir: &Path,
    instance: &Instance,
    refresh_token: &Secret,
) -> Result<PathBuf> {
    let path = refresh_token_path(state_dir, &instance.name);
    let user_name = match &instance.credential {
        Credential::Delegated { user_name } => Some(user_name.clone()),
        _ => None,
    };
    let stored = Stored {
        instance: instance.name.clone(),
        tenant_id: instance.tenant_id.clone(),
        client_id: instance.client_id.clone(),
        user_name,
        refresh_token: refresh_token.expose().to_owned(),
        saved_at: Utc::now(),
    };
    let body =
        serde_json::to_vec_pretty(&stored).expect("a struct of strings always serialises to JSON");
    write_private(&path, &body).map_err(|e| {
        Error::Credential(format!(
            "cannot store the refresh token in {}: {e}",
            path.display()
        ))
    })?;
    Ok(path)
}

/// Writes through a fresh 0600 temporary file and a rename, so no reader ever sees a partial
/// file and the token is never readable by others, not even for a moment.
fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(body)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The stored refresh token of `instance`, if it belongs to the instance's tenant and app.
fn load(state_dir: &Path, instance: &Instance) -> Result<Secret> {
    let path = refresh_token_path(state_dir, &instance.name);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(login_again(
                &instance.name,
                &format!("instance {} has not signed in yet", instance.name),
            ));
        }
        Err(e) => {
            return Err(Error::Credential(format!(
                "cannot read the refresh token {}: {e}",
                path.display()
            )));
        }
    };
    let stored: Stored = serde_json::from_slice(&text).map_err(|_| {
        login_again(
            &instance.name,
            &format!("the refresh token file {} is damaged", path.display()),
        )
    })?;
    if stored.tenant_id != instance.tenant_id || stored.client_id != instance.client_id {
        return Err(login_again(
            &instance.name,
            &format!(
                "the stored sign-in of instance {} is for another tenant or app",
                instance.name
            ),
        ));
    }
    Ok(Secret::new(stored.refresh_token))
}

/// Redeems the stored refresh token for a token for `scope` and stores the rotated one.
pub(crate) async fn redeem(
    tokens: &Tokens,
    http: &reqwest::Client,
    instance: &Instance,
    scope: &str,
    ctx: Context<'_>,
) -> Result<TokenResponse> {
    let _rotating = tokens.refresh_lock.lock().await;
    let refresh_token = load(tokens.state_dir(), instance)?;
    let url = super::entra::oauth_url(&instance.endpoints.login, &instance.tenant_id, "token");
    let scopes = format!("{scope} offline_access");
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", instance.client_id.as_str()),
        ("refresh_token", refresh_token.expose()),
        ("scope", scopes.as_str()),
    ];
    let body = match post_form(http, &url, &form, &tokens.options().retry).await? {
        Ok(body) => body,
        Err(entra) if entra.code() == Some(700_082) => return Err(entra.into_error(ctx)),
        Err(entra) if entra.error == "invalid_grant" => {
            let first_line = entra.error_description.lines().next().unwrap_or("").trim();
            return Err(login_again(
                &instance.name,
                &format!(
                    "Entra ID no longer accepts the sign-in of instance {} ({first_line})",
                    instance.name
                ),
            ));
        }
        Err(entra) => return Err(entra.into_error(ctx)),
    };
    let response = parse_token_response(&body, &url)?;
    if let Some(rotated) = &response.refresh_token {
        save(tokens.state_dir(), instance, rotated)?;
        tracing::debug!(instance = %instance.name, "refresh token rotated");
    }
    Ok(response)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn instance_names_cannot_escape_the_token_directory() {
        let path = refresh_token_path(Path::new("/s"), "../a b");
        assert_eq!(path, Path::new("/s/tokens/___a_b.json"));
    }

    #[test]
    fn private_file_is_mode_0600_even_when_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens").join("x.json");
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }
}
