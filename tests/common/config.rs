//! Shared pieces of the config tests: a directory holding a huntd.yaml under test, and finding
//! and placing the diagnostics its loading reports.
// Each test binary includes this file as `mod common` and uses only part of it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use huntd::config::{self, Config, EnvVars};
use huntd::diagnostic::{Diagnostic, Diagnostics, Severity};

/// The tenant id every test instance uses.
pub const TENANT: &str = "00000000-0000-0000-0000-000000000000";
/// The client id every test instance uses.
pub const CLIENT: &str = "11111111-1111-1111-1111-111111111111";

/// A directory holding a huntd.yaml under test, its secret files and job directories.
pub struct Fixture {
    /// The directory; gone when the fixture is dropped.
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// A fixture with `secret.txt` and an empty `jobs/`.
    pub fn new() -> Self {
        let fixture = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        fixture.write("secret.txt", "not-a-real-secret\n");
        std::fs::create_dir(fixture.path("jobs")).expect("jobs dir");
        fixture
    }

    /// A fixture whose huntd.yaml, loaded, has one instance, `Contoso`, with `extra` settings
    /// (indented four spaces).
    pub fn contoso(extra: &str) -> (Self, Option<Config>, Diagnostics) {
        Self::loaded(&with_instance("Contoso", extra))
    }

    /// A fixture whose huntd.yaml, `text`, is loaded with an empty environment.
    pub fn loaded(text: &str) -> (Self, Option<Config>, Diagnostics) {
        let f = Self::new();
        let (config, diags) = f.load(text);
        (f, config, diags)
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file readable by its owner only, as a careful admin would.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write fixture file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    /// Where the huntd.yaml under test is.
    pub fn config_path(&self) -> PathBuf {
        self.path("huntd.yaml")
    }

    /// Writes `text` as huntd.yaml and loads it with `env` as the environment.
    pub fn load_env(&self, text: &str, env: &EnvVars) -> (Option<Config>, Diagnostics) {
        let path = self.write("huntd.yaml", text);
        let mut diags = Diagnostics::new();
        let config = config::load_in(&path, env, &mut diags);
        (config, diags)
    }

    /// Writes `text` as huntd.yaml and loads it with an empty environment.
    pub fn load(&self, text: &str) -> (Option<Config>, Diagnostics) {
        self.load_env(text, &EnvVars::from_vars::<&str, &str>([]))
    }

    /// Writes `text` as the fixture's msticpyconfig.yaml.
    pub fn write_msticpy(&self, text: &str) -> PathBuf {
        self.write("msticpyconfig.yaml", text)
    }

    /// A fixture from `load_msticpy`: the fixture, the msticpyconfig.yaml path, the config and
    /// the diagnostics.
    pub fn msticpy(msticpy: &str) -> (Self, PathBuf, Option<Config>, Diagnostics) {
        let f = Self::new();
        let (path, config, diags) = f.load_msticpy(msticpy);
        (f, path, config, diags)
    }

    /// Writes `msticpy` as msticpyconfig.yaml and loads a huntd.yaml naming it: the
    /// msticpyconfig.yaml path, the config and the diagnostics.
    pub fn load_msticpy(&self, msticpy: &str) -> (PathBuf, Option<Config>, Diagnostics) {
        let path = self.write_msticpy(msticpy);
        let (config, diags) = self.load("jobs: [jobs]\nmsticpyconfig: msticpyconfig.yaml\n");
        (path, config, diags)
    }

    /// The single diagnostic containing `needle`, checked to be an error on `line` of huntd.yaml.
    pub fn error_at<'a>(&self, diags: &'a Diagnostics, needle: &str, line: u32) -> &'a Diagnostic {
        let d = find(diags, needle);
        assert_at(d, &self.config_path(), line, Severity::Error);
        d
    }

    /// The single diagnostic containing `needle`, checked to be a warning on `line` of
    /// huntd.yaml.
    pub fn warning_at<'a>(
        &self,
        diags: &'a Diagnostics,
        needle: &str,
        line: u32,
    ) -> &'a Diagnostic {
        let d = find(diags, needle);
        assert_at(d, &self.config_path(), line, Severity::Warning);
        d
    }
}

/// huntd.yaml with one instance whose extra settings are `extra` (indented four spaces).
pub fn with_instance(name: &str, extra: &str) -> String {
    format!(
        "jobs: [jobs]\ninstances:\n  {name}:\n    TenantId: {TENANT}\n    ClientId: {CLIENT}\n{extra}"
    )
}

/// The single diagnostic whose message contains `needle`; fails listing all of them otherwise.
pub fn find<'a>(diags: &'a Diagnostics, needle: &str) -> &'a Diagnostic {
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

/// Every diagnostic, one a line.
pub fn all(diags: &Diagnostics) -> String {
    diags.iter().fold(String::new(), |mut out, d| {
        writeln!(out, "{d}").expect("writing to a String");
        out
    })
}

/// Checks a diagnostic is in `file` on `line` with `severity`.
pub fn assert_at(d: &Diagnostic, file: &Path, line: u32, severity: Severity) {
    assert_eq!(d.file, file, "{d}");
    assert_eq!(d.location.line, line, "{d}");
    assert_eq!(d.severity, severity, "{d}");
}

/// Checks loading reported nothing.
pub fn assert_clean(diags: &Diagnostics) {
    assert!(
        diags.is_empty(),
        "expected no diagnostics, got:\n{}",
        all(diags)
    );
}
