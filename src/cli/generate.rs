//! `huntd generate man|completions DIR`: man pages and shell completions made from the clap
//! definitions, so they always match the binary. The Debian package is built with them, and
//! whoever installs with `cargo install` can write their own.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

use super::Cli;

/// What `huntd generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    /// huntd(1) and one page per command (huntd-validate(1), ...), as roff.
    Man,
    /// Completions for bash (huntd.bash), zsh (_huntd) and fish (huntd.fish).
    Completions,
}

/// Writes `what` into `dir` (created when missing) and lists the files on stdout.
pub fn generate(what: Generated, dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut command = Cli::command();
    match what {
        Generated::Man => clap_mangen::generate_to(command, dir)
            .with_context(|| format!("cannot write man pages into {}", dir.display()))?,
        Generated::Completions => {
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                let path = clap_complete::generate_to(shell, &mut command, "huntd", dir)
                    .with_context(|| {
                        format!("cannot write {shell} completions into {}", dir.display())
                    })?;
                println!("{}", path.display());
            }
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "1"))
        .collect();
    pages.sort();
    for page in pages {
        println!("{}", page.display());
    }
    Ok(ExitCode::SUCCESS)
}
