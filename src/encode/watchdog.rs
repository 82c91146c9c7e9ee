//! Kills an ffmpeg that stops making progress: no frame taken and no exit
//! for `limit` (a hung encoder would otherwise hold its worker forever).
//! The conversion then fails with [`super::EncodeError::Stalled`], which the
//! service retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

struct Shared {
    started: Instant,
    /// Milliseconds after `started` of the last progress.
    last_ms: AtomicU64,
    done: AtomicBool,
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
            done: AtomicBool::new(false),
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
        self.shared.done.store(true, Ordering::SeqCst);
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
    loop {
        std::thread::sleep(tick);
        if shared.done.load(Ordering::SeqCst) {
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
