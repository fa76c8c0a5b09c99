//! Replacing a channel plugin's build while the gateway serves traffic.
//!
//! A reload reads `plugins.dir/<file>.wasm` again and prepares a build for every channel
//! instance the file serves, off the hot path: it is compiled (or found in the compile cache),
//! bound to the contract version it exports, pre-instantiated, and put through a self-check
//! (`metadata`, then a dry `verify` of a bodiless request, and `parse` if it accepts it: it
//! may reject the request, but must answer without trapping or running out of time). Only when
//! every instance's build passed is each swapped in; a build that fails leaves every instance
//! on the build it had, and the reason is returned and kept for the admin's Plugins page.
//! Reloads and rollbacks run one at a time. Calls already running finish on the build they started
//! with (each holds its own reference), so a swap drops no webhook and no send.
//!
//! The build replaced is kept, so a rollback is one call. This reloads one node; the other
//! nodes of a cluster are reloaded by their own call (propagation is still to come).

use super::{BuildInfo, ChannelPlugin, Channels, LoadedPlugin, WebhookRequest};
use anyhow::Context;
use std::sync::Arc;

/// Why a reload or a rollback did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no channel runs plugin `{0}`")]
    UnknownPlugin(String),
    /// The new build failed to load or its self-check; every instance keeps its build.
    #[error("{0}")]
    Refused(String),
    #[error("plugin `{0}` has no previous build on this node to roll back to")]
    NothingToRollBack(String),
}

/// The last reload or rollback asked of a plugin file on this node, for the Plugins page.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReloadAttempt {
    /// `reload` or `rollback`.
    pub action: &'static str,
    /// When it was asked (Unix ms).
    pub at: i64,
    /// Whether the build was swapped in.
    pub ok: bool,
    /// Why not, when it was not.
    pub error: Option<String>,
    /// The build serving afterwards.
    pub sha256: String,
}

/// What a reload or rollback installed.
#[derive(Debug, Clone)]
pub struct Swapped {
    pub build: BuildInfo,
    pub replaced: BuildInfo,
    /// The channel instances now on `build`.
    pub channels: Vec<String>,
}

impl ChannelPlugin {
    /// Load this instance's file again and self-check it; nothing is swapped yet.
    async fn prepare(&self) -> anyhow::Result<LoadedPlugin> {
        let path = self.current().path.clone();
        let loaded = self.runtime.load(&path, &self.context).await?;
        let probe = WebhookRequest { method: "POST".into(), url: format!("/webhooks/{}", self.context.channel_id), query: Vec::new(), headers: Vec::new(), body: Vec::new() };
        // Whatever it answers (a rejection, most likely), it must answer: a trap, a timeout or
        // the memory cap here would be every webhook's fate.
        self.webhook_on(&loaded, probe).await.context("self-check: a dry `verify` of an empty request failed")?;
        Ok(loaded)
    }

    /// Put `build` in service, keeping the one it replaces for a rollback.
    fn install(&self, build: Arc<LoadedPlugin>) -> Arc<LoadedPlugin> {
        let mut current = self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = std::mem::replace(&mut *current, build);
        *self.previous.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(old.clone());
        old
    }

    fn previous(&self) -> Option<Arc<LoadedPlugin>> {
        self.previous.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl Channels {
    /// The instances running plugin file `file`, in id order.
    fn running(&self, file: &str) -> Vec<(&String, &Arc<ChannelPlugin>)> {
        let mut running: Vec<_> = self.by_id.iter().filter(|(_, channel)| channel.context.plugin_name == file).collect();
        running.sort_by(|a, b| a.0.cmp(b.0));
        running
    }

    /// Reload plugin file `file` for every channel instance it serves, all or none.
    pub async fn reload(&self, file: &str) -> Result<Swapped, ReloadError> {
        let _one_at_a_time = self.swapping.lock().await;
        let running = self.running(file);
        if running.is_empty() {
            return Err(ReloadError::UnknownPlugin(file.to_string()));
        }
        let mut prepared = Vec::with_capacity(running.len());
        for (id, channel) in &running {
            match channel.prepare().await {
                Ok(build) => prepared.push(Arc::new(build)),
                Err(error) => {
                    let reason = format!("{error:#}");
                    tracing::warn!(plugin = file, channel = id.as_str(), reason, "reload refused; the running build keeps serving");
                    let sha256 = channel.current().build.sha256.clone();
                    self.note(file, ReloadAttempt { action: "reload", at: crate::clock::now_ms(), ok: false, error: Some(reason.clone()), sha256 });
                    return Err(ReloadError::Refused(reason));
                }
            }
        }
        Ok(self.swap_all(file, "reload", running, prepared))
    }

    /// Put back the build each instance of `file` ran before its last reload (or rollback).
    pub async fn roll_back(&self, file: &str) -> Result<Swapped, ReloadError> {
        let _one_at_a_time = self.swapping.lock().await;
        let running = self.running(file);
        if running.is_empty() {
            return Err(ReloadError::UnknownPlugin(file.to_string()));
        }
        let previous: Option<Vec<Arc<LoadedPlugin>>> = running.iter().map(|(_, channel)| channel.previous()).collect();
        let previous = previous.ok_or_else(|| ReloadError::NothingToRollBack(file.to_string()))?;
        Ok(self.swap_all(file, "rollback", running, previous))
    }

    fn swap_all(&self, file: &str, action: &'static str, running: Vec<(&String, &Arc<ChannelPlugin>)>, builds: Vec<Arc<LoadedPlugin>>) -> Swapped {
        let mut replaced = Vec::new();
        let mut channels = Vec::new();
        for ((id, channel), build) in running.into_iter().zip(builds) {
            replaced.push(channel.install(build));
            channels.push(id.clone());
        }
        let build = self.by_id[&channels[0]].current();
        build.build.publish("channel", file, &build.info.version, &build.info.contract);
        let old = &replaced[0];
        if old.build.sha256 != build.build.sha256 {
            old.build.retire("channel", file, &old.info.version, &old.info.contract);
        }
        tracing::info!(plugin = file, action, sha256 = build.build.sha256, replaced = old.build.sha256, version = build.info.version, "plugin build swapped in");
        self.note(file, ReloadAttempt { action, at: crate::clock::now_ms(), ok: true, error: None, sha256: build.build.sha256.clone() });
        Swapped { build: build.build.clone(), replaced: old.build.clone(), channels }
    }

    fn note(&self, file: &str, attempt: ReloadAttempt) {
        self.reloads.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(file.to_string(), attempt);
    }

    /// The last reload or rollback of `file` on this node, if any.
    pub fn last_reload(&self, file: &str) -> Option<ReloadAttempt> {
        self.reloads.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(file).cloned()
    }
}
