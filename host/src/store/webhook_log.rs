//! The raw webhook log: each verified webhook's exact body, kept for
//! `database.webhook_log_retention_hours` for debugging and replay, then pruned by the
//! leader's maintenance task.

use super::db::{sql, Conn, Millis};
use super::ingest::{IngestReport, IngestRequest};
use super::{Store, StoreError};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// Append the batch's webhooks to the raw log, in as few statements as SQLite's
/// bound-parameter limit allows. A delivery whose every message and status was stored before
/// (a redelivery, whatever its bytes) adds no row, so replaying a signed webhook does not grow
/// the log. (A unique digest of each body would also catch replays of bodies without events,
/// but measured, its index cost 10% of `Store::ingest`; those bodies are few and pruned by
/// retention.)
pub(super) async fn append(conn: &mut Conn<'_>, webhooks: &[(&IngestRequest, &IngestReport)], now: Millis) -> Result<(), StoreError> {
    const COLUMNS: usize = 6;
    const ROWS_PER_STATEMENT: usize = 32_766 / COLUMNS;
    let rows: Vec<(&IngestRequest, &IngestReport)> = webhooks.iter().copied().filter(|(_, report)| !report.only_repeats()).collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        match conn.conn() {
            Conn::Sqlite(c) => webhook_rows::<sqlx::Sqlite>(chunk, now).build().execute(c).await?.rows_affected(),
            Conn::Postgres(c) => webhook_rows::<sqlx::Postgres>(chunk, now).build().execute(c).await?.rows_affected(),
        };
    }
    Ok(())
}

fn webhook_rows<'a, DB: Database>(rows: &'a [(&'a IngestRequest, &'a IngestReport)], now: Millis) -> QueryBuilder<'a, DB>
where
    &'a str: Encode<'a, DB> + Type<DB>,
    &'a [u8]: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    Millis: Encode<'a, DB> + Type<DB>,
{
    let mut builder = QueryBuilder::default();
    builder.push("INSERT INTO webhook_events (channel_id, request_id, received_at, body, event_count, new_messages) ");
    builder.push_values(rows, |mut row, (request, report)| {
        row.push_bind(request.channel_id.as_str())
            .push_bind(request.request_id.as_str())
            .push_bind(now)
            .push_bind(request.raw_body.as_ref())
            .push_bind(request.events.len() as i64)
            .push_bind(i64::from(report.new_messages));
    });
    builder
}

impl Store {
    /// Delete raw webhook bodies received before `cutoff_ms`; returns how many.
    pub async fn prune_webhook_log(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.db.write().await?;
        Ok(sql!(conn, execute("DELETE FROM webhook_events WHERE received_at < $1", Millis(cutoff_ms)))?)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Event, InboundMessage, Party, PluginInfo};
    use crate::store::db::sql;
    use crate::store::ingest::IngestRequest;
    use crate::store::testing::{on_both_backends, TestStore};

    on_both_backends!(repeats_are_not_logged_and_pruning_goes_by_age);

    fn webhook(external_id: &str, body: &'static str) -> IngestRequest {
        let message = InboundMessage {
            external_id: external_id.into(),
            sender: Party { id: "alice".into(), ..Party::default() },
            recipient: None,
            kind: crate::model::MessageKind::Text,
            text: Some("hi".into()),
            attachments: vec![],
            reply_to: None,
            timestamp_ms: 1,
            echo: false,
            extra: None,
        };
        IngestRequest { channel_id: "c".into(), request_id: "r".into(), raw_body: bytes::Bytes::from_static(body.as_bytes()), events: vec![Event::Message(message)], threads: Vec::new(), claims: Vec::new() }
    }

    async fn rows(store: &TestStore) -> i64 {
        let mut conn = store.db.read().await.unwrap();
        sql!(conn, query_scalar("SELECT COUNT(*) FROM webhook_events").fetch_one).unwrap()
    }

    async fn repeats_are_not_logged_and_pruning_goes_by_age(store: TestStore) {
        let info = PluginInfo::bare("c");
        store.upsert_channel("c", "c", &info).await.unwrap();
        store.ingest(webhook("m1", "first")).await.unwrap();
        for _ in 0..5 {
            let report = store.ingest(webhook("m1", "first, again")).await.unwrap();
            assert!(report.only_repeats(), "{report:?}");
        }
        assert_eq!(rows(&store).await, 1, "redeliveries add no row");
        store.ingest(webhook("m2", "second")).await.unwrap();
        assert_eq!(rows(&store).await, 2);
        assert_eq!(store.prune_webhook_log(0).await.unwrap(), 0, "nothing is older than the epoch");
        let future = crate::clock::now_ms() + 1000;
        assert_eq!(store.prune_webhook_log(future).await.unwrap(), 2);
        assert_eq!(rows(&store).await, 0);
    }
}
