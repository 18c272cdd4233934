//! Real `huntd` processes for the end-to-end tests: `huntd emulate` on a free port and `huntd run`,
//! each with its log in a file, commands run to completion, signals, a config directory for them
//! to read, and the coverage gaps a run left in its SQLite file.
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

    /// The whole lines the emulator wrote to stderr so far.
    pub fn log(&self) -> String {
        whole_lines(&self.log)
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

/// A running `huntd run`, its log going to a file in the config directory; killed when dropped.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `huntd run --config <dir>/huntd.yaml <args>` with `env` added to its environment.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let log = dir.join(format!("huntd-{}.log", unique()));
        let child = Command::new(env!("CARGO_BIN_EXE_huntd"))
            .args(["run", "--config"])
            .arg(dir.join("huntd.yaml"))
            .args(args)
            .env("HUNTD_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("NOTIFY_SOCKET")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("huntd run starts");
        Daemon { child, log }
    }

    /// The whole lines the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        whole_lines(&self.log)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends signal `name` (`TERM`, `HUP`, ...) to the daemon.
    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    /// Waits for the process to exit, for at most a minute, and returns its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("huntd run did not exit; log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rows of the `hunt_coverage_gaps` view in the SQLite file `<dir>/huntd.db`.
pub async fn coverage_gaps(dir: &Path) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("huntd.db").display()))
        .await
        .expect("sqlite opens");
    let n = sqlx::query_scalar(r"select count(*) from hunt_coverage_gaps")
        .fetch_one(&pool)
        .await
        .expect("view answers");
    pool.close().await;
    n
}

/// A file name part no other call in this process returns.
pub fn unique() -> u128 {
    std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos())
}

/// A config directory with one instance, `Lab`, and two hourly jobs on it: `graph-hunt` on the
/// Graph API and `mde-hunt` on the MDE API.
pub struct LabSetup<'a> {
    /// The instance's `TenantId`.
    pub tenant: &'a str,
    /// The instance's `ClientId`.
    pub client_id: &'a str,
    /// The client secret, written to `<dir>/secret` for the instance's `ClientSecret`.
    pub secret: &'a str,
    /// The instance's login, Graph and MDE endpoint.
    pub base: &'a str,
    /// The instance's `CaFile`, if it has one.
    pub ca_file: Option<&'a str>,
    /// The query of `graph-hunt`.
    pub graph_query: &'a str,
    /// The query of `mde-hunt`.
    pub mde_query: &'a str,
}

impl LabSetup<'_> {
    /// Writes `<dir>/huntd.yaml` (SQLite in `<dir>/h.db`, state in `dir`), `<dir>/secret` and
    /// the jobs in `<dir>/jobs/hunts.yaml`.
    pub fn write(&self, dir: &Path) {
        let Self {
            tenant,
            client_id,
            base,
            graph_query,
            mde_query,
            ..
        } = self;
        let ca = self
            .ca_file
            .map_or(String::new(), |f| format!("    CaFile: {f}\n"));
        let config = format!(
            "jobs: [./jobs]\ndatabase: sqlite://{db}\ndaemon: {{state_dir: {state}}}\n\
             instances:\n  Lab:\n    TenantId: {tenant}\n    ClientId: {client_id}\n\
             \x20   ClientSecret: {{File: ./secret}}\n\
             \x20   Endpoints: {{login: '{base}', graph: '{base}', mde: '{base}'}}\n{ca}",
            db = dir.join("h.db").display(),
            state = dir.display(),
        );
        let jobs = format!(
            r#"jobs:
  - name: graph-hunt
    instance: Lab
    environment: M365DGraph
    every: 1h
    query: "{graph_query}"
  - name: mde-hunt
    instance: Lab
    environment: MDE
    every: 1h
    query: "{mde_query}"
"#
        );
        write_config_dir(dir, self.secret, &config, &jobs);
    }
}

/// Writes a config directory: `secret` as `<dir>/secret`, `config` as `<dir>/huntd.yaml` and
/// `jobs` as `<dir>/jobs/hunts.yaml`.
pub fn write_config_dir(dir: &Path, secret: &str, config: &str, jobs: &str) {
    std::fs::create_dir_all(dir.join("jobs")).expect("mkdir");
    std::fs::write(dir.join("secret"), secret).expect("write");
    std::fs::write(dir.join("huntd.yaml"), config).expect("write");
    std::fs::write(dir.join("jobs/hunts.yaml"), jobs).expect("write");
}

/// A job file of jobs on 2-second cron schedules, each `(name, instance, environment, query)`.
pub fn two_second_jobs(jobs: &[(&str, &str, &str, &str)]) -> String {
    jobs.iter().fold(
        String::from("jobs:\n"),
        |text, (name, instance, environment, query)| {
            text + &format!(
                "  - name: {name}\n    instance: {instance}\n    environment: {environment}\n\
                 \x20   schedule: '*/2 * * * * *'\n    query: \"{query}\"\n"
            )
        },
    )
}

/// The query of the jobs that hunt the emulator's logons: five of the window's.
pub const WINDOW_LOGONS: &str =
    "DeviceLogonEvents | where Timestamp between (datetime({start}) .. datetime({end})) | take 5";

/// Runs `huntd --config <dir>/huntd.yaml <args>` to completion.
pub async fn huntd(dir: &Path, args: &[&str]) -> Output {
    huntd_with(dir, args, &[]).await
}

/// Runs `huntd --config <dir>/huntd.yaml <args>` to completion with `env` added.
pub async fn huntd_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_huntd"));
    command
        .arg("--config")
        .arg(dir.join("huntd.yaml"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("HUNTD_CONFIG")
        .env_remove("MSTICPYCONFIG")
        .envs(env.iter().copied())
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

/// The log file's text up to its last newline: a line still being written (say, ending right
/// after "listening on ") is left for the next read.
fn whole_lines(log: &Path) -> String {
    let mut text = std::fs::read_to_string(log).unwrap_or_default();
    text.truncate(text.rfind('\n').map_or(0, |end| end + 1));
    text
}
