//! The memory figures the benchmarks print, read from `/proc/<pid>/status`.

/// The `field` (`VmRSS:`, `VmHWM:`) of `/proc/<pid>/status` in kB, `pid` being a process id or
/// `self`; 0 where there is no such file or field (not Linux, or the process is gone).
pub fn status_kib(pid: impl std::fmt::Display, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
