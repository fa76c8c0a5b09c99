//! `/api/v1/admin/plugins`: which plugin builds this node runs, and what each serves.
//!
//! One entry per distinct build (world, file and content hash), with every channel instance
//! or routing policy it serves, so two instances of one plugin file show once, and an
//! instance still on an older build than its neighbour shows apart from it.

use super::error::{Forbidden, Unauthorized};
use super::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;

/// One plugin build loaded on this node.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoadedPluginView {
    /// The WIT world it implements: `channel` or `router`.
    pub world: &'static str,
    /// The file's stem in `plugins.dir` (`whatsapp` for `whatsapp.wasm`).
    pub file: String,
    /// Where it was loaded from.
    pub path: String,
    /// The name and semantic version the plugin reports of itself (its `metadata`).
    pub name: String,
    pub version: String,
    /// The contract it was built against, read from the component's exports before it was
    /// instantiated, e.g. `switchboard:channel@0.2.0`.
    pub wit: String,
    /// SHA-256 of the component file, in hex (what `sha256sum` prints for it).
    pub sha256: String,
    pub size_bytes: u64,
    /// When this node loaded it (Unix ms).
    pub loaded_at: i64,
    /// The channel instances, or the routing policies, this build serves.
    pub serves: Vec<String>,
}

#[utoipa::path(get, path = "/admin/plugins", tag = "plugins",
    responses(
        (status = 200, description = "Every plugin build this node runs: channel plugins by file, then routing policies", body = Vec<LoadedPluginView>),
        Unauthorized, Forbidden))]
pub async fn list_plugins(State(state): State<AppState>) -> Json<Vec<LoadedPluginView>> {
    let mut builds: BTreeMap<(&'static str, String, String), LoadedPluginView> = BTreeMap::new();
    for (id, channel) in state.channels.iter() {
        let info = channel.info();
        let (build, path) = channel.build();
        let file = channel.context.plugin_name.clone();
        let view = builds.entry(("channel", file.clone(), build.sha256.clone())).or_insert_with(|| LoadedPluginView {
            world: "channel",
            file,
            path: path.display().to_string(),
            name: info.name,
            version: info.version,
            wit: format!("switchboard:channel@{}", info.contract),
            sha256: build.sha256,
            size_bytes: build.size_bytes,
            loaded_at: build.loaded_at,
            serves: Vec::new(),
        });
        view.serves.push(id.clone());
    }
    for policy in &state.policies.0 {
        let info = policy.info();
        let (build, path) = policy.build();
        let view = builds.entry(("router", info.plugin.clone(), build.sha256.clone())).or_insert_with(|| LoadedPluginView {
            world: "router",
            file: info.plugin.clone(),
            path: path.display().to_string(),
            name: info.plugin_name.clone(),
            version: info.version.clone(),
            wit: format!("switchboard:router@{}", info.contract),
            sha256: build.sha256,
            size_bytes: build.size_bytes,
            loaded_at: build.loaded_at,
            serves: Vec::new(),
        });
        view.serves.push(info.name);
    }
    let mut views: Vec<LoadedPluginView> = builds.into_values().collect();
    for view in &mut views {
        view.serves.sort();
    }
    Json(views)
}
