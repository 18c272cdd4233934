//! The sample's people and machines, and the rows they make: what the 30-day dataset (`data`)
//! and the live feed (`live`) both generate, so new events name the same devices and accounts.

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use kql::Value;

/// The encoded PowerShell command line the sample plants and the `encoded-powershell` job finds.
pub(super) const ENCODED_COMMAND: &str = "powershell.exe -NoP -W Hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA";

/// A sample machine.
pub(super) struct Device {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) ip: String,
}

/// A sample account.
pub(super) struct User {
    pub(super) name: &'static str,
    pub(super) upn: String,
    pub(super) sid: String,
    pub(super) object_id: String,
    pub(super) country: &'static str,
}

pub(super) const USER_NAMES: [&str; 16] = [
    "megan.bowen",
    "alex.wilber",
    "adele.vance",
    "diego.siciliani",
    "grady.archie",
    "henrietta.mueller",
    "isaiah.langer",
    "johanna.lorenz",
    "joni.sherman",
    "lee.gu",
    "lidia.holloway",
    "lynne.robbins",
    "miriam.graham",
    "nestor.wilke",
    "patti.fernandez",
    "pradeep.gupta",
];

pub(super) const COUNTRIES: [&str; 4] = ["NL", "US", "DE", "GB"];

/// Ordinary parent/child pairs, each common across devices.
pub(super) const PROCESS_PAIRS: [(&str, &str, &str); 8] = [
    (
        "explorer.exe",
        "chrome.exe",
        "\"chrome.exe\" --profile-directory=Default",
    ),
    ("explorer.exe", "outlook.exe", "\"OUTLOOK.EXE\" /recycle"),
    (
        "explorer.exe",
        "teams.exe",
        "\"Teams.exe\" --system-initiated",
    ),
    ("services.exe", "svchost.exe", "svchost.exe -k netsvcs -p"),
    (
        "svchost.exe",
        "taskhostw.exe",
        "taskhostw.exe Install $(Arg0)",
    ),
    (
        "explorer.exe",
        "notepad.exe",
        "notepad.exe C:\\Users\\Public\\notes.txt",
    ),
    (
        "explorer.exe",
        "powershell.exe",
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\scripts\\inventory.ps1",
    ),
    ("cmd.exe", "conhost.exe", "conhost.exe 0xffffffff -ForceV1"),
];

pub(super) const COMMON_PORTS: [(i64, &str); 6] = [
    (443, "TCP"),
    (443, "TCP"),
    (80, "TCP"),
    (53, "UDP"),
    (123, "UDP"),
    (445, "TCP"),
];

pub(super) const URLS: [&str; 6] = [
    "login.microsoftonline.com",
    "www.office.com",
    "update.googleapis.com",
    "github.com",
    "teams.microsoft.com",
    "ctldl.windowsupdate.com",
];

/// Who and when one row is about: the filled columns name the same device, account and time as
/// the columns its generator set.
#[derive(Debug, Clone, Copy)]
pub(super) struct Subject {
    pub(super) time: DateTime<Utc>,
    pub(super) device: usize,
    pub(super) user: usize,
}

/// A row as its generator writes it: its subject and the columns it sets, by name.
pub(super) struct Named {
    pub(super) subject: Subject,
    pub(super) fields: Vec<(&'static str, Value)>,
}

/// The generator: its random source, the devices and users, and the next `ReportId`.
pub(super) struct Gen {
    pub(super) rng: StdRng,
    pub(super) now: DateTime<Utc>,
    pub(super) devices: Vec<Device>,
    pub(super) users: Vec<User>,
    pub(super) report_id: i64,
}

pub(super) fn hex_id(rng: &mut StdRng, bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex::encode(raw)
}

pub(super) fn guid(rng: &mut StdRng) -> String {
    let h = hex_id(rng, 16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub(super) fn s(text: &str) -> Value {
    Value::str(text)
}

impl Gen {
    /// The same `seed` gives the same devices and users.
    pub(super) fn new(seed: u64, now: DateTime<Utc>) -> Gen {
        let mut rng = StdRng::seed_from_u64(seed);
        let devices = (1..=40)
            .map(|i| Device {
                id: hex_id(&mut rng, 20),
                name: format!("ws-{i:04}.contoso.local"),
                ip: format!("10.0.{}.{}", i / 200, 10 + i % 200),
            })
            .collect();
        let users = USER_NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| User {
                name,
                upn: format!("{name}@contoso.com"),
                sid: format!("S-1-5-21-1004336348-1177238915-682003330-{}", 1100 + i),
                object_id: guid(&mut rng),
                country: COUNTRIES[i % COUNTRIES.len()],
            })
            .collect();
        Gen {
            rng,
            now,
            devices,
            users,
            report_id: 1000,
        }
    }

    /// A random time in the last 30 days.
    pub(super) fn time(&mut self) -> DateTime<Utc> {
        let ms = self.rng.random_range(0..30 * 86_400_000_i64);
        self.now - TimeDelta::milliseconds(ms)
    }

    pub(super) fn device(&mut self) -> usize {
        self.rng.random_range(0..self.devices.len())
    }

    pub(super) fn user(&mut self) -> usize {
        self.rng.random_range(0..self.users.len())
    }

    pub(super) fn report(&mut self) -> Value {
        self.report_id += 1;
        Value::Long(self.report_id)
    }

    pub(super) fn public_ip(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.rng.random_range(20..220),
            self.rng.random_range(0..255),
            self.rng.random_range(0..255),
            self.rng.random_range(1..255)
        )
    }

    pub(super) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }
}

/// A `DeviceProcessEvents` row: `parent` starting `child` with `cmd` on device `d` as user `u`.
pub(super) fn process_row(
    g: &mut Gen,
    t: DateTime<Utc>,
    d: usize,
    u: usize,
    (parent, child, cmd): (&str, &str, &str),
    sha256: &str,
) -> Named {
    let dev = &g.devices[d];
    let user = &g.users[u];
    let (dev_id, dev_name, uname, usid, uupn) = (
        s(&dev.id),
        s(&dev.name),
        s(user.name),
        s(&user.sid),
        s(&user.upn),
    );
    let pid = g.rng.random_range(1000..40_000);
    let ppid = g.rng.random_range(500..1000);
    let fields = vec![
        ("Timestamp", Value::DateTime(t)),
        ("DeviceId", dev_id),
        ("DeviceName", dev_name),
        ("ActionType", s("ProcessCreated")),
        ("FileName", s(child)),
        ("FolderPath", s(&format!("C:\\Windows\\System32\\{child}"))),
        ("SHA1", s(&hex_id(&mut g.rng, 20))),
        ("SHA256", s(sha256)),
        ("MD5", s(&hex_id(&mut g.rng, 16))),
        (
            "FileSize",
            Value::Long(g.rng.random_range(40_000..4_000_000)),
        ),
        ("ProcessVersionInfoOriginalFileName", s(child)),
        ("ProcessVersionInfoInternalFileName", s(child)),
        ("ProcessId", Value::Long(pid)),
        ("ProcessCommandLine", s(cmd)),
        ("ProcessIntegrityLevel", s("Medium")),
        ("ProcessCreationTime", Value::DateTime(t)),
        ("AccountDomain", s("contoso")),
        ("AccountName", uname.clone()),
        ("AccountSid", usid),
        ("AccountUpn", uupn),
        ("LogonId", Value::Long(g.rng.random_range(100_000..999_999))),
        ("InitiatingProcessFileName", s(parent)),
        (
            "InitiatingProcessFolderPath",
            s(&format!("C:\\Windows\\{parent}")),
        ),
        ("InitiatingProcessVersionInfoOriginalFileName", s(parent)),
        ("InitiatingProcessId", Value::Long(ppid)),
        ("InitiatingProcessCommandLine", s(parent)),
        (
            "InitiatingProcessCreationTime",
            Value::DateTime(t - TimeDelta::minutes(5)),
        ),
        ("InitiatingProcessAccountDomain", s("contoso")),
        ("InitiatingProcessAccountName", uname),
        ("InitiatingProcessParentFileName", s("userinit.exe")),
        ("ReportId", g.report()),
    ];
    named(t, d, u, fields)
}

/// The row about device `d` and user `u` at `t` with `fields` set.
pub(super) fn named(
    t: DateTime<Utc>,
    d: usize,
    u: usize,
    fields: Vec<(&'static str, Value)>,
) -> Named {
    Named {
        subject: Subject {
            time: t,
            device: d,
            user: u,
        },
        fields,
    }
}

/// A `DeviceNetworkEvents` row: device `d` connecting to `port` over `proto` (`TCP`/`UDP`).
pub(super) fn network_row(
    g: &mut Gen,
    t: DateTime<Utc>,
    d: usize,
    (port, proto): (i64, &str),
    url: &str,
    process: &str,
) -> Named {
    let remote = g.public_ip();
    let dev = &g.devices[d];
    let (id, name, ip) = (s(&dev.id), s(&dev.name), s(&dev.ip));
    let action = if g.rng.random_bool(0.95) {
        "ConnectionSuccess"
    } else {
        "ConnectionFailed"
    };
    let u = d % g.users.len();
    let user = s(g.users[u].name);
    let fields = vec![
        ("Timestamp", Value::DateTime(t)),
        ("DeviceId", id),
        ("DeviceName", name),
        ("ActionType", s(action)),
        ("RemoteIP", s(&remote)),
        ("RemotePort", Value::Long(port)),
        ("RemoteUrl", s(url)),
        ("LocalIP", ip),
        ("LocalPort", Value::Long(g.rng.random_range(49_152..65_535))),
        ("Protocol", s(if proto == "UDP" { "Udp" } else { "Tcp" })),
        ("LocalIPType", s("Private")),
        ("RemoteIPType", s("Public")),
        ("InitiatingProcessFileName", s(process)),
        ("InitiatingProcessCommandLine", s(process)),
        ("InitiatingProcessAccountName", user),
        ("InitiatingProcessParentFileName", s("explorer.exe")),
        ("ReportId", g.report()),
    ];
    named(t, d, u, fields)
}

/// A `DeviceFileEvents` row: `name` with hash `sha` written on device `d`.
pub(super) fn file_row(
    g: &mut Gen,
    t: DateTime<Utc>,
    d: usize,
    name: &str,
    sha: &str,
    action: &str,
) -> Named {
    let dev = &g.devices[d];
    let (id, dname) = (s(&dev.id), s(&dev.name));
    let u = d % g.users.len();
    let user = s(g.users[u].name);
    let fields = vec![
        ("Timestamp", Value::DateTime(t)),
        ("DeviceId", id),
        ("DeviceName", dname),
        ("ActionType", s(action)),
        ("FileName", s(name)),
        (
            "FolderPath",
            s(&format!("C:\\Users\\Public\\Downloads\\{name}")),
        ),
        ("SHA1", s(&hex_id(&mut g.rng, 20))),
        ("SHA256", s(sha)),
        ("MD5", s(&hex_id(&mut g.rng, 16))),
        (
            "FileSize",
            Value::Long(g.rng.random_range(1_000..10_000_000)),
        ),
        ("FileOriginUrl", s("https://github.com/releases/download")),
        ("FileOriginReferrerUrl", s("https://github.com/")),
        ("PreviousFolderPath", s("")),
        ("PreviousFileName", s("")),
        ("InitiatingProcessFileName", s("chrome.exe")),
        (
            "InitiatingProcessCommandLine",
            s("\"chrome.exe\" --type=utility"),
        ),
        ("InitiatingProcessAccountDomain", s("contoso")),
        ("InitiatingProcessAccountName", user),
        ("RequestProtocol", s("Local")),
        ("ShareName", s("")),
        ("ReportId", g.report()),
    ];
    named(t, d, u, fields)
}

/// An `IdentityLogonEvents` row: user `u` signing in from `country`.
pub(super) fn identity_logon_row(
    g: &mut Gen,
    t: DateTime<Utc>,
    u: usize,
    country: &str,
    ok: bool,
) -> Named {
    let ip = g.public_ip();
    let app = g.pick(&[
        "Office 365",
        "Microsoft Teams",
        "Azure Portal",
        "Active Directory",
    ]);
    let d = u % g.devices.len();
    let dev = g.devices[d].name.clone();
    let user = &g.users[u];
    let fields = vec![
        ("Timestamp", Value::DateTime(t)),
        (
            "ActionType",
            s(if ok { "LogonSuccess" } else { "LogonFailed" }),
        ),
        ("Application", s(app)),
        ("LogonType", s("Interactive")),
        ("Protocol", s("OAuth2")),
        ("FailureReason", s(if ok { "" } else { "InvalidPassword" })),
        ("AccountName", s(user.name)),
        ("AccountDomain", s("contoso.com")),
        ("AccountUpn", s(&user.upn)),
        ("AccountSid", s(&user.sid)),
        ("AccountObjectId", s(&user.object_id)),
        ("AccountDisplayName", s(user.name)),
        ("DeviceName", s(&dev)),
        ("DeviceType", s("Desktop")),
        ("OSPlatform", s("Windows")),
        ("IPAddress", s(&ip)),
        ("Port", Value::Long(443)),
        ("DestinationDeviceName", s("")),
        ("DestinationIPAddress", s("")),
        ("TargetDeviceName", s("")),
        ("TargetAccountDisplayName", s("")),
        ("Location", s(country)),
        ("Isp", s("Contoso ISP")),
        (
            "AdditionalFields",
            Value::dynamic(json!({"Pass-through": false})),
        ),
        ("ReportId", g.report()),
    ];
    named(t, d, u, fields)
}
