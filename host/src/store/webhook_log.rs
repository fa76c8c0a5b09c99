//! The raw webhook log: each verified webhook's exact body, kept for
//! `database.webhook_log_retention_hours` for debugging and replay, then pruned by the
//! leader's maintenance task.

use super::db::{sql, Conn, Millis};
use super::ingest::{IngestReport, IngestRequest};
use super::{Store, StoreError};
use sha2::{Digest, Sha256};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// Append the batch's webhooks to the raw log, in as few statements as SQLite's
/// bound-parameter limit allows. Two kinds of delivery add no row: one whose every message
/// and status was already stored (a redelivery, whatever its bytes), and one whose exact body
/// is logged already for the channel (`UNIQUE (channel_id, body_sha256)`), so replaying a
/// signed webhook does not grow the log.
pub(super) async fn append(conn: &mut Conn<'_>, webhooks: &[(&IngestRequest, &IngestReport)], now: Millis) -> Result<(), StoreError> {
    const COLUMNS: usize = 7;
    const ROWS_PER_STATEMENT: usize = 32_766 / COLUMNS;
    let rows: Vec<(&IngestRequest, &IngestReport, [u8; 32])> = webhooks
        .iter()
        .filter(|(_, report)| !report.only_repeats())
        .map(|(request, report)| (*request, *report, Sha256::digest(&request.raw_body).into()))
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        match conn.conn() {
            Conn::Sqlite(c) => webhook_rows::<sqlx::Sqlite>(chunk, now).build().execute(c).await?.rows_affected(),
            Conn::Postgres(c) => webhook_rows::<sqlx::Postgres>(chunk, now).build().execute(c).await?.rows_affected(),
        };
    }
    Ok(())
}

fn webhook_rows<'a, DB: Database>(rows: &'a [(&'a IngestRequest, &'a IngestReport, [u8; 32])], now: Millis) -> QueryBuilder<'a, DB>
where
    &'a str: Encode<'a, DB> + Type<DB>,
    &'a [u8]: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    Millis: Encode<'a, DB> + Type<DB>,
{
    let mut builder = QueryBuilder::default();
    builder.push("INSERT INTO webhook_events (channel_id, request_id, received_at, body, body_sha256, event_count, new_messages) ");
    builder.push_values(rows, |mut row, (request, report, digest)| {
        row.push_bind(request.channel_id.as_str())
            .push_bind(request.request_id.as_str())
            .push_bind(now)
            .push_bind(request.raw_body.as_ref())
            .push_bind(digest.as_slice())
            .push_bind(request.events.len() as i64)
            .push_bind(i64::from(report.new_messages));
    });
    builder.push(" ON CONFLICT (channel_id, body_sha256) DO NOTHING");
    builder
}

impl Store {
    /// Delete raw webhook bodies received before `cutoff_ms`; returns how many.
    pub async fn prune_webhook_log(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.db.write().await?;
        Ok(sql!(conn, execute("DELETE FROM webhook_events WHERE received_at < $1", Millis(cutoff_ms)))?)
    }

    /// Rows in the raw webhook log of `channel_id`.
    pub async fn webhook_log_rows(&self, channel_id: &str) -> Result<i64, StoreError> {
        let mut conn = self.db.read().await?;
        Ok(sql!(conn, query_scalar("SELECT COUNT(*) FROM webhook_events WHERE channel_id = $1", channel_id).fetch_one)?)
    }
}
