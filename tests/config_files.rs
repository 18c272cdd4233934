//! Files huntd refuses before or while parsing them (bombs, huge, binary, empty, not a mapping),
//! and the loading benchmark.

#[path = "common/config.rs"]
mod common;
#[path = "common/memory.rs"]
mod memory;

use std::fmt::Write as _;
use std::path::Path;

use common::{Fixture, assert_at, find, with_instance};
use huntd::config::{self, EnvVars};
use huntd::diagnostic::{Diagnostics, Severity};

/// Checks loading `path` gives no config and an error on its first line containing `needle`.
fn assert_refused(path: &Path, needle: &str) {
    let mut diags = Diagnostics::new();
    assert!(config::load(path, &mut diags).is_none());
    assert_at(find(&diags, needle), path, 1, Severity::Error);
}

#[test]
fn yaml_bomb_is_refused_with_a_clear_error() {
    let f = Fixture::new();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..40 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        writeln!(bomb, "a{i}: &a{i} [{refs}]").expect("writing to a String");
    }
    let (config, diags) = f.load(&bomb);
    assert!(config.is_none());
    let d = find(&diags, "invalid YAML");
    assert_eq!(d.file, f.config_path());
}

#[test]
fn fifty_megabyte_file_is_refused_before_reading() {
    let f = Fixture::new();
    let path = f.config_path();
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(50 * 1024 * 1024).expect("grow to 50 MB");
    assert_refused(&path, "over the 4194304 byte limit");
}

#[test]
fn binary_file_is_refused() {
    let f = Fixture::new();
    let path = f.config_path();
    std::fs::write(&path, [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0]).expect("write");
    assert_refused(&path, "binary data");
}

#[test]
fn empty_file_is_refused() {
    let (f, config, diags) = Fixture::loaded("");
    assert!(config.is_none());
    f.error_at(&diags, "file is empty", 1);
}

#[test]
fn a_config_that_is_not_a_mapping_is_refused() {
    let (f, config, diags) = Fixture::loaded("- jobs\n- instances\n");
    assert!(config.is_none());
    f.error_at(&diags, "huntd.yaml must be a mapping, found a list", 1);
}

/// Prints how fast a realistic config loads, against parsing the same YAML alone, and how
/// fast hostile files are refused. Run with `--release -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: prints figures"]
fn benchmark_config_loading() {
    use std::time::Instant;
    let f = Fixture::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/msticpyconfig.yaml");
    let text = format!(
        "msticpyconfig: {}\nKeyVault:\n  ManagedIdentity: true\n{}",
        fixture.display(),
        with_instance(
            "Contoso",
            "    ClientSecret: {File: secret.txt}\n    Cloud: eu\n"
        )
    );
    let path = f.write("huntd.yaml", &text);
    let env = EnvVars::from_vars([("FABRIKAM_MDE_SECRET", "value")]);
    let rounds = 2_000;

    let start = Instant::now();
    for _ in 0..rounds {
        huntd::yaml::load_file(&path).expect("parses");
        huntd::yaml::load_file(&fixture).expect("parses");
    }
    let parse_only = start.elapsed();

    let start = Instant::now();
    for _ in 0..rounds {
        let mut diags = Diagnostics::new();
        let config = config::load_in(&path, &env, &mut diags).expect("loads");
        assert!(diags.is_empty() && config.instances.len() == 3);
    }
    let full = start.elapsed();

    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..40 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        writeln!(bomb, "a{i}: &a{i} [{refs}]").expect("writing to a String");
    }
    let bomb_path = f.write("bomb.yaml", &bomb);
    let start = Instant::now();
    assert!(config::load(&bomb_path, &mut Diagnostics::new()).is_none());
    let bomb_time = start.elapsed();

    let big = f.path("big.yaml");
    std::fs::write(&big, "a: b\n".repeat(10 * 1024 * 1024)).expect("50 MB file");
    let start = Instant::now();
    assert!(config::load(&big, &mut Diagnostics::new()).is_none());
    let big_time = start.elapsed();

    let per_load = full.as_secs_f64() / f64::from(rounds);
    println!(
        "config load (huntd.yaml + msticpyconfig.yaml, 3 instances): {:.0} loads/s, {:.1} us/load",
        1.0 / per_load,
        per_load * 1e6
    );
    println!(
        "baseline (YAML parse of both files only): {:.1} us; full load / parse = {:.2}x",
        parse_only.as_secs_f64() / f64::from(rounds) * 1e6,
        full.as_secs_f64() / parse_only.as_secs_f64()
    );
    println!(
        "alias bomb refused in {:.2} ms",
        bomb_time.as_secs_f64() * 1e3
    );
    println!(
        "50 MB file refused in {:.3} ms",
        big_time.as_secs_f64() * 1e3
    );
    println!(
        "peak RSS (VmHWM): {} KiB",
        memory::status_kib("self", "VmHWM:")
    );
}
