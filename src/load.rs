//! Reading the user's input: the config file, its instances, the query library and the jobs,
//! with every problem found on the way.
//!
//! The commands, the demo and the daemon's reload all read through here, so each sees the same
//! input the same way.

use std::path::Path;

use crate::auth;
use crate::config::{self, Config, Credential};
use crate::diagnostic::{Diagnostics, Location};
use crate::hunt;
use crate::jobs::{self, Job, Library};

/// How much of the input a reader needs; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Only `huntd.yaml` and its instances (commands that only need the database).
    Config,
    /// The config, query library and jobs (the daemon).
    Jobs,
    /// Also each certificate instance's certificate and key, opened now (`validate`).
    Credentials,
}

/// Everything read from the user's files, with the problems found on the way.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The config; `None` when it could not be found or read.
    pub config: Option<Config>,
    /// The query library (empty below [`Scope::Jobs`]).
    pub library: Library,
    /// The jobs (empty below [`Scope::Jobs`]).
    pub jobs: Vec<Job>,
    /// Every problem found, errors and warnings.
    pub diagnostics: Diagnostics,
}

/// A config and jobs with no errors, and the warnings found reading them.
pub type Valid = (Config, Vec<Job>, Diagnostics);

impl Loaded {
    /// Finds the config (`--config`, `$HUNTD_CONFIG`, the default paths) and reads `scope`.
    pub fn locate(explicit: Option<&Path>, scope: Scope) -> Self {
        match config::locate(explicit) {
            Ok(path) => Self::from_path(&path, scope),
            Err(diagnostic) => {
                let mut loaded = Self::default();
                loaded.diagnostics.push(diagnostic);
                loaded
            }
        }
    }

    /// Reads the config at `path` and `scope`.
    pub fn from_path(path: &Path, scope: Scope) -> Self {
        let mut diagnostics = Diagnostics::new();
        let config = config::load(path, &mut diagnostics);
        let (library, jobs) = match &config {
            Some(config) if scope >= Scope::Jobs => {
                let (library, jobs) = jobs::load_for(config, &mut diagnostics);
                let schema = scope >= Scope::Credentials;
                jobs::syntax::check(&jobs, &library, schema, &mut diagnostics);
                hunt::costs::check(&jobs, &config.instances, &mut diagnostics);
                hunt::retirement::check(&jobs, &config.instances, &mut diagnostics);
                if scope >= Scope::Credentials {
                    check_credentials(config, &mut diagnostics);
                }
                (library, jobs)
            }
            _ => (Library::default(), Vec::new()),
        };
        Self {
            config,
            library,
            jobs,
            diagnostics,
        }
    }

    /// The config and jobs with the warnings, or every problem when any is an error.
    pub fn into_valid(self) -> Result<Valid, Diagnostics> {
        match self.config {
            Some(config) if !self.diagnostics.has_errors() => {
                Ok((config, self.jobs, self.diagnostics))
            }
            _ => Err(self.diagnostics),
        }
    }
}

/// Opens each instance's certificate and key now, so a mismatch shows up in `validate`, not at
/// the first run at 3 a.m.
fn check_credentials(config: &Config, diags: &mut Diagnostics) {
    for instance in config.instances.values() {
        if !matches!(instance.credential, Credential::Certificate { .. }) {
            continue;
        }
        // The instance was defined in huntd.yaml or msticpyconfig.yaml; its exact line is not
        // kept past loading, so point at the top of that file and name the instance.
        let at = Location::START;
        match auth::check_instance_credential(instance) {
            Ok(Some(info)) if info.expired() => {
                diags
                    .warning(
                        &instance.source,
                        at,
                        format!(
                            "instance `{}`: certificate {} expired on {}",
                            instance.name, info.subject, info.not_after
                        ),
                    )
                    .hint("upload a new certificate to the app registration and point `Certificate` at it");
            }
            Ok(_) => {}
            Err(e) => {
                diags.error(
                    &instance.source,
                    at,
                    format!("instance `{}`: {e}", instance.name),
                );
            }
        }
    }
}
