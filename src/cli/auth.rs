//! `huntd token` and `huntd login`: sign-in for one instance, never printing a token.

use std::path::Path;
use std::process::ExitCode;

use clap::ValueEnum;
use clap::builder::PossibleValue;

use super::shared::{EXIT_RUNTIME, find_instance, runtime, tokens_for, valid};
use crate::auth::{self, Resource, Tokens};
use crate::config::Instance;
use crate::jobs::Environment;
use crate::load::{Loaded, Scope};

/// `--environment` takes the names jobs use; only the canonical ones are listed in help.
impl ValueEnum for Environment {
    fn value_variants<'a>() -> &'a [Self] {
        &[Environment::Graph, Environment::Mde]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Environment::Graph => {
                PossibleValue::new("M365DGraph").help("Microsoft Graph `runHuntingQuery`")
            }
            Environment::Mde => PossibleValue::new("MDE")
                .alias("MDATP")
                .alias("M365D")
                .help("Defender for Endpoint advanced queries (also `MDATP`, `M365D`)"),
        })
    }
}

/// The API a token for `environment` is for.
fn resource(environment: Environment) -> Resource {
    match environment {
        Environment::Graph => Resource::Graph,
        Environment::Mde => Resource::Mde,
    }
}

/// Loads the config, signs in for instance `name` and runs `work`; an auth failure exits 3.
fn with_instance<F>(
    config: Option<&Path>,
    name: &str,
    state_dir: Option<&Path>,
    work: F,
) -> anyhow::Result<ExitCode>
where
    F: AsyncFnOnce(&Tokens, &Instance) -> auth::Result<()>,
{
    let (mut config, _) = match valid(Loaded::locate(config, Scope::Credentials)) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    runtime()?.block_on(async {
        let tokens = tokens_for(&mut config, state_dir).await?;
        let instance = match find_instance(&config, name) {
            Ok(instance) => instance,
            Err(code) => return Ok(code),
        };
        match work(&tokens, instance).await {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("error (auth): {e}");
                Ok(ExitCode::from(EXIT_RUNTIME))
            }
        }
    })
}

/// `huntd token`: a token's tenant, app, expiry and permissions.
pub fn token(
    config: Option<&Path>,
    instance: &str,
    environment: Environment,
    state_dir: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    with_instance(config, instance, state_dir, async |tokens, instance| {
        let info = auth::token_info(tokens, instance, resource(environment)).await?;
        print!("{info}");
        Ok(())
    })
}

/// `huntd login`: a user sign-in by device code or browser, its refresh token stored.
pub fn login(
    config: Option<&Path>,
    instance: &str,
    browser: bool,
    environment: Environment,
    state_dir: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    with_instance(config, instance, state_dir, async |tokens, instance| {
        let mut out = std::io::stdout();
        let resource = resource(environment);
        let outcome = if browser {
            tokens.login_browser(instance, resource, &mut out).await?
        } else {
            tokens
                .login_device_code(instance, resource, &mut out)
                .await?
        };
        let user = outcome.user.as_deref().unwrap_or("the signed-in user");
        println!(
            "signed in as {user}; refresh token stored in {}",
            outcome.refresh_token_file.display()
        );
        Ok(())
    })
}
