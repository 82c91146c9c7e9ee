//! Memory limits for rendering. A recording can ask for any surface size
//! (guacenc happily allocates 14 GB for `rect,-7,0,0,60000,60000`); these
//! caps turn such a request into a clear error for that recording instead.

use super::display::DrawError;
use crate::guac::LayerIndex;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest width or height of any layer, buffer or cursor.
    pub max_side: u32,
    /// Most pixels of all surfaces together (4 bytes each).
    pub max_total_pixels: u64,
    /// Visible layers are 0..=max_layer.
    pub max_layer: LayerIndex,
    /// Buffers are -1..=-max_buffers.
    pub max_buffers: LayerIndex,
}

impl Default for Limits {
    /// 16384 pixels a side; 128 Mpixels (512 MiB) in all, room for an 8K
    /// screen plus its copies; guacenc's 64 layers and 4096 buffers, widened.
    fn default() -> Limits {
        Limits { max_side: 16_384, max_total_pixels: 128 * 1024 * 1024, max_layer: 1023, max_buffers: 16_384 }
    }
}

impl Limits {
    pub fn check_index(&self, index: LayerIndex) -> Result<(), DrawError> {
        if index > self.max_layer || index < -self.max_buffers {
            return Err(DrawError::Skipped(format!(
                "layer index {index} is out of range (layers 0..={}, buffers -1..=-{})",
                self.max_layer, self.max_buffers
            )));
        }
        Ok(())
    }

    pub fn check_size(&self, w: i64, h: i64) -> Result<(u32, u32), DrawError> {
        let max = i64::from(self.max_side);
        if w > max || h > max {
            return Err(DrawError::TooLarge(format!(
                "a surface of {w}x{h} pixels exceeds the limit of {max} pixels a side"
            )));
        }
        Ok((w.max(0) as u32, h.max(0) as u32))
    }
}

/// Running total of allocated pixels against [`Limits::max_total_pixels`].
pub struct SurfaceBudget {
    limits: Limits,
    used: u64,
}

impl SurfaceBudget {
    pub fn new(limits: Limits) -> SurfaceBudget {
        SurfaceBudget { limits, used: 0 }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Accounts for a surface of `old_area` pixels becoming `w` x `h`.
    pub fn resize(&mut self, old_area: u64, w: u32, h: u32) -> Result<(), DrawError> {
        let new_area = u64::from(w) * u64::from(h);
        let used = self.used - old_area + new_area;
        if used > self.limits.max_total_pixels {
            return Err(DrawError::TooLarge(format!(
                "the recording's surfaces would need {} MiB, over the limit of {} MiB",
                used * 4 / (1024 * 1024),
                self.limits.max_total_pixels * 4 / (1024 * 1024)
            )));
        }
        self.used = used;
        Ok(())
    }

    pub fn release(&mut self, area: u64) {
        self.used -= area;
    }
}
