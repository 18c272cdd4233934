//! Real `huntd` processes for the end-to-end tests: `huntd emulate` on a free port with its log
//! in a file, commands run to completion, and signals.
// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A running `huntd emulate`; killed when dropped.
pub struct Emulate {
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:<port>` or `https://...`, as the emulator printed it.
    pub base_url: String,
}

impl Emulate {
    /// Starts `huntd emulate --listen 127.0.0.1:0 <args>` in `dir` and waits for its address.
    pub async fn start(dir: &Path, args: &[&str]) -> Emulate {
        let log = dir.join(format!("emulate-{}.log", unique()));
        let child = Command::new(env!("CARGO_BIN_EXE_huntd"))
            .current_dir(dir)
            .args(["emulate", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("huntd emulate starts");
        let mut emulate = Emulate {
            child,
            log,
            base_url: String::new(),
        };
        for _ in 0..600 {
            if let Some(url) = emulate
                .log()
                .lines()
                .find_map(|line| line.split("listening on ").nth(1))
            {
                url.trim().clone_into(&mut emulate.base_url);
                return emulate;
            }
            if let Some(status) = emulate.child.try_wait().expect("wait works") {
                panic!("huntd emulate exited with {status}:\n{}", emulate.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("huntd emulate printed no address:\n{}", emulate.log());
    }

    /// Everything the emulator wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Emulate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file name part no other call in this process returns.
pub fn unique() -> u128 {
    std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos())
}

/// Runs `huntd --config <dir>/huntd.yaml <args>` to completion.
pub async fn huntd(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_huntd"));
    command
        .arg("--config")
        .arg(dir.join("huntd.yaml"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("HUNTD_CONFIG")
        .env_remove("MSTICPYCONFIG")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().expect("huntd runs"))
        .await
        .expect("join")
}

/// Sends signal `name` (`TERM`, `HUP`, ...) to process `pid`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {name} {pid}");
}

/// Stdout and stderr of `out`, for assertion messages.
pub fn printed(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
