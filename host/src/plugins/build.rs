//! What tells one build of a plugin from another: the hash of its component file, its size,
//! and when this node loaded it. Admins read it at `GET /api/v1/admin/plugins` and in
//! `/metrics` to know which build serves each channel and policy, on every node: after a
//! deploy (and, later, a reload) the hash is what shows that the new file is the one running.

use serde::Serialize;
use sha2::Digest;

/// One loaded build of a component file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BuildInfo {
    /// SHA-256 of the component file, in hex: the same as `sha256sum` prints for it.
    pub sha256: String,
    /// The component file's size.
    pub size_bytes: u64,
    /// When this node loaded it (Unix ms).
    pub loaded_at: i64,
}

impl BuildInfo {
    /// The build of `wasm`, loaded now.
    pub fn of(wasm: &[u8]) -> Self {
        Self { sha256: hex::encode(sha2::Sha256::digest(wasm)), size_bytes: wasm.len() as u64, loaded_at: crate::clock::now_ms() }
    }

    /// Publish it in `/metrics`: `switchboard_plugin_build_info` (1 for the build serving,
    /// labelled with what identifies it) and its load time. `world` is `channel` or `router`;
    /// `file` the plugin file's stem; `version` and `wit` what the build reports and exports.
    pub fn publish(&self, world: &'static str, file: &str, version: &str, wit: &str) {
        self.info_gauge(world, file, version, wit).set(1.0);
        metrics::gauge!(crate::telemetry::PLUGIN_LOADED_AT, "world" => world, "plugin" => file.to_string()).set(self.loaded_at as f64 / 1000.0);
    }

    /// Mark it no longer serving in `/metrics` (its `switchboard_plugin_build_info` series
    /// goes to 0), after a reload or a rollback replaced it everywhere it served.
    pub fn retire(&self, world: &'static str, file: &str, version: &str, wit: &str) {
        self.info_gauge(world, file, version, wit).set(0.0);
    }

    fn info_gauge(&self, world: &'static str, file: &str, version: &str, wit: &str) -> metrics::Gauge {
        metrics::gauge!(
            crate::telemetry::PLUGIN_BUILD_INFO,
            "world" => world,
            "plugin" => file.to_string(),
            "version" => version.to_string(),
            "wit" => wit.to_string(),
            "sha256" => self.sha256.clone()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_files_sha256_in_hex() {
        // `printf abc | sha256sum`
        let build = BuildInfo::of(b"abc");
        assert_eq!(build.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(build.size_bytes, 3);
        assert!(build.loaded_at > 1_700_000_000_000);
    }
}
