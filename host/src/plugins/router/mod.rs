//! The `switchboard:router` world: routing policies as sandboxed components.
//!
//! Same engine, pooling, epoch deadlines and memory cap as channels (the generic
//! [`PluginRuntime::call_in`]); what differs is this world's bindings (`bindings.rs`), the
//! imports a policy gets (`sandbox.rs`) and the records it trades (`convert.rs`). Versions
//! dispatch through [`Pre`] and [`Instance`], as the channel world's do, so `router@0.2.0`
//! will be one more variant beside `0.1.0`.

mod bindings;
mod convert;
mod sandbox;

pub use sandbox::PolicyContext;

use super::{AllowedHosts, Caller, PluginError, PluginRuntime};
use crate::config::PolicyConfig;
use crate::routing::types::{Context, Decision};
use anyhow::Context as _;
use bindings::v0_1_0;
pub(super) use sandbox::PolicyState;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::Store;

/// The export a router component of each version has, newest first.
const EXPORTS: [(&str, Version); 1] = [("switchboard:router/policy@0.1.0", Version::V0_1_0)];

/// What one decision may carry: a policy cannot flood the store or the thread.
const MAX_LABELS: usize = 10;
const MAX_LABEL_CHARS: usize = 64;
const MAX_REASON_CHARS: usize = 200;
const MAX_AUTO_REPLY_CHARS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V0_1_0,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1_0 => "0.1.0",
        }
    }
}

/// Link the imports of every router version (and deny-all WASI) into one linker.
pub(super) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<PolicyState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from).context("linking WASI for policies")?;
    v0_1_0::Router::add_to_linker::<PolicyState, HasSelf<PolicyState>>(&mut linker, |state| state)
        .map_err(anyhow::Error::from)
        .context("linking the switchboard:router@0.1.0 imports")?;
    Ok(linker)
}

/// A policy component pre-instantiated against the version it was built for.
enum Pre {
    V0_1_0(v0_1_0::RouterPre<PolicyState>),
}

impl Pre {
    fn new(linker: &Linker<PolicyState>, component: &Component) -> anyhow::Result<Self> {
        let ty = component.component_type();
        let exported: Vec<&str> = ty.exports(linker.engine()).map(|(name, _)| name).collect();
        let version = super::versions::pick_version(&exported, &EXPORTS)?;
        let pre = linker.instantiate_pre(component).map_err(anyhow::Error::from).context("it needs imports a routing policy does not get")?;
        Ok(match version {
            Version::V0_1_0 => Self::V0_1_0(
                v0_1_0::RouterPre::new(pre).map_err(anyhow::Error::from).context("its exports do not match switchboard:router@0.1.0")?,
            ),
        })
    }

    fn version(&self) -> Version {
        match self {
            Self::V0_1_0(_) => Version::V0_1_0,
        }
    }

    async fn instantiate(&self, store: &mut Store<PolicyState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Self::V0_1_0(pre) => Instance::V0_1_0(pre.instantiate_async(store).await?),
        })
    }
}

/// One fresh instance of a policy, of whichever version.
enum Instance {
    V0_1_0(v0_1_0::Router),
}

impl Instance {
    async fn metadata(&self, store: &mut Store<PolicyState>) -> wasmtime::Result<(String, String, String)> {
        match self {
            Self::V0_1_0(i) => i.switchboard_router_policy().call_metadata(store).await.map(convert::info),
        }
    }

    async fn route(&self, store: &mut Store<PolicyState>, context: &Context, so_far: &Decision) -> wasmtime::Result<Result<Decision, String>> {
        match self {
            Self::V0_1_0(i) => {
                let (context, so_far) = (convert::context(context), convert::decision(so_far));
                Ok(i.switchboard_router_policy().call_route(store, &context, &so_far).await?.map(convert::decision_from))
            }
        }
    }
}

/// Name and version a policy reports, with what the host knows of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PolicyInfo {
    /// The configured name decisions are recorded under.
    pub name: String,
    /// The plugin file it runs (`plugins.dir/<plugin>.wasm`).
    pub plugin: String,
    /// The plugin's own name and version.
    pub plugin_name: String,
    pub version: String,
    pub description: String,
    /// The `switchboard:router` version it was built against.
    pub contract: String,
}

struct Loaded {
    info: PolicyInfo,
    build: super::BuildInfo,
    path: std::path::PathBuf,
    pre: Pre,
}

/// One configured policy of the chain and the build serving it.
pub struct PolicyPlugin {
    pub context: Arc<PolicyContext>,
    current: RwLock<Arc<Loaded>>,
    runtime: Arc<PluginRuntime>,
    timeout: Duration,
}

impl PolicyPlugin {
    /// Load the policy `[[routing.policies]]` names, and ask it for its metadata.
    pub async fn load(runtime: &Arc<PluginRuntime>, policy: &PolicyConfig, timeout: Duration) -> anyhow::Result<Self> {
        let allowed_hosts = AllowedHosts::parse(&policy.allowed_hosts).with_context(|| format!("routing policy {}", policy.name))?;
        let mut secrets = BTreeMap::new();
        for (key, source) in &policy.secrets {
            match source.resolve() {
                Some(secret) => {
                    secrets.insert(key.clone(), secret);
                }
                None => tracing::warn!(policy = policy.name, secret = key, "secret is not set"),
            }
        }
        let context = Arc::new(PolicyContext {
            name: policy.name.clone(),
            plugin_name: policy.plugin.clone(),
            config: policy.config_strings(),
            secrets,
            network: super::outbound::Network {
                allowed_hosts,
                http: runtime.http.clone(),
                timeout: Duration::from_millis(runtime.settings.http_timeout_ms),
            },
        });
        let path = runtime.settings.dir.join(format!("{}.wasm", policy.plugin));
        let loaded = Self::compile(runtime, &path, &context, timeout).await.with_context(|| format!("loading routing policy {}", policy.name))?;
        tracing::info!(policy = policy.name, plugin = loaded.info.plugin_name, version = loaded.info.version, sha256 = loaded.build.sha256, "routing policy loaded");
        loaded.build.publish("router", &policy.plugin, &loaded.info.version, &loaded.info.contract);
        Ok(Self { context, current: RwLock::new(Arc::new(loaded)), runtime: runtime.clone(), timeout })
    }

    async fn compile(runtime: &PluginRuntime, path: &Path, context: &Arc<PolicyContext>, timeout: Duration) -> anyhow::Result<Loaded> {
        let wasm = std::fs::read(path).with_context(|| format!("reading policy {}", path.display()))?;
        let build = super::BuildInfo::of(&wasm);
        let component = runtime.compile(&wasm, path)?;
        let pre = Pre::new(&runtime.policy_linker, &component).with_context(|| format!("{} is not a routing policy", path.display()))?;
        let contract = pre.version().as_str().to_string();
        let who = Caller { label: format!("{}@?", context.plugin_name), metric_name: context.plugin_name.clone(), call: "metadata" };
        let state = PolicyState::new(context.clone(), runtime.memory_limit_bytes());
        let (plugin_name, version, description) = runtime
            .call_in(&who, state, timeout, async |store| pre.instantiate(store).await, async |store, instance| instance.metadata(store).await)
            .await
            .with_context(|| format!("asking policy {} for its metadata", path.display()))?;
        let info = PolicyInfo {
            name: context.name.clone(),
            plugin: context.plugin_name.clone(),
            plugin_name,
            version,
            description,
            contract,
        };
        Ok(Loaded { info, build, path: path.to_path_buf(), pre })
    }

    fn current(&self) -> Arc<Loaded> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn info(&self) -> PolicyInfo {
        self.current().info.clone()
    }

    /// The build now serving this policy, and the file it came from.
    pub fn build(&self) -> (super::BuildInfo, std::path::PathBuf) {
        let current = self.current();
        (current.build.clone(), current.path.clone())
    }

    pub fn name(&self) -> &str {
        &self.context.name
    }

    /// Ask the policy for its decision. `Ok(Err(reason))` is the policy declining with an
    /// error of its own; `Err` is a trap, a timeout or the memory cap.
    pub async fn route(&self, context: &Context, so_far: &Decision) -> Result<Result<Decision, String>, PluginError> {
        let loaded = self.current();
        let who = Caller {
            label: format!("{}@{}", loaded.info.plugin_name, loaded.info.version),
            metric_name: self.context.plugin_name.clone(),
            call: "route",
        };
        let state = PolicyState::new(self.context.clone(), self.runtime.memory_limit_bytes());
        let decided = self
            .runtime
            .call_in(&who, state, self.timeout, async |store| loaded.pre.instantiate(store).await, async |store, instance| {
                instance.route(store, context, so_far).await
            })
            .await?;
        Ok(decided.map(bounded))
    }
}

/// `decision` within the size limits: extra labels dropped, long text cut.
fn bounded(mut decision: Decision) -> Decision {
    fn cut(text: &mut String, chars: usize) {
        if let Some((at, _)) = text.char_indices().nth(chars) {
            text.truncate(at);
        }
    }
    decision.add_labels.retain(|label| !label.trim().is_empty());
    decision.add_labels.truncate(MAX_LABELS);
    for label in &mut decision.add_labels {
        *label = label.trim().to_string();
        cut(label, MAX_LABEL_CHARS);
    }
    cut(&mut decision.reason, MAX_REASON_CHARS);
    if let Some(reply) = &mut decision.auto_reply {
        cut(reply, MAX_AUTO_REPLY_CHARS);
    }
    decision.auto_reply = decision.auto_reply.filter(|reply| !reply.trim().is_empty());
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_kept_within_the_limits() {
        let decision = bounded(Decision {
            add_labels: (0..20).map(|i| format!(" label-{i} ")).chain([" ".to_string()]).collect(),
            reason: "é".repeat(500),
            auto_reply: Some("  ".into()),
            ..Decision::default()
        });
        assert_eq!(decision.add_labels.len(), MAX_LABELS);
        assert_eq!(decision.add_labels[0], "label-0");
        assert_eq!(decision.reason.chars().count(), MAX_REASON_CHARS);
        assert_eq!(decision.auto_reply, None, "a blank auto-reply is no auto-reply");
    }
}
