//! `huntd run` as a real process: systemd notifications, metrics and health, and the benchmark
//! of 10,000 jobs on one node.

#[path = "common/process.rs"]
mod common;
#[path = "common/daemon.rs"]
mod daemon_support;
#[path = "common/memory.rs"]
mod memory;

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use daemon_support::{
    Fake, job_yaml, notify_socket, query_template, receive, receive_exactly, receive_until,
    runs_all, sqlite_config_dir, sqlite_url, start_daemon_with, store, succeeded, wait_until,
    write_config,
};

#[tokio::test(flavor = "multi_thread")]
async fn systemd_hears_ready_watchdog_and_stopping_and_metrics_and_healthz_answer() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    write_config(
        &fake,
        dir.path(),
        &sqlite_url(dir.path()),
        &format!("node: test-node\n  metrics_listen: 127.0.0.1:{port}"),
    );
    std::fs::write(dir.path().join("jobs/probe.yaml"), job_yaml("probe")).expect("write job");
    let (socket, notify) = notify_socket(dir.path(), Duration::from_secs(30));
    let mut daemon = start_daemon_with(
        dir.path(),
        &[],
        &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "1000000")],
    );
    let first = receive(&socket);
    assert_eq!(
        first,
        "READY=1\nSTATUS=1 job, 0 running",
        "{}",
        daemon.log()
    );
    receive_exactly(&socket, "WATCHDOG=1");

    let store = store(dir.path()).await;
    wait_until("a success", &daemon, || async {
        succeeded(&store, "probe").await >= 1
    })
    .await;
    // One 429 then 200: both answers are counted, and the Retry-After sleep is a throttle wait.
    fake.hunts.throttle.store(1, Ordering::SeqCst);
    let before = succeeded(&store, "probe").await;
    wait_until("a success after a 429", &daemon, || async {
        fake.hunts.throttle.load(Ordering::SeqCst) == 0
            && succeeded(&store, "probe").await > before + 1
    })
    .await;
    let metrics = healthz_then_metrics(port).await;
    assert_metrics_count_runs_calls_tokens_and_throttle_waits(&metrics);

    daemon.signal("TERM");
    receive_exactly(&socket, "STOPPING=1");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());
}

/// Checks `/healthz` answers 200 and returns the text of `/metrics`.
async fn healthz_then_metrics(port: u16) -> String {
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(health.status().as_u16(), 200);
    http.get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics answers")
        .text()
        .await
        .expect("metrics text")
}

/// The exposition after `probe` succeeded at least twice, once behind a 429 with `Retry-After: 1`.
fn assert_metrics_count_runs_calls_tokens_and_throttle_waits(metrics: &str) {
    for needle in [
        r#"huntd_runs_total{job="probe",status="succeeded"}"#,
        "huntd_run_duration_seconds_bucket",
        r#"huntd_coverage_lag_seconds{job="probe"}"#,
    ] {
        assert!(metrics.contains(needle), "{needle} in:\n{metrics}");
    }
    let count = |series: &str| sample(metrics, series).parse::<u64>().unwrap_or(0);
    let runs = count(r#"huntd_runs_total{job="probe",status="succeeded"}"#);
    assert!(runs >= 2, "{metrics}");
    assert_eq!(
        count(r#"huntd_api_calls_total{instance="Fake",http_status="429"}"#),
        1,
        "one call per 429 answer:\n{metrics}"
    );
    assert!(
        count(r#"huntd_api_calls_total{instance="Fake",http_status="200"}"#) >= runs,
        "one call per 200 answer, at least one per succeeded run:\n{metrics}"
    );
    assert_eq!(
        count(r#"huntd_token_refreshes_total{instance="Fake",outcome="ok"}"#),
        1,
        "one token fetched, then served from the cache:\n{metrics}"
    );
    assert_eq!(
        count(r#"huntd_throttle_wait_seconds_count{instance="Fake",reason="retry_after"}"#),
        1,
        "{metrics}"
    );
    let waited: f64 = sample(
        metrics,
        r#"huntd_throttle_wait_seconds_sum{instance="Fake",reason="retry_after"}"#,
    )
    .parse()
    .expect("a wait in seconds");
    assert!(
        (1.0..=2.0).contains(&waited),
        "slept at least Retry-After, at most the first backoff ceiling: {waited}"
    );
}

/// The value of one series in a Prometheus text exposition; empty when it is absent.
fn sample<'a>(text: &'a str, series: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or("", str::trim)
}

/// Resident and peak memory (kB) and CPU ticks (user + system) of a process.
fn process_figures(pid: u32) -> (u64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    (
        memory::status_kib(pid, "VmRSS:"),
        memory::status_kib(pid, "VmHWM:"),
        ticks,
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

/// Benchmark: 10,000 jobs on one node (SQLite) against the fake API, all firing at one slot
/// about 30 s after start with a 5-minute splay (33 runs/s). Prints start-up time to READY,
/// idle CPU and RSS before the slot, and slot lateness (claim time minus slot plus splay)
/// p50/p99 over the first minute of runs, counting runs due but not yet claimed.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
async fn bench_ten_thousand_jobs_on_one_node() {
    bench_streams(10_000, 1).await;
}

/// The same figures for 10,000 streams made of 20 jobs over 500 instances (`instances: all`),
/// each instance a tenant of its own, as an MSSP would run them.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
async fn bench_twenty_jobs_over_five_hundred_instances_on_one_node() {
    bench_streams(20, 500).await;
}

/// The config of `instances` tenants on the fake (`Fake` alone when there is one), each with
/// its own tenant id and so its own quota.
fn write_instances(fake: &Fake, dir: &std::path::Path, instances: usize) -> Vec<String> {
    if instances == 1 {
        return vec!["Fake".to_string()];
    }
    let base = fake.server.uri();
    let config = dir.join("huntd.yaml");
    let mut text = std::fs::read_to_string(&config).expect("read config");
    let names: Vec<String> = (0..instances).map(|i| format!("T{i:03}")).collect();
    for (i, name) in names.iter().enumerate() {
        writeln!(
            text,
            "  {name}:\n    TenantId: 00000000-0000-0000-0001-{i:012}\n\
             \x20   ClientId: 00000000-0000-0000-0000-000000000002\n\
             \x20   ClientSecret: {{EnvironmentVar: HUNTD_TEST_SECRET}}\n\
             \x20   Endpoints: {{login: '{base}', graph: '{base}'}}\n\
             \x20   Quota: {{per_minute: 100000}}"
        )
        .expect("writing to a String cannot fail");
    }
    std::fs::write(&config, text).expect("write config");
    names
}

/// `jobs` jobs, each on `instances` instances, with one daily slot about 30 s after start and
/// a 5-minute splay: start-up to READY, idle CPU and RSS before the slot, and slot lateness
/// (claim time minus slot plus the stream's offset) p50/p99 over the first minute of runs,
/// counting streams due but not yet claimed.
#[allow(clippy::cast_precision_loss)]
async fn bench_streams(jobs: usize, instances: usize) {
    let splay = Duration::from_secs(300);
    let observe = chrono::TimeDelta::seconds(60);
    let fake = Fake::start().await;
    let dir = sqlite_config_dir(
        &fake,
        "node: bench\n  splay: 5m\n  max_concurrent_runs: 64\n  shutdown_grace: 5s",
    );
    let instance_names = write_instances(&fake, dir.path(), instances);
    let selection = if instances == 1 {
        "instance: Fake".to_string()
    } else {
        "instances: [".to_string() + &instance_names.join(", ") + "]"
    };
    // One daily slot, 30 s from now, so the daemon is idle until then.
    let slot = Utc::now() + chrono::TimeDelta::seconds(30);
    let slot = slot - chrono::TimeDelta::nanoseconds(i64::from(slot.timestamp_subsec_nanos()));
    let cron = slot.format("%S %M %H * * *").to_string();
    let mut text = String::from("jobs:\n");
    let mut streams = Vec::with_capacity(jobs * instances);
    for j in 0..jobs {
        let name = format!("job-{j:05}");
        writeln!(
            text,
            "  - name: {name}\n    {selection}\n    environment: M365DGraph\n    \
             schedule: '{cron}'\n    query: \"{}\"",
            query_template(&name)
        )
        .expect("writing to a String cannot fail");
        streams.extend(instance_names.iter().map(|i| (name.clone(), i.clone())));
    }
    std::fs::write(dir.path().join("jobs/all.yaml"), text).expect("write jobs");
    let (socket, notify) = notify_socket(dir.path(), Duration::from_secs(120));
    let started = std::time::Instant::now();
    let mut daemon = start_daemon_with(dir.path(), &[], &[("NOTIFY_SOCKET", &notify)]);
    receive_until(&socket, "READY=1");
    let ready = started.elapsed();
    let pid = daemon.pid();
    let idle_window = Duration::from_secs(5);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, _, ticks_before) = process_figures(pid);
    tokio::time::sleep(idle_window).await;
    let (idle_rss, _, ticks_after) = process_figures(pid);
    let idle_cpu = (ticks_after - ticks_before) as f64 / 100.0 / idle_window.as_secs_f64() * 100.0;
    assert!(
        Utc::now() < slot,
        "the idle measurement ended before the slot"
    );

    let cutoff = slot + observe;
    let wait = (cutoff - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(2);
    tokio::time::sleep(wait).await;
    let (_, peak_rss, _) = process_figures(pid);
    let store = store(dir.path()).await;
    let runs = runs_all(&store).await;
    daemon.signal("TERM");
    assert_eq!(daemon.exit_code().await, Some(0), "{}", daemon.log());

    // A single-instance job's offset comes from its name, a stream's from job and instance.
    let due = |job: &str, instance: &str| {
        let key = if instances == 1 {
            job.to_string()
        } else {
            format!("{job}/{instance}")
        };
        slot + chrono::TimeDelta::from_std(huntd::daemon::window::splay_offset(&key, splay))
            .expect("splay fits")
    };
    let mut lateness: Vec<f64> = runs
        .iter()
        .filter(|r| r.attempt == 1 && due(&r.job, &r.instance) <= cutoff)
        .map(|r| (r.started_at - due(&r.job, &r.instance)).num_milliseconds() as f64 / 1000.0)
        .collect();
    let claimed: std::collections::HashSet<(&str, &str)> = runs
        .iter()
        .map(|r| (r.job.as_str(), r.instance.as_str()))
        .collect();
    let unclaimed = streams
        .iter()
        .filter(|(j, i)| due(j, i) <= cutoff && !claimed.contains(&(j.as_str(), i.as_str())))
        .count();
    lateness.sort_by(f64::total_cmp);
    let figures = Figures {
        ready,
        idle_cpu,
        idle_rss,
        peak_rss,
        runs: runs.len(),
        unclaimed,
    };
    print_figures((jobs, instances), &figures, observe, &lateness);
}

/// What one daemon benchmark measured besides the lateness of its runs.
struct Figures {
    ready: Duration,
    idle_cpu: f64,
    idle_rss: u64,
    peak_rss: u64,
    runs: usize,
    unclaimed: usize,
}

#[allow(clippy::cast_precision_loss)]
fn print_figures(
    (jobs, instances): (usize, usize),
    f: &Figures,
    observe: chrono::TimeDelta,
    lateness: &[f64],
) {
    let (ready, idle_cpu, idle_rss, peak_rss, unclaimed) =
        (f.ready, f.idle_cpu, f.idle_rss, f.peak_rss, f.unclaimed);
    println!(
        "bench: {} streams ({jobs} jobs x {instances} instances), one node, SQLite, fake API on loopback",
        jobs * instances
    );
    println!("  start-up to READY: {:.3} s", ready.as_secs_f64());
    println!(
        "  idle before the slot: CPU {idle_cpu:.1} % of one core, RSS {:.1} MB",
        idle_rss as f64 / 1024.0
    );
    println!(
        "  peak RSS (VmHWM) after {} runs: {:.1} MB",
        f.runs,
        peak_rss as f64 / 1024.0
    );
    println!(
        "  slot lateness over the first {} s ({} runs due, {unclaimed} not yet claimed): \
         p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        observe.num_seconds(),
        lateness.len() + unclaimed,
        percentile(lateness, 0.5),
        percentile(lateness, 0.99),
        lateness.last().copied().unwrap_or(f64::NAN)
    );
}
