//! BGRA pictures to I420 (yuv420p, BT.709, limited range), the format x264
//! encodes. Doing this here instead of in ffmpeg cuts what crosses the pipe
//! from 4 to 1.5 bytes a pixel, and lets us convert only the rows that
//! changed since the previous frame: most frames of a desktop session differ
//! by a moving pointer or a few lines of text.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rayon::prelude::*;

use crate::playback::cpu::thread_cpu;

/// Row pairs converted by one parallel task: enough that measuring each
/// task's CPU costs nothing (about 25 tasks a frame at 800 rows).
const PAIRS_PER_TASK: usize = 16;

/// Converts successive frames of one size, reusing unchanged rows.
pub struct I420Converter {
    width: usize,
    height: usize,
    /// The previous frame, shared with the timeline (frames are immutable).
    previous: Option<Arc<Vec<u32>>>,
    planes: Vec<u8>,
    /// CPU time of all conversions so far, in ns, summed over the threads.
    cpu_ns: AtomicU64,
}

impl I420Converter {
    /// `width` and `height` must be even.
    pub fn new(width: u32, height: u32) -> I420Converter {
        let (w, h) = (width as usize, height as usize);
        assert!(w % 2 == 0 && h % 2 == 0, "I420 needs even dimensions");
        I420Converter {
            width: w,
            height: h,
            previous: None,
            planes: vec![0; w * h * 3 / 2],
            cpu_ns: AtomicU64::new(0),
        }
    }

    /// CPU time the conversions have taken so far, on all threads.
    pub fn cpu(&self) -> Duration {
        Duration::from_nanos(self.cpu_ns.load(Ordering::Relaxed))
    }

    /// The I420 bytes (Y plane, then U, then V) of `frame`.
    pub fn convert(&mut self, frame: &Arc<Vec<u32>>) -> &[u8] {
        let (w, h) = (self.width, self.height);
        assert_eq!(frame.len(), w * h, "frame size changed");
        let (y_plane, chroma) = self.planes.split_at_mut(w * h);
        let (u_plane, v_plane) = chroma.split_at_mut(w * h / 4);
        let previous = self.previous.as_deref();
        let cpu_ns = &self.cpu_ns;
        let n = PAIRS_PER_TASK;
        y_plane
            .par_chunks_mut(2 * w * n)
            .zip(u_plane.par_chunks_mut(w / 2 * n))
            .zip(v_plane.par_chunks_mut(w / 2 * n))
            .enumerate()
            .for_each(|(task, ((ys, us), vs))| {
                let start = thread_cpu();
                let pairs = ys.chunks_mut(2 * w).zip(us.chunks_mut(w / 2)).zip(vs.chunks_mut(w / 2));
                for (i, ((y, u), v)) in pairs.enumerate() {
                    let pair = task * n + i;
                    let rows = &frame[pair * 2 * w..(pair + 1) * 2 * w];
                    let unchanged = previous.is_some_and(|p| &p[pair * 2 * w..(pair + 1) * 2 * w] == rows);
                    if !unchanged {
                        convert_row_pair(rows, w, y, u, v);
                    }
                }
                let used = thread_cpu().saturating_sub(start);
                cpu_ns.fetch_add(used.as_nanos() as u64, Ordering::Relaxed);
            });
        self.previous = Some(frame.clone());
        &self.planes
    }
}

#[inline]
fn rgb(p: u32) -> (i32, i32, i32) {
    (((p >> 16) & 0xFF) as i32, ((p >> 8) & 0xFF) as i32, (p & 0xFF) as i32)
}

#[inline]
fn luma(r: i32, g: i32, b: i32) -> u8 {
    (16 + ((47 * r + 157 * g + 16 * b + 128) >> 8)) as u8
}

/// Two rows of opaque pixels to two rows of Y and one row each of U and V
/// (chroma from the average of each 2x2 block).
fn convert_row_pair(rows: &[u32], w: usize, y: &mut [u8], u: &mut [u8], v: &mut [u8]) {
    let (top, bottom) = rows.split_at(w);
    for (&p, yo) in rows.iter().zip(y.iter_mut()) {
        let (r, g, b) = rgb(p);
        *yo = luma(r, g, b);
    }
    for x in 0..w / 2 {
        let (mut r, mut g, mut b) = (0, 0, 0);
        for p in [top[2 * x], top[2 * x + 1], bottom[2 * x], bottom[2 * x + 1]] {
            let (pr, pg, pb) = rgb(p);
            (r, g, b) = (r + pr, g + pg, b + pb);
        }
        // Sums of four pixels: the shift by 10 divides by 4 * 256.
        u[x] = (128 + ((-26 * r - 87 * g + 113 * b + 512) >> 10)) as u8;
        v[x] = (128 + ((113 * r - 103 * g - 10 * b + 512) >> 10)) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planes_of(c: &mut I420Converter, frame: &[u32]) -> Vec<u8> {
        c.convert(&Arc::new(frame.to_vec())).to_vec()
    }

    #[test]
    fn reference_colours_match_bt709_limited_range() {
        let mut c = I420Converter::new(2, 2);
        let white = planes_of(&mut c, &[0xFFFFFFFF; 4]);
        assert_eq!(white, [235, 235, 235, 235, 128, 128]);
        let black = planes_of(&mut c, &[0xFF000000; 4]);
        assert_eq!(black, [16, 16, 16, 16, 128, 128]);
        let red = planes_of(&mut c, &[0xFFFF0000; 4]);
        // BT.709: Y 63, Cb 102, Cr 240.
        assert_eq!(red[0], 63);
        assert!((i32::from(red[4]) - 102).abs() <= 1, "{}", red[4]);
        assert!((i32::from(red[5]) - 240).abs() <= 1, "{}", red[5]);
    }

    #[test]
    fn reused_rows_equal_a_fresh_conversion() {
        let mut frame: Vec<u32> = (0..8 * 6).map(|i| 0xFF000000 | (i * 5000)).collect();
        let mut incremental = I420Converter::new(8, 6);
        incremental.convert(&Arc::new(frame.clone()));
        frame[9] = 0xFF123456; // one pixel of row pair 0 changes
        frame[40] = 0xFFABCDEF; // and one of row pair 2
        let frame = Arc::new(frame);
        let got = incremental.convert(&frame).to_vec();
        let fresh = I420Converter::new(8, 6).convert(&frame).to_vec();
        assert_eq!(got, fresh);
    }

    #[test]
    fn frames_taller_than_one_task_convert_every_row_pair() {
        // 2 * PAIRS_PER_TASK + 3 row pairs: two full tasks and a short one.
        let (w, h) = (6u32, (2 * PAIRS_PER_TASK as u32 + 3) * 2);
        let frame: Vec<u32> = (0..w * h).map(|i| 0xFF000000 | (i * 7919)).collect();
        let mut c = I420Converter::new(w, h);
        let planes = c.convert(&Arc::new(frame.clone())).to_vec();
        let (w, h) = (w as usize, h as usize);
        for pair in 0..h / 2 {
            let (mut y, mut u, mut v) = (vec![0; 2 * w], vec![0; w / 2], vec![0; w / 2]);
            convert_row_pair(&frame[pair * 2 * w..(pair + 1) * 2 * w], w, &mut y, &mut u, &mut v);
            assert_eq!(&planes[pair * 2 * w..(pair + 1) * 2 * w], y.as_slice(), "Y of pair {pair}");
            let chroma = w * h + pair * w / 2;
            assert_eq!(&planes[chroma..chroma + w / 2], u.as_slice(), "U of pair {pair}");
            assert_eq!(
                &planes[chroma + w * h / 4..chroma + w * h / 4 + w / 2],
                v.as_slice(),
                "V of pair {pair}"
            );
        }
    }
}
