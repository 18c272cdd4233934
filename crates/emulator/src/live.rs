//! The live feed: new sample events stamped "now", appended every few seconds while the emulator
//! runs, so a scheduler's later windows find new rows, like a tenant whose devices keep working.
//!
//! Each tick adds some ordinary activity and one event that an example job hunts, in turn:
//! encoded PowerShell, a file with the known-bad hash, a connection to a rare port, a sign-in
//! from a country the account never used, and an Office application starting a shell. The rare
//! ports, countries and parent processes rotate, so deduplicated findings keep appearing too.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use kql::Value;

use super::data::{KNOWN_BAD_SHA256, RARE_PORT};
use super::fill::Layout;
use super::generator::{
    COMMON_PORTS, ENCODED_COMMAND, Gen, Named, PROCESS_PAIRS, URLS, file_row, hex_id,
    identity_logon_row, network_row, process_row,
};

/// The tables the feed appends to.
const TABLES: [&str; 4] = [
    "DeviceProcessEvents",
    "DeviceNetworkEvents",
    "DeviceFileEvents",
    "IdentityLogonEvents",
];

/// Rare remote ports the feed's implants call out on, one after another.
const RARE_PORTS: [i64; 6] = [RARE_PORT, 1337, 6667, 8081, 9001, 31337];

/// Countries the feed's travellers sign in from; no sample account has used them.
const FAR_COUNTRIES: [&str; 6] = ["BR", "KP", "NG", "VN", "IR", "AR"];

/// Office applications that the feed has start a shell.
const OFFICE_PARENTS: [&str; 4] = ["winword.exe", "excel.exe", "powerpnt.exe", "outlook.exe"];

/// Makes the live events, tick by tick.
pub struct Feed {
    g: Gen,
    layouts: Vec<Layout>,
    tick: usize,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("tick", &self.tick)
            .finish_non_exhaustive()
    }
}

impl Feed {
    /// A feed over the devices and accounts of the sample generated from `seed`.
    pub fn new(seed: u64) -> Feed {
        let mut g = Gen::new(seed, Utc::now());
        g.rng = StdRng::seed_from_u64(seed ^ 0x11FE_11FE_11FE_11FE);
        // Far above the ids the sample tables hand out (a billion per table, under a hundred
        // tables).
        g.report_id = 100_000_000_000;
        let layouts = TABLES
            .iter()
            .map(|t| Layout::of(t).expect("the feed's tables are in the schema"))
            .collect();
        Feed {
            g,
            layouts,
            tick: 0,
        }
    }

    /// The next tick's events at `now`, as (table, row) pairs in the sample schema.
    pub fn next(&mut self, now: DateTime<Utc>) -> Vec<(&'static str, Vec<Value>)> {
        let events = self.events(now);
        let g = &mut self.g;
        events
            .into_iter()
            .map(|(table, named)| {
                let layout = TABLES
                    .iter()
                    .position(|t| *t == table)
                    .and_then(|i| self.layouts.get(i))
                    .expect("the feed writes only to its tables");
                (table, layout.row(g, named))
            })
            .collect()
    }

    /// The next tick's events by column name.
    fn events(&mut self, now: DateTime<Utc>) -> Vec<(&'static str, Named)> {
        let g = &mut self.g;
        let mut rows = Vec::new();
        let (d, u) = (g.device(), g.user());
        let pair = PROCESS_PAIRS[g.rng.random_range(0..PROCESS_PAIRS.len())];
        let sha = hex_id(&mut g.rng, 32);
        rows.push(("DeviceProcessEvents", process_row(g, now, d, u, pair, &sha)));
        let (port, proto) = COMMON_PORTS[g.rng.random_range(0..COMMON_PORTS.len())];
        let url = g.pick(&URLS);
        let d = g.device();
        rows.push((
            "DeviceNetworkEvents",
            network_row(g, now, d, (port, proto), url, "chrome.exe"),
        ));
        let round = self.tick / 5;
        let d = g.device();
        match self.tick % 5 {
            0 => {
                let u = g.user();
                let pair = ("cmd.exe", "powershell.exe", ENCODED_COMMAND);
                let row = process_row(g, now, d, u, pair, KNOWN_BAD_SHA256);
                rows.push(("DeviceProcessEvents", row));
            }
            1 => {
                let row = file_row(
                    g,
                    now,
                    d,
                    "invoice_viewer.exe",
                    KNOWN_BAD_SHA256,
                    "FileCreated",
                );
                rows.push(("DeviceFileEvents", row));
            }
            2 => {
                let port = RARE_PORTS[round % RARE_PORTS.len()];
                let row = network_row(g, now, d, (port, "TCP"), "", "powershell.exe");
                rows.push(("DeviceNetworkEvents", connected(row)));
            }
            3 => {
                let u = g.user();
                let country = FAR_COUNTRIES[round % FAR_COUNTRIES.len()];
                rows.push((
                    "IdentityLogonEvents",
                    identity_logon_row(g, now, u, country, true),
                ));
            }
            _ => {
                let u = g.user();
                let parent = OFFICE_PARENTS[round % OFFICE_PARENTS.len()];
                let pair = (parent, "cmd.exe", "cmd.exe /c whoami /all > %TEMP%\\o.txt");
                let sha = "ab".repeat(32);
                rows.push(("DeviceProcessEvents", process_row(g, now, d, u, pair, &sha)));
            }
        }
        self.tick += 1;
        rows
    }
}

/// The row with its `ActionType` set to a successful connection, which the rare-port hunt
/// counts.
fn connected(mut row: Named) -> Named {
    for (name, value) in &mut row.fields {
        if *name == "ActionType" {
            *value = Value::str("ConnectionSuccess");
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::sample_schema;

    #[test]
    fn every_event_fits_its_table_and_is_stamped_now() {
        let mut feed = Feed::new(1);
        let now: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().expect("valid time");
        let mut tables = std::collections::BTreeSet::new();
        for _ in 0..10 {
            for (table, row) in feed.next(now) {
                let columns = sample_schema(table).expect("a sample table");
                assert_eq!(row.len(), columns.len(), "{table}");
                assert!(matches!(row[0], Value::DateTime(t) if t == now), "{table}");
                tables.insert(table);
            }
        }
        assert_eq!(
            tables.into_iter().collect::<Vec<_>>(),
            [
                "DeviceFileEvents",
                "DeviceNetworkEvents",
                "DeviceProcessEvents",
                "IdentityLogonEvents"
            ]
        );
    }
}
