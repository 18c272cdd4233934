//! The emulator's sample dataset, generated from a seed (directories of JSON Lines are `jsonl`'s).
//!
//! The sample spreads ordinary activity over the last 30 days and plants, at regular intervals
//! through the last day, the activity the example jobs hunt for: encoded PowerShell, Word
//! starting a shell, a logon from a country the account never used, files with a known-bad
//! SHA256 and connections to rare ports. The intervals are shorter than every example job's
//! window, so each job finds something whenever it runs. Every table of `defender_schema` is
//! there with all its columns: those without a generator below get generic rows (`fill`).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use kql::{Database, Table, Value};

use super::fill::Layout;
use super::generator::{
    COMMON_PORTS, ENCODED_COMMAND, Gen, Named, PROCESS_PAIRS, URLS, file_row, guid, hex_id,
    identity_logon_row, named, network_row, process_row, s,
};

pub use super::schema::{sample_schema, sample_table_names};

/// SHA256 the sample plants as a malicious file; the `known-bad-hash` example job lists it.
pub const KNOWN_BAD_SHA256: &str =
    "0b1f4e1f5b4b1e9c6a0f6b0e6f1c7d3b2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c";

/// Remote port of the planted command-and-control traffic.
pub const RARE_PORT: i64 = 4444;

/// Account that signs in from a new country in the last five hours.
pub const TRAVELLER_UPN: &str = "megan.bowen@contoso.com";

/// The country of those planted sign-ins.
pub const NEW_COUNTRY: &str = "RU";

/// The tables whose rows a hand-written generator makes, planted activity included; every other
/// table of the schema gets generic rows from its columns' names and types.
const GENERATED: [&str; 10] = [
    "DeviceProcessEvents",
    "DeviceNetworkEvents",
    "DeviceFileEvents",
    "DeviceLogonEvents",
    "DeviceEvents",
    "DeviceInfo",
    "AlertInfo",
    "AlertEvidence",
    "IdentityLogonEvents",
    "EmailEvents",
];

/// How the sample dataset is generated.
#[derive(Debug, Clone, Copy)]
pub struct SampleOptions {
    /// Seed of the generator: the same seed and `now` give the same rows.
    pub seed: u64,
    /// Ordinary rows per table (planted rows come on top); tables without a generator of
    /// their own get at most [`GENERIC_ROWS`].
    pub rows_per_table: usize,
    /// The end of the 30 days the timestamps cover.
    pub now: DateTime<Utc>,
}

/// The most rows a table without a generator of its own gets: enough for hunts over it to find
/// some in a day's window, few enough that the 60-odd tables start in a blink.
pub const GENERIC_ROWS: usize = 500;

/// Times at `every` through the last day (offset so they never fall exactly on `now`).
fn planted_times(now: DateTime<Utc>, every_minutes: i64) -> impl Iterator<Item = DateTime<Utc>> {
    (0..(24 * 60 / every_minutes))
        .map(move |k| now - TimeDelta::minutes(k * every_minutes) - TimeDelta::seconds(90))
}

/// Gives equal strings one shared copy. Tables repeat a few device names, action types and
/// accounts over millions of rows: one allocation per cell made a million-row table take a
/// gigabyte, and scanning it chased a cache miss per string compared.
#[derive(Default)]
pub(super) struct Interner(HashSet<Arc<String>>);

impl Interner {
    pub(super) fn share(&mut self, row: &mut [Value]) {
        for cell in row {
            if let Value::String(text) = cell {
                if let Some(shared) = self.0.get(&**text) {
                    *text = Arc::clone(shared);
                } else {
                    self.0.insert(Arc::clone(text));
                }
            }
        }
    }
}

struct Builder {
    layout: Layout,
    table: Table,
    strings: Interner,
}

impl Builder {
    fn new(name: &str) -> Builder {
        let layout = Layout::of(name).expect("every sample table is in the schema");
        Builder {
            table: Table::new(name, layout.columns.clone()),
            layout,
            strings: Interner::default(),
        }
    }

    fn push(&mut self, g: &mut Gen, named: Named) {
        let row = self.layout.row(g, named);
        self.push_row(row);
    }

    fn push_row(&mut self, mut row: Vec<Value>) {
        self.strings.share(&mut row);
        self.table
            .push(row)
            .expect("the layout builds rows to its table's columns");
    }
}

/// A table without a generator of its own: `rows` generic rows.
fn generic_table(g: &mut Gen, name: &str, rows: usize) -> Table {
    let mut out = Builder::new(name);
    for _ in 0..rows {
        let row = out.layout.generic(g);
        out.push_row(row);
    }
    out.table
}

/// Table `name` with `rows` ordinary rows, each made by `row`; the planted ones come after.
fn ordinary_rows(
    g: &mut Gen,
    name: &str,
    rows: usize,
    mut row: impl FnMut(&mut Gen) -> Named,
) -> Builder {
    let mut out = Builder::new(name);
    for _ in 0..rows {
        let named = row(g);
        out.push(g, named);
    }
    out
}

fn device_process_events(g: &mut Gen, rows: usize) -> Table {
    let mut out = ordinary_rows(g, "DeviceProcessEvents", rows, |g| {
        let (t, d, u) = (g.time(), g.device(), g.user());
        let pair = PROCESS_PAIRS[g.rng.random_range(0..PROCESS_PAIRS.len())];
        let sha = hex_id(&mut g.rng, 32);
        process_row(g, t, d, u, pair, &sha)
    });
    for t in planted_times(g.now, 20) {
        let row = process_row(
            g,
            t,
            3,
            0,
            ("cmd.exe", "powershell.exe", ENCODED_COMMAND),
            KNOWN_BAD_SHA256,
        );
        out.push(g, row);
        let shell = process_row(
            g,
            t - TimeDelta::seconds(5),
            3,
            0,
            (
                "winword.exe",
                "cmd.exe",
                "cmd.exe /c whoami /all > %TEMP%\\o.txt",
            ),
            &"ab".repeat(32),
        );
        out.push(g, shell);
    }
    out.table
}

fn device_network_events(g: &mut Gen, rows: usize) -> Table {
    let mut out = ordinary_rows(g, "DeviceNetworkEvents", rows, |g| {
        let (t, d) = (g.time(), g.device());
        let (port, proto) = COMMON_PORTS[g.rng.random_range(0..COMMON_PORTS.len())];
        let url = g.pick(&URLS);
        let process = g.pick(&["chrome.exe", "msedge.exe", "teams.exe", "svchost.exe"]);
        network_row(g, t, d, (port, proto), url, process)
    });
    for t in planted_times(g.now, 15) {
        let row = network_row(g, t, 3, (RARE_PORT, "TCP"), "", "powershell.exe");
        out.push(g, row);
    }
    out.table
}

fn device_file_events(g: &mut Gen, rows: usize) -> Table {
    let mut out = ordinary_rows(g, "DeviceFileEvents", rows, |g| {
        let (t, d) = (g.time(), g.device());
        let name = g.pick(&[
            "report.docx",
            "setup.msi",
            "budget.xlsx",
            "tool.zip",
            "notes.txt",
        ]);
        let action = g.pick(&["FileCreated", "FileModified", "FileRenamed", "FileDeleted"]);
        let sha = hex_id(&mut g.rng, 32);
        file_row(g, t, d, name, &sha, action)
    });
    for t in planted_times(g.now, 30) {
        let row = file_row(
            g,
            t,
            7,
            "invoice_viewer.exe",
            KNOWN_BAD_SHA256,
            "FileCreated",
        );
        out.push(g, row);
    }
    out.table
}

fn device_logon_events(g: &mut Gen, rows: usize) -> Table {
    ordinary_rows(g, "DeviceLogonEvents", rows, |g| {
        let (t, d, u) = (g.time(), g.device(), g.user());
        let ok = g.rng.random_bool(0.9);
        let logon_type = g.pick(&["Interactive", "Network", "RemoteInteractive", "Unlock"]);
        let other = g.device();
        let remote = g.devices[other].ip.clone();
        let dev = &g.devices[d];
        let user = &g.users[u];
        let fields = vec![
            ("Timestamp", Value::DateTime(t)),
            ("DeviceId", s(&dev.id)),
            ("DeviceName", s(&dev.name)),
            (
                "ActionType",
                s(if ok { "LogonSuccess" } else { "LogonFailed" }),
            ),
            ("LogonType", s(logon_type)),
            ("AccountDomain", s("contoso")),
            ("AccountName", s(user.name)),
            ("AccountSid", s(&user.sid)),
            ("Protocol", s("Kerberos")),
            (
                "FailureReason",
                s(if ok { "" } else { "InvalidUserNameOrPassword" }),
            ),
            ("IsLocalAdmin", Value::Bool(u % 5 == 0)),
            ("LogonId", Value::Long(g.rng.random_range(100_000..999_999))),
            ("RemoteDeviceName", s("")),
            ("RemoteIP", s(&remote)),
            ("RemoteIPType", s("Private")),
            (
                "RemotePort",
                Value::Long(g.rng.random_range(49_152..65_535)),
            ),
            ("InitiatingProcessFileName", s("lsass.exe")),
            ("InitiatingProcessAccountName", s("system")),
            ("InitiatingProcessAccountDomain", s("nt authority")),
            ("ReportId", g.report()),
        ];
        named(t, d, u, fields)
    })
    .table
}

fn device_events(g: &mut Gen, rows: usize) -> Table {
    ordinary_rows(g, "DeviceEvents", rows, |g| {
        let (t, d, u) = (g.time(), g.device(), g.user());
        let action = g.pick(&[
            "AntivirusScanCompleted",
            "UsbDriveMounted",
            "ScheduledTaskCreated",
            "DnsQueryResponse",
            "PowerShellCommand",
        ]);
        let fields = match action {
            "UsbDriveMounted" => json!({"DriveLetter": "E:", "ProductName": "Cruzer Blade"}),
            "ScheduledTaskCreated" => {
                json!({"TaskName": "\\Microsoft\\Office\\Office Feature Updates"})
            }
            "PowerShellCommand" => json!({"Command": "Get-Process"}),
            _ => json!({}),
        };
        let dev = &g.devices[d];
        let user = &g.users[u];
        let fields = vec![
            ("Timestamp", Value::DateTime(t)),
            ("DeviceId", s(&dev.id)),
            ("DeviceName", s(&dev.name)),
            ("ActionType", s(action)),
            ("FileName", s("")),
            ("FolderPath", s("")),
            ("SHA1", s("")),
            ("SHA256", s("")),
            ("MD5", s("")),
            ("FileSize", Value::Null),
            ("AccountDomain", s("contoso")),
            ("AccountName", s(user.name)),
            ("AccountSid", s(&user.sid)),
            ("RemoteUrl", s("")),
            ("RemoteDeviceName", s("")),
            ("ProcessCommandLine", s("")),
            ("RegistryKey", s("")),
            ("RegistryValueName", s("")),
            ("RegistryValueData", s("")),
            ("RemoteIP", s("")),
            ("RemotePort", Value::Null),
            ("LocalIP", s(&dev.ip)),
            ("FileOriginUrl", s("")),
            ("FileOriginIP", s("")),
            ("InitiatingProcessFileName", s("svchost.exe")),
            (
                "InitiatingProcessFolderPath",
                s("C:\\Windows\\System32\\svchost.exe"),
            ),
            (
                "InitiatingProcessCommandLine",
                s("svchost.exe -k netsvcs -p"),
            ),
            ("InitiatingProcessAccountDomain", s("contoso")),
            ("InitiatingProcessAccountName", s(user.name)),
            ("InitiatingProcessAccountUpn", s(&user.upn)),
            ("InitiatingProcessParentFileName", s("services.exe")),
            ("AdditionalFields", Value::dynamic(fields)),
            ("ReportId", g.report()),
        ];
        named(t, d, u, fields)
    })
    .table
}

fn device_info(g: &mut Gen, rows: usize) -> Table {
    ordinary_rows(g, "DeviceInfo", rows, |g| {
        let (t, d, u) = (g.time(), g.device(), g.user());
        let public_ip = g.public_ip();
        let dev = &g.devices[d];
        let user = &g.users[u];
        let users = json!([{"UserName": user.name, "DomainName": "contoso", "Sid": user.sid}]);
        let fields = vec![
            ("Timestamp", Value::DateTime(t)),
            ("DeviceId", s(&dev.id)),
            ("DeviceName", s(&dev.name)),
            ("ClientVersion", s("10.8750.26100.1000")),
            ("PublicIP", s(&public_ip)),
            ("OSArchitecture", s("64-bit")),
            (
                "OSPlatform",
                s(if d % 4 == 0 { "Windows10" } else { "Windows11" }),
            ),
            (
                "OSBuild",
                Value::Long(if d % 4 == 0 { 19045 } else { 26100 }),
            ),
            ("OSVersion", s("10.0")),
            ("IsAzureADJoined", Value::Bool(true)),
            ("JoinType", s("Hybrid Azure AD Join")),
            ("LoggedOnUsers", Value::dynamic(users)),
            ("MachineGroup", s("Workstations")),
            ("DeviceCategory", s("Endpoint")),
            ("DeviceType", s("Workstation")),
            ("OnboardingStatus", s("Onboarded")),
            ("OSDistribution", s("Windows")),
            ("SensorHealthState", s("Active")),
            ("IsExcluded", Value::Bool(false)),
            ("ExposureLevel", s("Low")),
            ("AssetValue", s("Normal")),
            ("ReportId", g.report()),
        ];
        named(t, d, u, fields)
    })
    .table
}

const ALERTS: [(&str, &str, &str, &str); 4] = [
    (
        "Suspicious PowerShell command line",
        "Execution",
        "Medium",
        "T1059.001",
    ),
    ("Known malware detected", "Malware", "High", "T1204.002"),
    (
        "Suspicious sign-in from a new country",
        "InitialAccess",
        "Medium",
        "T1078",
    ),
    (
        "Anomalous scheduled task",
        "Persistence",
        "Low",
        "T1053.005",
    ),
];

fn alerts(g: &mut Gen, rows: usize) -> (Table, Table) {
    let mut info = Builder::new("AlertInfo");
    let mut evidence = Builder::new("AlertEvidence");
    for _ in 0..rows {
        let t = g.time();
        let (title, category, severity, technique) = ALERTS[g.rng.random_range(0..ALERTS.len())];
        let id = format!("da{}", hex_id(&mut g.rng, 16));
        let techniques = format!("[\"{technique}\"]");
        let (d, u) = (g.device(), g.user());
        let info_fields = vec![
            ("Timestamp", Value::DateTime(t)),
            ("AlertId", s(&id)),
            ("Title", s(title)),
            ("Category", s(category)),
            ("Severity", s(severity)),
            ("ServiceSource", s("Microsoft Defender for Endpoint")),
            ("DetectionSource", s("EDR")),
            ("AttackTechniques", s(&techniques)),
        ];
        info.push(g, named(t, d, u, info_fields));
        let dev = &g.devices[d];
        let user = &g.users[u];
        // A machine's evidence: the file, network, mail, cloud and registry columns stay empty.
        let blank = [
            "EvidenceDirection",
            "FileName",
            "FolderPath",
            "SHA1",
            "SHA256",
            "ThreatFamily",
            "RemoteIP",
            "RemoteUrl",
            "NetworkMessageId",
            "EmailSubject",
            "Application",
            "OAuthApplicationId",
            "ProcessCommandLine",
            "RegistryKey",
            "RegistryValueName",
            "RegistryValueData",
            "CloudResource",
            "CloudPlatform",
            "ResourceType",
            "ResourceID",
            "SubscriptionId",
        ];
        let mut fields: Vec<(&'static str, Value)> = vec![
            ("Timestamp", Value::DateTime(t)),
            ("AlertId", s(&id)),
            ("Title", s(title)),
            ("Categories", s(&format!("[\"{category}\"]"))),
            ("AttackTechniques", s(&techniques)),
            ("ServiceSource", s("Microsoft Defender for Endpoint")),
            ("DetectionSource", s("EDR")),
            ("EntityType", s("Machine")),
            ("EvidenceRole", s("Impacted")),
            ("FileSize", Value::Null),
            ("AccountName", s(user.name)),
            ("AccountDomain", s("contoso")),
            ("AccountSid", s(&user.sid)),
            ("AccountObjectId", s(&user.object_id)),
            ("AccountUpn", s(&user.upn)),
            ("DeviceId", s(&dev.id)),
            ("DeviceName", s(&dev.name)),
            ("LocalIP", s(&dev.ip)),
            ("ApplicationId", Value::Null),
            (
                "AdditionalFields",
                Value::dynamic(json!({"MachineId": dev.id})),
            ),
            ("Severity", s(severity)),
        ];
        fields.extend(blank.into_iter().map(|c| (c, s(""))));
        evidence.push(g, named(t, d, u, fields));
    }
    (info.table, evidence.table)
}

fn identity_logon_events(g: &mut Gen, rows: usize) -> Table {
    let mut out = ordinary_rows(g, "IdentityLogonEvents", rows, |g| {
        let (t, u) = (g.time(), g.user());
        let ok = g.rng.random_bool(0.92);
        let country = g.users[u].country;
        identity_logon_row(g, t, u, country, ok)
    });
    let traveller = g
        .users
        .iter()
        .position(|u| u.upn == TRAVELLER_UPN)
        .expect("the traveller is one of the sample users");
    // Only in the last five hours: an older sign-in from the new country would fall in the
    // baseline `logon-new-country` reads before its six-hour window and make the country known.
    for t in planted_times(g.now, 60).take(5) {
        let row = identity_logon_row(g, t, traveller, NEW_COUNTRY, true);
        out.push(g, row);
    }
    out.table
}

fn email_events(g: &mut Gen, rows: usize) -> Table {
    ordinary_rows(g, "EmailEvents", rows, |g| {
        let (t, u) = (g.time(), g.user());
        let phish = g.rng.random_bool(0.03);
        let sender = if phish {
            "billing@contoso-payments.example"
        } else {
            g.pick(&["news@fabrikam.com", "noreply@github.com", "hr@contoso.com"])
        };
        let domain = sender.split('@').nth(1).unwrap_or_default();
        let subject = if phish {
            "Invoice overdue: action required"
        } else {
            g.pick(&[
                "Weekly update",
                "Your build passed",
                "Team lunch",
                "Benefits enrolment",
            ])
        };
        let ip = g.public_ip();
        let id = guid(&mut g.rng);
        let user = &g.users[u];
        let fields = vec![
            ("Timestamp", Value::DateTime(t)),
            ("NetworkMessageId", s(&id)),
            ("InternetMessageId", s(&format!("<{id}@mail.example>"))),
            ("SenderMailFromAddress", s(sender)),
            ("SenderFromAddress", s(sender)),
            (
                "SenderDisplayName",
                s(sender.split('@').next().unwrap_or_default()),
            ),
            ("SenderMailFromDomain", s(domain)),
            ("SenderFromDomain", s(domain)),
            ("SenderIPv4", s(&ip)),
            ("SenderIPv6", s("")),
            ("RecipientEmailAddress", s(&user.upn)),
            ("RecipientObjectId", s(&user.object_id)),
            ("Subject", s(subject)),
            ("EmailDirection", s("Inbound")),
            (
                "DeliveryAction",
                s(if phish { "Junked" } else { "Delivered" }),
            ),
            (
                "DeliveryLocation",
                s(if phish { "Junk folder" } else { "Inbox/folder" }),
            ),
            ("ThreatTypes", s(if phish { "Phish" } else { "" })),
            ("ThreatNames", s("")),
            (
                "DetectionMethods",
                s(if phish { "[\"URL detonation\"]" } else { "" }),
            ),
            ("ConfidenceLevel", s("")),
            ("AttachmentCount", Value::Long(i64::from(phish))),
            ("UrlCount", Value::Long(g.rng.random_range(0..4))),
            ("EmailLanguage", s("en")),
            ("ReportId", g.report()),
        ];
        named(t, 0, u, fields)
    })
    .table
}

/// Generates the sample dataset: every table of the schema.
pub fn sample(options: &SampleOptions) -> Database {
    let names: Vec<&str> = sample_table_names().collect();
    sample_tables(options, &names)
}

/// Generates only the named sample tables (`AlertInfo` and `AlertEvidence` come together).
///
/// Each table draws from its own generator seeded by the seed and the table, so a table's rows
/// do not depend on which other tables are generated.
pub fn sample_tables(options: &SampleOptions, names: &[&str]) -> Database {
    let mut g = Gen::new(options.seed, options.now);
    let rows = options.rows_per_table;
    let mut db = Database::new();
    // The generated tables first, in their fixed order, then the rest in name order: each
    // table's index gives its seed and its billion report ids.
    let generic = sample_table_names().filter(|name| !GENERATED.contains(name));
    for (index, name) in (0_u64..).zip(GENERATED.into_iter().chain(generic)) {
        let wanted =
            names.contains(&name) || (name == "AlertInfo" && names.contains(&"AlertEvidence"));
        if !wanted || name == "AlertEvidence" {
            continue;
        }
        g.rng =
            StdRng::seed_from_u64(options.seed ^ (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        g.report_id = i64::try_from(index).unwrap_or_default() * 1_000_000_000;
        match name {
            "DeviceProcessEvents" => db.insert(device_process_events(&mut g, rows)),
            "DeviceNetworkEvents" => db.insert(device_network_events(&mut g, rows)),
            "DeviceFileEvents" => db.insert(device_file_events(&mut g, rows)),
            "DeviceLogonEvents" => db.insert(device_logon_events(&mut g, rows)),
            "DeviceEvents" => db.insert(device_events(&mut g, rows)),
            "DeviceInfo" => db.insert(device_info(&mut g, rows)),
            "AlertInfo" => {
                let (info, evidence) = alerts(&mut g, rows);
                db.insert(info);
                db.insert(evidence);
            }
            "IdentityLogonEvents" => db.insert(identity_logon_events(&mut g, rows)),
            "EmailEvents" => db.insert(email_events(&mut g, rows)),
            _ => db.insert(generic_table(&mut g, name, rows.min(GENERIC_ROWS))),
        }
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> SampleOptions {
        SampleOptions {
            seed: 7,
            rows_per_table: 300,
            now: "2026-03-01T12:00:00Z".parse().expect("valid time"),
        }
    }

    #[test]
    fn same_seed_gives_the_same_rows() {
        let (a, b) = (sample(&options()), sample(&options()));
        assert_eq!(a.tables.len(), sample_table_names().count());
        for name in sample_table_names() {
            let (ta, tb) = (&a.tables[name], &b.tables[name]);
            assert_eq!(ta.rows.len(), tb.rows.len(), "{name}");
            for (ra, rb) in ta.rows.iter().zip(&tb.rows) {
                assert_eq!(format!("{ra:?}"), format!("{rb:?}"), "{name}");
            }
        }
        let other = sample(&SampleOptions {
            seed: 8,
            ..options()
        });
        let alone = sample_tables(&options(), &["DeviceNetworkEvents"]);
        assert_eq!(alone.tables.len(), 1);
        assert_eq!(
            format!("{:?}", alone.tables["DeviceNetworkEvents"].rows),
            format!("{:?}", a.tables["DeviceNetworkEvents"].rows),
            "a table does not depend on the others"
        );
        let first = |db: &Database| format!("{:?}", db.tables["DeviceNetworkEvents"].rows[0]);
        assert_ne!(first(&a), first(&other));
    }

    #[test]
    fn equal_strings_in_a_table_share_one_copy() {
        let db = sample_tables(&options(), &["DeviceNetworkEvents"]);
        let table = &db.tables["DeviceNetworkEvents"];
        let action = table
            .columns
            .iter()
            .position(|(n, _)| n == "ActionType")
            .expect("the table has ActionType");
        let texts: Vec<&Arc<String>> = table
            .rows
            .iter()
            .filter_map(|r| match &r[action] {
                Value::String(t) if &**t == "ConnectionSuccess" => Some(t),
                _ => None,
            })
            .collect();
        assert!(texts.len() > 1);
        assert!(texts.iter().all(|t| Arc::ptr_eq(t, texts[0])));
    }

    #[test]
    fn every_timestamp_lies_in_the_last_30_days() {
        let o = options();
        let db = sample(&o);
        for name in sample_table_names() {
            let table = &db.tables[name];
            assert!(table.rows.len() >= o.rows_per_table, "{name}");
            let Some(ts) = table.columns.iter().position(|(n, _)| n == "Timestamp") else {
                continue;
            };
            for row in &table.rows {
                let Value::DateTime(t) = row[ts] else {
                    panic!("{name}: timestamp {:?}", row[ts])
                };
                assert!(
                    t <= o.now && t >= o.now - TimeDelta::days(30),
                    "{name}: {t}"
                );
            }
        }
    }
}
