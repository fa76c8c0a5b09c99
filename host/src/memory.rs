//! Giving memory back after bursts of large request bodies.
//!
//! Freed heap memory stays resident with glibc's `malloc` until the heap is trimmed: measured,
//! 200 stalled 1 MiB uploads left the gateway at 244 MiB resident after they were cut off, up
//! from 35 MiB. Once a large body has been released, [`trim_task`] calls `malloc_trim`, at most
//! once per second and never on the request path; the same burst then leaves it at 35 MiB.
//!
//! (Fixing glibc's `mmap` threshold, so large blocks always go back on `free`, was measured too:
//! it also brings memory back, but costs every request: 13% of the ingest maximum.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Bodies at least this large mark the heap for trimming when they are released.
pub const LARGE_BODY: usize = 64 * 1024;

static TRIM_WANTED: AtomicBool = AtomicBool::new(false);

/// A large body (or a failed read that may have buffered one) was released: trim soon.
pub fn large_body_released() {
    TRIM_WANTED.store(true, Ordering::Relaxed);
}

/// Trim the heap after large bodies were released, checking once per second.
pub async fn trim_task() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if TRIM_WANTED.swap(false, Ordering::Relaxed) {
            // Walking the arenas takes a few milliseconds after a burst: off the runtime.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory to the system; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
