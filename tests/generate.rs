//! `huntd generate`: the man pages and shell completions packaging installs, made by the binary.

use std::process::Command;

use clap::CommandFactory;

fn huntd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_huntd"))
        .args(args)
        .output()
        .expect("huntd runs")
}

#[test]
fn generate_man_writes_huntd_1_and_a_page_for_every_visible_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("man");
    let out = huntd(&["generate", "man", out_dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let mut expected = vec!["huntd.1".to_string()];
    for command in huntd::cli::Cli::command().get_subcommands() {
        if !command.is_hide_set() {
            expected.push(format!("huntd-{}.1", command.get_name()));
            // `deliveries retry` has a page of its own.
            for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
                expected.push(format!("huntd-{}-{}.1", command.get_name(), sub.get_name()));
            }
        }
    }
    expected.sort();
    let mut written: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("the directory exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, expected);
    assert!(expected.contains(&"huntd-validate.1".to_string()));

    let page = std::fs::read_to_string(out_dir.join("huntd.1")).expect("huntd.1");
    assert!(
        page.starts_with(".ie") || page.contains(".TH huntd 1"),
        "{page}"
    );
    assert!(page.contains("huntd\\-validate(1)"), "{page}");
    assert!(page.contains("/etc/huntd/huntd.yaml"), "{page}");
    let once = std::fs::read_to_string(out_dir.join("huntd-once.1")).expect("huntd-once.1");
    assert!(once.contains("\\-\\-dry\\-run"), "{once}");
}

#[test]
fn generate_completions_writes_bash_zsh_and_fish_files_naming_the_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = huntd(&[
        "generate",
        "completions",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for file in ["huntd.bash", "_huntd", "huntd.fish"] {
        let text = std::fs::read_to_string(dir.path().join(file)).expect(file);
        for command in ["validate", "history", "demo"] {
            assert!(text.contains(command), "{file} lacks {command}");
        }
    }
}
