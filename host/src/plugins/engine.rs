//! The wasmtime engine every plugin runs on, and compiling plugins with an on-disk cache.
//!
//! - **Pooling allocator**: instances come from pre-reserved slots, so a fresh instance per
//!   call costs microseconds. If the OS refuses the reservation, fall back to on-demand.
//! - **Epoch interruption**: a ticker thread bumps the epoch every [`EPOCH_TICK`]; each call
//!   checks its own deadline at every tick, yielding to tokio in between, so a plugin that
//!   loops forever is stopped without stalling other tasks.
//! - **Compile cache**: compiled code is written to `cache_dir`, keyed by the wasm's SHA-256
//!   and the engine's compatibility hash; a restart deserialises instead of recompiling.
//!   (We key the cache ourselves rather than enabling wasmtime's `cache` feature, which pulls
//!   in a config-file format and extra dependencies we do not need.)

use crate::config::PluginsConfig;
use anyhow::Context;
use sha2::Digest;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of per-call time limits.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Build the engine from the plugin settings.
pub fn build_engine(settings: &PluginsConfig) -> anyhow::Result<Engine> {
    let mut config = base_config();
    let memory_limit = usize::try_from(settings.memory_limit_mb * 1024 * 1024).context("memory_limit_mb too large")?;
    let mut pool = PoolingAllocationConfig::default();
    let slots = settings.max_concurrent_instances.max(1);
    pool.total_component_instances(slots)
        .total_core_instances(slots * 16)
        .total_memories(slots * 2)
        .total_tables(slots * 8)
        .total_stacks(slots)
        .max_memories_per_component(4)
        .max_memory_size(memory_limit);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            tracing::warn!(%error, "pooling allocator unavailable; falling back to on-demand allocation");
            Engine::new(&base_config()).map_err(anyhow::Error::from).context("creating the wasmtime engine")
        }
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// Advance `engine`'s epoch every [`EPOCH_TICK`] until the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(|_| ())
        .unwrap_or_else(|error| tracing::error!(%error, "cannot start the epoch ticker; plugin time limits are off"));
}

/// Compile `wasm`, or load its compiled form from `cache_dir` when present.
pub fn load_component(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> anyhow::Result<Component> {
    let digest = sha2::Sha256::digest(wasm);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let key = format!("{}-{:016x}.cwasm", hex_prefix(&digest), hasher.finish());
    let cached = cache_dir.join(key);
    // Read the file rather than mapping it: a mapped file rewritten in place by someone else
    // would crash the process (SIGBUS) the next time that code runs.
    if let Ok(bytes) = std::fs::read(&cached) {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // compatibility hash (part of its name) into a directory only this host writes;
        // wasmtime still checks its header and refuses anything else.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => return Ok(component),
            Err(error) => tracing::warn!(%error, path = %cached.display(), "ignoring unreadable compile cache entry"),
        }
    }
    let compiled = engine.precompile_component(wasm).map_err(anyhow::Error::from).context("compiling the component")?;
    if let Err(error) = write_atomically(cache_dir, &cached, &compiled) {
        tracing::warn!(%error, path = %cached.display(), "cannot write the compile cache");
    }
    // SAFETY: `compiled` was produced just now by this very engine.
    unsafe { Component::deserialize(engine, &compiled) }.map_err(anyhow::Error::from).context("loading the compiled component")
}

fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temp = target.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, target)
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(16).map(|b| format!("{b:02x}")).collect()
}
