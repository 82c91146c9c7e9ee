//! How large a recording file may become once decompressed: one rule for
//! every format (Guacamole parts, asciicast, KoKo's JSON, typescripts,
//! core's `.tar`). A small upload must not cost unbounded CPU, memory or
//! disk: the decompressed bytes are capped (`MAX_RECORDING_BYTES`), and so
//! is how much they may outgrow what was sent, past a floor small enough to
//! be harmless. Deflate reaches about 1000:1 on repeated bytes; guacd's
//! recordings (base64 images) and terminal sessions stay far below the cap
//! (docs/security.md has the figures).
//!
//! The readers of the formats turn a read error into "the input breaks off
//! here" (a truncated upload keeps what came before); a limit is not that,
//! so the bounded reader also leaves a [`Trip`] that the first pass of each
//! format checks, and the task fails naming the file and the limit.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The default of `MAX_RECORDING_BYTES`.
pub const DEFAULT_MAX_BYTES: u64 = 16 << 30;
/// Decompressed bytes per compressed byte at most.
pub const DEFAULT_MAX_RATIO: u64 = 500;
/// Below this many decompressed bytes the ratio is not judged (a tiny
/// file of zeros is harmless however well it compresses).
pub const RATIO_FLOOR: u64 = 64 << 20;

/// Bounds on what one recording file may become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Decompressed bytes at most (`MAX_RECORDING_BYTES`).
    pub max_bytes: u64,
    /// Decompressed bytes per compressed byte at most, past [`RATIO_FLOOR`].
    pub max_ratio: u64,
}

impl Default for InputLimits {
    fn default() -> InputLimits {
        InputLimits { max_bytes: DEFAULT_MAX_BYTES, max_ratio: DEFAULT_MAX_RATIO }
    }
}

/// An input that went over a limit: which file, after how much, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: refused: {why}")]
pub struct LimitExceeded {
    pub file: String,
    pub why: String,
}

/// Set once a bounded reader refused to go on.
#[derive(Debug, Clone, Default)]
pub struct Trip(Arc<OnceLock<LimitExceeded>>);

impl Trip {
    /// The refusal, if the reader made one.
    pub fn check(&self) -> Result<(), LimitExceeded> {
        match self.0.get() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn set(&self, e: LimitExceeded) -> io::Error {
        let e = self.0.get_or_init(|| e).clone();
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Counts the bytes read through it (the compressed side).
pub(crate) struct Counted<R> {
    pub inner: R,
    pub count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The decompressed side: refuses to read past the limits.
pub(crate) struct Bounded<R> {
    pub inner: R,
    /// Compressed bytes read so far; `None` for a file read as it is.
    pub compressed: Option<Arc<AtomicU64>>,
    pub limits: InputLimits,
    pub file: String,
    pub trip: Trip,
    pub out: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.trip.check().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        if let Some(why) = self.over() {
            return Err(self.trip.set(LimitExceeded { file: self.file.clone(), why }));
        }
        Ok(n)
    }
}

impl<R> Bounded<R> {
    fn over(&self) -> Option<String> {
        let l = self.limits;
        if self.out > l.max_bytes {
            return Some(format!(
                "it holds over {} bytes once decompressed (MAX_RECORDING_BYTES)",
                l.max_bytes
            ));
        }
        let sent = self.compressed.as_ref()?.load(Ordering::Relaxed).max(1);
        (self.out > RATIO_FLOOR && self.out / sent > l.max_ratio).then(|| {
            format!(
                "{} bytes decompress to over {} ({}:1, more than the {}:1 no real recording reaches: \
                 a compression bomb)",
                sent,
                self.out,
                self.out / sent,
                l.max_ratio
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(data: &'static [u8], compressed: Option<u64>, limits: InputLimits) -> Bounded<&'static [u8]> {
        Bounded {
            inner: data,
            compressed: compressed.map(|c| Arc::new(AtomicU64::new(c))),
            limits,
            file: "x.gz".into(),
            trip: Trip::default(),
            out: 0,
        }
    }

    #[test]
    fn the_size_limit_trips_and_stays_tripped() {
        let mut r = bounded(&[7u8; 100], None, InputLimits { max_bytes: 10, max_ratio: 1 });
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert!(e.to_string().contains("MAX_RECORDING_BYTES"), "{e}");
        let tripped = r.trip.check().unwrap_err();
        assert_eq!(tripped.file, "x.gz");
        assert!(r.read(&mut [0u8; 4]).is_err(), "a tripped reader reads nothing more");
    }

    #[test]
    fn the_ratio_is_judged_only_past_the_floor() {
        static BIG: [u8; (RATIO_FLOOR + 1) as usize] = [0; (RATIO_FLOOR + 1) as usize];
        let limits = InputLimits { max_bytes: u64::MAX, max_ratio: 10 };
        let mut small = bounded(&BIG[..1000], Some(1), limits);
        assert_eq!(std::io::copy(&mut small, &mut std::io::sink()).unwrap(), 1000);
        let mut bomb = bounded(&BIG, Some(1000), limits);
        let e = std::io::copy(&mut bomb, &mut std::io::sink()).unwrap_err();
        assert!(e.to_string().contains("compression bomb"), "{e}");
        let mut fair = bounded(&BIG, Some(RATIO_FLOOR / 5), limits);
        assert!(std::io::copy(&mut fair, &mut std::io::sink()).is_ok());
    }
}
