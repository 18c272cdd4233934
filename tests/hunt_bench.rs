//! Benchmark: a 100,000-row, ~100 MB Graph answer streamed over loopback and parsed by the
//! client. Prints rows/s and the peak memory the parse added against the body size.
//! Run: `cargo test --release --test hunt_bench -- --ignored --nocapture`.

// Sizes and counts here are far below 2^52, and only printed.
#![allow(clippy::cast_precision_loss)]

#[path = "common/hunt.rs"]
mod common;
#[path = "common/memory.rs"]
mod memory;

use std::sync::Arc;
use std::time::Instant;

use common::{FakeTokens, fast_options, instance};
use huntd::hunt::Hunter;
use huntd::jobs::Environment;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const ROWS: usize = 100_000;
/// Rows per HTTP chunk written by the fake server.
const ROWS_PER_CHUNK: usize = 64;

const SCHEMA: &str = r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults","schema":[{"name":"Timestamp","type":"DateTime"},{"name":"DeviceId","type":"String"},{"name":"DeviceName","type":"String"},{"name":"ActionType","type":"String"},{"name":"FileName","type":"String"},{"name":"FolderPath","type":"String"},{"name":"SHA256","type":"String"},{"name":"ProcessCommandLine","type":"String"},{"name":"ReportId","type":"Int64"},{"name":"AdditionalFields","type":"Dynamic"}],"results":["#;

/// A ~1 KB row shaped like a DeviceProcessEvents row; `i` makes each row distinct.
fn row(i: usize) -> String {
    format!(
        r#"{{"Timestamp":"2024-02-01T08:{:02}:{:02}.{:07}Z","DeviceId":"{:040x}","DeviceName":"workstation-{i:06}.corp.contoso.example","ActionType":"ProcessCreated","FileName":"powershell.exe","FolderPath":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","SHA256":"{:064x}","ProcessCommandLine":"powershell.exe -NoProfile -ExecutionPolicy Bypass -EncodedCommand {}","ReportId":{},"AdditionalFields":{{"ParentProcess":{{"Name":"explorer.exe","Id":{i}}},"Tags":["a","b","c"],"Score":0.{:03}}}}}"#,
        (i / 60) % 60,
        i % 60,
        i * 7 % 10_000_000,
        i as u128 * 0x9E37_79B9_7F4A_7C15,
        i as u128 * 0x1234_5678_9ABC_DEF1_2345,
        "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA"
            .repeat(6),
        9_007_199_254_740_993_u64 + i as u64,
        i % 1000
    )
}

/// The body in pieces: the head with the first row, `,row` blocks, and the tail. Rows repeat
/// every [`ROWS_PER_CHUNK`] so the fake server spends its time sending, not formatting.
fn body_pieces() -> (String, String, usize, String) {
    let head = format!("{SCHEMA}{}", row(0));
    let mut block = String::new();
    for k in 1..=ROWS_PER_CHUNK {
        block.push(',');
        block.push_str(&row(k % ROWS_PER_CHUNK));
    }
    let rest = ROWS - 1;
    let tail: String = (0..rest % ROWS_PER_CHUNK)
        .map(|k| format!(",{}", row((k + 1) % ROWS_PER_CHUNK)))
        .chain(std::iter::once("]}".to_string()))
        .collect();
    (head, block, rest / ROWS_PER_CHUNK, tail)
}

/// Serves one chunked answer without ever holding the whole body.
async fn serve(listener: tokio::net::TcpListener) {
    let (head, block, blocks, tail) = body_pieces();
    let block = format!("{:x}\r\n{block}\r\n", block.len());
    let (mut socket, _) = listener.accept().await.expect("the client connects");
    let mut request = vec![0u8; 16 * 1024];
    let _ = socket
        .read(&mut request)
        .await
        .expect("the client reads the answer");
    socket
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .expect("the client reads the answer");
    write_chunk(&mut socket, &head).await;
    for _ in 0..blocks {
        socket
            .write_all(block.as_bytes())
            .await
            .expect("the client reads the answer");
    }
    write_chunk(&mut socket, &tail).await;
    socket
        .write_all(b"0\r\n\r\n")
        .await
        .expect("the client reads the answer");
    socket.flush().await.expect("the client reads the answer");
}

async fn write_chunk(socket: &mut tokio::net::TcpStream, data: &str) {
    socket
        .write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes())
        .await
        .expect("the client reads the answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn bench_parse_100k_row_graph_answer_over_loopback() {
    let (listener, base) = common::loopback().await;
    let server = tokio::spawn(serve(listener));
    let hunter = Hunter::new(Arc::new(FakeTokens::default()), fast_options());
    let lab = instance("bench", &base);

    // Reset the high-water mark so VmHWM afterwards is the peak of this parse alone.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = memory::status_kib("self", "VmRSS:") * 1024;
    let started = Instant::now();
    let outcome = hunter
        .run(
            &lab,
            Environment::Graph,
            "DeviceProcessEvents",
            None,
            &CancellationToken::new(),
        )
        .await
        .expect("the hunt succeeds");
    let elapsed = started.elapsed();
    let peak = memory::status_kib("self", "VmHWM:") * 1024;
    server.await.expect("the task does not panic");
    let baseline = in_memory_baseline();

    let result = &outcome.result;
    assert_eq!(result.rows.len(), ROWS);
    assert!(result.truncated);
    assert_eq!(result.rows.to_vec().expect("spooled rows")[7].get(), row(7));
    let body = result.body_bytes;
    let kept: usize = result
        .rows
        .iter()
        .map(|r| r.expect("spooled row").get().len())
        .sum();
    let added = peak.saturating_sub(rss_before);
    let (mb, rows_per_s, ratio) = (
        body as f64 / 1e6,
        ROWS as f64 / elapsed.as_secs_f64(),
        added as f64 / body as f64,
    );
    println!(
        "body: {mb:.1} MB, {ROWS} rows, {} columns",
        result.columns.len()
    );
    println!(
        "parse over loopback: {:.3} s, {rows_per_s:.0} rows/s, {:.0} MB/s",
        elapsed.as_secs_f64(),
        mb / elapsed.as_secs_f64()
    );
    println!(
        "rss before: {:.1} MB, peak (VmHWM{}): {:.1} MB, added by the parse: {:.1} MB = {ratio:.2} x body (rows themselves: {:.1} MB)",
        rss_before as f64 / 1e6,
        if reset {
            ", reset before the parse"
        } else {
            ", since process start"
        },
        peak as f64 / 1e6,
        added as f64 / 1e6,
        kept as f64 / 1e6
    );
    println!(
        "baseline, same body already in memory: serde_json::from_slice into raw rows {:.3} s = \
         {:.0} rows/s; the streamed parse over HTTP took {:.2} x as long",
        baseline.as_secs_f64(),
        ROWS as f64 / baseline.as_secs_f64(),
        elapsed.as_secs_f64() / baseline.as_secs_f64()
    );
}

/// The same answer without HTTP or streaming: the time serde_json takes to split it into
/// raw rows from one slice in memory.
fn in_memory_baseline() -> std::time::Duration {
    #[derive(serde::Deserialize)]
    struct Answer {
        results: Vec<Box<serde_json::value::RawValue>>,
    }
    let (head, block, blocks, tail) = body_pieces();
    let body = format!("{head}{}{tail}", block.repeat(blocks));
    let started = Instant::now();
    let answer: Answer = serde_json::from_slice(body.as_bytes()).expect("the body is valid JSON");
    let parsed = started.elapsed();
    assert_eq!(answer.results.len(), ROWS);
    parsed
}
