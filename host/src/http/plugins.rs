//! `/api/v1/admin/plugins`: which plugin builds this node runs, and what each serves.
//!
//! One entry per distinct build (world, file and content hash), with every channel instance
//! or routing policy it serves, so two instances of one plugin file show once, and an
//! instance still on an older build than its neighbour shows apart from it.

use super::error::{ApiError, ErrorBody, Forbidden, Unauthorized};
use super::AppState;
use crate::plugins::reload::{ReloadAttempt, ReloadError, Swapped};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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
    /// The last reload or rollback of this file on this node (channel plugins), with why it
    /// was refused if it was.
    pub last_reload: Option<ReloadAttempt>,
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
            last_reload: state.channels.last_reload(&channel.context.plugin_name),
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
            last_reload: None,
        });
        view.serves.push(info.name);
    }
    let mut views: Vec<LoadedPluginView> = builds.into_values().collect();
    for view in &mut views {
        view.serves.sort();
    }
    Json(views)
}

/// What a reload or rollback put in service.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SwapView {
    pub file: String,
    /// The build now serving.
    pub sha256: String,
    pub size_bytes: u64,
    pub loaded_at: i64,
    /// The build it replaced (kept for the next rollback).
    pub replaced_sha256: String,
    /// The channel instances now on it.
    pub channels: Vec<String>,
}

fn swap_view(file: String, swapped: Swapped) -> Json<SwapView> {
    Json(SwapView {
        file,
        sha256: swapped.build.sha256,
        size_bytes: swapped.build.size_bytes,
        loaded_at: swapped.build.loaded_at,
        replaced_sha256: swapped.replaced.sha256,
        channels: swapped.channels,
    })
}

impl From<ReloadError> for ApiError {
    fn from(error: ReloadError) -> Self {
        let message = error.to_string();
        match error {
            ReloadError::UnknownPlugin(_) => ApiError::not_found("no_such_plugin", message),
            ReloadError::Refused(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "plugin_refused", message),
            ReloadError::NothingToRollBack(_) => ApiError::new(StatusCode::CONFLICT, "nothing_to_roll_back", message),
        }
    }
}

/// Load `plugins.dir/<file>.wasm` again for every channel instance it serves on this node, and
/// swap it in if it passes its self-check (it compiles, binds to a known contract version, and
/// answers `metadata` and a dry `verify` without trapping). Calls already running finish on
/// the old build. A refused build changes nothing, and the reason is in the answer and on the
/// Plugins page.
#[utoipa::path(post, path = "/admin/plugins/{file}/reload", tag = "plugins",
    params(("file" = String, Path, description = "The plugin file's stem in `plugins.dir` (`whatsapp` for `whatsapp.wasm`)")),
    responses(
        (status = 200, description = "The new build serves every instance of the file", body = SwapView),
        (status = 404, description = "No channel runs this plugin", body = ErrorBody),
        (status = 422, description = "The new build failed to load or its self-check; the old one keeps serving", body = ErrorBody),
        Unauthorized, Forbidden))]
pub async fn reload_plugin(State(state): State<AppState>, file: Result<Path<String>, PathRejection>) -> Result<Json<SwapView>, ApiError> {
    let Path(file) = file?;
    let swapped = state.channels.reload(&file).await?;
    Ok(swap_view(file, swapped))
}

/// Put back the build each instance of the file ran before its last reload or rollback.
#[utoipa::path(post, path = "/admin/plugins/{file}/rollback", tag = "plugins",
    params(("file" = String, Path, description = "The plugin file's stem in `plugins.dir`")),
    responses(
        (status = 200, description = "The previous build serves again", body = SwapView),
        (status = 404, description = "No channel runs this plugin", body = ErrorBody),
        (status = 409, description = "Nothing was reloaded on this node since it started", body = ErrorBody),
        Unauthorized, Forbidden))]
pub async fn roll_back_plugin(State(state): State<AppState>, file: Result<Path<String>, PathRejection>) -> Result<Json<SwapView>, ApiError> {
    let Path(file) = file?;
    let swapped = state.channels.roll_back(&file).await?;
    Ok(swap_view(file, swapped))
}
