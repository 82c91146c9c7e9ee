//! Session time: milliseconds since the recording's first `sync`.
//!
//! Recording timestamps come from guacd's monotonic clock; input events are
//! stamped when they arrive and often lie a little before the preceding
//! `sync`. The clock never runs backwards: an older timestamp is clamped to
//! the latest one seen, and its drawing is kept (guacenc drops it).
//!
//! Several parts of one session are laid on one time line. A part whose
//! clock continues the previous one keeps its real gap; a part whose clock
//! restarted (another guacd host, a reboot) starts where the previous ended.

use super::scan::PartScan;

/// Maps the raw timestamps of each part to session time.
#[derive(Debug, Clone)]
pub struct Timebase {
    /// Per part: (raw origin, session time of that origin).
    parts: Vec<Option<(i64, i64)>>,
    /// Session time of the last `sync` or `mouse` of the whole recording.
    pub span: i64,
}

impl Timebase {
    pub fn new(scans: &[PartScan]) -> Timebase {
        let mut parts = Vec::with_capacity(scans.len());
        let mut session_origin: Option<i64> = None;
        let mut end = 0i64; // session time reached so far
        let mut last_raw: Option<i64> = None;
        for scan in scans {
            let Some(origin) = scan.origin() else {
                parts.push(None);
                continue;
            };
            let start = match (session_origin, last_raw) {
                (None, _) => {
                    session_origin = Some(origin);
                    0
                }
                (Some(o), Some(last)) if origin >= last => origin - o,
                _ => end,
            };
            let last = scan.last_timestamp.unwrap_or(origin);
            end = end.max(start + (last - origin).max(0));
            last_raw = Some(last);
            parts.push(Some((origin, start)));
        }
        Timebase { parts, span: end }
    }

    /// Session time of a raw timestamp of `part`, before clamping.
    pub fn session_time(&self, part: usize, raw: i64) -> i64 {
        match self.parts.get(part).copied().flatten() {
            Some((origin, start)) => (start + (raw - origin)).max(start),
            None => 0,
        }
    }

    /// Whether any part has a timestamp at all.
    pub fn has_time(&self) -> bool {
        self.parts.iter().any(Option::is_some)
    }
}

/// The monotonic clock the player reads render points from.
#[derive(Debug, Default)]
pub struct Clock {
    now: i64,
}

impl Clock {
    /// Advances to `t` unless `t` is older; returns (time to use, was older).
    pub fn observe(&mut self, t: i64) -> (i64, bool) {
        if t < self.now {
            (self.now, true)
        } else {
            self.now = t;
            (t, false)
        }
    }

    pub fn now(&self) -> i64 {
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(first: i64, last: i64) -> PartScan {
        PartScan {
            first_sync: Some(first),
            first_timestamp: Some(first),
            last_timestamp: Some(last),
            ..PartScan::default()
        }
    }

    #[test]
    fn time_zero_is_the_first_sync() {
        let tb = Timebase::new(&[part(644_081, 744_081)]);
        assert_eq!(tb.session_time(0, 644_081), 0);
        assert_eq!(tb.session_time(0, 645_000), 919);
        assert_eq!(tb.span, 100_000);
        // Input stamped before the first sync is pinned to zero.
        assert_eq!(tb.session_time(0, 644_000), 0);
    }

    #[test]
    fn continuing_parts_keep_their_gap() {
        let tb = Timebase::new(&[part(1000, 5000), part(6000, 9000)]);
        assert_eq!(tb.session_time(1, 6000), 5000);
        assert_eq!(tb.span, 8000);
    }

    #[test]
    fn a_part_whose_clock_restarted_follows_the_previous() {
        let tb = Timebase::new(&[part(1000, 5000), part(10, 2010)]);
        assert_eq!(tb.session_time(1, 10), 4000);
        assert_eq!(tb.span, 6000);
    }

    #[test]
    fn clock_never_goes_backwards() {
        let mut c = Clock::default();
        assert_eq!(c.observe(100), (100, false));
        assert_eq!(c.observe(90), (100, true));
        assert_eq!(c.observe(120), (120, false));
    }
}
