//! Where a conversion's CPU goes, stage by stage, so that the next
//! regression shows where it is (`convert` prints it; the transcode bench
//! tabulates it). Each stage counts the CPU time (user + system) of the
//! threads doing its work, measured with the per-thread clock: time spent
//! waiting on a channel or a full pipe is not counted.

use std::time::Duration;

/// One stage of a conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading, parsing and assembling image streams (the reader thread).
    Parse,
    /// Decoding PNG, JPEG and WebP images (the decoder pool).
    Decode,
    /// Applying drawing instructions to the layers.
    Draw,
    /// Flattening the layers into a picture and choosing frames.
    Compose,
    /// Converting frames to I420.
    I420,
    /// Writing frames into ffmpeg's pipe.
    Pipe,
}

/// CPU time by stage, plus ffmpeg's own (x264 and the muxer).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StageCpu {
    pub parse: Duration,
    pub decode: Duration,
    pub draw: Duration,
    pub compose: Duration,
    pub i420: Duration,
    pub pipe: Duration,
    pub ffmpeg: Duration,
}

impl StageCpu {
    pub fn add(&mut self, stage: Stage, d: Duration) {
        let slot = match stage {
            Stage::Parse => &mut self.parse,
            Stage::Decode => &mut self.decode,
            Stage::Draw => &mut self.draw,
            Stage::Compose => &mut self.compose,
            Stage::I420 => &mut self.i420,
            Stage::Pipe => &mut self.pipe,
        };
        *slot += d;
    }

    /// `parse 0.21 s, decode 0.40 s, ..., ffmpeg 2.90 s`
    pub fn describe(&self) -> String {
        let parts = [
            ("parse", self.parse),
            ("decode", self.decode),
            ("draw", self.draw),
            ("compose", self.compose),
            ("i420", self.i420),
            ("pipe", self.pipe),
            ("ffmpeg", self.ffmpeg),
        ];
        let list: Vec<String> =
            parts.iter().map(|(name, d)| format!("{name} {:.2} s", d.as_secs_f64())).collect();
        list.join(", ")
    }
}

/// Stage by stage: what two threads measured adds up.
impl std::ops::AddAssign for StageCpu {
    fn add_assign(&mut self, o: StageCpu) {
        self.parse += o.parse;
        self.decode += o.decode;
        self.draw += o.draw;
        self.compose += o.compose;
        self.i420 += o.i420;
        self.pipe += o.pipe;
        self.ffmpeg += o.ffmpeg;
    }
}

/// CPU time the calling thread has used so far.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes into the timespec we pass it.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_clock_counts_work_not_sleep() {
        let start = thread_cpu();
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu() - start;
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let worked = thread_cpu() - start - slept;
        assert!(slept < Duration::from_millis(20), "sleeping counted {slept:?}");
        assert!(worked > Duration::from_millis(1), "work counted only {worked:?} ({x})");
    }

    #[test]
    fn stages_add_up() {
        let mut cpu = StageCpu::default();
        cpu.add(Stage::Parse, Duration::from_millis(200));
        cpu.add(Stage::I420, Duration::from_millis(50));
        cpu.add(Stage::I420, Duration::from_millis(50));
        cpu += StageCpu {
            ffmpeg: Duration::from_secs(2),
            parse: Duration::from_millis(10),
            ..StageCpu::default()
        };
        assert_eq!(cpu.parse, Duration::from_millis(210));
        assert_eq!(
            cpu.describe(),
            "parse 0.21 s, decode 0.00 s, draw 0.00 s, compose 0.00 s, i420 0.10 s, pipe 0.00 s, ffmpeg 2.00 s"
        );
    }
}
