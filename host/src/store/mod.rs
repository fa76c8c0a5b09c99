//! Storage: every SQL statement Switchboard runs lives under this module.
//!
//! Two backends sit behind the one [`Store`] API, chosen by the database URL:
//! - **SQLite** (`sqlite://file.db`), the embedded default: WAL with `synchronous=FULL`, so a
//!   committed webhook survives a crash or power loss. Writes go through a single-connection
//!   pool (SQLite allows one writer at a time; queueing in the pool beats retrying on
//!   `SQLITE_BUSY`), reads through their own pool.
//! - **PostgreSQL** (`postgres://…`), for several gateway processes sharing one database. One
//!   pool; statement timeout and pool size from config. Cross-node concerns live where they
//!   arise: claiming outbox rows skips rows another node holds ([`outbox`]), live events are
//!   appended in commit order and announced with `NOTIFY` ([`live`]), and background work runs
//!   on one node at a time ([`leader`]).
//!
//! The SQL is written once for both (see [`db`]). Webhook ingest is batched by [`ingest`]'s
//! group-commit writer on either backend.

pub mod agents;
pub mod audit;
pub mod canned;
pub mod counts;
pub mod db;
pub mod delivery;
pub mod ingest;
pub mod leader;
pub mod live;
pub mod mail;
pub mod merge;
pub mod idempotency;
pub mod outbox;
pub mod presence;
pub mod routing;
pub mod saved_views;
pub mod scratch;
pub mod search;
pub mod templates;
#[cfg(test)]
pub(crate) mod testing;
pub mod views;
pub mod webchat;
pub mod webhook_log;
pub mod workflow;

use crate::config::DatabaseConfig;
use crate::model::PluginInfo;
use db::{sql, Backend, Millis, Pooled, Tx};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
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
    #[error("the database is unreachable: {0}")]
    Unavailable(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The change does not fit the stored state: it was done already, or it would break a
    /// rule (a contact with two open conversations, a contact merged into itself).
    #[error("{0}")]
    Conflict(String),
    /// A name or address that must be unique is in use (an agent's email, a shortcut).
    #[error("{0}")]
    Taken(String),
    /// The contact cannot be written to on that channel: no identity there.
    #[error("{0}")]
    Unreachable(String),
    /// The contact opted out of messages on that channel (STOP): nothing may be sent there
    /// until they opt in again.
    #[error("{0}")]
    OptedOut(String),
    /// What was given breaks a rule of its own (a template body with a gap in its parameters).
    #[error("{0}")]
    Invalid(String),
    /// A change names something that does not exist (an agent or team id).
    #[error("{0}")]
    InvalidReference(String),
    /// A page cursor that no page handed out.
    #[error("invalid cursor `{0}`")]
    InvalidCursor(String),
    /// A stored value this version does not know (a state written by a newer version, or a
    /// row changed by hand).
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    #[error("unsupported database URL: use sqlite://path or postgres://host/database")]
    UnsupportedUrl,
}

/// The schemas, embedded so the binary needs no files beside it. Both backends keep the same
/// version numbers, so "migration N" means the same change on either.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../../migrations/sqlite/0001_initial.sql")),
    (2, "outbox request id", include_str!("../../../migrations/sqlite/0002_outbox_request_id.sql")),
    (3, "agents", include_str!("../../../migrations/sqlite/0003_agents.sql")),
    (4, "workflow", include_str!("../../../migrations/sqlite/0004_workflow.sql")),
    (5, "canned responses", include_str!("../../../migrations/sqlite/0005_canned_responses.sql")),
    (6, "search", include_str!("../../../migrations/sqlite/0006_search.sql")),
    (7, "merges", include_str!("../../../migrations/sqlite/0007_merges.sql")),
    (8, "presence", include_str!("../../../migrations/sqlite/0008_presence.sql")),
    (9, "merge_activity", include_str!("../../../migrations/sqlite/0009_merge_activity.sql")),
    (10, "saved_views", include_str!("../../../migrations/sqlite/0010_saved_views.sql")),
    (11, "mail", include_str!("../../../migrations/sqlite/0011_mail.sql")),
    (12, "webchat", include_str!("../../../migrations/sqlite/0012_webchat.sql")),
    (13, "routing", include_str!("../../../migrations/sqlite/0013_routing.sql")),
    (14, "delivery", include_str!("../../../migrations/sqlite/0014_delivery.sql")),
    (15, "early_statuses", include_str!("../../../migrations/sqlite/0015_early_statuses.sql")),
    (16, "templates", include_str!("../../../migrations/sqlite/0016_templates.sql")),
    (17, "outbox_buckets", include_str!("../../../migrations/sqlite/0017_outbox_buckets.sql")),
    (18, "outbox_claim_index", include_str!("../../../migrations/sqlite/0018_outbox_claim_index.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../../migrations/postgres/0001_initial.sql")),
    (2, "outbox request id", include_str!("../../../migrations/postgres/0002_outbox_request_id.sql")),
    (3, "agents", include_str!("../../../migrations/postgres/0003_agents.sql")),
    (4, "workflow", include_str!("../../../migrations/postgres/0004_workflow.sql")),
    (5, "canned responses", include_str!("../../../migrations/postgres/0005_canned_responses.sql")),
    (6, "search", include_str!("../../../migrations/postgres/0006_search.sql")),
    (7, "merges", include_str!("../../../migrations/postgres/0007_merges.sql")),
    (8, "presence", include_str!("../../../migrations/postgres/0008_presence.sql")),
    (9, "merge_activity", include_str!("../../../migrations/postgres/0009_merge_activity.sql")),
    (10, "saved_views", include_str!("../../../migrations/postgres/0010_saved_views.sql")),
    (11, "mail", include_str!("../../../migrations/postgres/0011_mail.sql")),
    (12, "webchat", include_str!("../../../migrations/postgres/0012_webchat.sql")),
    (13, "routing", include_str!("../../../migrations/postgres/0013_routing.sql")),
    (14, "delivery", include_str!("../../../migrations/postgres/0014_delivery.sql")),
    (15, "early_statuses", include_str!("../../../migrations/postgres/0015_early_statuses.sql")),
    (16, "templates", include_str!("../../../migrations/postgres/0016_templates.sql")),
    (17, "outbox_buckets", include_str!("../../../migrations/postgres/0017_outbox_buckets.sql")),
    (18, "outbox_claim_index", include_str!("../../../migrations/postgres/0018_outbox_claim_index.sql")),
];

#[derive(Clone)]
pub struct Store {
    db: Db,
    ingest: ingest::IngestQueue,
    /// Signalled after every commit that appended live events (on PostgreSQL, by any node).
    live_events_written: Arc<Notify>,
    /// Signalled after every ingest commit on this node: there may be conversations to route.
    routing_wanted: Arc<Notify>,
    leader: leader::Leadership,
}

/// The connection pools of whichever backend the URL named.
// One per store, built once: the size of the PostgreSQL variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres { pool: PgPool, options: PgConnectOptions },
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres { .. } => Backend::Postgres,
        }
    }

    /// A connection for reading.
    pub async fn read(&self) -> Result<Pooled, sqlx::Error> {
        Ok(match self {
            Db::Sqlite { read, .. } => Pooled::Sqlite(read.acquire().await?),
            Db::Postgres { pool, .. } => Pooled::Postgres(pool.acquire().await?),
        })
    }

    /// A connection for a single write statement.
    pub async fn write(&self) -> Result<Pooled, sqlx::Error> {
        Ok(match self {
            Db::Sqlite { write, .. } => Pooled::Sqlite(write.acquire().await?),
            Db::Postgres { pool, .. } => Pooled::Postgres(pool.acquire().await?),
        })
    }

    /// A write transaction.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite { write, .. } => Tx::Sqlite(write.begin().await?),
            Db::Postgres { pool, .. } => Tx::Postgres(pool.begin().await?),
        })
    }
}

impl Store {
    /// Open (creating if needed) and migrate the database `settings.url` names.
    pub async fn open(settings: &DatabaseConfig) -> Result<Self, StoreError> {
        let url = settings.url.as_str();
        let acquire_timeout = Duration::from_millis(settings.acquire_timeout_ms.max(1));
        let db = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(acquire_timeout)
                .connect_with(options.clone())
                .await?;
            migrator(SQLITE_MIGRATIONS).run(&write).await?;
            let read = SqlitePoolOptions::new()
                .max_connections(settings.max_connections.max(1))
                .acquire_timeout(acquire_timeout)
                .connect_with(options.read_only(true))
                .await?;
            Db::Sqlite { read, write }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?
                .application_name("switchboard")
                .options([("statement_timeout", format!("{}ms", settings.statement_timeout_ms))]);
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections.max(2))
                .acquire_timeout(acquire_timeout)
                .connect_with(options.clone())
                .await?;
            // sqlx takes an advisory lock around migrations, so nodes starting together are safe.
            migrator(POSTGRES_MIGRATIONS).run(&pool).await?;
            Db::Postgres { pool, options }
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let live_events_written = Arc::new(Notify::new());
        if let Db::Postgres { pool, .. } = &db {
            live::forward_notifications(pool.clone(), live_events_written.clone());
        }
        let routing_wanted = Arc::new(Notify::new());
        let ingest = ingest::IngestQueue::start(db.clone(), settings.max_batch, live_events_written.clone(), routing_wanted.clone());
        let leader = leader::Leadership::start(&db);
        Ok(Self { db, ingest, live_events_written, routing_wanted, leader })
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Whether this process should run cluster-wide background work right now.
    pub fn leadership(&self) -> leader::Leadership {
        self.leader.clone()
    }

    /// Notified whenever new live events are committed.
    pub fn routing_wanted(&self) -> Arc<Notify> {
        self.routing_wanted.clone()
    }

    pub fn live_events_written(&self) -> Arc<Notify> {
        self.live_events_written.clone()
    }

    /// Queue a webhook's effects for the group-commit writer; resolves once committed.
    pub async fn ingest(&self, request: ingest::IngestRequest) -> Result<ingest::IngestReport, StoreError> {
        self.ingest.submit(request).await
    }

    /// Outbox rows not yet delivered or given up on, per channel.
    pub async fn outbox_depth(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.db.read().await?;
        let rows = sql!(conn, query_as(
            "SELECT channel_id, COUNT(*) FROM outbox WHERE state IN ('pending', 'sending') GROUP BY channel_id"
        ).fetch_all)?;
        Ok(rows)
    }

    /// `(pool, open connections, idle connections)` for each pool.
    pub fn pool_usage(&self) -> Vec<(&'static str, u32, usize)> {
        match &self.db {
            Db::Sqlite { read, write } => vec![("read", read.size(), read.num_idle()), ("write", write.size(), write.num_idle())],
            Db::Postgres { pool, .. } => vec![("postgres", pool.size(), pool.num_idle())],
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.db.read().await?;
        sql!(conn, execute("SELECT 1"))?;
        Ok(())
    }

    /// Record the configured channels and their plugins' declared metadata.
    pub async fn upsert_channel(&self, id: &str, plugin: &str, info: &PluginInfo) -> Result<(), StoreError> {
        let now = Millis(crate::clock::now_ms());
        let mut conn = self.db.write().await?;
        sql!(conn, execute(
            "INSERT INTO channels (id, plugin, plugin_version, capabilities, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'active', $5, $5)
             ON CONFLICT (id) DO UPDATE SET plugin = excluded.plugin, plugin_version = excluded.plugin_version,
                 capabilities = excluded.capabilities, status = 'active', updated_at = excluded.updated_at",
            id,
            plugin,
            &info.version,
            Json(&info.capabilities),
            now,
        ))?;
        Ok(())
    }
}

fn migrator(files: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(*version, Cow::Borrowed(*description), MigrationType::Simple, Cow::Borrowed(*sql), false)
        })
        .collect::<Vec<_>>();
    // Built by hand instead of with `sqlx::migrate!`, which would need sqlx's compile-time
    // macros (and a second build of the database drivers) just to embed these files.
    Migrator { migrations: Cow::Owned(migrations), ignore_missing: false, locking: true, no_tx: false }
}
