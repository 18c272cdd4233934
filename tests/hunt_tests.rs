//! `huntd test`: job test cases run offline through the KQL engine, by the real binary: the
//! example jobs' cases pass, failing cases say what missed and show the rows, a case that cannot
//! run says why, and JUnit XML is written for CI.

use std::path::Path;
use std::process::{Command, Output};

/// A config with the two instances the example jobs use, reading `jobs` and `queries`.
fn write_config(dir: &Path, jobs: &Path, queries: &Path) -> std::path::PathBuf {
    let path = dir.join("huntd.yaml");
    let instance = |cloud: &str| {
        format!(
            "{{TenantId: 00000000-0000-0000-0000-000000000001, ClientId: 00000000-0000-0000-0000-000000000002, \
             ClientSecret: {{EnvironmentVar: NOT_SET_IN_TESTS}}, Cloud: {cloud}, MdeRetirementNoticed: true}}"
        )
    };
    std::fs::write(
        &path,
        format!(
            "jobs: ['{}']\nquery_library: ['{}']\ninstances:\n  Contoso: {}\n  Fabrikam: {}\n",
            jobs.display(),
            queries.display(),
            instance("global"),
            instance("eu")
        ),
    )
    .expect("write config");
    path
}

fn huntd_test(config: &Path, args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_huntd"))
        .arg("test")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("huntd runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

#[test]
fn every_example_job_has_a_case_that_fires_and_one_that_must_not_and_all_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = write_config(dir.path(), &root.join("jobs"), &root.join("queries"));
    let (out, text) = huntd_test(&config, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for job in [
        "encoded-powershell",
        "known-bad-hash",
        "logon-new-country",
        "rare-parent-child",
        "rare-ports-contoso",
        "rare-ports-fabrikam",
    ] {
        let mine: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&format!(" {job}: ")))
            .collect();
        assert!(
            mine.iter().any(|l| l.starts_with("PASS")
                && l.contains(": fires")
                && !l.ends_with("(0 rows)")),
            "{job} has a case that fires: {text}"
        );
        assert!(
            mine.iter()
                .any(|l| l.starts_with("PASS") && l.contains(": quiet") && l.ends_with("(0 rows)")),
            "{job} has a case that must not fire: {text}"
        );
    }
    assert!(
        text.contains(" cases: ") && text.contains(" 0 failed"),
        "{text}"
    );
}

const JOB: &str = r#"name: probe
instance: Contoso
environment: M365DGraph
every: 1h
query: |
  DeviceProcessEvents
  | where Timestamp between (datetime({start}) .. datetime({end}))
  | where FileName =~ "evil.exe"
  | project Timestamp, DeviceName, FileName
tests:
  - name: wants two rows but gets one
    input:
      DeviceProcessEvents:
        - {Timestamp: "2024-05-01T09:10:00Z", DeviceName: ws-1, FileName: EVIL.exe}
        - {Timestamp: "2024-05-01T09:11:00Z", DeviceName: ws-2, FileName: good.exe}
    expect: {rows: 2}
  - name: wants a row nobody returned
    input:
      DeviceProcessEvents: {file: rows.jsonl}
    expect_rows: [{DeviceName: ws-9}]
  - name: passes from a file
    input:
      DeviceProcessEvents: {file: rows.jsonl}
    expect_rows: [{DeviceName: ws-3, Timestamp: "2024-05-01T09:10:00.000Z"}]
  - name: names a column the table lacks
    input:
      DeviceProcessEvents:
        - {Timestamp: "2024-05-01T09:10:00Z", DeviceNme: ws-1}
    expect: {none: true}
"#;

#[test]
fn failing_cases_say_what_missed_show_the_rows_and_are_written_as_junit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).expect("jobs dir");
    std::fs::write(jobs.join("probe.yaml"), JOB).expect("job");
    std::fs::write(
        jobs.join("rows.jsonl"),
        "{\"Timestamp\": \"2024-05-01T09:10:00Z\", \"DeviceName\": \"ws-3\", \"FileName\": \"evil.exe\"}\n",
    )
    .expect("rows");
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).expect("queries dir");
    let config = write_config(dir.path(), &jobs, &queries);
    let junit = dir.path().join("junit.xml");
    let (out, text) = huntd_test(
        &config,
        &["probe", "--junit", junit.to_str().expect("UTF-8")],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");

    let block = |name: &str| -> String {
        let start = text
            .find(name)
            .unwrap_or_else(|| panic!("{name} in {text}"));
        text[start..].lines().take(8).collect::<Vec<_>>().join("\n")
    };
    let two = block("probe: wants two rows");
    assert!(
        text.contains("FAIL  probe: wants two rows but gets one"),
        "{text}"
    );
    assert!(
        two.contains("probe.yaml:11") && two.contains("expected 2 rows, got 1"),
        "{two}"
    );
    assert!(
        two.contains("got:") && two.contains("ws-1") && !two.contains("ws-2"),
        "{two}"
    );
    let missing = block("probe: wants a row nobody");
    assert!(
        missing.contains(r#"no row matches {"DeviceName":"ws-9"}"#),
        "{missing}"
    );
    assert!(
        text.contains("PASS  probe: passes from a file (1 row)"),
        "{text}"
    );
    let error = block("probe: names a column");
    assert!(
        text.contains("ERROR probe: names a column the table lacks"),
        "{text}"
    );
    assert!(
        error.contains("`DeviceNme`") && error.contains("did you mean `DeviceName`?"),
        "{error}"
    );
    assert!(text.contains("4 cases: 1 passed, 3 failed"), "{text}");

    let xml = std::fs::read_to_string(&junit).expect("JUnit written");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"huntd\" tests=\"4\" failures=\"3\">"), "{xml}");
    assert_eq!(xml.matches("<failure message=").count(), 2, "{xml}");
    assert_eq!(xml.matches("<error message=").count(), 1, "{xml}");
    assert!(
        xml.contains(r#"message="no row matches {&quot;DeviceName&quot;:&quot;ws-9&quot;}""#),
        "{xml}"
    );
    // A real XML parser reads it, where one is installed (CPython's, on the CI machines).
    if let Ok(parsed) = Command::new("python3")
        .args(["-c", "import sys, xml.etree.ElementTree as E; print(len(E.parse(sys.argv[1]).getroot().findall('.//testcase')))"])
        .arg(&junit)
        .output()
    {
        assert_eq!(String::from_utf8_lossy(&parsed.stdout).trim(), "4", "{}", String::from_utf8_lossy(&parsed.stderr));
    }
}

#[test]
fn naming_a_job_that_does_not_exist_is_an_error_listing_the_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = write_config(dir.path(), &root.join("jobs"), &root.join("queries"));
    let (out, _) = huntd_test(&config, &["no-such-job"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no job `no-such-job`") && err.contains("encoded-powershell"),
        "{err}"
    );
}

const IOC_JOB: &str = r#"name: ioc-list
instance: Contoso
environment: M365DGraph
every: 1h
query: |
  let Iocs = externaldata (Sha256: string, Family: string)
      [h@"https://iocs.example.test/sha256.csv?sv=2024&sig=SECRET"] with (format = "csv");
  DeviceFileEvents
  | where Timestamp between (datetime({start}) .. datetime({end}))
  | join kind=inner (Iocs) on $left.SHA256 == $right.Sha256
  | project Timestamp, DeviceName, FileName, Family
tests:
  - name: fires on a listed hash
    input:
      DeviceFileEvents:
        - {Timestamp: "2024-05-01T09:10:00Z", DeviceName: ws-1, FileName: drop.exe, SHA256: aa11}
        - {Timestamp: "2024-05-01T09:11:00Z", DeviceName: ws-2, FileName: ok.exe, SHA256: ff00}
    external:
      "https://iocs.example.test/sha256.csv?sv=2024&sig=SECRET": "aa11,Emotet\nbb22,Qakbot\n"
    expect: {rows: 1}
    expect_rows: [{DeviceName: ws-1, Family: Emotet}]
  - name: quiet on hashes the list from a file lacks
    input:
      DeviceFileEvents:
        - {Timestamp: "2024-05-01T09:10:00Z", DeviceName: ws-1, FileName: drop.exe, SHA256: aa11}
    external:
      "https://iocs.example.test/sha256.csv?sv=2024&sig=SECRET": {file: other-iocs.csv}
    expect: {none: true}
  - name: forgets the list
    input:
      DeviceFileEvents:
        - {Timestamp: "2024-05-01T09:10:00Z", DeviceName: ws-1, FileName: drop.exe, SHA256: aa11}
    expect: {none: true}
"#;

#[test]
fn externaldata_reads_the_bodies_a_case_gives_and_a_missing_one_is_named_without_its_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).expect("jobs dir");
    std::fs::write(jobs.join("ioc-list.yaml"), IOC_JOB).expect("job");
    std::fs::write(jobs.join("other-iocs.csv"), "cc33,Lumma\n").expect("body");
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).expect("queries dir");
    let config = write_config(dir.path(), &jobs, &queries);
    let (out, text) = huntd_test(&config, &["ioc-list"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("PASS  ioc-list: fires on a listed hash (1 row)"),
        "{text}"
    );
    assert!(
        text.contains("PASS  ioc-list: quiet on hashes the list from a file lacks (0 rows)"),
        "{text}"
    );
    assert!(text.contains("ERROR ioc-list: forgets the list"), "{text}");
    assert!(
        text.contains(
            "https://iocs.example.test/sha256.csv?[redacted], which the case does not give"
        ),
        "{text}"
    );
    assert!(!text.contains("SECRET"), "{text}");
}
