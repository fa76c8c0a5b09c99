//! Web chat (`switchboard:channel/chat`, new in 0.2.0), for the host's own website widget: the
//! host owns the socket, the visitor's session and who the visitor is; the plugin turns what a
//! visitor does ([`Action`]) into events.
//!
//! Only a web chat channel implements [`Chat`] and exports with `export_channel!(MyPlugin,
//! chat)`; every other channel's export answers with a `bad-request` rejection.
//!
//! Whatever a plugin puts in an event's party, the host sets the sender from the session's
//! [`Visitor`]: a plugin cannot make a visitor someone else. [`message_external_id`] is the
//! id a resend must map to, so the host's dedupe stores it once.

pub use crate::bindings::exports::switchboard::channel::chat::{Action, Receipt, Visitor, VisitorMessage};
use crate::bindings::switchboard::channel::types::{Parsed, Rejection};

/// What a web chat channel makes of a visitor's actions. Hand-written over the generated
/// `chat` bindings, like [`crate::mail::Mail`].
pub trait Chat {
    /// Turn one visitor action into events.
    fn receive(visitor: Visitor, action: Action) -> Result<Parsed, Rejection>;
}

/// The answer of a channel that takes no web chat.
pub fn not_a_chat_channel() -> Rejection {
    Rejection::bad_request("this channel does not take web chat")
}

/// The `external-id` of a visitor's message: the visitor's id and the widget's client id, so
/// a resend (same client id) is the same message, and two visitors' ids never collide.
pub fn message_external_id(visitor: &Visitor, client_id: &str) -> String {
    format!("{}/{client_id}", visitor.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_per_visitor_and_stable() {
        let visitor = |id: &str| Visitor { id: id.into(), verified_identifier: None, name: None, locale: None };
        assert_eq!(message_external_id(&visitor("v1"), "c1"), message_external_id(&visitor("v1"), "c1"));
        assert_ne!(message_external_id(&visitor("v1"), "c1"), message_external_id(&visitor("v2"), "c1"));
    }
}
