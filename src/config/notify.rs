//! `notify:`, in a job or as defaults under `daemon.notify`: which outputs a job's new
//! findings go to, one message per run or per finding, from how many on, and what `suppress:`
//! keeps quiet.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::diagnostic::{Location, did_you_mean};
use crate::yaml::{Checker, Node};

/// How a run's new findings become messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifyMode {
    /// One message per run listing its new findings.
    #[default]
    Digest,
    /// One message per new finding.
    Each,
}

impl NotifyMode {
    /// The names users write.
    pub const NAMES: [&'static str; 2] = ["digest", "each"];

    /// The name as written in `mode:` and stored in `hunt_deliveries.mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyMode::Digest => "digest",
            NotifyMode::Each => "each",
        }
    }
}

/// `notify:` as written, in a job or under `daemon.notify`; a key left out takes the daemon's
/// default, then the built-in one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notify {
    /// Output names; `None` when not written.
    pub to: Option<Vec<String>>,
    /// Digest or each.
    pub mode: Option<NotifyMode>,
    /// Only runs adding at least this many new findings notify.
    pub min_new: Option<u32>,
    /// At most one notification per value of some columns per span.
    pub suppress: Option<Suppress>,
}

/// `suppress: {by: [DeviceId], for: 6h}`: a new finding whose `by` columns hold the same values
/// as one already notified within `for` is left out of notifications and counted in the next
/// one instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppress {
    /// The columns whose values make the key.
    pub by: Vec<String>,
    /// How long after a notification its key stays quiet.
    pub span: Duration,
}

impl Notify {
    /// These settings with every key left out taken from `defaults`.
    #[must_use]
    pub fn over(&self, defaults: &Notify) -> Notify {
        Notify {
            to: self.to.clone().or_else(|| defaults.to.clone()),
            mode: self.mode.or(defaults.mode),
            min_new: self.min_new.or(defaults.min_new),
            suppress: self.suppress.clone().or_else(|| defaults.suppress.clone()),
        }
    }

    /// The outputs to notify; none when not written.
    pub fn outputs(&self) -> &[String] {
        self.to.as_deref().unwrap_or_default()
    }

    /// The mode, digest when not written.
    pub fn mode(&self) -> NotifyMode {
        self.mode.unwrap_or_default()
    }

    /// The least number of new findings that notifies, one when not written.
    pub fn min_new(&self) -> u32 {
        self.min_new.unwrap_or(1)
    }
}

const NOTIFY_KEYS: [&str; 4] = ["to", "mode", "min_new", "suppress"];

/// Reads a `notify:` mapping; `what` names it in messages (`notify`, `daemon.notify`).
pub fn notify(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<Notify> {
    let entries = check.map(node, what)?;
    check.unknown_keys(entries, &NOTIFY_KEYS, what);
    let mut out = Notify::default();
    if let Some(n) = node.get("to").filter(|n| !n.is_null()) {
        let names = check.strings(n, &format!("{what}.to"))?;
        out.to = Some(
            names
                .into_iter()
                .map(|(name, _)| name.trim().to_string())
                .collect(),
        );
    }
    if let Some(n) = node.get("mode").filter(|n| !n.is_null()) {
        let text = check.string(n, &format!("{what}.mode"))?;
        out.mode = Some(match text.trim() {
            "digest" => NotifyMode::Digest,
            "each" => NotifyMode::Each,
            other => {
                check
                    .error(n.location, format!("unknown {what}.mode `{other}`"))
                    .hint("use `digest` (one message per run) or `each` (one per new finding)");
                return None;
            }
        });
    }
    if let Some(n) = node.get("min_new").filter(|n| !n.is_null()) {
        let value = check.integer(n, &format!("{what}.min_new"), 1..=1_000_000)?;
        out.min_new = Some(u32::try_from(value).expect("1..=1000000 fits in u32"));
    }
    if let Some(n) = node.get("suppress").filter(|n| !n.is_null()) {
        out.suppress = Some(suppress(check, n, &format!("{what}.suppress"))?);
    }
    Some(out)
}

/// Reads `suppress: {by: [columns], for: span}`.
fn suppress(check: &mut Checker<'_>, node: &Node, what: &str) -> Option<Suppress> {
    let entries = check.map(node, what)?;
    check.unknown_keys(entries, &["by", "for"], what);
    let example = "write it as `suppress: {by: [DeviceId], for: 6h}`";
    let Some(by_node) = node.get("by") else {
        check
            .error(node.location, format!("{what} has no `by`"))
            .hint(example);
        return None;
    };
    let by: Vec<String> = check
        .strings(by_node, &format!("{what}.by"))?
        .into_iter()
        .map(|(name, _)| name.trim().to_string())
        .collect();
    if by.is_empty() || by.iter().any(String::is_empty) {
        check
            .error(by_node.location, format!("{what}.by names no column"))
            .hint(example);
        return None;
    }
    let Some(span_node) = node.get("for") else {
        check
            .error(node.location, format!("{what} has no `for`"))
            .hint(example);
        return None;
    };
    let span = check.duration(
        span_node,
        &format!("{what}.for"),
        Duration::from_secs(1)..=Duration::from_secs(30 * 86_400),
    )?;
    Some(Suppress { by, span })
}

/// Reports each name of `notify.to` (written at `at`) that is not among the output `names`.
pub fn check_targets(
    check: &mut Checker<'_>,
    notify: &Notify,
    at: Location,
    names: &BTreeSet<String>,
) {
    for name in notify.outputs() {
        if names.contains(name) {
            continue;
        }
        let diag = check.error(at, format!("notify.to names `{name}`, which is no output"));
        match did_you_mean(name, names.iter().map(String::as_str)) {
            Some(s) => diag.hint(format!("did you mean `{s}`?")),
            None if names.is_empty() => {
                diag.hint("define it under `outputs:` in huntd.yaml, e.g. `outputs: {soc-hook: {type: webhook, url: https://..., secret: {Credential: hook-key}}}`")
            }
            None => diag.hint(format!(
                "the outputs in huntd.yaml are: {}",
                names.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppress_takes_columns_and_a_span_and_names_what_is_wrong() {
        let ((good, bad), diags) = crate::yaml::check_text(
            "j.yaml",
            "good:\n  to: [a]\n  suppress: {by: [DeviceId, AccountName], for: 6h}\nbad:\n  suppress: {by: [], for: 6h}\n",
            |check, node| {
                let good = notify(check, node.get("good").expect("good"), "notify");
                (good, notify(check, node.get("bad").expect("bad"), "notify"))
            },
        );
        let good = good.expect("valid");
        assert_eq!(
            good.suppress,
            Some(Suppress {
                by: vec!["DeviceId".into(), "AccountName".into()],
                span: Duration::from_secs(6 * 3600),
            })
        );
        assert!(bad.is_none());
        let d = diags.iter().next().expect("one diagnostic");
        assert!(
            d.message.contains("notify.suppress.by names no column"),
            "{d}"
        );
        assert_eq!(d.location.line, 5);
    }

    #[test]
    fn job_settings_override_the_daemon_defaults_key_by_key() {
        let defaults = Notify {
            to: Some(vec!["a".into()]),
            mode: Some(NotifyMode::Each),
            min_new: None,
            suppress: Some(Suppress {
                by: vec!["DeviceId".into()],
                span: Duration::from_secs(60),
            }),
        };
        let job = Notify {
            min_new: Some(3),
            ..Notify::default()
        };
        let got = job.over(&defaults);
        assert_eq!(got.outputs(), ["a"]);
        assert_eq!(got.mode(), NotifyMode::Each);
        assert_eq!(got.min_new(), 3);
        assert_eq!(got.suppress, defaults.suppress);
        assert_eq!(Notify::default().min_new(), 1);
    }
}
