//! Helpers for a plugin's native unit tests (`cargo test` runs a plugin's mapping code on the
//! build machine, without the host): pick a parse result apart and compare generated types.

use crate::prelude::{Event, InboundMessage};

/// The message events among `events`, in order.
pub fn messages(events: &[Event]) -> Vec<&InboundMessage> {
    events.iter().filter_map(|event| if let Event::Message(message) = event { Some(message) } else { None }).collect()
}

/// A message's `extra-json`, parsed. Panics when it is absent or not JSON: this is for tests.
pub fn extra(message: &InboundMessage) -> serde_json::Value {
    serde_json::from_str(message.extra_json.as_deref().expect("extra-json")).expect("extra-json is JSON")
}

/// Assert two values are equal by their `Debug` output, which shows every field: the generated
/// WIT types do not implement `PartialEq`.
pub fn assert_same<T: std::fmt::Debug>(actual: T, expected: T) {
    assert_eq!(format!("{actual:#?}"), format!("{expected:#?}"));
}
