//! Where findings go: the sinks named under `outputs:` in huntd.yaml, each checked with its
//! file and line; `notify` holds the settings that route a job's findings to them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::cloud::is_loopback;
use super::env::expand_path;
use super::fields::is_valid_name;
use super::secret::{self, SecretSource};
use crate::diagnostic::{Location, did_you_mean};
use crate::yaml::{Checker, Key, Node};

/// A sink under `outputs:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its name, what `notify.to` lists.
    pub name: String,
    /// What kind of receiver it is and how to reach it.
    pub sink: Sink,
    /// How long a delivery is retried before it is recorded `dead`.
    pub max_age: Duration,
}

/// A receiver and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// JSON posted to a URL, signed with HMAC-SHA256 when a secret is set.
    Webhook {
        /// Where to post.
        url: SinkUrl,
        /// The shared signing key.
        secret: SecretSource,
    },
    /// A Slack incoming webhook: Block Kit.
    Slack {
        /// The webhook URL.
        url: SinkUrl,
    },
    /// A Teams Workflows webhook: an Adaptive Card message.
    Teams {
        /// The webhook URL.
        url: SinkUrl,
    },
    /// One JSON line per finding appended to a file.
    File {
        /// The file, absolute.
        path: PathBuf,
    },
    /// RFC 5424 syslog, one message per finding.
    Syslog {
        /// UDP, TCP or TLS.
        transport: SyslogTransport,
        /// `host:port`.
        address: String,
        /// The message: the finding's JSON, or CEF.
        format: SyslogFormat,
        /// For TLS: a PEM file of CA certificates to trust instead of the system's.
        ca_file: Option<PathBuf>,
    },
    /// Azure Monitor's Logs Ingestion API: rows in a Log Analytics (Sentinel) table.
    LogAnalytics {
        /// The instance whose app signs in, for the `https://monitor.azure.com` scope.
        instance: String,
        /// The data collection endpoint (or the rule's own logs-ingestion endpoint).
        endpoint: SinkUrl,
        /// The data collection rule's immutable id, `dcr-` and 32 hex digits.
        rule_id: String,
        /// The rule's stream, e.g. `Custom-HuntdFindings_CL`.
        stream: String,
    },
    /// Splunk's HTTP Event Collector.
    SplunkHec {
        /// The collector's base URL (`https://host:8088`).
        url: SinkUrl,
        /// The HEC token.
        token: SecretSource,
        /// The index events go to; the token's default when `None`.
        index: Option<String>,
    },
}

impl Sink {
    /// The `type:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Sink::Webhook { .. } => "webhook",
            Sink::Slack { .. } => "slack",
            Sink::Teams { .. } => "teams",
            Sink::File { .. } => "file",
            Sink::Syslog { .. } => "syslog",
            Sink::SplunkHec { .. } => "splunk_hec",
            Sink::LogAnalytics { .. } => "log_analytics",
        }
    }

    /// The secret setting it has: a webhook's `secret` or a HEC `token`.
    pub fn secret(&self) -> Option<&SecretSource> {
        match self {
            Sink::Webhook { secret, .. } => Some(secret),
            Sink::SplunkHec { token, .. } => Some(token),
            Sink::Slack { .. }
            | Sink::Teams { .. }
            | Sink::File { .. }
            | Sink::Syslog { .. }
            | Sink::LogAnalytics { .. } => None,
        }
    }

    /// The secret setting, to resolve it in place (`{KeyVault: ...}` values).
    pub fn secret_mut(&mut self) -> Option<&mut SecretSource> {
        match self {
            Sink::Webhook { secret, .. } => Some(secret),
            Sink::SplunkHec { token, .. } => Some(token),
            Sink::Slack { .. }
            | Sink::Teams { .. }
            | Sink::File { .. }
            | Sink::Syslog { .. }
            | Sink::LogAnalytics { .. } => None,
        }
    }
}

/// A receiver's URL. Webhook URLs often carry their credential in the path or query (Slack,
/// Teams), so `Debug` and [`SinkUrl::shown`] print only the scheme, host and port.
#[derive(Clone, PartialEq, Eq)]
pub struct SinkUrl(reqwest::Url);

impl SinkUrl {
    /// Checks a receiver's URL: https, or http to a loopback host only. The error (what is
    /// wrong, and a hint) never repeats the URL, which may hold the receiver's credential.
    pub fn parse(text: &str) -> Result<SinkUrl, (String, &'static str)> {
        let Ok(url) = reqwest::Url::parse(text.trim()) else {
            return Err(("is not a URL".into(), "write it as https://host/path"));
        };
        match url.scheme() {
            "https" if url.host_str().is_some() => Ok(SinkUrl(url)),
            "http" if is_loopback(&url) => Ok(SinkUrl(url)),
            "http" => Err((
                "must use https://".into(),
                "plain http is allowed only to loopback hosts (127.0.0.0/8, ::1, localhost): findings must not cross a network in clear text",
            )),
            other => Err((
                format!("has scheme `{other}`, expected https://"),
                "write it as https://host/path",
            )),
        }
    }

    /// The URL itself; only where the request is sent.
    pub fn expose(&self) -> &reqwest::Url {
        &self.0
    }

    /// `scheme://host:port/…`, for messages.
    pub fn shown(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port() {
            Some(port) => format!("{}://{host}:{port}/…", self.0.scheme()),
            None => format!("{}://{host}/…", self.0.scheme()),
        }
    }
}

impl fmt::Debug for SinkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

/// How syslog messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    /// One datagram per message (RFC 5426).
    Udp,
    /// Octet-counting framing (RFC 6587).
    Tcp,
    /// TCP with TLS and octet-counting framing (RFC 5425).
    Tls,
}

/// What a syslog message carries after its header and structured data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    /// The finding's row as JSON.
    Rfc5424,
    /// An ArcSight CEF event.
    Cef,
}

/// The default `max_age` of an output.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

const KINDS: [&str; 7] = [
    "webhook",
    "slack",
    "teams",
    "file",
    "syslog",
    "splunk_hec",
    "log_analytics",
];

/// Reads `outputs:`; each output with an error is left out, and reported.
/// `instances` are the defined instances' names, which a `log_analytics` output signs in with.
pub(crate) fn outputs(
    check: &mut Checker<'_>,
    node: &Node,
    scope: &secret::Scope<'_>,
    instances: &BTreeSet<String>,
) -> (BTreeMap<String, Output>, BTreeSet<String>) {
    let mut usable = BTreeMap::new();
    let mut invalid = BTreeSet::new();
    let Some(entries) = check.map(node, "outputs") else {
        return (usable, invalid);
    };
    for (key, args) in entries {
        let name = key.name.trim();
        if !is_valid_name(name) {
            check
                .error(key.location, format!("`{}` is not a usable output name", key.name))
                .hint("use 1 to 48 lowercase letters, digits, `-` or `_`, starting with a letter or digit");
            continue;
        }
        if usable.contains_key(name) || invalid.contains(name) {
            check.error(key.location, format!("output `{name}` is defined twice"));
            continue;
        }
        match output(check, key, args, scope, instances) {
            Some(output) => {
                usable.insert(name.to_string(), output);
            }
            None => {
                invalid.insert(name.to_string());
            }
        }
    }
    (usable, invalid)
}

/// The keys each output type takes besides `type` and `max_age`.
fn keys_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "webhook" => &["type", "max_age", "url", "secret"],
        "file" => &["type", "max_age", "path"],
        "syslog" => &["type", "max_age", "address", "format", "ca_file"],
        "log_analytics" => &[
            "type", "max_age", "instance", "endpoint", "rule_id", "stream",
        ],
        "splunk_hec" => &["type", "max_age", "url", "token", "index"],
        _ => &["type", "max_age", "url"],
    }
}

fn output(
    check: &mut Checker<'_>,
    key: &Key,
    node: &Node,
    scope: &secret::Scope<'_>,
    instances: &BTreeSet<String>,
) -> Option<Output> {
    let name = key.name.trim();
    let what = format!("output `{name}`");
    let entries = check.map(node, &what)?;
    let errors_before = check.diags.error_count();
    let Some(kind_node) = node.get("type") else {
        check
            .error(key.location, format!("{what} has no `type`"))
            .hint(format!("add `type:` with one of: {}", KINDS.join(", ")));
        return None;
    };
    let kind = check.string(kind_node, &format!("`type` of {what}"))?;
    let kind = kind.trim();
    if !KINDS.contains(&kind) {
        let diag = check.error(kind_node.location, format!("unknown output type `{kind}`"));
        match did_you_mean(kind, KINDS) {
            Some(s) => diag.hint(format!("did you mean `{s}`?")),
            None => diag.hint(format!("use one of: {}", KINDS.join(", "))),
        };
        return None;
    }
    check.unknown_keys(entries, keys_of(kind), &what);
    let max_age = match node.get("max_age") {
        Some(n) => check.duration(
            n,
            &format!("max_age of {what}"),
            Duration::from_secs(1)..=Duration::from_secs(30 * 86_400),
        ),
        None => Some(DEFAULT_MAX_AGE),
    };
    let sink = sink(check, key, node, kind, scope, instances);
    if check.diags.error_count() > errors_before {
        return None;
    }
    Some(Output {
        name: name.to_string(),
        sink: sink?,
        max_age: max_age?,
    })
}

/// The settings of an output of type `kind` (one of [`KINDS`]).
fn sink(
    check: &mut Checker<'_>,
    key: &Key,
    node: &Node,
    kind: &str,
    scope: &secret::Scope<'_>,
    instances: &BTreeSet<String>,
) -> Option<Sink> {
    let name = key.name.trim();
    let what = format!("output `{name}`");
    let secret_of = |check: &mut Checker<'_>, field: &str| -> Option<SecretSource> {
        let Some(n) = node.get(field) else {
            check
                .error(key.location, format!("{what} has no `{field}`"))
                .hint(format!(
                    "add `{field}: {{Credential: <name>}}` (or {{File: path}}, {{EnvironmentVar: NAME}})"
                ));
            return None;
        };
        secret::parse(
            check,
            n,
            &["outputs", name, field],
            &format!("{field} of {what}"),
            scope,
        )
    };
    Some(match kind {
        "webhook" => {
            let url = url(check, node, "url", key.location, &what);
            let secret = secret_of(check, "secret");
            Sink::Webhook {
                url: url?,
                secret: secret?,
            }
        }
        "slack" => Sink::Slack {
            url: url(check, node, "url", key.location, &what)?,
        },
        "teams" => Sink::Teams {
            url: url(check, node, "url", key.location, &what)?,
        },
        "file" => {
            let Some(n) = node.get("path") else {
                check
                    .error(key.location, format!("{what} has no `path`"))
                    .hint("add `path: /var/lib/huntd/findings.jsonl`");
                return None;
            };
            let text = check.string(n, &format!("path of {what}"))?;
            let path = expand_path(text.trim(), scope.base_dir, scope.env);
            if !path.parent().is_some_and(std::path::Path::is_dir) {
                check
                    .error(n.location, format!("{what}: the folder of {} does not exist", path.display()))
                    .hint("create the folder, or point `path` at an existing one; relative paths start at the directory of huntd.yaml");
            }
            Sink::File { path }
        }
        "syslog" => syslog(check, node, key.location, &what, scope)?,
        "log_analytics" => log_analytics(check, node, key.location, &what, instances)?,
        _ => {
            let url = url(check, node, "url", key.location, &what);
            let token = secret_of(check, "token");
            let index = node
                .get("index")
                .and_then(|n| check.string(n, &format!("index of {what}")));
            Sink::SplunkHec {
                url: url?,
                token: token?,
                index,
            }
        }
    })
}

/// A syslog output's `address` (`udp://host:port`, `tcp://host:port`; port 514 when left out)
/// and `format` (`rfc5424`, the default, or `cef`).
fn syslog(
    check: &mut Checker<'_>,
    node: &Node,
    at: Location,
    what: &str,
    scope: &secret::Scope<'_>,
) -> Option<Sink> {
    let hint = "write it as udp://host:514, tcp://host:514 or tls://host:6514";
    let Some(n) = node.get("address") else {
        check
            .error(at, format!("{what} has no `address`"))
            .hint(hint);
        return None;
    };
    let text = check.string(n, &format!("address of {what}"))?;
    let parsed = reqwest::Url::parse(text.trim()).ok();
    let transport = match parsed.as_ref().map(reqwest::Url::scheme) {
        Some("udp") => SyslogTransport::Udp,
        Some("tcp") => SyslogTransport::Tcp,
        Some("tls") => SyslogTransport::Tls,
        _ => {
            check
                .error(
                    n.location,
                    format!(
                        "address of {what} `{}` is not udp://, tcp:// or tls://",
                        text.trim()
                    ),
                )
                .hint(hint);
            return None;
        }
    };
    let url = parsed?;
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        check
            .error(n.location, format!("address of {what} names no host"))
            .hint(hint);
        return None;
    };
    let default_port = if transport == SyslogTransport::Tls {
        6514
    } else {
        514
    };
    let address = format!("{host}:{}", url.port().unwrap_or(default_port));
    let ca_file = match node.get("ca_file") {
        None => None,
        Some(f) => {
            let text = check.string(f, &format!("ca_file of {what}"))?;
            let path = expand_path(text.trim(), scope.base_dir, scope.env);
            if transport != SyslogTransport::Tls {
                check
                    .error(
                        f.location,
                        format!("{what}: `ca_file` is only for tls:// addresses"),
                    )
                    .hint("remove `ca_file`, or send over tls://host:6514");
                return None;
            }
            if !path.is_file() {
                check
                    .error(f.location, format!("{what}: ca_file {} does not exist", path.display()))
                    .hint("point it at a PEM file of the CA certificates that signed the receiver's certificate; relative paths start at the directory of huntd.yaml");
                return None;
            }
            Some(path)
        }
    };
    let format = match node.get("format") {
        None => SyslogFormat::Rfc5424,
        Some(f) => match check.string(f, &format!("format of {what}"))?.trim() {
            "rfc5424" => SyslogFormat::Rfc5424,
            "cef" => SyslogFormat::Cef,
            other => {
                check
                    .error(
                        f.location,
                        format!("unknown syslog format `{other}` of {what}"),
                    )
                    .hint("use `rfc5424` (the finding as JSON) or `cef` (ArcSight CEF)");
                return None;
            }
        },
    };
    Some(Sink::Syslog {
        transport,
        address,
        format,
        ca_file,
    })
}

/// A `log_analytics` output: the signing-in `instance` (one of `instances`), the data
/// collection `endpoint`, the rule's immutable id and its stream.
fn log_analytics(
    check: &mut Checker<'_>,
    node: &Node,
    at: Location,
    what: &str,
    instances: &BTreeSet<String>,
) -> Option<Sink> {
    let text_of =
        |check: &mut Checker<'_>, field: &str, hint: &str| -> Option<(String, Location)> {
            let Some(n) = node.get(field) else {
                check
                    .error(at, format!("{what} has no `{field}`"))
                    .hint(hint.to_string());
                return None;
            };
            let text = check.string(n, &format!("{field} of {what}"))?;
            Some((text.trim().to_string(), n.location))
        };
    let instance = text_of(
        check,
        "instance",
        "add `instance:` naming the instance whose app registration signs in to Azure Monitor",
    );
    let rule_id = text_of(
        check,
        "rule_id",
        "add `rule_id:` with the data collection rule's immutable id (dcr-...), shown in its JSON view",
    );
    let stream = text_of(
        check,
        "stream",
        "add `stream:` with the rule's stream, e.g. Custom-HuntdFindings_CL",
    );
    let endpoint = url(check, node, "endpoint", at, what);
    let (instance, instance_at) = instance?;
    if !instances.contains(&instance) {
        let diag = check.error(
            instance_at,
            format!("{what} names instance `{instance}`, which is not defined"),
        );
        match did_you_mean(&instance, instances.iter().map(String::as_str)) {
            Some(s) => diag.hint(format!("did you mean `{s}`?")),
            None => diag.hint("name one of the instances of huntd.yaml or msticpyconfig.yaml; its app needs the Monitoring Metrics Publisher role on the rule"),
        };
    }
    let (rule_id, rule_at) = rule_id?;
    let hex = rule_id.strip_prefix("dcr-").unwrap_or_default();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        check
            .error(rule_at, format!("rule_id of {what} `{rule_id}` is not a rule's immutable id"))
            .hint("use the immutable id: `dcr-` and 32 hex digits, from the rule's JSON view (not its resource name)");
    }
    let (stream, stream_at) = stream?;
    if !(stream.starts_with("Custom-") || stream.starts_with("Microsoft-")) || stream.contains('/')
    {
        check
            .error(stream_at, format!("stream of {what} `{stream}` is not a stream name"))
            .hint("custom tables' streams are named `Custom-<Table>_CL`, as the rule's streamDeclarations list them");
    }
    Some(Sink::LogAnalytics {
        instance,
        endpoint: endpoint?,
        rule_id,
        stream,
    })
}

/// The URL in `field` of an output (`url`, or a `log_analytics` output's `endpoint`): https,
/// or http to a loopback host only.
fn url(
    check: &mut Checker<'_>,
    node: &Node,
    field: &str,
    at: Location,
    what: &str,
) -> Option<SinkUrl> {
    let Some(n) = node.get(field) else {
        let example = if field == "endpoint" {
            "https://<name>.<region>-1.ingest.monitor.azure.com, the data collection endpoint's logs ingestion URL"
        } else {
            "https://..."
        };
        check
            .error(at, format!("{what} has no `{field}`"))
            .hint(format!("add `{field}: {example}`"));
        return None;
    };
    let text = check.string(n, &format!("{field} of {what}"))?;
    match SinkUrl::parse(&text) {
        Ok(url) => Some(url),
        Err((message, hint)) => {
            check
                .error(n.location, format!("{field} of {what} {message}"))
                .hint(hint);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnvVars;
    use crate::diagnostic::Diagnostics;
    use std::path::Path;

    fn load(text: &str) -> (BTreeMap<String, Output>, Diagnostics) {
        let env = EnvVars::from_vars([("HOOK_KEY", "k")]);
        let scope = secret::Scope {
            env: &env,
            base_dir: Path::new("/tmp"),
            shared_mode: None,
            default_vault: None,
            vault_signin: false,
            allow_key_vault: false,
        };
        let instances = BTreeSet::from(["Contoso".to_string()]);
        crate::yaml::check_text("h.yaml", text, |check, node| {
            outputs(
                check,
                node.get("outputs").expect("outputs"),
                &scope,
                &instances,
            )
            .0
        })
    }

    #[test]
    fn outputs_need_https_except_to_loopback_and_never_echo_the_url() {
        let (outputs, diags) = load(
            "outputs:\n  a: {type: slack, url: 'http://hooks.example/T0/B0/sekrit'}\n  \
             b: {type: teams, url: 'http://127.0.0.1:9/x?sig=sekrit'}\n",
        );
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 1, "{text:?}");
        assert!(text[0].contains("must use https://"), "{text:?}");
        assert!(!text[0].contains("sekrit"), "{text:?}");
        assert_eq!(diags.iter().next().map(|d| d.location.line), Some(2));
        let b = &outputs["b"];
        assert!(!format!("{b:?}").contains("sekrit"), "{b:?}");
    }

    #[test]
    fn a_webhook_without_a_secret_is_an_error_with_a_hint() {
        let (outputs, diags) =
            load("outputs:\n  hook: {type: webhook, url: 'https://h.example/x'}\n");
        assert!(outputs.is_empty());
        let d = diags.iter().next().expect("one diagnostic");
        assert!(d.message.contains("has no `secret`"), "{d}");
        assert!(
            d.hint.as_deref().is_some_and(|h| h.contains("Credential")),
            "{d}"
        );
    }

    #[test]
    fn a_log_analytics_output_names_a_known_instance_a_rule_id_and_a_stream() {
        let (outputs, diags) = load(
            "outputs:\n  ok: {type: log_analytics, instance: Contoso, endpoint: 'https://dce.ingest.monitor.azure.com', \
             rule_id: dcr-0123456789abcdef0123456789abcdef, stream: Custom-HuntdFindings_CL}\n  \
             bad: {type: log_analytics, instance: Contosa, endpoint: 'http://dce.example', \
             rule_id: my-rule, stream: HuntdFindings}\n",
        );
        assert!(outputs.contains_key("ok"), "{diags:?}");
        assert!(!outputs.contains_key("bad"));
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        for needle in [
            "instance `Contosa`, which is not defined",
            "did you mean `Contoso`?",
            "rule_id of output `bad` `my-rule`",
            "stream of output `bad` `HuntdFindings`",
            "endpoint of output `bad` must use https://",
        ] {
            assert!(
                text.iter().any(|t| t.contains(needle)),
                "{needle}: {text:?}"
            );
        }
        assert!(diags.iter().all(|d| d.location.line == 3), "{text:?}");
    }

    #[test]
    fn syslog_takes_tls_with_a_ca_file_and_port_6514_by_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not checked here").expect("write");
        let (outputs, diags) = load(&format!(
            "outputs:\n  siem: {{type: syslog, address: 'tls://siem.example', ca_file: '{}'}}\n  \
             plain: {{type: syslog, address: 'tcp://siem.example', ca_file: '{}'}}\n",
            ca.display(),
            ca.display()
        ));
        assert_eq!(
            outputs["siem"].sink,
            Sink::Syslog {
                transport: SyslogTransport::Tls,
                address: "siem.example:6514".into(),
                format: SyslogFormat::Rfc5424,
                ca_file: Some(ca),
            }
        );
        let d = diags.iter().next().expect("one diagnostic");
        assert!(d.message.contains("`ca_file` is only for tls://"), "{d}");
        assert_eq!(d.location.line, 3);
    }
}
