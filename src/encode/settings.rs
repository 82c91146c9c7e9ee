//! Encoder settings and the output picture size.

use std::path::PathBuf;

/// x264 presets, fastest first.
pub const PRESETS: &[&str] =
    &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"];

/// Default keyframe interval in frames (x264's own default): a seek decodes
/// at most this many frames, about 0.5 s of software decoding at 1080p.
pub const KEYFRAME_INTERVAL: u32 = 250;

/// A quality level a user can choose without knowing x264: each is a CRF
/// and a preset (sizes and PSNR of each in docs/rendering.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Low,
    Normal,
    High,
}

impl Quality {
    pub const NAMES: &'static [&'static str] = &["low", "normal", "high"];

    /// (CRF, preset) of the level.
    pub fn crf_preset(self) -> (u8, &'static str) {
        match self {
            Quality::Low => (28, "veryfast"),
            Quality::Normal => (23, "veryfast"),
            Quality::High => (18, "veryfast"),
        }
    }

    pub fn parse(text: &str) -> Result<Quality, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Quality::Low),
            "normal" => Ok(Quality::Normal),
            "high" => Ok(Quality::High),
            _ => Err(format!("quality '{text}' is unknown: allowed low, normal, high")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EncodeSettings {
    /// The `ffmpeg` program to run.
    pub ffmpeg: PathBuf,
    /// x264 constant rate factor, 0 (lossless) to 51.
    pub crf: u8,
    /// x264 preset, one of [`PRESETS`].
    pub preset: String,
    /// Most frames per second of session time.
    pub fps: u32,
    /// Largest output size; the session's own size when `None`.
    pub max_size: Option<(u32, u32)>,
    /// Most frames from one keyframe to the next (x264 `keyint`): what a
    /// seek decodes at worst. Counted in frames, not in time: a variable
    /// frame rate video has no frames while the screen is idle.
    pub keyframe_interval: u32,
    /// ffmpeg is stopped when it takes no frame and does not exit for this
    /// long; `None` waits forever.
    pub stall_timeout: Option<std::time::Duration>,
}

impl Default for EncodeSettings {
    fn default() -> EncodeSettings {
        EncodeSettings {
            ffmpeg: PathBuf::from("ffmpeg"),
            crf: 23,
            preset: "veryfast".into(),
            fps: 25,
            max_size: None,
            keyframe_interval: KEYFRAME_INTERVAL,
            stall_timeout: Some(std::time::Duration::from_secs(300)),
        }
    }
}

impl EncodeSettings {
    /// Checks the values, naming the setting and what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        if self.crf > 51 {
            return Err(format!("crf {} is out of range: allowed 0 to 51", self.crf));
        }
        if !PRESETS.contains(&self.preset.as_str()) {
            return Err(format!("preset '{}' is unknown: allowed {}", self.preset, PRESETS.join(", ")));
        }
        if !(1..=120).contains(&self.fps) {
            return Err(format!("fps {} is out of range: allowed 1 to 120", self.fps));
        }
        if !(1..=10_000).contains(&self.keyframe_interval) {
            return Err(format!(
                "keyframe interval {} is out of range: allowed 1 to 10000",
                self.keyframe_interval
            ));
        }
        if let Some((w, h)) = self.max_size
            && (w < 16 || h < 16)
        {
            return Err(format!("max size {w}x{h} is too small: at least 16x16"));
        }
        Ok(())
    }

    /// Settings of a quality level: its CRF and preset, the rest default.
    pub fn with_quality(self, quality: Quality) -> EncodeSettings {
        let (crf, preset) = quality.crf_preset();
        EncodeSettings { crf, preset: preset.into(), ..self }
    }

    /// Shortest gap between two frames, in ms (so at most `fps` a second).
    pub fn min_frame_gap_ms(&self) -> i64 {
        i64::from(1000u32.div_ceil(self.fps.max(1)))
    }
}

/// Parses "WIDTHxHEIGHT".
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("'{text}' is not a size: expected WIDTHxHEIGHT, e.g. 1920x1080"))?;
    let num = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("'{text}' is not a size: expected WIDTHxHEIGHT, e.g. 1920x1080"))
    };
    Ok((num(w)?, num(h)?))
}

/// The video size for a screen: the screen itself, or scaled down (aspect
/// kept) to fit `max`; always even, as yuv420p requires.
pub fn output_size(screen: (u32, u32), max: Option<(u32, u32)>) -> (u32, u32) {
    let (sw, sh) = (f64::from(screen.0), f64::from(screen.1));
    let scale = match max {
        Some((mw, mh)) => (f64::from(mw) / sw).min(f64::from(mh) / sh).min(1.0),
        None => 1.0,
    };
    let even = |v: f64| {
        let v = (v * scale).round() as u32;
        (v - v % 2).max(2)
    };
    (even(sw), even(sh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_native_unless_capped() {
        assert_eq!(output_size((1280, 800), None), (1280, 800));
        assert_eq!(output_size((1280, 800), Some((1920, 1080))), (1280, 800));
        assert_eq!(output_size((1920, 1080), Some((1280, 720))), (1280, 720));
        assert_eq!(output_size((1280, 800), Some((640, 480))), (640, 400));
    }

    #[test]
    fn sizes_parse_and_fail_clearly() {
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert!(parse_size("1280*720").unwrap_err().contains("WIDTHxHEIGHT"));
    }

    #[test]
    fn validation_names_the_problem() {
        let mut s = EncodeSettings::default();
        assert!(s.validate().is_ok());
        s.preset = "warp".into();
        assert!(s.validate().unwrap_err().contains("veryfast"));
        s = EncodeSettings { crf: 60, ..EncodeSettings::default() };
        assert!(s.validate().unwrap_err().contains("0 to 51"));
        assert_eq!(EncodeSettings::default().min_frame_gap_ms(), 40);
    }

    #[test]
    fn quality_levels_map_to_crf_and_preset() {
        let normal = EncodeSettings::default().with_quality(Quality::Normal);
        let default = EncodeSettings::default();
        assert_eq!((normal.crf, normal.preset.as_str()), (default.crf, default.preset.as_str()));
        assert!(Quality::High.crf_preset().0 < Quality::Low.crf_preset().0);
        assert_eq!(Quality::parse(" HIGH "), Ok(Quality::High));
        assert!(Quality::parse("best").unwrap_err().contains("low, normal, high"));
        for q in [Quality::Low, Quality::Normal, Quality::High] {
            assert!(EncodeSettings::default().with_quality(q).validate().is_ok());
        }
    }
}
