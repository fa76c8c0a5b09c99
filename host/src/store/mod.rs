//! Storage: every SQL statement Switchboard runs lives under this module.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a committed webhook survives a crash
//! or power loss. Writes go through a single-connection pool (SQLite allows one writer at a
//! time; queueing in the pool beats retrying on `SQLITE_BUSY`), reads through their own pool.
//! Webhook ingest is batched by [`ingest`]'s group-commit writer.
//!
//! The SQL is kept portable (`$n` placeholders, `RETURNING`, `ON CONFLICT`), so a second
//! backend can follow behind the same [`Store`] API without touching callers.

pub mod ingest;
pub mod live;
pub mod outbox;
pub mod views;

use crate::model::PluginInfo;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the ingest writer has stopped")]
    WriterStopped,
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

/// The schema, embedded so the binary needs no files beside it.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] =
    &[
        (1, "initial", include_str!("../../../migrations/sqlite/0001_initial.sql")),
        (2, "outbox request id", include_str!("../../../migrations/sqlite/0002_outbox_request_id.sql")),
    ];

#[derive(Clone)]
pub struct Store {
    read: SqlitePool,
    write: SqlitePool,
    ingest: ingest::IngestQueue,
    /// Signalled after every commit that appended live events.
    live_events_written: Arc<Notify>,
}

impl Store {
    /// Open (creating if needed) and migrate the database at `url`.
    pub async fn open(url: &str, read_connections: u32, max_batch: usize) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new().max_connections(1).min_connections(1).connect_with(options.clone()).await?;
        migrator().run(&write).await?;
        let read = SqlitePoolOptions::new().max_connections(read_connections.max(1)).connect_with(options.read_only(true)).await?;
        let live_events_written = Arc::new(Notify::new());
        let ingest = ingest::IngestQueue::start(write.clone(), max_batch, live_events_written.clone());
        Ok(Self { read, write, ingest, live_events_written })
    }

    /// Notified whenever new live events are committed.
    pub fn live_events_written(&self) -> Arc<Notify> {
        self.live_events_written.clone()
    }

    /// Queue a webhook's effects for the group-commit writer; resolves once committed.
    pub async fn ingest(&self, request: ingest::IngestRequest) -> Result<ingest::IngestReport, StoreError> {
        self.ingest.submit(request).await
    }

    /// Outbox rows not yet delivered or given up on, per channel.
    pub async fn outbox_depth(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query_as::<_, (String, i64)>(
            "SELECT channel_id, COUNT(*) FROM outbox WHERE state IN ('pending', 'sending') GROUP BY channel_id",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows)
    }

    /// `(pool, open connections, idle connections)` for both pools.
    pub fn pool_usage(&self) -> [(&'static str, u32, usize); 2] {
        [("read", self.read.size(), self.read.num_idle()), ("write", self.write.size(), self.write.num_idle())]
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Record the configured channels and their plugins' declared metadata.
    pub async fn upsert_channel(&self, id: &str, plugin: &str, info: &PluginInfo) -> Result<(), StoreError> {
        let now = crate::clock::now_ms();
        sqlx::query(
            "INSERT INTO channels (id, plugin, plugin_version, capabilities, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'active', $5, $5)
             ON CONFLICT (id) DO UPDATE SET plugin = excluded.plugin, plugin_version = excluded.plugin_version,
                 capabilities = excluded.capabilities, status = 'active', updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(plugin)
        .bind(&info.version)
        .bind(serde_json::to_string(&info.capabilities)?)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

fn migrator() -> Migrator {
    let migrations = SQLITE_MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(*version, Cow::Borrowed(*description), MigrationType::Simple, Cow::Borrowed(*sql), false)
        })
        .collect::<Vec<_>>();
    // Built by hand instead of with `sqlx::migrate!`, which would need sqlx's compile-time
    // macros (and a second build of the SQLite driver) just to embed these files.
    Migrator { migrations: Cow::Owned(migrations), ignore_missing: false, locking: true, no_tx: false }
}
