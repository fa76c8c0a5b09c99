//! Customer identity: turning what each channel says about a person into keys that match
//! across channels.
//!
//! Phones become E.164 (`+16505551234`), so a WhatsApp `wa_id` and an SMS `From` of the same
//! number link to one contact; emails are trimmed and lower-cased. The store then links a new
//! channel identity to an existing contact by these keys, by strong keys only ([`link`]).

//!
//! Both halves live here: [`normalize`] is pure (no database), [`link`] finds or creates the
//! stored identity and contact inside the ingest transaction.

pub mod link;
pub mod normalize;

pub use normalize::{normalize_email, normalize_events, normalize_phone};
