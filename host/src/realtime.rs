//! The live stream agents' inboxes listen to (`GET /api/v1/events`).
//!
//! The database's `live_events` table is the source of truth; this module only fans it out.
//! One feed task wakes when the store commits new events, reads them once, and broadcasts
//! them to every connected client. A client that connects with `Last-Event-ID`, or falls
//! behind the broadcast buffer, catches up from the table, so nothing committed is missed
//! and nothing is sent twice.

use crate::store::live::LiveEvent;
use crate::store::Store;
use futures_util::Stream;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Events kept in memory for connected clients; a slower client catches up from the database.
const BROADCAST_CAPACITY: usize = 1024;
/// Events read from the database per catch-up query.
const CATCH_UP_BATCH: u32 = 500;

#[derive(Clone)]
pub struct LiveFeed {
    store: Store,
    sender: broadcast::Sender<Arc<LiveEvent>>,
}

impl LiveFeed {
    /// Start the feed task, beginning after the newest event already stored; it ends on shutdown.
    pub async fn start(store: Store, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<Self, crate::store::StoreError> {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        let feed = Self { store: store.clone(), sender: sender.clone() };
        let mut last_id = store.latest_live_event_id().await?;
        let written = store.live_events_written();
        crate::spawn_until_shutdown(shutdown, async move {
            loop {
                let notified = written.notified();
                // A short poll as well as the wake-up: commits made by other writers (another
                // process on the same database) have no in-process signal.
                let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
                loop {
                    match store.live_events_after(last_id, CATCH_UP_BATCH).await {
                        Ok(events) if events.is_empty() => break,
                        Ok(events) => {
                            let full = events.len() as u32 == CATCH_UP_BATCH;
                            for event in events {
                                last_id = event.id;
                                // No receivers is fine: nobody is connected.
                                let _ = sender.send(Arc::new(event));
                            }
                            if !full {
                                break;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "live feed cannot read new events");
                            break;
                        }
                    }
                }
            }
        });
        Ok(feed)
    }

    /// A stream of events after `after_id` (or only new ones when `None`), live until the
    /// client disconnects.
    pub async fn subscribe(&self, after_id: Option<i64>) -> Result<impl Stream<Item = Arc<LiveEvent>> + use<>, crate::store::StoreError> {
        // Subscribe before reading the start point, so nothing falls between the two.
        let receiver = self.sender.subscribe();
        let start = match after_id {
            Some(id) => id,
            None => self.store.latest_live_event_id().await?,
        };
        let state = Subscription {
            store: self.store.clone(),
            receiver,
            last_sent: start,
            backlog: Vec::new().into_iter(),
            catch_up: true,
            _connected: ConnectionGauge::new(),
        };
        Ok(futures_util::stream::unfold(state, Subscription::next))
    }
}

struct Subscription {
    store: Store,
    receiver: broadcast::Receiver<Arc<LiveEvent>>,
    last_sent: i64,
    backlog: std::vec::IntoIter<LiveEvent>,
    /// Read from the database before trusting the broadcast again (at start, after a gap).
    catch_up: bool,
    _connected: ConnectionGauge,
}

/// Counts a live-stream client for as long as its subscription exists.
struct ConnectionGauge;

impl ConnectionGauge {
    fn new() -> Self {
        metrics::gauge!(crate::telemetry::LIVE_CONNECTIONS).increment(1.0);
        Self
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        metrics::gauge!(crate::telemetry::LIVE_CONNECTIONS).decrement(1.0);
    }
}

impl Subscription {
    async fn next(mut self) -> Option<(Arc<LiveEvent>, Self)> {
        loop {
            if let Some(event) = self.backlog.next() {
                self.last_sent = event.id;
                return Some((Arc::new(event), self));
            }
            if self.catch_up {
                match self.store.live_events_after(self.last_sent, CATCH_UP_BATCH).await {
                    Ok(events) if !events.is_empty() => {
                        self.backlog = events.into_iter();
                        continue;
                    }
                    Ok(_) => self.catch_up = false,
                    Err(error) => {
                        tracing::warn!(%error, "live stream catch-up failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
            }
            match self.receiver.recv().await {
                Ok(event) if event.id <= self.last_sent => continue,
                Ok(event) if event.id == self.last_sent + 1 => {
                    self.last_sent = event.id;
                    return Some((event, self));
                }
                // A gap (we fell behind, or ids skipped): the table has everything, in order.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
