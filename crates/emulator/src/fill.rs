//! Rows by column name: a table's columns from `defender_schema`, and for every column a row
//! does not set, a plausible value chosen from the column's name and type. The hand-written
//! generators set the columns their hunts read; this fills the rest of their documented columns
//! and every column of the tables they do not cover.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::TimeDelta;
use kql::{KqlType, Value};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::generator::{Gen, Named, Subject, URLS, guid, s};
use super::schema::sample_schema;

/// What goes in a column no generator sets, decided once per column from its name and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Time,
    Earlier,
    Flag,
    Port,
    ProcessId,
    LogonId,
    Size,
    Count,
    ReportId,
    Number,
    Real,
    Object,
    Array,
    Guid,
    Ticks,
    DeviceId,
    DeviceName,
    ObjectId,
    AccountName,
    Domain,
    Sid,
    Upn,
    LocalIp,
    PublicIp,
    Sha1,
    Sha256,
    Md5,
    FileName,
    FolderPath,
    CommandLine,
    Url,
    UrlDomain,
    Country,
    Text(&'static str),
    Label,
    Empty,
}

/// Names of files the filled process and file columns pick from.
const FILE_NAMES: [&str; 5] = [
    "svchost.exe",
    "explorer.exe",
    "msedge.exe",
    "teams.exe",
    "onedrive.exe",
];

/// Fixed texts by the end of the column's name, for columns whose values are few and known.
const TEXTS: [(&str, &str); 17] = [
    ("IntegrityLevel", "Medium"),
    ("TokenElevation", "TokenElevationTypeDefault"),
    ("CompanyName", "Microsoft Corporation"),
    ("ProductName", "Microsoft Windows Operating System"),
    ("ProductVersion", "10.0.26100.1"),
    ("FileDescription", "Windows component"),
    ("SignerType", "OsVendor"),
    ("SignatureStatus", "Valid"),
    ("OSPlatform", "Windows11"),
    ("OSVersion", "10.0"),
    ("OSArchitecture", "64-bit"),
    ("Isp", "Contoso ISP"),
    ("City", "Amsterdam"),
    (
        "UserAgent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/131.0",
    ),
    ("Protocol", "Tcp"),
    ("Workload", "Exchange"),
    ("Severity", "Medium"),
];

fn string_fill(name: &str) -> Fill {
    let ends = |suffix: &str| name.ends_with(suffix);
    if let Some((_, text)) = TEXTS.iter().find(|(suffix, _)| ends(suffix)) {
        return Fill::Text(text);
    }
    match name {
        "AdditionalFields" | "RawEventData" => return Fill::Text("{}"),
        "ActionType" => return Fill::Label,
        _ => {}
    }
    if ends("AadDeviceId") || ends("EntraIdDeviceId") {
        Fill::Guid
    } else if ends("ContainerId") || ends("SessionIP") {
        Fill::Empty
    } else if ends("AccountObjectId") {
        Fill::ObjectId
    } else if ends("DeviceId") {
        Fill::DeviceId
    } else if ends("DeviceName") || ends("HostName") {
        Fill::DeviceName
    } else if ends("AccountName") || ends("UserName") || ends("DisplayName") {
        Fill::AccountName
    } else if ends("Domain") && !ends("UrlDomain") {
        Fill::Domain
    } else if ends("Sid") {
        Fill::Sid
    } else if ends("Upn") || ends("Upns") || ends("EmailAddress") {
        Fill::Upn
    } else if name.starts_with("Local") && ends("IP") {
        Fill::LocalIp
    } else if ends("IP") || ends("IPAddress") || ends("IpAddress") {
        Fill::PublicIp
    } else if ends("SHA1") {
        Fill::Sha1
    } else if ends("SHA256") {
        Fill::Sha256
    } else if ends("MD5") {
        Fill::Md5
    } else if ends("FileName") || ends("ProcessName") {
        Fill::FileName
    } else if ends("FolderPath") {
        Fill::FolderPath
    } else if ends("CommandLine") {
        Fill::CommandLine
    } else if ends("Url") || ends("Uri") {
        Fill::Url
    } else if ends("UrlDomain") || ends("DnsQuery") {
        Fill::UrlDomain
    } else if ends("Country") || ends("CountryCode") {
        Fill::Country
    } else if ends("Id") {
        Fill::Guid
    } else if ends("Name") || ends("Type") || ends("Status") {
        Fill::Label
    } else {
        Fill::Empty
    }
}

fn number_fill(name: &str) -> Fill {
    let ends = |suffix: &str| name.ends_with(suffix);
    if name == "ReportId" {
        Fill::ReportId
    } else if ends("Port") {
        Fill::Port
    } else if ends("LogonId") {
        Fill::LogonId
    } else if ends("ProcessId") || ends("SessionId") || ends("ParentId") {
        Fill::ProcessId
    } else if ends("Size") || ends("Length") {
        Fill::Size
    } else if ends("Count") || ends("Operations") {
        Fill::Count
    } else {
        Fill::Number
    }
}

fn fill_for(name: &str, ty: KqlType) -> Fill {
    match ty {
        KqlType::DateTime if name == "Timestamp" => Fill::Time,
        KqlType::DateTime => Fill::Earlier,
        KqlType::Bool => Fill::Flag,
        KqlType::Int | KqlType::Long => number_fill(name),
        KqlType::Real => Fill::Real,
        KqlType::Dynamic
            if ["Fields", "Data", "Properties"]
                .iter()
                .any(|e| name.ends_with(e)) =>
        {
            Fill::Object
        }
        KqlType::Dynamic if name.ends_with('s') || name.ends_with("List") => Fill::Array,
        KqlType::Dynamic => Fill::Object,
        KqlType::Guid => Fill::Guid,
        KqlType::TimeSpan => Fill::Ticks,
        KqlType::String => string_fill(name),
    }
}

/// Ports the filled port columns pick from.
const PORTS: [i64; 5] = [443, 80, 445, 53, 3389];

/// The plausible value of a `fill` column in `column`'s row about `who`.
fn value(g: &mut Gen, fill: Fill, column: &str, who: Subject) -> Value {
    let (d, u) = (who.device % g.devices.len(), who.user % g.users.len());
    match fill {
        Fill::Time => Value::DateTime(who.time),
        Fill::Earlier => {
            Value::DateTime(who.time - TimeDelta::seconds(g.rng.random_range(0..86_400)))
        }
        Fill::Flag => Value::Bool(g.rng.random_bool(0.2)),
        Fill::Port => Value::Long(PORTS[g.rng.random_range(0..PORTS.len())]),
        Fill::ProcessId => Value::Long(g.rng.random_range(500..40_000)),
        Fill::LogonId => Value::Long(g.rng.random_range(100_000..999_999)),
        Fill::Size => Value::Long(g.rng.random_range(1_000..10_000_000)),
        Fill::Count => Value::Long(g.rng.random_range(0..20)),
        Fill::ReportId => g.report(),
        Fill::Number => Value::Long(g.rng.random_range(0..10)),
        Fill::Real => Value::Real(f64::from(g.rng.random_range(0..100_u8)) / 10.0),
        Fill::Object => Value::dynamic(serde_json::json!({})),
        Fill::Array => Value::dynamic(serde_json::json!([])),
        Fill::Guid => s(&guid(&mut g.rng)),
        Fill::Ticks => Value::TimeSpan(g.rng.random_range(0..36_000_000_000)),
        Fill::DeviceId => s(&g.devices[d].id),
        Fill::DeviceName => s(&g.devices[d].name),
        Fill::AccountName => s(g.users[u].name),
        Fill::Domain => s("contoso"),
        Fill::Sid => s(&g.users[u].sid),
        Fill::Upn => s(&g.users[u].upn),
        Fill::LocalIp => s(&g.devices[d].ip),
        Fill::ObjectId => s(&g.users[u].object_id),
        Fill::PublicIp => s(&format!("203.0.113.{}", g.rng.random_range(1..60))),
        Fill::Sha1 => file_hash(g, 20),
        Fill::Sha256 => file_hash(g, 32),
        Fill::Md5 => file_hash(g, 16),
        Fill::FileName | Fill::CommandLine => s(g.pick(&FILE_NAMES)),
        Fill::FolderPath => s(&format!("C:\\Windows\\System32\\{}", g.pick(&FILE_NAMES))),
        Fill::Url => s(&format!("https://{}/", g.pick(&URLS))),
        Fill::UrlDomain => s(g.pick(&URLS)),
        Fill::Country => s(g.users[u].country),
        Fill::Text(text) => s(text),
        Fill::Label => {
            let stem = column.trim_end_matches("Name").trim_end_matches("Type");
            s(&format!("{stem}{}", g.rng.random_range(1..6)))
        }
        Fill::Empty => s(""),
    }
}

/// The `bytes`-long hash of one of the sample's files: a file has the same hash on every
/// device, and a few distinct texts keep a million-row table's filled hashes in a few strings
/// (unique ones made the emulator benchmark's table three times its size and its scan slower).
fn file_hash(g: &mut Gen, bytes: usize) -> Value {
    let file = g.rng.random_range(0..FILE_NAMES.len());
    s(&FILE_DIGESTS[file][..2 * bytes.min(32)])
}

/// Each of `FILE_NAMES`' SHA256 in hex, computed once: hashing the name again for every filled
/// hash cell was 30% of the instructions generating the emulator benchmark's table.
static FILE_DIGESTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    FILE_NAMES
        .iter()
        .map(|file| hex::encode(Sha256::digest(file.as_bytes())))
        .collect()
});

/// One table's columns and how to fill each.
pub(super) struct Layout {
    /// The table's columns in the schema's order, with their KQL types.
    pub(super) columns: Vec<(String, KqlType)>,
    fills: Vec<Fill>,
    index: HashMap<&'static str, usize>,
}

impl Layout {
    /// The layout of `table`, or `None` when the schema does not have it.
    pub(super) fn of(table: &str) -> Option<Layout> {
        let columns = sample_schema(table)?;
        let fills = columns.iter().map(|(n, t)| fill_for(n, *t)).collect();
        let index = defender_schema::table(table)?
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (*name, i))
            .collect();
        Some(Layout {
            columns,
            fills,
            index,
        })
    }

    /// A generic row about a random device, account and time in the sample's 30 days.
    pub(super) fn generic(&self, g: &mut Gen) -> Vec<Value> {
        let who = Subject {
            time: g.time(),
            device: g.device(),
            user: g.user(),
        };
        self.row(
            g,
            Named {
                subject: who,
                fields: Vec::new(),
            },
        )
    }

    /// The row with `named`'s fields in their columns, each converted to its column's type
    /// where the generator wrote it as another, and every other column filled.
    pub(super) fn row(&self, g: &mut Gen, named: Named) -> Vec<Value> {
        let mut row: Vec<Option<Value>> = vec![None; self.columns.len()];
        for (name, v) in named.fields {
            let i = self.index.get(name).copied();
            debug_assert!(i.is_some(), "{name} is not a documented column");
            if let Some(i) = i {
                row[i] = Some(convert(v, self.columns[i].1));
            }
        }
        row.into_iter()
            .enumerate()
            .map(|(i, cell)| {
                cell.unwrap_or_else(|| value(g, self.fills[i], &self.columns[i].0, named.subject))
            })
            .collect()
    }
}

/// `v` as a value of type `ty`: the generators write report ids as numbers and JSON as
/// `dynamic`, which tables whose schema types them `string` hold as text.
fn convert(v: Value, ty: KqlType) -> Value {
    match (ty, &v) {
        (KqlType::String, Value::Long(_) | Value::Dynamic(_)) => s(&v.to_kql_string()),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_table_has_a_layout_whose_generic_rows_fit_it() {
        let mut g = Gen::new(3, "2026-03-01T12:00:00Z".parse().expect("valid time"));
        for name in defender_schema::table_names() {
            let layout = Layout::of(name).expect("a schema table");
            let row = layout.generic(&mut g);
            assert_eq!(row.len(), layout.columns.len(), "{name}");
            for ((column, ty), cell) in layout.columns.iter().zip(&row) {
                let fits = match cell {
                    Value::Bool(_) => *ty == KqlType::Bool,
                    Value::Long(_) => matches!(ty, KqlType::Int | KqlType::Long),
                    Value::Real(_) => *ty == KqlType::Real,
                    Value::DateTime(_) => *ty == KqlType::DateTime,
                    Value::TimeSpan(_) => *ty == KqlType::TimeSpan,
                    Value::String(_) => matches!(ty, KqlType::String | KqlType::Guid),
                    Value::Dynamic(_) => *ty == KqlType::Dynamic,
                    Value::Null => false,
                };
                assert!(fits, "{name}.{column}: {cell:?} in a {ty:?} column");
            }
        }
        assert!(Layout::of("NoSuchTable").is_none());
    }

    #[test]
    fn filled_columns_name_the_rows_device_and_account() {
        let mut g = Gen::new(3, "2026-03-01T12:00:00Z".parse().expect("valid time"));
        let layout = Layout::of("DeviceEvents").expect("a schema table");
        let who = Subject {
            time: g.now,
            device: 2,
            user: 5,
        };
        let row = layout.row(
            &mut g,
            Named {
                subject: who,
                fields: vec![("ActionType", s("UsbDriveMounted"))],
            },
        );
        let cell = |name: &str| {
            let i = layout.columns.iter().position(|(n, _)| n == name);
            row[i.expect("a documented column")].to_kql_string()
        };
        assert_eq!(cell("ActionType"), "UsbDriveMounted");
        assert_eq!(cell("DeviceId"), g.devices[2].id);
        assert_eq!(cell("InitiatingProcessAccountName"), g.users[5].name);
        assert_eq!(cell("InitiatingProcessAccountSid"), g.users[5].sid);
    }
}
