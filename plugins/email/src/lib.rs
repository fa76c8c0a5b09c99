//! # Email channel for Switchboard — the pure parsing layer
//!
//! This crate holds **only the pure parsing layer** of the email channel: code that turns the
//! bytes of one RFC 5322 message into what an agent and the host need, calls no host imports
//! and is tested natively (`cargo test -p switchboard-plugin-email`).
//!
//! **The plugin entry points are not written yet.** `verify`, `parse` and `send` through
//! `switchboard-sdk` (contract `switchboard:channel@0.2.0`) come later, together with the
//! host's SMTP transport; until then this crate does not depend on the SDK, exports no
//! component and is not in xtask's component list.
//!
//! - [`inbound`]: raw message → [`inbound::ParsedMail`] (addresses, ids, date, plain text,
//!   HTML, attachments), on top of `mail-parser`.
//! - [`html`]: HTML bodies rendered as safe plain text, for HTML-only mail.
//! - [`classify`]: personal mail vs. auto-replies, mailing lists and bounces, and the fields
//!   of a delivery status notification (RFC 3464).
//! - [`quote`]: the new text of a reply, without quoted history or signature.
//! - [`threading`]: which earlier message a reply belongs to (`In-Reply-To`, `References`,
//!   plus-addressed reply tokens).

pub mod classify;
pub mod html;
pub mod inbound;
pub mod quote;
pub mod threading;
