//! Mail in (`switchboard:channel/mail`, new in 0.2.0), for channels whose messages arrive over
//! SMTP: the host hands over the envelope and the exact bytes, and the plugin answers with
//! events, the attachments' bytes (for the host's media store) and threading hints.
//!
//! Only a mail channel implements [`Mail`] and exports with `export_channel!(MyPlugin, mail)`;
//! every other channel's export answers mail with a `bad-request` rejection.

use crate::bindings::exports::switchboard::channel::mail::{IncomingMail, ParsedMail};
use crate::bindings::switchboard::channel::types::Rejection;

/// What a mail channel does with a received message. Hand-written over the generated `mail`
/// bindings, like [`crate::setup::Setup`].
pub trait Mail {
    fn receive(mail: IncomingMail) -> Result<ParsedMail, Rejection>;
}

/// The answer of a channel that takes no mail.
pub fn not_a_mail_channel() -> Rejection {
    Rejection::bad_request("this channel does not take mail")
}
