//! Which node runs cluster-wide background work (the outbox worker, pruning).
//!
//! On PostgreSQL the leader is whoever holds a session-level advisory lock on a connection of
//! its own. If that node dies or loses the database, PostgreSQL drops the lock with the
//! connection and another node takes it within a heartbeat. Work that must never happen twice
//! does not rely on this alone: outbox rows are also claimed with leases and `SKIP LOCKED`,
//! so a brief overlap between an old and a new leader sends nothing twice.
//!
//! On SQLite there is one process per database file, so it always leads.

use super::Db;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::time::Duration;
use tokio::sync::watch;

/// The advisory lock key: "switchboard leader" (any constant shared by all nodes would do).
const LEADER_LOCK_KEY: i64 = 0x5357_4254_4c45_4144;
/// How often the leader checks its connection, and followers try to take over.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Whether this process is the leader; cheap to clone and to ask.
#[derive(Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
}

impl Leadership {
    pub(super) fn start(db: &Db) -> Self {
        match db {
            Db::Sqlite { .. } => {
                let (sender, leading) = watch::channel(false);
                set_leading(&sender, true);
                Self { leading }
            }
            Db::Postgres { options, .. } => {
                let (sender, leading) = watch::channel(false);
                set_leading(&sender, false);
                tokio::spawn(campaign(options.clone(), sender));
                Self { leading }
            }
        }
    }

    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Wait until this process leads.
    pub async fn wait_until_leader(&mut self) {
        // An error means the campaign task ended, which only happens at runtime shutdown.
        let _ = self.leading.wait_for(|leading| *leading).await;
    }
}

fn set_leading(sender: &watch::Sender<bool>, leading: bool) {
    sender.send_replace(leading);
    metrics::gauge!(crate::telemetry::CLUSTER_LEADER).set(if leading { 1.0 } else { 0.0 });
}

async fn campaign(options: PgConnectOptions, leading: watch::Sender<bool>) {
    loop {
        match options.connect().await {
            Ok(mut connection) => {
                hold_or_wait(&mut connection, &leading).await;
                set_leading(&leading, false);
                let _ = connection.close().await;
            }
            Err(error) => tracing::debug!(%error, "leader election cannot connect"),
        }
        if leading.is_closed() {
            return;
        }
        tokio::time::sleep(HEARTBEAT).await;
    }
}

/// Try for the lock until we hold it, then heartbeat until the connection fails.
async fn hold_or_wait(connection: &mut PgConnection, leading: &watch::Sender<bool>) {
    loop {
        if leading.is_closed() {
            return;
        }
        if *leading.borrow() {
            // A timeout as well: a partitioned network fails no call, it just never answers.
            if !matches!(tokio::time::timeout(HEARTBEAT * 3, connection.ping()).await, Ok(Ok(()))) {
                tracing::warn!("lost the database connection that holds leadership");
                return;
            }
        } else {
            let attempt = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)").bind(LEADER_LOCK_KEY).fetch_one(&mut *connection);
            match tokio::time::timeout(HEARTBEAT * 3, attempt).await.unwrap_or(Err(sqlx::Error::PoolTimedOut)) {
                Ok(true) => {
                    tracing::info!("this node now runs cluster-wide background work");
                    set_leading(leading, true);
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::debug!(%error, "leader election query failed");
                    return;
                }
            }
        }
        tokio::time::sleep(HEARTBEAT).await;
    }
}
