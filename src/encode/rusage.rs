//! Peak memory of this process and of the encoders it ran, for summaries
//! and benchmarks.

/// Peak resident set size of this process, in bytes (Linux; 0 elsewhere).
pub fn own_peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Peak resident set size of the largest child process that has been
/// waited for (ffmpeg), in bytes.
pub fn children_peak_rss() -> u64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) != 0 {
            return 0;
        }
        usage
    };
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_peak_rss_is_measured() {
        assert!(super::own_peak_rss() > 0);
    }
}
