//! # switchboard-sdk
//!
//! Everything a Switchboard channel plugin needs, so that a plugin crate holds only its
//! provider's logic:
//!
//! - the generated WIT bindings of `switchboard:channel@0.2.0` ([`bindings`], and the
//!   commonly used types in [`prelude`]);
//! - [`export_channel!`], which exports your type as the plugin;
//! - [`setup::Setup`], the setup guide and connection check an admin sees on the channel
//!   page, with defaults;
//! - [`mail::Mail`], for channels whose messages arrive over SMTP and whose replies leave as
//!   mail (`export_channel!(T, mail)`);
//! - [`chat::Chat`], for the host's website chat widget (`export_channel!(T, chat)`);
//! - [`router`], for routing policies: the `switchboard:router@0.1.0` world, its [`router::Policy`]
//!   trait and [`export_policy!`];
//! - mail out through the instance's relay, with relay answers mapped to send errors
//!   ([`relay`]), and one-time webhook tokens claimed against replays ([`replay`]);
//! - helpers every channel needs: constant-time signature checks ([`signature`]), JSON and form
//!   decoding, byte-exact too ([`decode`]), base64, basic-auth and form encoding ([`encoding`]), request
//!   accessors ([`request`]), outbound HTTP with provider-error
//!   classification ([`http`]), the Meta (WhatsApp, Messenger, Instagram) webhook
//!   conventions ([`meta`]), and the whole of Messenger and Instagram messaging, which share
//!   their webhooks and Send API ([`meta_messaging`]).
//!
//! A plugin is a `cdylib` built with `cargo build --target wasm32-wasip2`:
//!
//! ```ignore
//! use switchboard_sdk::prelude::*;
//!
//! struct Echo;
//!
//! impl Plugin for Echo {
//!     fn metadata() -> PluginInfo { /* … */ }
//!     fn verify(request: IncomingRequest) -> Verdict { Verdict::Accept }
//!     fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> { /* … */ }
//!     fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> { /* … */ }
//! }
//!
//! // No setup steps and no connection check yet: the defaults.
//! impl Setup for Echo {}
//!
//! switchboard_sdk::export_channel!(Echo);
//! ```

pub mod chat;
pub mod content;
pub mod decode;
pub mod encoding;
pub mod http;
pub mod log;
pub mod mail;
pub mod meta;
pub mod meta_messaging;
pub mod relay;
pub mod replay;
pub mod request;
pub mod router;
pub mod setup;
pub mod signature;
pub mod testing;

/// Generated bindings for the `switchboard:channel@0.2.0` world. (Plugins built with an
/// older SDK against `0.1.0` keep loading: the host binds every released version.)
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/channel/v0.2.0",
        world: "channel",
        pub_export_macro: true,
        export_macro_name: "__export_channel_world",
        default_bindings_module: "switchboard_sdk::bindings",
    });
}

/// The types and host functions a plugin uses most, in one import.
pub mod prelude {
    pub use crate::bindings::exports::switchboard::channel::plugin::Guest as Plugin;
    pub use crate::bindings::exports::switchboard::channel::mail::{
        Blob, Envelope, IncomingMail, ParsedMail, ThreadContext, ThreadHints,
    };
    pub use crate::bindings::exports::switchboard::channel::setup::{ChannelGuide, Connected, Problem, ProblemKind, Setting};
    pub use crate::chat::{Action, Chat, Receipt, Visitor, VisitorMessage};
    pub use crate::mail::Mail;
    // `outbound-mail`'s envelope is renamed: `Envelope` is the received mail's (`mail`).
    pub use crate::relay::{RelayEnvelope, RelayError, RelayReply};
    pub use crate::setup::Setup;
    pub use crate::bindings::switchboard::channel::types::{
        Attachment, Capabilities, ConsentUpdate, DeliveryStatus, Event, HttpResponse,
        InboundMessage, IncomingRequest, MediaKind, MessageKind, OutboundContent, PluginInfo,
        OutboundMedia, OutboundMessage, Parsed, Party, ProviderError, Rejection, RejectionKind,
        SendErrorKind, SendReceipt, StatusUpdate, Template, Verdict, Watermark,
    };
    pub use crate::bindings::switchboard::channel::types::SendError;
    pub use crate::bindings::switchboard::channel::{clock, config, crypto, logging};
    pub use crate::decode::{form, json};
    pub use crate::request::{header, query};
}

/// Export a type implementing [`prelude::Plugin`] and [`setup::Setup`] as this component's
/// channel plugin: `export_channel!(MyPlugin)`; for a channel that takes mail and also
/// implements [`mail::Mail`], `export_channel!(MyPlugin, mail)`; for the web chat channel,
/// which implements [`chat::Chat`], `export_channel!(MyPlugin, chat)`.
///
/// Without `mail`, the generated `mail` export answers `receive` with a `bad-request`
/// rejection and `send` with an `unsupported` error; with it, both go to [`mail::Mail`]
/// (whose `send` defaults to `unsupported` too, for a channel that only takes mail in).
/// Without `chat`, the `chat` export answers with a `bad-request` rejection.
///
/// Call it once, at the crate root of a `cdylib` plugin crate.
#[macro_export]
macro_rules! export_channel {
    ($plugin:ident) => {
        $crate::export_channel!(@no_mail $plugin);
        $crate::export_channel!(@no_chat $plugin);
        $crate::export_channel!(@common $plugin);
    };
    ($plugin:ident, mail) => {
        impl $crate::bindings::exports::switchboard::channel::mail::Guest for $plugin {
            fn receive(
                mail: $crate::prelude::IncomingMail,
            ) -> Result<$crate::prelude::ParsedMail, $crate::prelude::Rejection> {
                <$plugin as $crate::mail::Mail>::receive(mail)
            }

            fn send(
                message: $crate::prelude::OutboundMessage,
                thread: $crate::prelude::ThreadContext,
            ) -> Result<$crate::prelude::SendReceipt, $crate::prelude::SendError> {
                <$plugin as $crate::mail::Mail>::send(message, thread)
            }
        }

        $crate::export_channel!(@no_chat $plugin);
        $crate::export_channel!(@common $plugin);
    };
    ($plugin:ident, chat) => {
        impl $crate::bindings::exports::switchboard::channel::chat::Guest for $plugin {
            fn receive(
                visitor: $crate::prelude::Visitor,
                action: $crate::prelude::Action,
            ) -> Result<$crate::prelude::Parsed, $crate::prelude::Rejection> {
                <$plugin as $crate::chat::Chat>::receive(visitor, action)
            }
        }

        $crate::export_channel!(@no_mail $plugin);
        $crate::export_channel!(@common $plugin);
    };
    (@no_mail $plugin:ident) => {
        // Not a mail channel: mail is refused, and so is sending as mail.
        impl $crate::bindings::exports::switchboard::channel::mail::Guest for $plugin {
            fn receive(
                _mail: $crate::prelude::IncomingMail,
            ) -> Result<$crate::prelude::ParsedMail, $crate::prelude::Rejection> {
                Err($crate::mail::not_a_mail_channel())
            }

            fn send(
                _message: $crate::prelude::OutboundMessage,
                _thread: $crate::prelude::ThreadContext,
            ) -> Result<$crate::prelude::SendReceipt, $crate::prelude::SendError> {
                Err($crate::mail::mail_send_unsupported())
            }
        }
    };
    (@no_chat $plugin:ident) => {
        // Not the web chat channel: visitors' actions are refused.
        impl $crate::bindings::exports::switchboard::channel::chat::Guest for $plugin {
            fn receive(
                _visitor: $crate::prelude::Visitor,
                _action: $crate::prelude::Action,
            ) -> Result<$crate::prelude::Parsed, $crate::prelude::Rejection> {
                Err($crate::chat::not_a_chat_channel())
            }
        }
    };
    (@common $plugin:ident) => {
        // The generated `setup` export, answered by the hand-written trait and its defaults.
        impl $crate::bindings::exports::switchboard::channel::setup::Guest for $plugin {
            fn guide() -> $crate::prelude::ChannelGuide {
                <$plugin as $crate::setup::Setup>::guide()
            }

            fn check_connection() -> Result<$crate::prelude::Connected, $crate::prelude::Problem> {
                <$plugin as $crate::setup::Setup>::check_connection()
            }
        }

        $crate::bindings::__export_channel_world!($plugin with_types_in $crate::bindings);
    };
}

use bindings::switchboard::channel::types::{Rejection, RejectionKind};

impl Rejection {
    /// A missing or wrong signature (`401`).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self { kind: RejectionKind::Unauthorized, message: message.into() }
    }

    /// A handshake that does not match our configuration (`403`).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self { kind: RejectionKind::Forbidden, message: message.into() }
    }

    /// A body or query that cannot be understood (`400`).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { kind: RejectionKind::BadRequest, message: message.into() }
    }
}

/// Read a required config value, or a message naming the missing key.
pub fn required_config(key: &str) -> Result<String, String> {
    bindings::switchboard::channel::config::get(key)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| format!("config value `{key}` is not set"))
}

/// Read a required secret, or a message naming the missing key (never its value).
pub fn required_secret(key: &str) -> Result<String, String> {
    bindings::switchboard::channel::config::secret(key)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| format!("secret `{key}` is not set"))
}
