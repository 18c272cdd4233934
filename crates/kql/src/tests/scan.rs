//! The time window, the fused single-pass table scan, and big tables.

use serde_json::json;

use super::support::test_db;
use crate::fixture::{db, now};
use crate::{KqlType, Row, Table, Value, run};

// ---- window ----

#[test]
fn window_restricts_every_table_with_a_timestamp() {
    let start = "2024-02-10T00:00:00Z".parse().expect("fixture value");
    let end = "2024-02-10T09:00:00Z".parse().expect("fixture value");
    let r = run(&test_db(), "Proc | union Dev", now(), Some((start, end))).expect("fixture value");
    assert_eq!(
        r.rows.len(),
        1 + 3,
        "Dev has no Timestamp and is not restricted"
    );
}

// ---- the single-pass table scan ----

#[test]
fn a_table_scanned_with_its_filters_and_summarize_gives_what_operator_by_operator_gives() {
    // `(Proc)` makes the table a relation first and runs each operator on it in turn: the
    // general path, which the single pass over `Proc | where ... | summarize` must agree with.
    let window = (
        "2024-02-09T00:00:00Z".parse().expect("fixture value"),
        "2024-02-10T09:00:00Z".parse().expect("fixture value"),
    );
    for query in [
        "| where Size > 5 | summarize n = count(), d = dcount(DeviceName), t = sum(Size) by FileName",
        "| where Size != 10 and DeviceName == 'ws1'",
        "| where Extra.Parent == 'explorer.exe' | where Size >= 5 | summarize count() by DeviceName",
        "| where isnull(Size) or Size < 20 | summarize arg_max(Timestamp, *) by DeviceName",
        "| where Size == 20 or FileName =~ 'POWERSHELL.EXE' | summarize make_set(FileName)",
        "| summarize count(), dcount(Extra) by bin(Timestamp, 1d)",
        "| where Timestamp > datetime(2024-02-09T12:00:00Z) | project DeviceName, Size",
        "| where DeviceName != 'ws1' | sort by Size desc",
        "",
    ] {
        for window in [None, Some(window)] {
            let fused =
                run(&test_db(), &format!("Proc {query}"), now(), window).expect("the query runs");
            let general =
                run(&test_db(), &format!("(Proc) {query}"), now(), window).expect("the query runs");
            assert_eq!(fused.columns, general.columns, "{query}");
            assert_eq!(fused.rows_json(), general.rows_json(), "{query}");
        }
    }
}

/// Builds a DeviceProcessEvents-like table of `n` rows with realistic value pools.
fn big_table(n: usize) -> Table {
    use std::sync::Arc;
    let devices: Vec<Value> = (0..500)
        .map(|i| Value::String(Arc::from(format!("device-{i:04}.contoso.com"))))
        .collect();
    let files: Vec<Value> = [
        "powershell.exe",
        "cmd.exe",
        "svchost.exe",
        "chrome.exe",
        "explorer.exe",
        "rundll32.exe",
        "winword.exe",
        "teams.exe",
    ]
    .iter()
    .map(|f| Value::str(f))
    .collect();
    let cmds: Vec<Value> = (0..200)
        .map(|i| match i % 5 {
            0 => Value::str(&format!("powershell.exe -NoProfile -enc SQBFAFgA{i}")),
            1 => Value::str(&format!("cmd.exe /c echo {i} > out.txt")),
            2 => Value::str(&format!("C:\\Windows\\System32\\svchost.exe -k netsvcs -p -s Svc{i}")),
            3 => Value::str(&format!("\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer --id={i}")),
            _ => Value::str(&format!("rundll32.exe shell32.dll,Control_RunDLL {i}")),
        })
        .collect();
    let accounts: Vec<Value> = (0..300).map(|i| Value::str(&format!("user{i}"))).collect();
    let base = now() - chrono::TimeDelta::days(30);
    let mut t = Table::new(
        "DeviceProcessEvents",
        vec![
            ("Timestamp".to_string(), KqlType::DateTime),
            ("DeviceName".to_string(), KqlType::String),
            ("FileName".to_string(), KqlType::String),
            ("ProcessCommandLine".to_string(), KqlType::String),
            ("AccountName".to_string(), KqlType::String),
            ("InitiatingProcessFileName".to_string(), KqlType::String),
        ],
    );
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        usize::try_from(x % 1_000_000_007).expect("fixture value")
    };
    for i in 0..n {
        let ts = base + chrono::TimeDelta::seconds(i64::try_from(i).expect("fixture value") * 2);
        t.rows.push(Row::from(vec![
            Value::DateTime(ts),
            devices[next() % devices.len()].clone(),
            files[next() % files.len()].clone(),
            cmds[next() % cmds.len()].clone(),
            accounts[next() % accounts.len()].clone(),
            files[next() % files.len()].clone(),
        ]));
    }
    t
}

#[test]
fn big_table_query_counts_match_a_direct_scan() {
    let t = big_table(5_000);
    let expected = t
        .rows
        .iter()
        .filter(|r| matches!(&r[3], Value::String(c) if c.to_lowercase().contains("-enc")))
        .count();
    let d = db(vec![t]);
    let r = run(
        &d,
        "DeviceProcessEvents | where ProcessCommandLine contains '-enc' | summarize n = count()",
        now(),
        None,
    )
    .expect("fixture value");
    assert_eq!(r.rows_json()[0]["n"], json!(expected));
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_where_summarize_over_a_million_rows() {
    let n = 1_000_000;
    let build = std::time::Instant::now();
    let d = db(vec![big_table(n)]);
    println!("built {n} rows in {:?}", build.elapsed());
    let queries = [
        "DeviceProcessEvents | where Timestamp > ago(7d) and FileName =~ 'powershell.exe' and ProcessCommandLine has '-enc' | summarize count() by DeviceName",
        "DeviceProcessEvents | where ProcessCommandLine contains 'svchost' | summarize count() by DeviceName",
        "DeviceProcessEvents | where InitiatingProcessFileName in~ ('winword.exe', 'teams.exe') and FileName == 'cmd.exe' | summarize count() by DeviceName",
    ];
    for q in queries {
        let mut best = f64::MAX;
        let mut groups = 0;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let r = run(&d, q, now(), None).expect("fixture value");
            best = best.min(start.elapsed().as_secs_f64());
            groups = r.rows.len();
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = n as f64 / best;
        println!(
            "{q}\n  {groups} groups, best of 3: {:.1} ms, {:.1} million rows scanned/s",
            best * 1000.0,
            rate / 1e6
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!("peak RSS: {}", line.trim_start_matches("VmHWM:").trim());
    }
}
