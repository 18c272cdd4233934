//! What the Debian package installs, checked from the source tree: the config it puts in
//! /etc/huntd validates with the jobs it puts in /usr/share/huntd, and the unit's documentation
//! is among its files. `.ci/package` checks the built package itself.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("readable") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

#[test]
fn the_packaged_config_validates_with_the_packaged_jobs_and_the_units_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let share: PathBuf = dir.path().join("usr/share/huntd");
    copy_dir(&repo().join("jobs"), &share.join("jobs"));
    copy_dir(&repo().join("queries"), &share.join("queries"));
    let config = std::fs::read_to_string(repo().join("packaging/huntd.yaml")).expect("config");
    assert!(config.contains("jobs: [/usr/share/huntd/jobs]"), "{config}");
    let config = config.replace("/usr/share/huntd", &share.display().to_string());
    let config_path = dir.path().join("huntd.yaml");
    std::fs::write(&config_path, config).expect("write");

    // The files the unit's LoadCredential= lines give the service.
    let unit = std::fs::read_to_string(repo().join("systemd/huntd.service")).expect("unit");
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).expect("mkdir");
    for line in unit.lines() {
        if let Some(name) = line.strip_prefix("LoadCredential=") {
            let name = name.split(':').next().expect("a name");
            std::fs::write(credentials.join(name), "placeholder\n").expect("write");
        }
    }

    let out = Command::new(env!("CARGO_BIN_EXE_huntd"))
        .args(["validate", "--config"])
        .arg(&config_path)
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .env_remove("MSTICPYCONFIG")
        .output()
        .expect("huntd runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let summary = text.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("ok: 2 instances, 3 library queries, 6 jobs: 0 errors"),
        "{text}"
    );
}

#[test]
fn the_units_documentation_is_installed_by_the_package() {
    let unit = std::fs::read_to_string(repo().join("systemd/huntd.service")).expect("unit");
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).expect("manifest");
    let docs: Vec<&str> = unit
        .lines()
        .filter_map(|line| line.strip_prefix("Documentation="))
        .flat_map(str::split_whitespace)
        .collect();
    assert!(!docs.is_empty(), "the unit names its documentation");
    for doc in docs {
        if let Some(page) = doc.strip_prefix("man:") {
            let name = page.split('(').next().expect("a page name");
            assert!(
                manifest.contains(r#"["target/packaging/man/*.1", "usr/share/man/man1/""#),
                "man pages are packaged"
            );
            let command = name.strip_prefix("huntd-");
            let help = Command::new(env!("CARGO_BIN_EXE_huntd"))
                .args(command.map_or(vec!["--help"], |c| vec![c, "--help"]))
                .output()
                .expect("huntd runs");
            assert!(help.status.success(), "{doc} names a command huntd has");
        } else {
            let path = doc
                .strip_prefix("file:///usr/share/doc/huntd/")
                .unwrap_or_else(|| panic!("{doc} is not under /usr/share/doc/huntd"));
            assert!(
                manifest.contains(&format!(r#"["{path}", "usr/share/doc/huntd/""#)),
                "{doc} is not among the package's assets"
            );
        }
    }
}
