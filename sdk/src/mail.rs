//! Mail (`switchboard:channel/mail`, new in 0.2.0), for channels whose messages arrive over
//! SMTP and whose replies leave as mail: the host hands over the envelope and the exact bytes
//! of each received message, and the plugin answers with events, the attachments' bytes (for
//! the host's media store) and threading hints; for a reply, the host hands over the message and
//! what it knows of the conversation ([`ThreadContext`]), and the plugin composes the mail and
//! gives it to the relay ([`crate::relay`]).
//!
//! Only a mail channel implements [`Mail`] and exports with `export_channel!(MyPlugin, mail)`;
//! every other channel's export answers mail with a `bad-request` rejection and replies with an
//! `unsupported` send error.

use crate::bindings::exports::switchboard::channel::mail::{IncomingMail, ParsedMail, ThreadContext};
use crate::bindings::switchboard::channel::types::{OutboundMessage, Rejection, SendError, SendErrorKind, SendReceipt};

/// What a mail channel does with a received message and with a reply. Hand-written over the
/// generated `mail` bindings, like [`crate::setup::Setup`], so that `send` can have a default:
/// a channel can take mail in before it can send any.
pub trait Mail {
    /// Turn one received message into events, blobs and threading hints.
    fn receive(mail: IncomingMail) -> Result<ParsedMail, Rejection>;

    /// Deliver an agent's reply as a mail, threaded by `thread`. The host calls this instead of
    /// `plugin.send` for mail channels. The default answers [`SendErrorKind::Unsupported`].
    fn send(message: OutboundMessage, thread: ThreadContext) -> Result<SendReceipt, SendError> {
        let _ = (message, thread);
        Err(mail_send_unsupported())
    }
}

/// The answer of a channel that takes no mail.
pub fn not_a_mail_channel() -> Rejection {
    Rejection::bad_request("this channel does not take mail")
}

/// The answer to `mail.send` of a channel that sends no mail: `unsupported`, not retryable (a
/// retry cannot change what the plugin can do).
pub fn mail_send_unsupported() -> SendError {
    SendError::new(SendErrorKind::Unsupported, "this channel does not send mail", false)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ReceiveOnly;

    impl Mail for ReceiveOnly {
        fn receive(_mail: IncomingMail) -> Result<ParsedMail, Rejection> {
            Err(not_a_mail_channel())
        }
    }

    #[test]
    fn send_defaults_to_unsupported() {
        let message = OutboundMessage {
            message_id: "m1".into(),
            recipient: crate::prelude::Party {
                id: "ana@example.org".into(),
                phone: None,
                email: None,
                display_name: None,
                username: None,
            },
            content: crate::prelude::OutboundContent::Text("hi".into()),
            reply_to: None,
        };
        let thread = ThreadContext { subject: None, references: Vec::new(), token: None };
        let error = ReceiveOnly::send(message, thread).err().map(|e| (e.kind, e.retryable));
        assert_eq!(error, Some((SendErrorKind::Unsupported, false)));
    }
}
