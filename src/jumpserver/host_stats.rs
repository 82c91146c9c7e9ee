//! The figures a heartbeat reports: CPU load per CPU, memory and disk use in
//! percent, as sdk-go computes them (two decimals, -1 when unknown), with
//! memory read from the cgroup when the worker runs in a container.

use std::path::Path;

/// `load1 / usable CPUs`.
pub fn cpu_load() -> f64 {
    let load1 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
    match load1 {
        Some(l) => round2(l / crate::config::usable_cpus() as f64),
        None => -1.0,
    }
}

/// Memory in use, percent: the cgroup's limit and usage when limited, the
/// host's otherwise.
pub fn memory_used() -> f64 {
    let cgroup = |f: &str| std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(f)).ok();
    if let (Some(max), Some(current)) = (cgroup("memory.max"), cgroup("memory.current"))
        && let (Ok(max), Ok(cur)) = (max.trim().parse::<f64>(), current.trim().parse::<f64>())
        && max > 0.0
    {
        return round2(cur / max * 100.0);
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
    };
    match (field("MemTotal:"), field("MemAvailable:")) {
        (Some(total), Some(avail)) if total > 0.0 => round2((total - avail) / total * 100.0),
        _ => -1.0,
    }
}

/// Use of the filesystem holding `dir`, percent.
pub fn disk_used(dir: &Path) -> f64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return -1.0 };
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return -1.0;
        }
        st
    };
    let total = st.f_blocks as f64;
    if total <= 0.0 {
        return -1.0;
    }
    round2((total - st.f_bfree as f64) / total * 100.0)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn figures_are_percentages_or_minus_one() {
        let m = super::memory_used();
        assert!((0.0..=100.0).contains(&m), "{m}");
        let d = super::disk_used(std::path::Path::new("/"));
        assert!((0.0..=100.0).contains(&d), "{d}");
        assert!(super::cpu_load() >= 0.0);
    }
}
