//! Which pictures become video frames, and when.
//!
//! A frame is emitted only when the picture changed, at most one per
//! `min_gap` ms of session time, on a grid of `min_gap` (a change is shown
//! from the next multiple of the gap, at most one gap late). The grid keeps
//! every reader's rounding harmless: ffmpeg guesses the frame rate of a
//! variable-rate file and rounds timestamps to it when it decodes; frames
//! at arbitrary milliseconds, 40 ms apart, collided on its 24.83 fps guess
//! ("non monotonically increasing dts"), frames on the grid give it 25. A change
//! that comes too soon after the previous frame waits; a later change in the
//! same gap replaces it (the newest picture wins), and it is emitted when
//! the gap is over, so the last picture of a burst is never lost or delayed
//! past the gap. Idle time costs nothing. No frame is repeated at the end:
//! the last frame lasts until the session's end (the encoder gives it that
//! duration, see `ffmpeg::last_frame_duration`), so every frame of the
//! stream is a change and no two are closer than the gap.

use std::sync::Arc;

use crate::playback::{Flow, FrameSink, PlaybackError};
use crate::render::Surface;

/// A picture and the session time it is shown from.
pub struct Frame {
    pub ms: i64,
    pub pixels: Arc<Vec<u32>>,
}

/// Where emitted frames go (the encoder thread, or a test).
pub trait FrameOutput {
    fn emit(&mut self, frame: Frame) -> Result<(), PlaybackError>;
}

pub struct Timeline<O: FrameOutput> {
    min_gap: i64,
    out: O,
    last_emit: Option<i64>,
    pending: Option<Frame>,
    /// The newest picture, emitted or pending, to detect real changes.
    newest: Option<Arc<Vec<u32>>>,
    frames: u64,
}

impl<O: FrameOutput> Timeline<O> {
    pub fn new(min_gap: i64, out: O) -> Timeline<O> {
        Timeline { min_gap: min_gap.max(1), out, last_emit: None, pending: None, newest: None, frames: 0 }
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The first grid point at or after `t`.
    fn slot(&self, t: i64) -> i64 {
        (t.max(0) + self.min_gap - 1) / self.min_gap * self.min_gap
    }

    fn next_allowed(&self) -> i64 {
        self.last_emit.map_or(i64::MIN, |t| t + self.min_gap)
    }

    fn emit(&mut self, ms: i64, pixels: Arc<Vec<u32>>) -> Result<(), PlaybackError> {
        self.last_emit = Some(ms);
        self.frames += 1;
        self.out.emit(Frame { ms, pixels })
    }

    /// Emits the waiting picture if its gap is over by `t`.
    fn release_pending(&mut self, t: i64) -> Result<(), PlaybackError> {
        let due = self.next_allowed();
        if t >= due
            && let Some(p) = self.pending.take()
        {
            self.emit(self.slot(p.ms).max(due), p.pixels)?;
        }
        Ok(())
    }

    fn offer(&mut self, t: i64, picture: &Surface) -> Result<(), PlaybackError> {
        if self.newest.as_ref().is_some_and(|n| n.as_slice() == picture.pixels()) {
            return Ok(());
        }
        let pixels = Arc::new(picture.pixels().to_vec());
        self.newest = Some(pixels.clone());
        if self.pending.is_none() && t >= self.next_allowed() {
            self.emit(self.slot(t), pixels)
        } else {
            self.pending = Some(Frame { ms: t, pixels });
            Ok(())
        }
    }

    /// Flushes the waiting picture, at its own time or when its gap is
    /// over, whichever is later (even past `end`: the gap is never broken;
    /// the encoder then ends the video one gap after it at most).
    pub fn finish(mut self) -> Result<(u64, O), PlaybackError> {
        if let Some(p) = self.pending.take() {
            let at = self.slot(p.ms).max(self.next_allowed());
            self.emit(at, p.pixels)?;
        }
        Ok((self.frames, self.out))
    }
}

impl<O: FrameOutput> FrameSink for Timeline<O> {
    fn render_point(&mut self, t: i64, picture: Option<&Surface>) -> Result<Flow, PlaybackError> {
        self.release_pending(t)?;
        if let Some(picture) = picture {
            self.offer(t, picture)?;
        }
        Ok(Flow::Continue)
    }

    fn min_gap_ms(&self) -> i64 {
        self.min_gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(i64, u32)>);

    impl FrameOutput for Collect {
        fn emit(&mut self, f: Frame) -> Result<(), PlaybackError> {
            self.0.push((f.ms, f.pixels[0]));
            Ok(())
        }
    }

    fn pic(v: u32) -> Surface {
        Surface::from_pixels(1, 1, vec![v])
    }

    fn run(points: &[(i64, Option<u32>)], _end: i64) -> Vec<(i64, u32)> {
        let mut tl = Timeline::new(40, Collect::default());
        for &(t, p) in points {
            let s = p.map(pic);
            tl.render_point(t, s.as_ref()).unwrap();
        }
        tl.finish().unwrap().1.0
    }

    #[test]
    fn unchanged_pictures_make_no_frames() {
        let got = run(&[(0, Some(1)), (100, Some(1)), (200, None)], 200);
        assert_eq!(got, [(0, 1)], "no repeat at the end: the last frame lasts until then");
    }

    #[test]
    fn burst_keeps_its_last_picture_at_the_gap() {
        // Changes at 0, 10, 20, then silence: 20's picture shows at 40.
        let got = run(&[(0, Some(1)), (10, Some(2)), (20, Some(3)), (30_000, None)], 30_000);
        assert_eq!(got, [(0, 1), (40, 3)]);
    }

    #[test]
    fn frames_are_at_least_the_gap_apart() {
        let points: Vec<(i64, Option<u32>)> = (0..100).map(|i| (i * 7, Some(i as u32))).collect();
        let got = run(&points, 700);
        for pair in got.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= 40, "{pair:?}");
        }
        assert_eq!(got.last().unwrap().1, 99, "the newest picture must survive");
    }

    #[test]
    fn slow_changes_keep_their_time_on_the_grid() {
        let got = run(&[(0, Some(1)), (1234, Some(2)), (5001, Some(3))], 6000);
        // On the 40 ms grid, never early.
        assert_eq!(got, [(0, 1), (1240, 2), (5040, 3)]);
    }

    #[test]
    fn a_change_right_before_the_end_keeps_the_gap() {
        // The last change comes 12 ms after a frame: it waits for the gap,
        // even past the end, instead of being squeezed in.
        let got = run(&[(0, Some(1)), (2_348, Some(2)), (2_360, Some(3))], 2_360);
        assert_eq!(got, [(0, 1), (2_360, 2), (2_400, 3)]);
    }
}
