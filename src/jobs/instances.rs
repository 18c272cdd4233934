//! Which instances a job hunts: `instance: X` for one tenant, or `instances:` as a list of
//! names, `{tags: [...]}` (every instance with one of the tags) or `all`. Each (job, instance)
//! pair becomes its own stream in the daemon and the store.

use std::collections::{BTreeMap, BTreeSet};

use super::fields::Fields;
use crate::diagnostic::{Location, did_you_mean};
use crate::yaml::{Checker, Node};

const NO_INSTANCES: &str =
    "no instances are defined: add one under `instances:` in huntd.yaml or in msticpyconfig.yaml";

/// The instances jobs may name, each with its `Tags:`. An instance that failed validation is
/// listed with no tags, so a job naming it is not told a second time that it is unknown.
pub type InstanceTags = BTreeMap<String, Vec<String>>;

/// The job's instances from `instance:` or `instances:`, in the order written (`tags` and
/// `all` in name order), each known and none twice.
pub(super) fn instances(
    check: &mut Checker<'_>,
    fields: &Fields<'_>,
    at: Location,
    known: &InstanceTags,
) -> Option<Vec<String>> {
    match (fields.get("instance"), fields.get("instances")) {
        (Some(_), Some(many)) => {
            check
                .error(many.location, "a job has both `instance` and `instances`")
                .hint("keep `instance: X` for one tenant, or list them all under `instances:`");
            None
        }
        (Some(one), None) => {
            let name = check.string(one, "`instance`")?;
            known_name(check, one.location, &name, known).then(|| vec![name])
        }
        (None, Some(many)) => selection(check, many, known),
        (None, None) => {
            check.error(at, "job has no `instance`").hint(
                "name the Defender instance to query, e.g. `instance: Default`, or several with \
                 `instances: [Contoso, Fabrikam]`, `instances: {tags: [mssp]}` or `instances: all`",
            );
            None
        }
    }
}

/// `instances:` as a list, `{tags: [...]}` or `all`.
fn selection(check: &mut Checker<'_>, node: &Node, known: &InstanceTags) -> Option<Vec<String>> {
    if node.as_str().is_some() {
        let word = check.string(node, "`instances`")?;
        if word != "all" {
            check
                .error(
                    node.location,
                    format!("`instances: {word}` is not a selection"),
                )
                .hint("write `instances: all`, a list `[Contoso, Fabrikam]` or `{tags: [mssp]}`");
            return None;
        }
        if known.is_empty() {
            check
                .error(node.location, "`instances: all` selects no instance")
                .hint(NO_INSTANCES);
            return None;
        }
        return Some(known.keys().cloned().collect());
    }
    if let Some(entries) = node.as_map() {
        check.unknown_keys(entries, &["tags"], "`instances`");
        let Some(tags) = node.get("tags") else {
            check
                .error(node.location, "`instances` as a mapping needs `tags:`")
                .hint("e.g. `instances: {tags: [mssp]}`");
            return None;
        };
        return by_tags(check, tags, known);
    }
    let names = check.strings(node, "`instances`")?;
    if names.is_empty() {
        check
            .error(node.location, "`instances` lists no instance")
            .hint("name at least one, e.g. `instances: [Contoso]`");
        return None;
    }
    let mut seen = BTreeSet::new();
    let mut chosen = Vec::new();
    let mut ok = true;
    for (name, at) in names {
        if !seen.insert(name.clone()) {
            check
                .error(at, format!("instance `{name}` is listed twice"))
                .hint("list each instance once");
            ok = false;
        } else if known_name(check, at, &name, known) {
            chosen.push(name);
        } else {
            ok = false;
        }
    }
    ok.then_some(chosen)
}

/// Every instance carrying at least one of the tags under `tags:`.
fn by_tags(check: &mut Checker<'_>, node: &Node, known: &InstanceTags) -> Option<Vec<String>> {
    let wanted = check.strings(node, "`instances.tags`")?;
    if wanted.is_empty() {
        check
            .error(node.location, "`instances.tags` lists no tag")
            .hint("e.g. `instances: {tags: [mssp]}`");
        return None;
    }
    let chosen: Vec<String> = known
        .iter()
        .filter(|(_, tags)| tags.iter().any(|t| wanted.iter().any(|(w, _)| w == t)))
        .map(|(name, _)| name.clone())
        .collect();
    if chosen.is_empty() {
        let all: BTreeSet<&str> = known.values().flatten().map(String::as_str).collect();
        let wanted: Vec<&str> = wanted.iter().map(|(w, _)| w.as_str()).collect();
        let diag = check.error(
            node.location,
            format!("no instance has the tag {}", wanted.join(" or ")),
        );
        if all.is_empty() {
            diag.hint("give instances labels with `Tags: [mssp]` in their settings");
        } else {
            let all: Vec<&str> = all.into_iter().collect();
            diag.hint(format!("tags in use: {}", all.join(", ")));
        }
        return None;
    }
    Some(chosen)
}

/// Whether `name` is a known instance; records the error (with a suggestion) when not.
fn known_name(check: &mut Checker<'_>, at: Location, name: &str, known: &InstanceTags) -> bool {
    if known.contains_key(name) {
        return true;
    }
    let list = known
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let diag = check.error(at, format!("unknown instance `{name}`"));
    if known.is_empty() {
        diag.hint(NO_INSTANCES);
        return false;
    }
    match did_you_mean(name, known.keys().map(String::as_str)) {
        Some(suggestion) => diag.hint(format!(
            "did you mean `{suggestion}`? known instances: {list}"
        )),
        None => diag.hint(format!("known instances: {list}")),
    };
    false
}
