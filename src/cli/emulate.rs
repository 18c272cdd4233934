//! `huntd emulate`: an offline Defender API served until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::emulator::{self, DataSource, EmulatorConfig, EmulatorOptions, ExternalDataOptions};

/// Flags of `huntd emulate`.
#[derive(Debug, clap::Args)]
pub struct EmulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    /// Load tables from `DIR/<Table>.jsonl` instead of the generated sample.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Ordinary rows per sample table.
    #[arg(long, default_value_t = 3000)]
    pub rows_per_table: usize,
    /// Seed of the sample data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl: u64,
    /// Share of API calls (0 to 1) answered with a random 5xx.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Delay before each API answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency: u64,
    /// The first N calls of each distinct query fail with 503.
    #[arg(long, default_value_t = 0)]
    pub fail_first: u32,
    /// After N API calls per tenant, answer 429 for exhausted CPU.
    #[arg(long, value_name = "N")]
    pub cpu_quota_after: Option<u32>,
    /// Answer every MDE hunting call as the retired API: 410 Gone.
    #[arg(long)]
    pub mde_retired: bool,
    /// Append one JSON line per request to this file.
    #[arg(long, value_name = "FILE")]
    pub request_log: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate for localhost, 127.0.0.1 and ::1.
    #[arg(long)]
    pub tls: bool,
    /// With --tls, write the certificate (PEM) here for clients to trust (an instance's CaFile).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "huntd-emulator.pem",
        requires = "tls"
    )]
    pub tls_cert: PathBuf,
    /// Receive syslog (RFC 5424) on this address, over UDP and TCP on the same port.
    #[arg(long, value_name = "ADDR")]
    pub syslog_listen: Option<std::net::SocketAddr>,
    /// With the sample data, append new events (some of them what the example jobs hunt) this
    /// often, e.g. 5s (0s: off).
    #[arg(long, value_name = "SPAN", value_parser = super::parse_span)]
    pub live_every: Option<std::time::Duration>,
    /// Answer queries using `externaldata` 400 instead of fetching their URLs. By default the
    /// emulator fetches them (http and https, 10 s and 64 MiB each), as Defender does.
    #[arg(long)]
    pub no_external_data: bool,
}

/// Serves until Ctrl-C or SIGTERM; `tenants` is the global `--config`, the tenants file.
pub fn emulate(tenants: Option<&Path>, args: &EmulateArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.fail_rate) {
        anyhow::bail!("--fail-rate must be between 0 and 1");
    }
    let options = EmulatorOptions {
        data: match &args.data {
            Some(dir) => DataSource::Dir(dir.clone()),
            None => DataSource::Sample {
                seed: args.seed,
                rows_per_table: args.rows_per_table,
            },
        },
        config: match tenants {
            Some(path) => EmulatorConfig::load(path)?,
            None => EmulatorConfig::demo(),
        },
        token_ttl: std::time::Duration::from_secs(args.token_ttl),
        fail_rate: args.fail_rate,
        latency: std::time::Duration::from_millis(args.latency),
        fail_first: args.fail_first,
        cpu_quota_after: args.cpu_quota_after,
        request_log: args.request_log.clone(),
        tls_certificate: args.tls.then(|| args.tls_cert.clone()),
        mde_retired: args.mde_retired,
        live_every: args.live_every.filter(|every| !every.is_zero()),
        syslog_listen: args.syslog_listen,
        external_data: ExternalDataOptions {
            enabled: !args.no_external_data,
            ..ExternalDataOptions::default()
        },
        ..EmulatorOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // Registered before the (slow) data load, so an early SIGTERM still exits cleanly.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let emulator = emulator::serve(options, listener).await?;
        let stop = emulator.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stop.cancel();
        });
        eprintln!("huntd emulate: listening on {}", emulator.base_url);
        eprintln!(
            "huntd emulate: sinks at {0}{1} (webhook), {0}/dataCollectionRules/<rule>/streams/<stream> (Logs Ingestion), {0}{2} (Splunk HEC)",
            emulator.base_url,
            emulator::server::WEBHOOK_PATH,
            emulator::server::HEC_PATH
        );
        if let Some(addr) = emulator.syslog {
            eprintln!("huntd emulate: syslog on udp://{addr} and tcp://{addr}");
        }
        if let Some(path) = &emulator.certificate {
            eprintln!(
                "huntd emulate: certificate in {} (set it as the instances' CaFile)",
                std::path::absolute(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
            );
        }
        emulator.task.await??;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
