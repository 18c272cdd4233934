//! The layout rules of DEVELOPERS.md, held over every source file git tracks in `src/`,
//! `crates/*/src/` and `tests/`: no file over 900 lines, no function over 100 lines (tables of
//! data named in the allowlists below excepted), and no import ring among the members of one
//! folder, its files and its subfolders. Each failure names the file, the line and the rule.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::process::Command;

use syn::visit::{self, Visit};

const MAX_FILE_LINES: usize = 900;
const MAX_FN_LINES: usize = 100;

/// Files allowed over `MAX_FILE_LINES`, with why: only tables of data.
const LONG_FILES: &[(&str, &str)] = &[];

/// Functions allowed over `MAX_FN_LINES` as (file, fn, why): only those whose body is a table of
/// data.
const LONG_FNS: &[(&str, &str, &str)] = &[(
    "crates/kql/src/functions/mod.rs",
    "lookup",
    "a table of data: each KQL function's name, its `Func` and its argument counts, one a line",
)];

/// One source file: its path from the workspace root, with `/`, and its text.
struct Source {
    path: String,
    text: String,
}

/// What one check found, and how much it read, so that it cannot pass on nothing.
#[derive(Debug, Default)]
struct Report {
    files: usize,
    fns: usize,
    edges: BTreeSet<(String, String, String)>,
    /// The `.rs` files no crate root's `mod` items reach: their imports go unchecked.
    unmounted: Vec<String>,
    problems: Vec<String>,
}

#[test]
fn the_workspace_keeps_its_layout_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = check(&read_sources(root), LONG_FILES, LONG_FNS);
    assert!(
        report.problems.is_empty(),
        "the layout rules of DEVELOPERS.md are broken:\n{}",
        report.problems.join("\n")
    );
    eprintln!(
        "{} files, {} functions, {} imports between sibling members",
        report.files,
        report.fns,
        report.edges.len()
    );
    assert!(
        report.unmounted.is_empty(),
        "no crate root's `mod` items reach {:?}, so their imports go unchecked",
        report.unmounted
    );
    assert!(report.files > 300, "read only {} files", report.files);
    assert!(report.fns > 2500, "found only {} functions", report.fns);
    assert!(
        report.edges.len() > 300,
        "found only {} imports between sibling members",
        report.edges.len()
    );
    // DEVELOPERS.md: "imports run context <- worker <- scheduler <- loops <- `daemon`".
    let worker_uses_context = (
        "src/daemon".to_owned(),
        "worker.rs".to_owned(),
        "context.rs".to_owned(),
    );
    assert!(
        report.edges.contains(&worker_uses_context),
        "src/daemon/worker.rs's import of context.rs not seen"
    );
}

/// The tracked `.rs` and `.js` files under `src/`, `tests/` and `crates/*/{src,tests}/`.
fn read_sources(root: &Path) -> Vec<Source> {
    let listed = Command::new("git")
        .args(["ls-files", "-z", "--", "src", "tests", "crates"])
        .current_dir(root)
        .output()
        .expect("git runs: the layout test lists the files git tracks");
    assert!(
        listed.status.success(),
        "git ls-files: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed = String::from_utf8(listed.stdout).expect("UTF-8 paths");
    let mut sources = Vec::new();
    for path in listed.split('\0').filter(|p| is_source(p)) {
        // Listed but deleted in the work tree: nothing to check.
        let Ok(text) = std::fs::read_to_string(root.join(path)) else {
            continue;
        };
        if !text.lines().take(5).any(|line| line.contains("@generated")) {
            sources.push(Source {
                path: path.to_owned(),
                text,
            });
        }
    }
    sources
}

fn is_source(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    matches!(
        parts.as_slice(),
        ["src" | "tests", ..] | ["crates", _, "src" | "tests", ..]
    ) && !parts.iter().any(|p| *p == "target" || *p == "node_modules")
        && matches!(extension(path), "rs" | "js")
}

fn extension(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(_, extension)| extension)
}

/// Every rule over `sources`; `long_files` and `long_fns` are the allowlists.
fn check(
    sources: &[Source],
    long_files: &[(&str, &str)],
    long_fns: &[(&str, &str, &str)],
) -> Report {
    let mut report = Report {
        files: sources.len(),
        ..Report::default()
    };
    let mut parsed = BTreeMap::new();
    let mut long_files_seen = BTreeSet::new();
    let mut long_fns_seen = BTreeSet::new();
    for source in sources {
        let lines = source.text.lines().count();
        if lines > MAX_FILE_LINES {
            if let Some(i) = long_files.iter().position(|(file, _)| *file == source.path) {
                long_files_seen.insert(i);
            } else {
                report.problems.push(format!(
                    "{}:{}: file is {lines} lines (limit {MAX_FILE_LINES})",
                    source.path,
                    MAX_FILE_LINES + 1
                ));
            }
        }
        if extension(&source.path) != "rs" {
            continue;
        }
        let ast = match syn::parse_file(&source.text) {
            Ok(ast) => ast,
            Err(e) => {
                let at = e.span().start();
                report
                    .problems
                    .push(format!("{}:{}: does not parse: {e}", source.path, at.line));
                continue;
            }
        };
        let mut collector = Collector::default();
        collector.visit_file(&ast);
        report.fns += collector.fns.len();
        for f in &collector.fns {
            let length = f.last - f.first + 1;
            if length <= MAX_FN_LINES {
                continue;
            }
            let allowed = long_fns
                .iter()
                .position(|(file, name, _)| *file == source.path && *name == f.name);
            if let Some(i) = allowed {
                long_fns_seen.insert(i);
            } else {
                report.problems.push(format!(
                    "{}:{}: fn {} is {length} lines (limit {MAX_FN_LINES})",
                    source.path, f.first, f.name
                ));
            }
        }
        parsed.insert(source.path.as_str(), (ast, collector.refs));
    }
    for (i, (file, why)) in long_files.iter().enumerate() {
        if !long_files_seen.contains(&i) {
            report.problems.push(format!(
                "{file}: allowed over {MAX_FILE_LINES} lines ({why}) but is not: drop it from LONG_FILES"
            ));
        }
    }
    for (i, (file, name, why)) in long_fns.iter().enumerate() {
        if !long_fns_seen.contains(&i) {
            report.problems.push(format!(
                "{file}: fn {name} allowed over {MAX_FN_LINES} lines ({why}) but is not: drop it from LONG_FNS"
            ));
        }
    }
    check_imports(&parsed, &mut report);
    report
}

/// A function's name and the lines of its `fn` and of its closing brace.
struct Function {
    name: String,
    first: usize,
    last: usize,
}

/// A path to an item as written in a file: its segments, its line, and the inline modules
/// (`mod tests { ... }`) it is written in, which `self` and `super` start from.
struct Reference {
    segments: Vec<String>,
    line: usize,
    inline: Vec<String>,
}

/// Collects a file's functions and the paths its `use` items and code name.
#[derive(Default)]
struct Collector {
    inline: Vec<String>,
    fns: Vec<Function>,
    refs: Vec<Reference>,
}

impl Collector {
    fn function(&mut self, sig: &syn::Signature, block: &syn::Block) {
        self.fns.push(Function {
            name: sig.ident.to_string(),
            first: sig.fn_token.span.start().line,
            last: block.brace_token.span.close().end().line,
        });
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(&f.sig, &f.block);
        visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.function(&f.sig, &f.block);
        visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.function(&f.sig, block);
        }
        visit::visit_trait_item_fn(self, f);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        // `mod x;` declares a child, it imports nothing.
        if m.content.is_some() {
            self.inline.push(m.ident.to_string());
            visit::visit_item_mod(self, m);
            self.inline.pop();
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if u.leading_colon.is_none() {
            let mut found = Vec::new();
            use_paths(&u.tree, &mut Vec::new(), &mut found);
            for (segments, line) in found {
                self.refs.push(Reference {
                    segments,
                    line,
                    inline: self.inline.clone(),
                });
            }
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() && p.segments.len() > 1 {
            self.refs.push(Reference {
                segments: p.segments.iter().map(|s| s.ident.to_string()).collect(),
                line: p.segments[0].ident.span().start().line,
                inline: self.inline.clone(),
            });
        }
        visit::visit_path(self, p);
    }

    // Attribute paths (`tokio::test`) and `pub(in path)` name no item a file depends on.
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
}

/// The paths of one `use` tree, each with the line of its last name.
fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, usize)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => out.push((leaf(prefix, &n.ident), n.ident.span().start().line)),
        syn::UseTree::Rename(r) => out.push((leaf(prefix, &r.ident), r.ident.span().start().line)),
        syn::UseTree::Glob(g) => out.push((prefix.clone(), g.star_token.span.start().line)),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                use_paths(tree, prefix, out);
            }
        }
    }
}

/// `prefix::name`, or `prefix` itself for `prefix::{self}`.
fn leaf(prefix: &[String], name: &syn::Ident) -> Vec<String> {
    let mut path = prefix.to_vec();
    if name != "self" {
        path.push(name.to_string());
    }
    path
}

type Parsed<'a> = BTreeMap<&'a str, (syn::File, Vec<Reference>)>;

/// A file mounted as a module of a crate: the crate (its root file), the module's path in it.
struct Mount<'a> {
    krate: &'a str,
    module: Vec<String>,
    file: &'a str,
}

/// Whether `path` is a crate's root: a library, a binary, a test, an example or a bench.
fn is_crate_root(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let parts = match parts.as_slice() {
        ["crates", _, rest @ ..] => rest,
        all => all,
    };
    matches!(
        parts,
        ["src", "lib.rs" | "main.rs"] | ["src", "bin", _] | ["tests" | "examples" | "benches", _]
    )
}

/// Where an import is written: the file, the line and the path as written there.
type Written<'a> = (&'a str, usize, String);

/// The imports between the members of every folder, and a ring among them reported as a problem.
/// A folder's members are the child modules of one module (`mod.rs`, `lib.rs` or `x.rs` beside
/// `x/`), each named by its own file: `x.rs`, or `x/` for `x/mod.rs`; the parent's file is not
/// among them. A member's imports are the paths, in a `use` or in code, from its file or from any
/// file below it to an item of a sibling member or of anything below that sibling; so at every
/// level a subfolder is one member of its parent's folder. The modules are those the crate roots'
/// `mod` items mount, `#[path]` followed.
fn check_imports(parsed: &Parsed, report: &mut Report) {
    let mut mounts = Vec::new();
    for &root in parsed.keys().filter(|path| is_crate_root(path)) {
        mount(parsed, root, root, Vec::new(), true, &mut mounts);
    }
    let mounted: BTreeSet<&str> = mounts.iter().map(|m| m.file).collect();
    report.unmounted = parsed
        .keys()
        .filter(|f| !mounted.contains(*f))
        .map(|f| (*f).to_owned())
        .collect();
    let mut modules: HashMap<(&str, &[String]), &str> = HashMap::new();
    for m in &mounts {
        modules.insert((m.krate, m.module.as_slice()), m.file);
    }
    // folder -> (from, to) -> where the first such import is written, by file and line.
    let mut graphs: BTreeMap<String, BTreeMap<(String, String), Written>> = BTreeMap::new();
    for m in &mounts {
        for r in &parsed[m.file].1 {
            let Some(target) = resolve(&modules, m, r) else {
                continue;
            };
            let shared = m
                .module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if m.module.len() == shared || target.len() == shared {
                continue; // the module itself, an ancestor or a descendant
            }
            // The two children of the module both are in, each a member with its own file; an
            // inline module (`mod tests { ... }`) has none: its items are its parent's file's.
            let (Some(from), Some(to)) = (
                modules.get(&(m.krate, &m.module[..=shared])),
                modules.get(&(m.krate, &target[..=shared])),
            ) else {
                continue;
            };
            let (folder, from_name) = folder_and_name(from);
            let (to_folder, to_name) = folder_and_name(to);
            if folder != to_folder {
                continue; // siblings by `#[path]` from two folders
            }
            report
                .edges
                .insert((folder.clone(), from_name.clone(), to_name.clone()));
            let at = (m.file, r.line, r.segments.join("::"));
            let first = graphs
                .entry(folder)
                .or_default()
                .entry((from_name, to_name))
                .or_insert_with(|| at.clone());
            if (at.0, at.1) < (first.0, first.1) {
                *first = at;
            }
        }
    }
    for (folder, edges) in &graphs {
        for ring in rings(edges) {
            let evidence: Vec<String> = ring
                .windows(2)
                .map(|w| {
                    let (file, line, path) = &edges[&(w[0].clone(), w[1].clone())];
                    format!("{file}:{line} uses {path}")
                })
                .collect();
            report.problems.push(format!(
                "import ring in {folder}: {} ({})",
                ring.join(" -> "),
                evidence.join("; ")
            ));
        }
    }
}

/// Mounts `file` as `module` of `krate`, then the files its `mod x;` items declare.
fn mount<'a>(
    parsed: &'a Parsed,
    krate: &'a str,
    file: &'a str,
    module: Vec<String>,
    mod_rs: bool,
    out: &mut Vec<Mount<'a>>,
) {
    if module.len() > 16 {
        return; // a `#[path]` loop
    }
    let mut declared = Vec::new();
    declared_mods(&parsed[file].0.items, &mut Vec::new(), &mut declared);
    let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
    for (inline, name, path_attr) in declared {
        // A non-mod.rs file `x.rs` keeps its children in `x/`.
        let mut base = dir.to_owned();
        if !mod_rs && (path_attr.is_none() || !inline.is_empty()) {
            let stem = file
                .rsplit('/')
                .next()
                .unwrap_or(file)
                .trim_end_matches(".rs");
            base = format!("{base}/{stem}");
        }
        for m in &inline {
            base = format!("{base}/{m}");
        }
        let flat = format!("{base}/{name}.rs");
        let (child, child_mod_rs) = if let Some(p) = &path_attr {
            (normalize(&format!("{base}/{p}")), true)
        } else if parsed.contains_key(flat.as_str()) {
            (flat, false)
        } else {
            (format!("{base}/{name}/mod.rs"), true)
        };
        let Some((child_file, _)) = parsed.get_key_value(child.as_str()) else {
            continue;
        };
        let mut child_module = module.clone();
        child_module.extend(inline.iter().cloned());
        child_module.push(name);
        mount(parsed, krate, child_file, child_module, child_mod_rs, out);
    }
    out.push(Mount {
        krate,
        module,
        file,
    });
}

/// The `mod x;` items of a file: the inline modules they are in, the name, the `#[path]`.
fn declared_mods(
    items: &[syn::Item],
    inline: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, String, Option<String>)>,
) {
    for item in items {
        let syn::Item::Mod(m) = item else { continue };
        if let Some((_, items)) = &m.content {
            inline.push(m.ident.to_string());
            declared_mods(items, inline, out);
            inline.pop();
            continue;
        }
        let path_attr = m.attrs.iter().find_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        });
        out.push((inline.clone(), m.ident.to_string(), path_attr));
    }
}

/// `a/./b/../c` as `a/c`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// The module of its crate a reference names an item of (the deepest one its path goes through),
/// or `None` for another crate's.
fn resolve(
    modules: &HashMap<(&str, &[String]), &str>,
    m: &Mount,
    r: &Reference,
) -> Option<Vec<String>> {
    let mut at: Vec<String> = m.module.iter().chain(&r.inline).cloned().collect();
    let mut rest = r.segments.as_slice();
    match rest.first().map(String::as_str) {
        Some("crate") => {
            at.clear();
            rest = &rest[1..];
        }
        Some("self" | "super") => {
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "self" => {}
                    "super" => {
                        at.pop()?;
                    }
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        Some(first) => {
            // A child module named without `self::`; anything else is another crate or a local.
            let mut child = at.clone();
            child.push(first.to_owned());
            if !modules.contains_key(&(m.krate, child.as_slice())) {
                return None;
            }
        }
        None => return None,
    }
    for segment in rest {
        at.push(segment.clone());
        if !modules.contains_key(&(m.krate, at.as_slice())) {
            at.pop();
            break;
        }
    }
    // An inline module has no file: its items are its file's.
    while !modules.contains_key(&(m.krate, at.as_slice())) {
        at.pop()?;
    }
    Some(at)
}

/// The folder a module's file is a child of, and its name there: `x.rs`, or `x/` for `x/mod.rs`.
fn folder_and_name(file: &str) -> (String, String) {
    let (dir, name) = file.rsplit_once('/').unwrap_or(("", file));
    if name == "mod.rs" {
        let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
        (parent.to_owned(), format!("{name}/"))
    } else {
        (dir.to_owned(), name.to_owned())
    }
}

/// One ring through each strongly connected group of two members or more, shortest through the
/// group's first member, as the members in order with the first again at the end.
fn rings<V>(edges: &BTreeMap<(String, String), V>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
        next.entry(to).or_default();
    }
    let reach = |start: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(node) = todo.pop() {
            for &n in &next[node] {
                if seen.insert(n) {
                    todo.push(n);
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&str, BTreeSet<&str>> = next.keys().map(|&n| (n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for (&start, from_start) in &reached {
        if done.contains(start) || !from_start.contains(start) {
            continue;
        }
        let group: BTreeSet<&str> = from_start
            .iter()
            .copied()
            .filter(|n| reached[n].contains(start))
            .collect();
        done.extend(group.iter().copied());
        // Breadth first from `start` back to it, inside the group.
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        'search: while let Some(node) = queue.pop_front() {
            for &n in &next[node] {
                if n == start {
                    let mut ring = vec![start.to_owned(), node.to_owned()];
                    let mut at = node;
                    while at != start {
                        at = came_from[at];
                        ring.push(at.to_owned());
                    }
                    ring.reverse();
                    found.push(ring);
                    break 'search;
                }
                if group.contains(n) && !came_from.contains_key(n) {
                    came_from.insert(n, node);
                    queue.push_back(n);
                }
            }
        }
    }
    found
}

mod checker {
    use super::*;

    fn sources(files: &[(&str, &str)]) -> Vec<Source> {
        files
            .iter()
            .map(|(path, text)| Source {
                path: (*path).to_owned(),
                text: (*text).to_owned(),
            })
            .collect()
    }

    fn problems(files: &[(&str, &str)]) -> Vec<String> {
        check(&sources(files), &[], &[]).problems
    }

    fn ring_of_three(c: &str) -> Vec<(&str, &str)> {
        vec![
            ("src/lib.rs", "mod m;\n"),
            (
                "src/m/mod.rs",
                "mod a;\nmod b;\nmod c;\npub use a::X;\npub struct Error;\n",
            ),
            (
                "src/m/a.rs",
                "use super::Error;\nuse super::b::{self, Y};\npub struct X;\n",
            ),
            (
                "src/m/b.rs",
                "pub struct Y;\nfn f() {\n    super::c::g();\n}\n",
            ),
            ("src/m/c.rs", c),
        ]
    }

    #[test]
    fn a_ring_of_three_sibling_files_is_named_with_the_line_of_each_import() {
        let c = "pub fn g() {}\nfn h() -> crate::m::a::X {\n    crate::m::a::X\n}\n";
        assert_eq!(
            problems(&ring_of_three(c)),
            [
                "import ring in src/m: a.rs -> b.rs -> c.rs -> a.rs (src/m/a.rs:2 uses super::b; \
              src/m/b.rs:3 uses super::c::g; src/m/c.rs:2 uses crate::m::a::X)"
            ]
        );
    }

    #[test]
    fn the_parent_a_chain_and_a_test_module_s_super_make_no_ring() {
        let c = "pub fn g() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::Error;\n}\n";
        assert_eq!(problems(&ring_of_three(c)), Vec::<String>::new());
    }

    fn subfolder<'a>(p_mod: &'a str, deep: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("crates/k/src/lib.rs", "mod a;\nmod p;\n"),
            ("crates/k/src/a.rs", "use crate::p::Z;\npub fn thing() {}\n"),
            ("crates/k/src/p/mod.rs", p_mod),
            ("crates/k/src/p/deep.rs", deep),
        ]
    }

    #[test]
    fn a_subfolder_is_a_member_of_the_parent_folder_with_the_imports_of_every_file_below_it() {
        let p_mod = "pub mod deep;\npub struct Z;\n";
        let calls_a = "pub mod deep;\npub struct Z;\nfn f() {\n    crate::a::thing();\n}\n";
        let deep_calls_a = "fn g() {\n    crate::a::thing();\n}\n";
        let deep_uses_its_parent = "use super::Z;\nfn g() -> crate::p::Z {\n    Z\n}\n";
        assert_eq!(
            problems(&subfolder(calls_a, deep_uses_its_parent)),
            [
                "import ring in crates/k/src: a.rs -> p/ -> a.rs (crates/k/src/a.rs:1 uses \
              crate::p::Z; crates/k/src/p/mod.rs:4 uses crate::a::thing)"
            ]
        );
        assert_eq!(
            problems(&subfolder(p_mod, deep_calls_a)),
            [
                "import ring in crates/k/src: a.rs -> p/ -> a.rs (crates/k/src/a.rs:1 uses \
              crate::p::Z; crates/k/src/p/deep.rs:2 uses crate::a::thing)"
            ]
        );
        assert_eq!(
            problems(&subfolder(p_mod, deep_uses_its_parent)),
            Vec::<String>::new()
        );
    }

    /// Two subfolders `x` and `y` of `src/m`, `x` as `x/mod.rs` or as `x.rs` beside `x/`, whose
    /// deepest files use each other when `ring`.
    fn two_subfolders(x: &str, ring: bool) -> Report {
        let back = if ring {
            "super::super::x::inner::g"
        } else {
            "super::D"
        };
        let y_deep = format!("pub struct D;\nfn f() {{\n    {back}();\n}}\n");
        let files = [
            ("src/lib.rs", "mod m;\n"),
            ("src/m/mod.rs", "mod x;\nmod y;\n"),
            (x, "pub mod inner;\n"),
            (
                "src/m/x/inner.rs",
                "use crate::m::y::deep::D;\npub fn g() {}\n",
            ),
            ("src/m/y/mod.rs", "pub mod deep;\n"),
            ("src/m/y/deep.rs", &y_deep),
        ];
        check(&sources(&files), &[], &[])
    }

    #[test]
    fn a_ring_between_two_subfolders_is_named_in_their_parent_folder_at_any_depth() {
        for (x, name) in [("src/m/x/mod.rs", "x/"), ("src/m/x.rs", "x.rs")] {
            assert_eq!(
                two_subfolders(x, true).problems,
                [format!(
                    "import ring in src/m: {name} -> y/ -> {name} (src/m/x/inner.rs:1 uses \
                     crate::m::y::deep::D; src/m/y/deep.rs:3 uses super::super::x::inner::g)"
                )]
            );
            let one_way = two_subfolders(x, false);
            assert_eq!(one_way.problems, Vec::<String>::new());
            let edge = ("src/m".to_owned(), name.to_owned(), "y/".to_owned());
            assert_eq!(one_way.edges, BTreeSet::from([edge]));
        }
    }

    #[test]
    fn test_helpers_mounted_by_path_are_siblings_under_their_names_in_the_test() {
        let files = [
            (
                "tests/t.rs",
                "#[path = \"common/x.rs\"]\nmod common;\n#[path = \"common/y.rs\"]\nmod helper;\n",
            ),
            (
                "tests/common/x.rs",
                "use crate::helper::H;\npub fn g() {}\n",
            ),
            (
                "tests/common/y.rs",
                "pub struct H;\nfn f() {\n    crate::common::g();\n}\n",
            ),
        ];
        assert_eq!(
            problems(&files),
            [
                "import ring in tests/common: x.rs -> y.rs -> x.rs (tests/common/x.rs:1 uses \
              crate::helper::H; tests/common/y.rs:3 uses crate::common::g)"
            ]
        );
    }

    fn function(name: &str, lines: usize) -> String {
        format!(
            "fn {name}() {{\n{}}}\n",
            "    let _ = 1;\n".repeat(lines - 2)
        )
    }

    #[test]
    fn a_function_of_101_lines_is_reported_and_one_of_100_is_not() {
        let text = format!(
            "{}struct S;\nimpl S {{\n    {}}}\n",
            function("fits", 100),
            function("long", 101).replace('\n', "\n    ")
        );
        assert_eq!(
            problems(&[("src/lib.rs", &text)]),
            ["src/lib.rs:103: fn long is 101 lines (limit 100)"]
        );
        let allowed = check(
            &sources(&[("src/lib.rs", &text)]),
            &[],
            &[("src/lib.rs", "long", "a table")],
        );
        assert_eq!(allowed.problems, Vec::<String>::new());
        assert_eq!(allowed.fns, 2);
    }

    #[test]
    fn a_nested_function_counts_alone_and_within_its_outer_one() {
        let inner = function("inner", 101).replace('\n', "\n    ");
        let text = format!("fn outer() {{\n    {inner}}}\n");
        assert_eq!(
            problems(&[("src/lib.rs", &text)]),
            [
                "src/lib.rs:1: fn outer is 103 lines (limit 100)",
                "src/lib.rs:2: fn inner is 101 lines (limit 100)"
            ]
        );
    }

    #[test]
    fn a_file_of_901_lines_is_reported_and_a_stale_allowance_too() {
        let text = "// a line\n".repeat(901);
        assert_eq!(
            problems(&[("src/lib.rs", &text)]),
            ["src/lib.rs:901: file is 901 lines (limit 900)"]
        );
        let short = check(
            &sources(&[("src/lib.rs", "")]),
            &[("src/lib.rs", "a table")],
            &[],
        );
        assert_eq!(
            short.problems,
            ["src/lib.rs: allowed over 900 lines (a table) but is not: drop it from LONG_FILES"]
        );
    }
}
