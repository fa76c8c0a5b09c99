//! The released contract versions: picking one when a component loads, and dispatching each
//! call to that version's bindings.
//!
//! A plugin is built against one `switchboard:channel` version and keeps it for life. The
//! host links every version's imports side by side, finds out at load time which `plugin`
//! export a component has, and from then on goes through [`Pre`] and [`Instance`], whose
//! methods hide the version from the rest of the runtime. A call a version lacks (`0.1.0`
//! has no `setup`, `mail` or `chat`) answers `None`. Zed's extension host is built the same way.

use super::bindings::{v0_1_0, v0_2_0};
use super::sandbox::CallState;
use anyhow::Context;
use v0_1_0::switchboard::channel::types as wit;
use v0_2_0::exports::switchboard::channel::{chat, mail, setup};
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};

/// The versions, newest first: a component is bound to the first whose export it has.
const EXPORTS: [(&str, Version); 2] =
    [("switchboard:channel/plugin@0.2.0", Version::V0_2_0), ("switchboard:channel/plugin@0.1.0", Version::V0_1_0)];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V0_1_0,
    V0_2_0,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1_0 => "0.1.0",
            Self::V0_2_0 => "0.2.0",
        }
    }
}

/// The version a component with these exports is bound to: the newest of `known` (newest
/// first, as `(export name, version)`) that it exports. A component built against a version
/// this host does not know (a newer gateway's, or a major version it has never had) is refused
/// by that version's name, before anything of it runs, so an admin reads what to rebuild
/// against rather than a list of missing exports.
pub(super) fn pick_version<V: Copy>(exported: &[&str], known: &[(&str, V)]) -> anyhow::Result<V> {
    if let Some((_, version)) = known.iter().find(|(name, _)| exported.contains(name)) {
        return Ok(*version);
    }
    let supported: Vec<&str> = known.iter().filter_map(|(name, _)| name.split_once('@').map(|(_, v)| v)).collect();
    // Every known export is `<package>/<interface>@<version>`; another version of one of them.
    let interfaces: Vec<&str> = known.iter().filter_map(|(name, _)| name.split_once('@').map(|(interface, _)| interface)).collect();
    if let Some((interface, version)) = exported.iter().filter_map(|name| name.split_once('@')).find(|(interface, _)| interfaces.contains(interface)) {
        let package = interface.split_once('/').map_or(interface, |(package, _)| package);
        anyhow::bail!(
            "it was built against {package}@{version}, which this host does not support (it loads {package}@{}): rebuild the plugin against one of those, or run a gateway that knows {version}",
            supported.join(", ")
        );
    }
    anyhow::bail!(
        "it exports none of {} (it exports: {})",
        known.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", "),
        if exported.is_empty() { "nothing".to_string() } else { exported.join(", ") }
    )
}

/// Link the imports of every version into one linker.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> anyhow::Result<()> {
    v0_1_0::Channel::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
        .map_err(anyhow::Error::from)
        .context("linking the switchboard:channel@0.1.0 imports")?;
    v0_2_0::Channel::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
        .map_err(anyhow::Error::from)
        .context("linking the switchboard:channel@0.2.0 imports")?;
    Ok(())
}

/// A component pre-instantiated against the version it was built for.
pub enum Pre {
    V0_1_0(v0_1_0::ChannelPre<CallState>),
    V0_2_0(v0_2_0::ChannelPre<CallState>),
}

impl Pre {
    /// Bind `component` to the newest version whose `plugin` export it has.
    pub fn new(linker: &Linker<CallState>, component: &Component) -> anyhow::Result<Self> {
        let ty = component.component_type();
        let engine = linker.engine();
        let exported: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
        let version = pick_version(&exported, &EXPORTS)?;
        let pre = linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("it needs imports this host does not provide")?;
        let context = || format!("its exports do not match switchboard:channel@{}", version.as_str());
        Ok(match version {
            Version::V0_1_0 => Self::V0_1_0(v0_1_0::ChannelPre::new(pre).map_err(anyhow::Error::from).with_context(context)?),
            Version::V0_2_0 => Self::V0_2_0(v0_2_0::ChannelPre::new(pre).map_err(anyhow::Error::from).with_context(context)?),
        })
    }

    pub fn version(&self) -> Version {
        match self {
            Self::V0_1_0(_) => Version::V0_1_0,
            Self::V0_2_0(_) => Version::V0_2_0,
        }
    }

    pub async fn instantiate(&self, store: &mut Store<CallState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Self::V0_1_0(pre) => Instance::V0_1_0(pre.instantiate_async(store).await?),
            Self::V0_2_0(pre) => Instance::V0_2_0(pre.instantiate_async(store).await?),
        })
    }
}

/// One fresh instance of a plugin, of whichever version.
pub enum Instance {
    V0_1_0(v0_1_0::Channel),
    V0_2_0(v0_2_0::Channel),
}

impl Instance {
    pub async fn metadata(&self, store: &mut Store<CallState>) -> wasmtime::Result<wit::PluginInfo> {
        match self {
            Self::V0_1_0(i) => i.switchboard_channel_plugin().call_metadata(store).await,
            Self::V0_2_0(i) => i.switchboard_channel_plugin().call_metadata(store).await,
        }
    }

    pub async fn verify(&self, store: &mut Store<CallState>, request: &wit::IncomingRequest) -> wasmtime::Result<wit::Verdict> {
        match self {
            Self::V0_1_0(i) => i.switchboard_channel_plugin().call_verify(store, request).await,
            Self::V0_2_0(i) => i.switchboard_channel_plugin().call_verify(store, request).await,
        }
    }

    pub async fn parse(
        &self,
        store: &mut Store<CallState>,
        request: &wit::IncomingRequest,
    ) -> wasmtime::Result<Result<wit::Parsed, wit::Rejection>> {
        match self {
            Self::V0_1_0(i) => i.switchboard_channel_plugin().call_parse(store, request).await,
            Self::V0_2_0(i) => i.switchboard_channel_plugin().call_parse(store, request).await,
        }
    }

    pub async fn send(
        &self,
        store: &mut Store<CallState>,
        message: &wit::OutboundMessage,
    ) -> wasmtime::Result<Result<wit::SendReceipt, wit::SendError>> {
        match self {
            Self::V0_1_0(i) => i.switchboard_channel_plugin().call_send(store, message).await,
            Self::V0_2_0(i) => i.switchboard_channel_plugin().call_send(store, message).await,
        }
    }

    /// The setup guide; `None` for plugins built before `setup` existed.
    pub async fn guide(&self, store: &mut Store<CallState>) -> wasmtime::Result<Option<setup::ChannelGuide>> {
        match self {
            Self::V0_1_0(_) => Ok(None),
            Self::V0_2_0(i) => i.switchboard_channel_setup().call_guide(store).await.map(Some),
        }
    }

    /// What the plugin makes of a received mail; `None` for plugins built before `mail`
    /// existed.
    pub async fn receive_mail(
        &self,
        store: &mut Store<CallState>,
        incoming: &mail::IncomingMail,
    ) -> wasmtime::Result<Option<Result<mail::ParsedMail, wit::Rejection>>> {
        match self {
            Self::V0_1_0(_) => Ok(None),
            Self::V0_2_0(i) => i.switchboard_channel_mail().call_receive(store, incoming).await.map(Some),
        }
    }

    /// Compose and relay a reply as mail; `None` for plugins built before `mail` existed.
    pub async fn send_mail(
        &self,
        store: &mut Store<CallState>,
        message: &wit::OutboundMessage,
        thread: &mail::ThreadContext,
    ) -> wasmtime::Result<Option<Result<wit::SendReceipt, wit::SendError>>> {
        match self {
            Self::V0_1_0(_) => Ok(None),
            Self::V0_2_0(i) => i.switchboard_channel_mail().call_send(store, message, thread).await.map(Some),
        }
    }

    /// What the plugin makes of a web chat visitor's action; `None` for plugins built before
    /// `chat` existed.
    pub async fn receive_chat(
        &self,
        store: &mut Store<CallState>,
        visitor: &chat::Visitor,
        action: &chat::Action,
    ) -> wasmtime::Result<Option<Result<wit::Parsed, wit::Rejection>>> {
        match self {
            Self::V0_1_0(_) => Ok(None),
            Self::V0_2_0(i) => i.switchboard_channel_chat().call_receive(store, visitor, action).await.map(Some),
        }
    }

    /// The connection check; `None` for plugins built before `setup` existed.
    pub async fn check_connection(
        &self,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<Option<Result<setup::Connected, setup::Problem>>> {
        match self {
            Self::V0_1_0(_) => Ok(None),
            Self::V0_2_0(i) => i.switchboard_channel_setup().call_check_connection(store).await.map(Some),
        }
    }
}

/// The `0.2.0` imports that `0.1.0` has are unchanged: each hands over to the `0.1.0` host
/// function in `sandbox.rs`. The two new ones (`outbound-mail`, `replay`) call the sandbox too,
/// so its policy lives in one place.
mod imports_v0_2_0 {
    use super::super::mail_relay::RelayError;
    use super::super::sandbox::CallState;
    use super::v0_1_0::switchboard::channel as v1;
    use super::v0_2_0::switchboard::channel::{clock, config, crypto, logging, outbound_http, outbound_mail, replay};
    use wasmtime::Result;

    impl outbound_mail::Host for CallState {
        async fn send(&mut self, envelope: outbound_mail::Envelope, raw: Vec<u8>) -> std::result::Result<(), outbound_mail::Error> {
            use outbound_mail::{Error, RelayReply};
            // The future must be `Send`, and the call state is not `Sync`: hold only the channel.
            let channel = self.channel.clone();
            super::super::sandbox::relay_mail(&channel, &envelope.mail_from, &envelope.rcpt_to, &raw).await.map_err(|error| match error {
                RelayError::NotConfigured => Error::NotConfigured,
                RelayError::Transient { code, message } => Error::Transient(RelayReply { code, message }),
                RelayError::Permanent { code, message } => Error::Permanent(RelayReply { code, message }),
                RelayError::Unavailable(message) => Error::Unavailable(message),
                RelayError::Invalid(message) => Error::Invalid(message),
            })
        }
    }

    impl replay::Host for CallState {
        fn claim(&mut self, nonce: String, ttl_ms: u64) -> Result<bool> {
            Ok(CallState::claim(self, nonce, ttl_ms))
        }
    }

    impl config::Host for CallState {
        fn get(&mut self, key: String) -> Result<Option<String>> {
            v1::config::Host::get(self, key)
        }

        fn secret(&mut self, key: String) -> Result<Option<String>> {
            v1::config::Host::secret(self, key)
        }
    }

    impl crypto::Host for CallState {
        fn hmac_sha256(&mut self, key: Vec<u8>, data: Vec<u8>) -> Result<Vec<u8>> {
            v1::crypto::Host::hmac_sha256(self, key, data)
        }

        fn hmac_sha1(&mut self, key: Vec<u8>, data: Vec<u8>) -> Result<Vec<u8>> {
            v1::crypto::Host::hmac_sha1(self, key, data)
        }

        fn sha256(&mut self, data: Vec<u8>) -> Result<Vec<u8>> {
            v1::crypto::Host::sha256(self, data)
        }
    }

    impl logging::Host for CallState {
        fn log(&mut self, level: logging::Level, message: String) -> Result<()> {
            use v1::logging::Level as L;
            let level = match level {
                logging::Level::Trace => L::Trace,
                logging::Level::Debug => L::Debug,
                logging::Level::Info => L::Info,
                logging::Level::Warn => L::Warn,
                logging::Level::Error => L::Error,
            };
            v1::logging::Host::log(self, level, message)
        }
    }

    impl clock::Host for CallState {
        fn now_ms(&mut self) -> Result<u64> {
            v1::clock::Host::now_ms(self)
        }
    }

    impl outbound_http::Host for CallState {
        async fn send(
            &mut self,
            request: outbound_http::Request,
        ) -> std::result::Result<v1::types::HttpResponse, outbound_http::Error> {
            let request = v1::outbound_http::Request {
                method: request.method,
                url: request.url,
                headers: request.headers,
                body: request.body,
                timeout_ms: request.timeout_ms,
            };
            v1::outbound_http::Host::send(self, request).await.map_err(|error| match error {
                v1::outbound_http::Error::Denied(host) => outbound_http::Error::Denied(host),
                v1::outbound_http::Error::Timeout => outbound_http::Error::Timeout,
                v1::outbound_http::Error::Connection(message) => outbound_http::Error::Connection(message),
                v1::outbound_http::Error::InvalidRequest(message) => outbound_http::Error::InvalidRequest(message),
            })
        }
    }
}

#[cfg(test)]
mod pick_tests {
    use super::*;

    #[test]
    fn the_newest_known_version_a_component_exports_is_picked() {
        let exported = ["switchboard:channel/plugin@0.1.0", "switchboard:channel/plugin@0.2.0", "switchboard:channel/setup@0.2.0"];
        assert_eq!(pick_version(&exported, &EXPORTS).unwrap(), Version::V0_2_0);
        assert_eq!(pick_version(&["switchboard:channel/plugin@0.1.0"], &EXPORTS).unwrap(), Version::V0_1_0);
    }

    #[test]
    fn an_unknown_version_is_refused_by_name() {
        let error = pick_version(&["switchboard:channel/plugin@1.0.0"], &EXPORTS).unwrap_err().to_string();
        assert!(error.contains("built against switchboard:channel@1.0.0"), "{error}");
        assert!(error.contains("it loads switchboard:channel@0.2.0, 0.1.0"), "{error}");
    }

    #[test]
    fn a_component_of_another_world_is_told_what_is_missing() {
        let error = pick_version(&["wasi:cli/run@0.2.0"], &EXPORTS).unwrap_err().to_string();
        assert!(error.contains("exports none of switchboard:channel/plugin@0.2.0, switchboard:channel/plugin@0.1.0"), "{error}");
        assert!(error.contains("wasi:cli/run@0.2.0"), "{error}");
        let error = pick_version(&[], &EXPORTS).unwrap_err().to_string();
        assert!(error.contains("it exports: nothing"), "{error}");
    }
}
