//! Throwaway PostgreSQL databases for tests and benchmarks.
//!
//! Each [`ScratchDatabase`] is a database of its own, so tests run in parallel without seeing
//! each other's rows, advisory locks or notifications (all three are per database). It is
//! dropped when the value is; databases left by a process that was killed are dropped by the
//! next process that creates one.

use sqlx::{Connection, Executor, PgConnection};
use std::sync::atomic::{AtomicU32, Ordering};

const PREFIX: &str = "switchboard_scratch_";

pub struct ScratchDatabase {
    /// Connection URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl ScratchDatabase {
    /// Create an empty database on the server `admin_url` points at (its database is only
    /// used to run `CREATE DATABASE`).
    pub async fn create(admin_url: &str) -> Result<Self, sqlx::Error> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{PREFIX}{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            crate::clock::now_ms() % 1_000_000
        );
        let mut admin = PgConnection::connect(admin_url).await?;
        drop_leftovers(&mut admin).await;
        admin.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await?;
        let _ = admin.close().await;
        Ok(Self { url: with_database(admin_url, &name), admin_url: admin_url.to_string(), name })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside an async runtime that may be shutting down; a thread with its own
        // small runtime finishes the cleanup regardless.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str()).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Drop scratch databases whose creating process no longer runs (it was killed mid-test).
async fn drop_leftovers(admin: &mut PgConnection) {
    let Ok(names) = sqlx::query_scalar::<_, String>("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind(format!("{PREFIX}%"))
        .fetch_all(&mut *admin)
        .await
    else {
        return;
    };
    for name in names {
        let pid = name.strip_prefix(PREFIX).and_then(|rest| rest.split('_').next()).unwrap_or_default();
        if !pid.is_empty() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = admin.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str()).await;
        }
    }
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(super::with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(super::with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
