//! The msticpy query library: YAML files of named, parameterised KQL queries.
//!
//! A file has `metadata` (with `data_environments`), `defaults.parameters` shared by its
//! queries, and `sources`: one entry per query with `args.query` and its own `parameters`.
//! Jobs name a query as `<folder>/<query name>`, the folder being the file's directory relative
//! to the library root (the root's own name for files directly in it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostics, Location};
use crate::jobs::Environment;
use crate::jobs::template::{ParamType, ParamValue};
use crate::yaml::{self, Checker, Node, Value};

/// Deeper folders than this are not searched: a guard against symlink loops.
const MAX_DEPTH: usize = 16;

/// Every query found in the library directories, by reference name.
#[derive(Debug, Clone, Default)]
pub struct Library {
    queries: BTreeMap<String, LibraryQuery>,
}

/// One library query with its parameters (file defaults merged under its own).
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryQuery {
    /// Reference name, `<folder>/<query name>`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The KQL template.
    pub query: String,
    /// The environments the file says the query serves (`MDE`, `M365DGraph`, ...).
    pub data_environments: Vec<String>,
    /// Declared parameters by name.
    pub parameters: BTreeMap<String, ParamSpec>,
    /// The file it was read from.
    pub source: PathBuf,
    /// Where the query's entry starts.
    pub location: Location,
}

/// A declared query parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Free text.
    pub description: String,
    /// The msticpy type.
    pub param_type: ParamType,
    /// The default; `None` makes the parameter required.
    pub default: Option<ParamValue>,
}

impl Library {
    /// Loads every `*.yaml`/`*.yml` file under `dirs` (recursively, in name order).
    pub fn load(dirs: &[PathBuf], diags: &mut Diagnostics) -> Library {
        let mut library = Library::default();
        for root in dirs {
            let mut files = Vec::new();
            if root.is_file() {
                files.push(root.clone());
            } else if let Err(e) = collect_yaml_files(root, 0, &mut files) {
                diags
                    .error(
                        root,
                        Location::START,
                        format!("cannot read query library folder: {e}"),
                    )
                    .hint("check `query_library` in huntd.yaml");
                continue;
            }
            let base = if root.is_file() {
                root.parent().unwrap_or(root)
            } else {
                root.as_path()
            };
            for file in files {
                let folder = folder_name(base, &file);
                library.load_file(&file, &folder, diags);
            }
        }
        library
    }

    /// The query with this reference name.
    pub fn get(&self, name: &str) -> Option<&LibraryQuery> {
        self.queries.get(name)
    }

    /// Number of queries.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether the library holds no query.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// Every reference name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.queries.keys().map(String::as_str)
    }

    /// Every query, by name.
    pub fn iter(&self) -> impl Iterator<Item = &LibraryQuery> {
        self.queries.values()
    }

    fn load_file(&mut self, file: &Path, folder: &str, diags: &mut Diagnostics) {
        let root = match yaml::load_file(file) {
            Ok(root) => root,
            Err(diag) => {
                diags.push(diag);
                return;
            }
        };
        let mut check = Checker::new(file, diags);
        if check.map(&root, "a query library file").is_none() {
            return;
        }
        let environments = root
            .get("metadata")
            .and_then(|m| data_environments(&mut check, m));
        let Some(environments) = environments else {
            check
                .error(root.location, "missing `metadata.data_environments`")
                .hint("list the environments the queries serve, e.g. [MDE, M365DGraph]");
            return;
        };
        let mut defaults = BTreeMap::new();
        if let Some(params) = root.get("defaults").and_then(|d| d.get("parameters")) {
            parameters(&mut check, params, &mut defaults);
        }
        let Some(sources) = root.get("sources") else {
            check.error(root.location, "missing `sources`: no queries in this file");
            return;
        };
        if sources.is_null() {
            return;
        }
        let Some(entries) = check.map(sources, "`sources`") else {
            return;
        };
        for (key, entry) in entries {
            let Some(query) = query_entry(&mut check, entry, &environments, &defaults) else {
                continue;
            };
            let name = format!("{folder}/{}", key.name);
            let query = LibraryQuery {
                name: name.clone(),
                source: file.to_path_buf(),
                location: key.location,
                ..query
            };
            if let Some(first) = self.queries.get(&name) {
                check
                    .warning(
                        key.location,
                        format!(
                            "query `{name}` is already defined at {}:{}; this one is ignored",
                            first.source.display(),
                            first.location.line
                        ),
                    )
                    .hint("rename one of them or move it to another folder");
                continue;
            }
            self.queries.insert(name, query);
        }
    }
}

impl LibraryQuery {
    /// Whether the query's `data_environments` include `environment` under any of its names.
    pub fn supports(&self, environment: Environment) -> bool {
        self.data_environments
            .iter()
            .any(|written| Environment::parse(written).is_some_and(|(env, _)| env == environment))
    }

    /// Each parameter's default, or a sample of its type (`start` for datetimes): what a check
    /// or a test renders the query with when no job gives its parameters.
    pub fn sample_parameters(
        &self,
        start: chrono::DateTime<chrono::Utc>,
    ) -> BTreeMap<String, ParamValue> {
        self.parameters
            .iter()
            .map(|(name, spec)| {
                let value = spec.default.clone().unwrap_or(match spec.param_type {
                    ParamType::Int => ParamValue::Int(1),
                    ParamType::DateTime => ParamValue::DateTime(start),
                    ParamType::List => ParamValue::List(vec!["sample".to_string()]),
                    ParamType::Str => self.str_sample(name, start),
                });
                (name.clone(), value)
            })
            .collect()
    }

    /// A sample for a `str` parameter that fits where the query puts it: msticpy pastes `str`
    /// values in as written, so the library writes `datetime({timestamp})`, `RemotePort ==
    /// {protocol}` or `has_any ({cmd_line})` and expects the caller to bring the literal.
    fn str_sample(&self, name: &str, start: chrono::DateTime<chrono::Utc>) -> ParamValue {
        let placeholder = format!("{{{name}}}");
        let before = self
            .query
            .find(&placeholder)
            .map_or("", |at| self.query[..at].trim_end());
        if before.ends_with("datetime(") {
            ParamValue::DateTime(start)
        } else if before.ends_with(['"', '\'']) {
            ParamValue::Str("sample".to_string())
        } else if before.ends_with(['=', '<', '>', '+', '-', '*']) {
            ParamValue::Int(1)
        } else if before.ends_with(['(', ',']) {
            ParamValue::List(vec!["sample".to_string()])
        } else {
            ParamValue::Str("sample".to_string())
        }
    }

    /// Parameters without a default, which a job must give.
    pub fn required_parameters(&self) -> impl Iterator<Item = &str> {
        self.parameters
            .iter()
            .filter(|(name, spec)| {
                spec.default.is_none()
                    && !crate::jobs::template::WINDOW_PLACEHOLDERS.contains(&name.as_str())
            })
            .map(|(name, _)| name.as_str())
    }
}

fn collect_yaml_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            if depth < MAX_DEPTH {
                collect_yaml_files(&path, depth + 1, out)?;
            }
        } else if is_yaml(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether the file name ends in `.yaml` or `.yml`.
pub(crate) fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn folder_name(root: &Path, file: &Path) -> String {
    let parent = file.parent().unwrap_or(root);
    let relative = parent.strip_prefix(root).unwrap_or(parent);
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if !parts.is_empty() {
        return parts.join("/");
    }
    // A root like `.` has no name of its own: ask the file system for the real one.
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            std::fs::canonicalize(root)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_default()
}

fn data_environments(check: &mut Checker<'_>, metadata: &Node) -> Option<Vec<String>> {
    let node = metadata.get("data_environments")?;
    let list = check.strings(node, "`data_environments`")?;
    Some(list.into_iter().map(|(s, _)| s).collect())
}

fn parameters(check: &mut Checker<'_>, node: &Node, out: &mut BTreeMap<String, ParamSpec>) {
    if node.is_null() {
        return;
    }
    let Some(entries) = check.map(node, "`parameters`") else {
        return;
    };
    for (key, spec) in entries {
        if let Some(spec) = param_spec(check, &key.name, spec) {
            out.insert(key.name.clone(), spec);
        }
    }
}

fn param_spec(check: &mut Checker<'_>, name: &str, node: &Node) -> Option<ParamSpec> {
    let what = format!("parameter `{name}`");
    check.map(node, &what)?;
    let description = node
        .get("description")
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    let Some(type_node) = node.get("type") else {
        check
            .error(node.location, format!("{what} has no `type`"))
            .hint(format!("one of: {}", ParamType::NAMES.join(", ")));
        return None;
    };
    let type_name = check.string(type_node, &format!("the type of {what}"))?;
    let Some(param_type) = ParamType::parse(&type_name) else {
        check
            .error(
                type_node.location,
                format!("unknown type `{type_name}` for {what}"),
            )
            .hint(format!("one of: {}", ParamType::NAMES.join(", ")));
        return None;
    };
    let default = match node.get("default") {
        Some(d) if !d.is_null() => Some(param_value(check, d, param_type, &what)?),
        _ => None,
    };
    Some(ParamSpec {
        description,
        param_type,
        default,
    })
}

fn query_entry(
    check: &mut Checker<'_>,
    entry: &Node,
    environments: &[String],
    defaults: &BTreeMap<String, ParamSpec>,
) -> Option<LibraryQuery> {
    check.map(entry, "a query")?;
    let Some(query_node) = entry.get("args").and_then(|a| a.get("query")) else {
        check.error(entry.location, "query has no `args.query`");
        return None;
    };
    let query = check.string(query_node, "`args.query`")?;
    let description = entry
        .get("description")
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    let data_environments = entry
        .get("metadata")
        .and_then(|m| data_environments(check, m))
        .unwrap_or_else(|| environments.to_vec());
    let mut params = defaults.clone();
    if let Some(own) = entry.get("parameters") {
        parameters(check, own, &mut params);
    }
    Some(LibraryQuery {
        name: String::new(),
        description,
        query: query.trim().to_string(),
        data_environments,
        parameters: params,
        source: PathBuf::new(),
        location: entry.location,
    })
}

/// Reads a parameter value of type `param_type`, recording an error naming `what` if it does
/// not fit. Strings are accepted for every type, as msticpy converts them.
pub(crate) fn param_value(
    check: &mut Checker<'_>,
    node: &Node,
    param_type: ParamType,
    what: &str,
) -> Option<ParamValue> {
    let wrong = |check: &mut Checker<'_>, expected: &str| {
        check.error(
            node.location,
            format!("{what} must be {expected}, found {}", node.kind()),
        );
        None
    };
    match (param_type, &node.value) {
        (ParamType::Str, Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
            node.scalar_text().map(ParamValue::Str)
        }
        (ParamType::Str, _) => wrong(check, "a string"),
        (ParamType::Int, Value::Int(i)) => Some(ParamValue::Int(*i)),
        (ParamType::Int, Value::Str(s)) => {
            if let Ok(i) = s.trim().parse() {
                Some(ParamValue::Int(i))
            } else {
                check.error(
                    node.location,
                    format!("{what} must be a whole number, found `{s}`"),
                );
                None
            }
        }
        (ParamType::Int, _) => wrong(check, "a whole number"),
        (ParamType::DateTime, Value::Str(s)) => {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
                Some(ParamValue::DateTime(t.with_timezone(&chrono::Utc)))
            } else {
                check
                    .error(
                        node.location,
                        format!("{what} must be a date and time, found `{s}`"),
                    )
                    .hint("write it in RFC 3339 form, e.g. 2024-02-01T08:00:00Z");
                None
            }
        }
        (ParamType::DateTime, _) => wrong(check, "a date and time (RFC 3339 text)"),
        (ParamType::List, Value::Str(s)) => Some(ParamValue::list_from_csv(s)),
        (ParamType::List, Value::Seq(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(check.string(item, &format!("each item of {what}"))?);
            }
            Some(ParamValue::List(out))
        }
        (ParamType::List, _) => wrong(check, "a list or a comma-separated string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, relative: &str, text: &str) -> PathBuf {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write fixture");
        path
    }

    const FILE: &str = r#"metadata:
  version: 1
  data_environments: [MDE, MDATP]
defaults:
  metadata:
  parameters:
    table:
      description: Table name
      type: str
      default: "DeviceProcessEvents"
    start:
      description: Query start time
      type: datetime
sources:
  by_host:
    description: Processes on a host
    metadata:
    args:
      query: '
        {table}
        | where Timestamp >= datetime({start})
        | where DeviceName has "{host_name}"'
      uri: None
    parameters:
      host_name:
        description: Host
        type: str
      limit:
        type: int
        default: 10
      names:
        type: list
        default: "a, b"
"#;

    /// The library under `root` of a folder holding only `FILE`, at `path`.
    fn load_file_at(path: &str, root: &str) -> (Library, Diagnostics) {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), path, FILE);
        let mut diags = Diagnostics::new();
        let library = Library::load(&[dir.path().join(root)], &mut diags);
        (library, diags)
    }

    #[test]
    fn loads_queries_with_merged_parameters_and_folder_names() {
        let (library, diags) = load_file_at("lib/mde/proc.yaml", "lib");
        assert!(diags.is_empty(), "{:?}", diags.sorted());
        assert_eq!(library.len(), 1);
        let q = library.get("mde/by_host").expect("loaded");
        assert!(
            q.query.starts_with("{table} | where Timestamp"),
            "{}",
            q.query
        );
        assert_eq!(
            q.parameters["table"].default,
            Some(ParamValue::Str("DeviceProcessEvents".into()))
        );
        assert_eq!(q.parameters["limit"].default, Some(ParamValue::Int(10)));
        assert_eq!(
            q.parameters["names"].default,
            Some(ParamValue::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(q.required_parameters().collect::<Vec<_>>(), ["host_name"]);
        assert!(q.supports(Environment::Mde));
        assert!(!q.supports(Environment::Graph));
        assert_eq!(q.location.line, 15);
    }

    #[test]
    fn files_directly_in_the_root_use_the_root_name() {
        let (library, _) = load_file_at("huntd/proc.yml", "huntd");
        assert!(
            library.get("huntd/by_host").is_some(),
            "{:?}",
            library.names().collect::<Vec<_>>()
        );
    }

    #[test]
    fn duplicate_names_warn_and_keep_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "lib/x/a.yaml", FILE);
        let second = write(dir.path(), "lib/x/b.yaml", FILE);
        let mut diags = Diagnostics::new();
        let library = Library::load(&[dir.path().join("lib")], &mut diags);
        assert_eq!(library.len(), 1);
        assert!(
            library
                .get("x/by_host")
                .expect("kept")
                .source
                .ends_with("a.yaml")
        );
        let d = diags.sorted()[0].clone();
        assert!(!d.is_error());
        assert_eq!(d.file, second);
        assert!(d.message.contains("already defined"), "{}", d.message);
    }

    #[test]
    fn bad_parameter_types_and_missing_query_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "lib/x/a.yaml",
            "metadata:\n  data_environments: [MDE]\nsources:\n  q1:\n    args:\n      query: T\n    parameters:\n      p:\n        type: float\n  q2:\n    args: {}\n",
        );
        let mut diags = Diagnostics::new();
        let library = Library::load(&[dir.path().join("lib")], &mut diags);
        let messages: Vec<String> = diags.sorted().iter().map(|d| d.message.clone()).collect();
        assert_eq!(
            messages,
            [
                "unknown type `float` for parameter `p`",
                "query has no `args.query`"
            ]
        );
        assert_eq!(library.len(), 1, "q1 still loads without the bad parameter");
    }

    #[test]
    fn missing_folder_is_an_error() {
        let mut diags = Diagnostics::new();
        let library = Library::load(&[PathBuf::from("/nonexistent/huntd-lib")], &mut diags);
        assert!(library.is_empty());
        assert!(diags.has_errors());
    }

    #[test]
    fn every_msticpy_reference_query_loads() {
        // The shared reference data sits beside the checkout, where it exists at all.
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/msticpy-queries");
        if !root.is_dir() {
            eprintln!("skipped: {} not found", root.display());
            return;
        }
        let mut diags = Diagnostics::new();
        let library = Library::load(&[root], &mut diags);
        assert!(diags.is_empty(), "{:?}", diags.sorted());
        assert_eq!(library.len(), 99);
        assert!(library.get("m365d/list_alerts").is_some());
        assert!(library.get("mde/list_host_processes").is_some());
    }
}
