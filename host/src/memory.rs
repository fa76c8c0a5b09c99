//! Giving memory back after bursts of large request bodies.
//!
//! glibc's `malloc` serves large blocks with `mmap` and returns them to the system on `free`,
//! but by default it raises that threshold every time such a block is freed (up to 32 MiB), so
//! after one burst of large bodies, later ones come from the heap and stay there; and freed
//! heap memory in the middle of an arena stays resident until `malloc_trim`. Measured: 200
//! stalled 1 MiB uploads left the gateway at 244 MiB resident after they were cut off, up
//! from 35 MiB. A fixed threshold helps (128 KiB: 71 MiB after; 32 KiB: 44 MiB) but is not
//! enough; with a trim after the burst as well, it is back to 34 MiB.
//!
//! So: blocks of [`MMAP_THRESHOLD`] or more (pieces of request bodies far above a usual
//! webhook's few KiB) always come from `mmap`, and once a large body has been released,
//! [`trim_task`] trims the heap, at most once per second and never on the request path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Bodies at least this large mark the heap for trimming when they are released.
pub const LARGE_BODY: usize = 64 * 1024;

/// Blocks this large or larger are `mmap`ed and unmapped on free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 64 * 1024;

static TRIM_WANTED: AtomicBool = AtomicBool::new(false);

/// Apply the allocator settings; call once, early, from the binary.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes allocator parameters; it runs before any other
        // thread exists, and M_MMAP_THRESHOLD accepts any value up to 32 MiB on 64-bit.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        if ok != 1 {
            eprintln!("switchboard: mallopt(M_MMAP_THRESHOLD) failed; large buffers may stay resident");
        }
    }
}

/// A large body (or the connection that held one) was released: trim the heap soon.
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
