//! The limits every plugin call runs under, whatever its world: a memory cap, and a cut on
//! how long one log line may be.

use wasmtime::{ResourceLimiter, Result};

/// Longest log line a plugin may write; longer lines are cut.
const MAX_LOG_LINE: usize = 2048;

/// A world's per-call store state, as the generic call machinery needs it.
pub trait Limited: Send + 'static {
    fn memory_cap(&mut self) -> &mut MemoryCap;
}

/// Caps linear memory growth and remembers whether the cap was hit, so a failed call can be
/// reported as "memory limit exceeded" rather than a bare trap.
pub struct MemoryCap {
    limit_bytes: usize,
    pub exceeded: bool,
}

impl MemoryCap {
    pub fn new(limit_bytes: usize) -> Self {
        Self { limit_bytes, exceeded: false }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        if desired > self.limit_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// `message` cut to [`MAX_LOG_LINE`] bytes, on a character boundary.
pub fn cut_log_line(mut message: String) -> String {
    if message.len() > MAX_LOG_LINE {
        let mut cut = MAX_LOG_LINE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    message
}
