//! A channel's recent activity on this node, for the admin's channel page: when its last
//! webhook arrived and its last send finished, and over the last hour how many webhooks were
//! accepted, refused or failed and how many sends went through, will be retried or failed.
//!
//! Kept in memory as sixty one-minute buckets, recorded beside the Prometheus counters (which
//! say the same over all time, for dashboards). It is this node's view: in a cluster each node
//! counts what it handled, and the page says so. Nothing here is durable; the durable record of
//! every webhook and send is in the store.

use serde::Serialize;
use std::sync::Mutex;

/// Minutes in the window.
const WINDOW_MINUTES: usize = 60;
const MINUTE_MS: i64 = 60_000;

/// What became of one webhook request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookResult {
    /// Stored (or answered, for a handshake): a 2xx.
    Accepted,
    /// Refused as the provider's or a forger's mistake: a 4xx (bad signature, bad body).
    Refused,
    /// Our side failed (the plugin, the database): a 5xx the provider retries.
    Failed,
}

/// What became of one send attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendResult {
    Sent,
    /// Failed, to be tried again.
    Retry,
    /// Failed for good (or dead-lettered).
    Failed,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Minutes since the epoch this bucket counts; a bucket from an older minute is stale.
    minute: i64,
    accepted: u64,
    refused: u64,
    failed: u64,
    sent: u64,
    retried: u64,
    send_failed: u64,
}

#[derive(Debug)]
struct Window {
    buckets: [Bucket; WINDOW_MINUTES],
    last_webhook_at: Option<i64>,
    last_send_at: Option<i64>,
}

impl Default for Window {
    fn default() -> Self {
        Self { buckets: [Bucket::default(); WINDOW_MINUTES], last_webhook_at: None, last_send_at: None }
    }
}

impl Window {
    fn bucket(&mut self, now_ms: i64) -> &mut Bucket {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let bucket = &mut self.buckets[minute.rem_euclid(WINDOW_MINUTES as i64) as usize];
        if bucket.minute != minute {
            *bucket = Bucket { minute, ..Bucket::default() };
        }
        bucket
    }
}

/// One channel's activity counters.
#[derive(Debug, Default)]
pub struct ChannelActivity {
    window: Mutex<Window>,
}

/// Counts over the window.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Activity {
    /// How far back the counts go, in minutes.
    pub window_minutes: u32,
    /// When the last webhook request for this channel arrived (ms since the epoch), accepted or not.
    pub last_webhook_at: Option<i64>,
    /// When the last send attempt finished.
    pub last_send_at: Option<i64>,
    pub webhooks_accepted: u64,
    pub webhooks_refused: u64,
    pub webhooks_failed: u64,
    /// Refused and failed webhooks as a share of all, 0 to 1; none without webhooks.
    pub webhook_error_rate: Option<f64>,
    pub sends_sent: u64,
    pub sends_retried: u64,
    pub sends_failed: u64,
    /// Sent attempts as a share of all attempts, 0 to 1; none without sends.
    pub send_success_rate: Option<f64>,
}

impl ChannelActivity {
    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn record_webhook(&self, now_ms: i64, result: WebhookResult) {
        let mut window = self.lock();
        window.last_webhook_at = Some(now_ms);
        let bucket = window.bucket(now_ms);
        match result {
            WebhookResult::Accepted => bucket.accepted += 1,
            WebhookResult::Refused => bucket.refused += 1,
            WebhookResult::Failed => bucket.failed += 1,
        }
    }

    pub fn record_send(&self, now_ms: i64, result: SendResult) {
        let mut window = self.lock();
        window.last_send_at = Some(now_ms);
        let bucket = window.bucket(now_ms);
        match result {
            SendResult::Sent => bucket.sent += 1,
            SendResult::Retry => bucket.retried += 1,
            SendResult::Failed => bucket.send_failed += 1,
        }
    }

    /// The counts of the last [`WINDOW_MINUTES`] minutes up to `now_ms`.
    pub fn snapshot(&self, now_ms: i64) -> Activity {
        let window = self.lock();
        let current = now_ms.div_euclid(MINUTE_MS);
        let mut sum = Bucket::default();
        for bucket in window.buckets.iter().filter(|b| b.minute > current - WINDOW_MINUTES as i64 && b.minute <= current) {
            sum.accepted += bucket.accepted;
            sum.refused += bucket.refused;
            sum.failed += bucket.failed;
            sum.sent += bucket.sent;
            sum.retried += bucket.retried;
            sum.send_failed += bucket.send_failed;
        }
        let share = |part: u64, all: u64| (all > 0).then(|| part as f64 / all as f64);
        Activity {
            window_minutes: WINDOW_MINUTES as u32,
            last_webhook_at: window.last_webhook_at,
            last_send_at: window.last_send_at,
            webhooks_accepted: sum.accepted,
            webhooks_refused: sum.refused,
            webhooks_failed: sum.failed,
            webhook_error_rate: share(sum.refused + sum.failed, sum.accepted + sum.refused + sum.failed),
            sends_sent: sum.sent,
            sends_retried: sum.retried,
            sends_failed: sum.send_failed,
            send_success_rate: share(sum.sent, sum.sent + sum.retried + sum.send_failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_780_000_000_000;

    #[test]
    fn counts_cover_the_last_hour_and_rates_follow() {
        let activity = ChannelActivity::default();
        assert_eq!(activity.snapshot(T0).webhook_error_rate, None, "no webhooks, no rate");
        for _ in 0..3 {
            activity.record_webhook(T0, WebhookResult::Accepted);
        }
        activity.record_webhook(T0 + 1_000, WebhookResult::Refused);
        activity.record_send(T0 + 2_000, SendResult::Sent);
        activity.record_send(T0 + 3_000, SendResult::Retry);
        let now = activity.snapshot(T0 + 5_000);
        assert_eq!((now.webhooks_accepted, now.webhooks_refused, now.webhooks_failed), (3, 1, 0));
        assert_eq!(now.webhook_error_rate, Some(0.25));
        assert_eq!(now.send_success_rate, Some(0.5));
        assert_eq!((now.last_webhook_at, now.last_send_at), (Some(T0 + 1_000), Some(T0 + 3_000)));

        // 59 minutes on, the first minute still counts; an hour on, it has gone, and a bucket
        // reused by a later minute starts from zero.
        assert_eq!(activity.snapshot(T0 + 59 * MINUTE_MS).webhooks_accepted, 3);
        let later = T0 + 60 * MINUTE_MS;
        assert_eq!(activity.snapshot(later).webhooks_accepted, 0);
        activity.record_webhook(later, WebhookResult::Failed);
        let now = activity.snapshot(later);
        assert_eq!((now.webhooks_accepted, now.webhooks_failed, now.webhook_error_rate), (0, 1, Some(1.0)));
        assert_eq!(now.last_webhook_at, Some(later), "the last webhook is kept beyond the window");
    }
}
