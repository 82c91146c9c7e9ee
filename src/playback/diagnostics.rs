//! Warnings gathered while reading and drawing a recording. Each names the
//! file and byte offset so an auditor can find the spot; repeats are counted
//! rather than listed, so a damaged file cannot flood the log.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cpu::{Stage, StageCpu};

/// How many warnings are kept verbatim; the rest are only counted.
const MAX_KEPT: usize = 200;

#[derive(Debug, Default, Clone)]
pub struct Report {
    /// The first warnings, in order, as "file: byte N: what happened".
    pub warnings: Vec<String>,
    /// Warnings beyond the kept ones.
    pub dropped_warnings: u64,
    /// Opcodes this renderer skipped, with counts.
    pub unknown_opcodes: BTreeMap<String, u64>,
    /// Images that could not be decoded.
    pub bad_images: u64,
    /// Set when a part ends inside an instruction.
    pub truncated: Vec<String>,
    /// Timestamps earlier than one already seen (clamped, nothing dropped).
    pub backwards_timestamps: u64,
    /// CPU time by stage.
    pub cpu: StageCpu,
}

impl Report {
    pub fn warning_count(&self) -> u64 {
        self.warnings.len() as u64 + self.dropped_warnings
    }
}

/// A shared, append-only collection of warnings.
#[derive(Clone, Default)]
pub struct Diagnostics(Arc<Mutex<Report>>);

impl Diagnostics {
    pub fn warn(&self, file: &str, offset: u64, message: impl std::fmt::Display) {
        let line = format!("{file}: byte {offset}: {message}");
        tracing::debug!(target: "video_worker::playback", "{line}");
        let mut r = self.lock();
        if r.warnings.len() < MAX_KEPT {
            r.warnings.push(line);
        } else {
            r.dropped_warnings += 1;
        }
    }

    pub fn unknown_opcode(&self, opcode: &str) {
        *self.lock().unknown_opcodes.entry(opcode.to_string()).or_default() += 1;
    }

    pub fn bad_image(&self) {
        self.lock().bad_images += 1;
    }

    pub fn truncated(&self, file: &str, offset: u64) {
        self.lock().truncated.push(format!("{file}: ends inside an instruction at byte {offset}"));
    }

    pub fn backwards_timestamp(&self) {
        self.lock().backwards_timestamps += 1;
    }

    pub fn add_cpu(&self, stage: Stage, d: Duration) {
        self.lock().cpu.add(stage, d);
    }

    pub fn snapshot(&self) -> Report {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Report> {
        // A panic elsewhere must not hide the warnings gathered so far.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
