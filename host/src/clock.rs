//! Wall-clock time as stored in the database: Unix milliseconds.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A source of the current time, for the background work tests need to move through time
/// (waking snoozed conversations). Everything else reads [`now_ms`].
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// The system's clock, shifted by an offset that tests move forward.
#[derive(Default)]
pub struct ShiftedClock(std::sync::atomic::AtomicI64);

impl ShiftedClock {
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clock for ShiftedClock {
    fn now_ms(&self) -> i64 {
        now_ms() + self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}
