//! The example jobs and their query library, built into the binary, so `huntd demo` runs from
//! any folder and an installed huntd carries the examples its documentation names.

/// Each example file: its path in the source tree (`jobs/...`, `queries/...`) and its text.
pub const FILES: &[(&str, &str)] = &[
    (
        "jobs/encoded-powershell.yaml",
        include_str!("../jobs/encoded-powershell.yaml"),
    ),
    (
        "jobs/known-bad-hash.yaml",
        include_str!("../jobs/known-bad-hash.yaml"),
    ),
    (
        "jobs/logon-new-country.yaml",
        include_str!("../jobs/logon-new-country.yaml"),
    ),
    (
        "jobs/queries/logon-new-country.kql",
        include_str!("../jobs/queries/logon-new-country.kql"),
    ),
    (
        "jobs/rare-parent-child.yaml",
        include_str!("../jobs/rare-parent-child.yaml"),
    ),
    (
        "jobs/rare-ports.yaml",
        include_str!("../jobs/rare-ports.yaml"),
    ),
    (
        "queries/huntd/file.yaml",
        include_str!("../queries/huntd/file.yaml"),
    ),
    (
        "queries/huntd/network.yaml",
        include_str!("../queries/huntd/network.yaml"),
    ),
    (
        "queries/huntd/process.yaml",
        include_str!("../queries/huntd/process.yaml"),
    ),
];

/// The directory of the example jobs, relative to where [`FILES`] are written.
pub const JOBS_DIR: &str = "jobs";

/// The directory of the example query library, relative to where [`FILES`] are written.
pub const QUERIES_DIR: &str = "queries";

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::FILES;

    fn files_under(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                files_under(&path, out);
            } else {
                let root = Path::new(env!("CARGO_MANIFEST_DIR"));
                let relative = path.strip_prefix(root).expect("under the root");
                out.push(relative.display().to_string());
            }
        }
    }

    #[test]
    fn every_file_of_jobs_and_queries_is_built_in() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        files_under(&root.join("jobs"), &mut on_disk);
        files_under(&root.join("queries"), &mut on_disk);
        on_disk.sort();
        let mut built_in: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_string()).collect();
        built_in.sort();
        assert_eq!(built_in, on_disk, "add new example files to FILES");
    }
}
