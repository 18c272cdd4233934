//! What several commands need: exit codes, the runtime, loading with the problems printed,
//! sign-in, instance lookup and Ctrl-C.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::{self, Tokens};
use crate::config::{Config, Instance};
use crate::diagnostic::{Diagnostics, did_you_mean};
use crate::jobs::Job;
use crate::load::{Loaded, Scope};
use crate::store::{self, Store};

/// Exit code: input (config or jobs) is invalid.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: something failed while running.
pub const EXIT_RUNTIME: u8 = 3;

/// Writes each diagnostic on its own line, in file and line order.
pub fn print_diagnostics(
    diags: &Diagnostics,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    for diagnostic in diags.sorted() {
        writeln!(out, "{diagnostic}")?;
    }
    Ok(())
}

/// Prints `loaded`'s problems to stderr; the valid config and jobs, or the exit code.
pub fn valid(loaded: Loaded) -> Result<(Config, Vec<Job>), ExitCode> {
    // Best effort: a closed stderr must not hide the exit code.
    let _ = print_diagnostics(&loaded.diagnostics, &mut std::io::stderr().lock());
    let Ok((config, jobs, _)) = loaded.into_valid() else {
        eprintln!("invalid input: run `huntd validate` for details");
        return Err(ExitCode::from(EXIT_INVALID));
    };
    Ok((config, jobs))
}

/// Prints `loaded`'s problems to stderr; the config, or `None` when it has errors. Job problems
/// do not count: commands that only need the database read the config alone.
pub fn config_only(loaded: Loaded) -> Option<Config> {
    let _ = print_diagnostics(&loaded.diagnostics, &mut std::io::stderr().lock());
    if loaded.diagnostics.has_errors() {
        eprintln!("invalid config: run `huntd validate` for details");
        return None;
    }
    loaded.config
}

/// The instance called `name`, or the exit code after saying which names exist.
pub fn find_instance<'a>(config: &'a Config, name: &str) -> Result<&'a Instance, ExitCode> {
    config.instances.get(name).ok_or_else(|| {
        let hint = did_you_mean(name, config.instances.keys().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        eprintln!("error: no instance named `{name}`{hint}");
        ExitCode::from(EXIT_INVALID)
    })
}

/// The valid config with credentials, the job named `name`, and the instances the command acts
/// on (the one `only` names, else all of the job's); or the exit code after the diagnostics or a did-you-mean were
/// printed.
pub fn load_with_job(
    config: Option<&Path>,
    name: &str,
    only: Option<&str>,
) -> Result<(Config, Job, Vec<String>), ExitCode> {
    let (config, mut jobs) = valid(Loaded::locate(config, Scope::Credentials))?;
    let at = jobs.iter().position(|j| j.name == name).ok_or_else(|| {
        let hint = did_you_mean(name, jobs.iter().map(|j| j.name.as_str()))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        eprintln!("error: no job named `{name}`{hint}");
        ExitCode::from(EXIT_INVALID)
    })?;
    let job = jobs.swap_remove(at);
    let instances = chosen_instances(&job, only)?;
    Ok((config, job, instances))
}

/// Opens (and migrates) the configured database; says on stderr why when it cannot.
pub async fn open_store(config: &Config) -> Option<Arc<dyn Store>> {
    match store::open(&config.database).await {
        Ok(store) => Some(store),
        Err(e) => {
            eprintln!("error: database {}: {e}", config.database_for_display());
            None
        }
    }
}

/// The multi-threaded runtime a command runs on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Token cache for commands, with `{KeyVault: ...}` secrets resolved first.
pub async fn tokens_for(config: &mut Config, state_dir: Option<&Path>) -> auth::Result<Tokens> {
    let dir = state_dir.map_or_else(|| config.daemon.state_dir.clone(), Path::to_path_buf);
    let tokens = Tokens::new(dir);
    auth::resolve_key_vault_secrets(config, &tokens).await?;
    Ok(tokens)
}

/// A token that Ctrl-C cancels, so a run in flight stops cleanly and is recorded as such.
pub fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    cancel
}

/// The instances a command on `job` acts on: the one `--instance` names (which the job must
/// hunt), else all of the job's.
fn chosen_instances(job: &Job, only: Option<&str>) -> Result<Vec<String>, ExitCode> {
    match only {
        None => Ok(job.instances.clone()),
        Some(name) if job.instances.iter().any(|i| i == name) => Ok(vec![name.to_string()]),
        Some(name) => {
            eprintln!(
                "error: `{}` hunts {}, not `{name}`",
                job.name,
                job.instances.join(", ")
            );
            Err(ExitCode::from(EXIT_INVALID))
        }
    }
}
