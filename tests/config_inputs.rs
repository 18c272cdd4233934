//! Every mistake in a config, job or query library file gets a diagnostic that points into a
//! real file at a real line, never a panic: the example config, a job and a library file,
//! mutated line by line (deleted, cut in half, a YAML indicator inserted, indented by a tab) and
//! cut short at many lengths, each loaded as `validate` and the daemon load them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use huntd::load::{Loaded, Scope};

/// What is put at a line's indentation: the characters YAML gives a meaning.
const INSERTS: [&str; 12] = [
    ":", "- ", "[", "{", "\"", "'", "&a ", "*a ", "!tag ", "%", "|", "? ",
];

/// A copy of the example config, jobs and query library, laid out as in the repository.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["examples", "jobs", "queries"] {
        copy_tree(&repo.join(folder), &dir.path().join(folder));
    }
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Each mutation of `text`: lines deleted, cut, with an indicator or a tab inserted, and the
/// whole text cut short every few bytes.
fn mutations(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let with_line = |i: usize, line: String| {
        let mut out: Vec<String> = lines.iter().map(|l| (*l).to_string()).collect();
        out[i] = line;
        out.join("\n")
    };
    let mut all = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut rest: Vec<&str> = lines.clone();
        rest.remove(i);
        all.push(rest.join("\n"));
        let half = line.char_indices().nth(line.chars().count() / 2);
        all.push(with_line(
            i,
            line[..half.map_or(0, |(at, _)| at)].to_string(),
        ));
        let indent = line.len() - line.trim_start().len();
        for insert in INSERTS {
            all.push(with_line(
                i,
                format!("{}{insert}{}", &line[..indent], &line[indent..]),
            ));
        }
        all.push(with_line(i, format!("\t{line}")));
    }
    let cuts = text.char_indices().map(|(at, _)| at).step_by(5);
    all.extend(cuts.map(|at| text[..at].to_string()));
    all
}

/// Loads the config with `file` (below the workspace) replaced by each mutation; returns how
/// many loads reported an error.
fn load_each(dir: &Path, file: &str) -> (usize, usize) {
    let path = dir.join(file);
    let original = std::fs::read_to_string(&path).expect("read");
    let all = mutations(&original);
    let mut errors = 0;
    for text in &all {
        std::fs::write(&path, text).expect("write");
        let config = dir.join("examples/huntd.yaml");
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            Loaded::from_path(&config, Scope::Credentials)
        }))
        .unwrap_or_else(|_| panic!("loading panicked with {file} as:\n{text}"));
        for d in loaded.diagnostics.iter() {
            let lines = std::fs::read_to_string(&d.file)
                .unwrap_or_else(|e| {
                    panic!("{d}: its file cannot be read ({e}), {file} as:\n{text}")
                })
                .lines()
                .count();
            let line = usize::try_from(d.location.line).expect("line");
            assert!(
                line <= lines + 1 && !d.message.is_empty(),
                "{d}: line {line} of a {lines}-line file, {file} as:\n{text}"
            );
        }
        errors += usize::from(loaded.diagnostics.has_errors());
    }
    std::fs::write(&path, original).expect("restore");
    (errors, all.len())
}

#[test]
fn the_example_config_loads_clean_before_it_is_mutated() {
    let dir = workspace();
    let loaded = Loaded::from_path(&dir.path().join("examples/huntd.yaml"), Scope::Credentials);
    assert!(!loaded.diagnostics.has_errors(), "{:?}", loaded.diagnostics);
    assert!(!loaded.jobs.is_empty());
}

/// Mutates `file` of a fresh workspace; most mutations must be reported as errors (comments and
/// blank lines mutate harmlessly).
fn mutations_are_caught(file: &str) {
    let dir = workspace();
    let (errors, total) = load_each(dir.path(), file);
    println!("{file}: {errors} of {total} mutations reported an error");
    assert!(
        errors * 4 >= total,
        "{errors} of {total} mutations of {file} reported an error"
    );
}

#[test]
fn every_mutation_of_the_config_is_loaded_without_a_panic_and_its_problems_point_into_a_file() {
    mutations_are_caught("examples/huntd.yaml");
}

#[test]
fn every_mutation_of_a_job_is_loaded_without_a_panic_and_its_problems_point_into_a_file() {
    mutations_are_caught("jobs/rare-ports.yaml");
}

#[test]
fn every_mutation_of_a_library_file_loads_without_a_panic_and_points_into_a_file() {
    mutations_are_caught("queries/huntd/process.yaml");
}

#[test]
fn every_mutation_of_an_msticpyconfig_loads_without_a_panic_and_points_into_a_file() {
    let dir = workspace();
    let examples = dir.path().join("examples");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/msticpyconfig.yaml");
    std::fs::copy(fixture, examples.join("msticpyconfig.yaml")).expect("copy");
    let config = examples.join("huntd.yaml");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        format!("{text}\nmsticpyconfig: msticpyconfig.yaml\n"),
    )
    .expect("write");
    // The fixture's secrets name unset variables, so the unmutated file has errors already:
    // what this proves is no panic and every problem at a real line.
    let (_, total) = load_each(dir.path(), "examples/msticpyconfig.yaml");
    assert!(total > 500, "{total} mutations");
}
