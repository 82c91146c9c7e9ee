//! Kills an ffmpeg that stops making progress: no frame taken and no exit
//! for `limit` (a hung encoder would otherwise hold its worker forever).
//! The conversion then fails with [`super::EncodeError::Stalled`], which the
//! service retries.
//!
//! The thread waits on a condition variable, not in sleeps: `stop` wakes it
//! at once, so a conversion never waits for a watchdog tick to end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

struct Shared {
    started: Instant,
    /// Milliseconds after `started` of the last progress.
    last_ms: AtomicU64,
    /// Set by `stop`; the condition variable wakes the thread for it.
    done: Mutex<bool>,
    wake: Condvar,
    fired: AtomicBool,
}

pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Watches process `pid`; `None` watches nothing.
    pub fn start(pid: u32, limit: Option<Duration>) -> Watchdog {
        let shared = Arc::new(Shared {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            done: Mutex::new(false),
            wake: Condvar::new(),
            fired: AtomicBool::new(false),
        });
        let thread = limit.map(|limit| {
            let shared = shared.clone();
            std::thread::spawn(move || watch(&shared, pid, limit))
        });
        Watchdog { shared, thread }
    }

    /// The encoder took something: the clock starts over.
    pub fn progress(&self) {
        let now = self.shared.started.elapsed().as_millis() as u64;
        self.shared.last_ms.store(now, Ordering::Relaxed);
    }

    /// Stops watching (before the process is reaped); whether it fired.
    pub fn stop(&mut self) -> bool {
        *self.shared.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn watch(shared: &Shared, pid: u32, limit: Duration) {
    let tick = (limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut done = shared.done.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        // Spurious wake-ups only make an early check.
        done = shared.wake.wait_timeout(done, tick).unwrap_or_else(|e| e.into_inner()).0;
        if *done {
            return;
        }
        let idle = shared.started.elapsed().as_millis() as u64 - shared.last_ms.load(Ordering::Relaxed);
        if idle > limit.as_millis() as u64 {
            shared.fired.store(true, Ordering::SeqCst);
            tracing::warn!(pid, limit_s = limit.as_secs(), "ffmpeg made no progress; killing it");
            // SAFETY: signalling our own child, which is not reaped before
            // `stop` has joined this thread.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_returns_at_once() {
        // A limit of minutes means one-second ticks: stop must not wait for
        // one (a behaviour check, not a speed target: the old sleep took 1 s).
        let mut dog = Watchdog::start(u32::MAX, Some(Duration::from_secs(300)));
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        assert!(!dog.stop());
        assert!(started.elapsed() < Duration::from_millis(900), "stop took {:?}", started.elapsed());
    }
}
