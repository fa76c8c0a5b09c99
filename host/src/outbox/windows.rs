//! Customer-service windows: WhatsApp, Messenger and Instagram take free-form messages only
//! for a while after the customer's last message (24 hours; 7 days on Messenger and Instagram
//! with the `HUMAN_AGENT` tag). The host tracks each window from the last inbound message on
//! the channel, across the contact's conversations, so a free-form reply outside it is refused
//! at the API with a clear error instead of failing later at the provider. Templates are
//! allowed at any time. The window's length is the channel's `[channels.delivery]
//! window_hours` (defaults in [`crate::config::DeliveryConfig::resolve`]).

use serde::Serialize;

const HOUR_MS: i64 = 3_600_000;

/// One channel's window in a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WindowView {
    pub channel_id: String,
    /// The window's length; 0 when the channel has none (free-form replies always allowed).
    pub hours: u32,
    /// When the customer last wrote on this channel (Unix ms), if ever.
    pub last_inbound_at: Option<i64>,
    /// When free-form replies stop being allowed (Unix ms); `null` without a window, or when
    /// the customer never wrote here.
    pub closes_at: Option<i64>,
    /// Whether a free-form reply may be sent now.
    pub open: bool,
}

/// The window of `channel_id` at `now_ms`.
pub fn window(channel_id: &str, hours: u32, last_inbound_at: Option<i64>, now_ms: i64) -> WindowView {
    let closes_at = (hours > 0).then(|| last_inbound_at.map(|at| at.saturating_add(i64::from(hours) * HOUR_MS))).flatten();
    let open = hours == 0 || closes_at.is_some_and(|closes| now_ms < closes);
    WindowView { channel_id: channel_id.to_string(), hours, last_inbound_at, closes_at, open }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_runs_from_the_last_inbound_message() {
        let at = 1_000_000;
        assert!(window("wa", 24, Some(at), at + 23 * HOUR_MS).open);
        let closed = window("wa", 24, Some(at), at + 24 * HOUR_MS);
        assert!(!closed.open);
        assert_eq!(closed.closes_at, Some(at + 24 * HOUR_MS));
        assert!(!window("wa", 24, None, at).open, "the customer never wrote here: only templates");
        let none = window("sms", 0, None, at);
        assert!(none.open && none.closes_at.is_none(), "SMS has no window");
        assert!(window("fb", 168, Some(at), at + 100 * HOUR_MS).open, "HUMAN_AGENT: seven days");
    }
}
