//! The two backends behind one set of SQL statements.
//!
//! Every statement is written once, in the SQL both SQLite and PostgreSQL accept (`$n`
//! placeholders, `RETURNING`, `ON CONFLICT`), and run through [`sql!`], which expands to the
//! same sqlx call for whichever connection it is given. The few places the dialects differ
//! ask [`Backend`] for their fragment. Values whose column types differ between the backends
//! have a Rust type that encodes to both: [`Millis`] (`INTEGER` ms / `timestamptz`),
//! `bool` (`INTEGER` / `boolean`) and [`sqlx::types::Json`] (`TEXT` / `jsonb`).
//!
//! Why not sqlx's `Any` driver: it cannot carry `timestamptz` or `jsonb`, converts every value
//! through its own enum on the hot path, and cannot set SQLite's WAL/synchronous pragmas.
//! Why not code generic over `sqlx::Database`: every function would repeat a dozen trait bounds.

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Appended to a `SELECT` that claims rows: skip rows another node is claiming right now.
    /// SQLite has one writer, so there is nothing to skip.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A borrowed connection of either backend; what [`sql!`] runs statements on.
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl Conn<'_> {
    /// Reborrow, so one `&mut Conn` can run many statements.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }
}

/// A connection checked out of a pool.
pub enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Pooled {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(c),
            Pooled::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// An open transaction; dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(tx) => Conn::Sqlite(tx),
            Tx::Postgres(tx) => Conn::Postgres(tx),
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// Run one statement on a [`Conn`], [`Pooled`] or [`Tx`], whichever backend it is.
///
/// `sql!(conn, query_scalar("SELECT ... $1", a).fetch_optional)` is
/// `sqlx::query_scalar("SELECT ... $1").bind(a).fetch_optional(conn).await`;
/// `sql!(conn, execute("UPDATE ...", a, b))` returns the number of rows affected.
macro_rules! sql {
    ($conn:expr, execute($sql:expr $(, $arg:expr)* $(,)?)) => {
        match $conn.conn() {
            $crate::store::db::Conn::Sqlite(c) => sqlx::query($sql)$(.bind($arg))*.execute(c).await.map(|done| done.rows_affected()),
            $crate::store::db::Conn::Postgres(c) => sqlx::query($sql)$(.bind($arg))*.execute(c).await.map(|done| done.rows_affected()),
        }
    };
    ($conn:expr, $kind:ident($sql:expr $(, $arg:expr)* $(,)?) . $fetch:ident) => {
        match $conn.conn() {
            $crate::store::db::Conn::Sqlite(c) => sqlx::$kind($sql)$(.bind($arg))*.$fetch(c).await,
            $crate::store::db::Conn::Postgres(c) => sqlx::$kind($sql)$(.bind($arg))*.$fetch(c).await,
        }
    };
}
pub(crate) use sql;

/// Implement `sqlx::FromRow` for both backends' rows with one body (for rows wider than the
/// 16 columns sqlx's tuples cover).
macro_rules! from_row {
    ($ty:ty, |$row:ident| $body:block) => {
        impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for $ty {
            fn from_row($row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                $body
            }
        }
        impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for $ty {
            fn from_row($row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                $body
            }
        }
    };
}
pub(crate) use from_row;

/// A point in time as Unix milliseconds: `INTEGER` in SQLite, `timestamptz` in PostgreSQL.
///
/// Encoded by hand rather than through sqlx's `chrono`/`time` support: the host keeps times as
/// i64 milliseconds everywhere, and PostgreSQL's binary `timestamptz` is documented as an i64
/// of microseconds since 2000-01-01 UTC, so a date library would only add a conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub i64);

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix milliseconds.
const PG_EPOCH_MS: i64 = 946_684_800_000;

impl Millis {
    /// Microseconds since PostgreSQL's epoch; out-of-range values saturate to ±infinity.
    fn to_pg_micros(self) -> i64 {
        self.0.saturating_sub(PG_EPOCH_MS).saturating_mul(1000)
    }

    fn from_pg_micros(micros: i64) -> Self {
        Millis(micros.div_euclid(1000).saturating_add(PG_EPOCH_MS))
    }
}

impl sqlx::Type<Sqlite> for Millis {
    fn type_info() -> SqliteTypeInfo {
        <i64 as sqlx::Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as sqlx::Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> sqlx::Encode<'q, Sqlite> for Millis {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<sqlx::encode::IsNull, BoxError> {
        <i64 as sqlx::Encode<'q, Sqlite>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> sqlx::Decode<'r, Sqlite> for Millis {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxError> {
        Ok(Millis(<i64 as sqlx::Decode<'r, Sqlite>>::decode(value)?))
    }
}

impl sqlx::Type<Postgres> for Millis {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("timestamptz")
    }
}

impl sqlx::Encode<'_, Postgres> for Millis {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<sqlx::encode::IsNull, BoxError> {
        <i64 as sqlx::Encode<'_, Postgres>>::encode_by_ref(&self.to_pg_micros(), buf)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for Millis {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxError> {
        if value.format() != sqlx::postgres::PgValueFormat::Binary {
            return Err("timestamptz is only read in binary format".into());
        }
        Ok(Millis::from_pg_micros(<i64 as sqlx::Decode<'r, Postgres>>::decode(value)?))
    }
}

/// Errors that say the database could not be reached (down, restarting, network cut), as
/// opposed to a statement failing: retrying other work at once would only wait again.
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        // Connection exceptions (08xxx) and the server shutting down or restarting (57P0x).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

/// Errors worth retrying the same transaction for: PostgreSQL aborted it because of a
/// concurrent one (deadlock, serialization failure), not because of anything in it.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("40001" | "40P01")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_timestamps_round_trip_and_saturate() {
        for ms in [0, 1, -1, PG_EPOCH_MS, 1_700_000_000_123, -62_135_596_800_000] {
            assert_eq!(Millis::from_pg_micros(Millis(ms).to_pg_micros()), Millis(ms));
        }
        assert_eq!(Millis(PG_EPOCH_MS).to_pg_micros(), 0);
        // i64::MAX is the "no upper bound" cursor; it must become +infinity, not overflow.
        assert_eq!(Millis(i64::MAX).to_pg_micros(), i64::MAX);
    }
}
