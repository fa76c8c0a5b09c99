//! Webhook ingest: one webhook's effects in one transaction, many webhooks per commit.
//!
//! Handlers submit an [`IngestRequest`] and wait. A single writer task takes every request
//! queued at that moment (up to `max_batch`), applies them in one transaction and commits
//! once (group commit): one fsync covers the whole batch, and each handler answers 2xx only
//! after the commit that holds its webhook. If any webhook's statements fail, the batch is
//! rolled back and each webhook is retried in a transaction of its own, so one bad webhook
//! fails alone. (Savepoints per webhook would give the same isolation at two extra
//! statements per webhook on the hot path; failures are rare, so we pay on failure instead.)
//!
//! Deduplication is the database's job: `UNIQUE (channel_id, external_id)` on `messages`.
//! That holds across nodes too: when two nodes store the same redelivered message at once,
//! PostgreSQL makes the second insert wait for the first transaction and then do nothing.
//!
//! The module's two jobs live apart: [`group_commit`] is the machinery (the writer task,
//! batching, retries, refusing when the database is gone) and knows nothing of messages;
//! [`rules`] is what one webhook's events mean for the stored conversation (dedupe, threading,
//! status order, consent); [`threads`] finds the conversation a mail replies to. Who a sender
//! is comes from [`crate::identity::link`].

mod group_commit;
mod rules;
mod threads;

pub use group_commit::IngestQueue;
pub(super) use rules::announce_message;

use crate::model::{Claim, Event, ThreadHints};

/// One verified webhook's events, ready to store.
#[derive(Debug)]
pub struct IngestRequest {
    pub channel_id: String,
    pub request_id: String,
    /// The raw body, kept in the webhook log (shared with the request, not copied).
    pub raw_body: bytes::Bytes,
    /// Events with parties already normalised by [`crate::identity`].
    pub events: Vec<Event>,
    /// How messages may join existing conversations (mail); none for most webhooks.
    pub threads: Vec<ThreadHints>,
    /// One-time tokens to record; if one was recorded before, nothing is stored
    /// ([`IngestReport::replayed`]).
    pub claims: Vec<Claim>,
}

/// What storing one webhook did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    /// Messages stored for the first time.
    pub new_messages: u32,
    /// Messages already stored from an earlier delivery.
    pub duplicates: u32,
    /// Outbound messages whose status moved forward.
    pub status_changes: u32,
    /// Status reports that were stale or named unknown messages.
    pub ignored_statuses: u32,
    /// A one-time token of the request was used before: nothing was stored.
    pub replayed: bool,
}

impl IngestReport {
    /// Whether the webhook only repeated what was stored before: it held messages or statuses,
    /// and none of them was new or moved anything forward.
    pub fn only_repeats(&self) -> bool {
        self.new_messages == 0 && self.status_changes == 0 && self.duplicates + self.ignored_statuses > 0
    }
}

