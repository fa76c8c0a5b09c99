//! What a contact's history says about each channel: how often they write there, and how
//! fast they answer the business there. The preference policy decides from these figures;
//! the host computes them because a policy keeps no state between calls.

/// One message of the contact's history, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub channel_id: String,
    pub inbound: bool,
    pub at_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelStats {
    pub messages: u32,
    /// Business messages on this channel that the contact answered there next.
    pub replies: u32,
    pub median_reply_ms: Option<i64>,
    pub last_inbound_ms: Option<i64>,
}

/// The figures for `channel_id`. An answer is the contact's first message on the channel
/// after a business message there; later messages before the next business message are not
/// answers again.
pub fn stats(history: &[Seen], channel_id: &str) -> ChannelStats {
    let mut stats = ChannelStats::default();
    let mut waiting_since: Option<i64> = None;
    let mut delays = Vec::new();
    for seen in history.iter().filter(|seen| seen.channel_id == channel_id) {
        if seen.inbound {
            stats.messages += 1;
            stats.last_inbound_ms = Some(seen.at_ms);
            if let Some(asked) = waiting_since.take() {
                delays.push((seen.at_ms - asked).max(0));
            }
        } else if waiting_since.is_none() {
            waiting_since = Some(seen.at_ms);
        }
    }
    stats.replies = u32::try_from(delays.len()).unwrap_or(u32::MAX);
    if !delays.is_empty() {
        delays.sort_unstable();
        stats.median_reply_ms = Some(delays[delays.len() / 2]);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(channel: &str, inbound: bool, at_ms: i64) -> Seen {
        Seen { channel_id: channel.into(), inbound, at_ms }
    }

    #[test]
    fn answers_are_counted_per_channel_with_their_median_delay() {
        let history = [
            seen("wa", true, 0),
            seen("wa", false, 1_000),
            seen("sms", false, 1_500),
            seen("wa", true, 61_000),  // 60 s
            seen("wa", true, 62_000),  // not an answer again
            seen("sms", true, 3_500),  // 2 s
            seen("wa", false, 100_000),
            seen("wa", false, 100_500), // the first unanswered one counts
            seen("wa", true, 400_000), // 300 s
            seen("sms", false, 500_000),
        ];
        let wa = stats(&history, "wa");
        assert_eq!((wa.messages, wa.replies, wa.median_reply_ms, wa.last_inbound_ms), (4, 2, Some(300_000), Some(400_000)));
        let sms = stats(&history, "sms");
        assert_eq!((sms.messages, sms.replies, sms.median_reply_ms), (1, 1, Some(2_000)));
        assert_eq!(stats(&history, "email"), ChannelStats::default());
    }
}
