//! One tenant database file: a small pool of connections for reads, and a lock that serialises
//! writers in this process (SQLite admits one writer at a time; waiting on a mutex is far cheaper
//! than SQLite's sleep-and-retry busy handler). Other processes (the CLI) are covered by
//! `busy_timeout`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use scheduled_thread_pool::ScheduledThreadPool;
use ulid::Ulid;

use crate::{Env, Error, Result, migrations};

pub type Conn = PooledConnection<SqliteConnectionManager>;

pub struct TenantDb {
    env: Env,
    path: PathBuf,
    pool: Pool<SqliteConnectionManager>,
    writer: Mutex<IdClock>,
    last_used_ms: AtomicI64,
}

impl TenantDb {
    /// Opens (creating if needed) the file at `path` and brings its schema up to date.
    pub(crate) fn open(
        path: &Path,
        env: Env,
        max_connections: u32,
        threads: Arc<ScheduledThreadPool>,
    ) -> Result<Self> {
        let manager = SqliteConnectionManager::file(path)
            .with_flags(
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .with_init(configure);
        let pool = Pool::builder()
            .max_size(max_connections)
            .min_idle(Some(0))
            .idle_timeout(Some(Duration::from_secs(30)))
            .connection_timeout(Duration::from_secs(10))
            .test_on_check_out(false)
            .thread_pool(threads)
            .build_unchecked(manager);
        let db = TenantDb {
            env,
            path: path.to_owned(),
            pool,
            writer: Mutex::new(IdClock::default()),
            last_used_ms: AtomicI64::new(now_ms()),
        };
        {
            let mut conn = db.pool.get()?;
            if env == Env::Live {
                migrations::apply(&mut conn, migrations::CONTROL)?;
            }
            migrations::apply(&mut conn, migrations::DATA)?;
        }
        Ok(db)
    }

    pub fn env(&self) -> Env {
        self.env
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled connection. Blocking: call from a blocking thread.
    pub fn read<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        self.touch();
        let conn = self.pool.get().map_err(Error::from)?;
        f(&conn)
    }

    /// Runs `f` inside one immediate transaction and commits if it returns `Ok`; anything else rolls
    /// back, so a failed request leaves no row and no event. Blocking: call from a blocking thread.
    pub fn write<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Write<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.touch();
        let mut conn = self.pool.get().map_err(Error::from)?;
        // A poisoned lock only means another writer panicked; its transaction was rolled back.
        let mut ids = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::from)?;
        let mut write = Write { tx, ids: &mut ids };
        let out = f(&mut write)?;
        write.tx.commit().map_err(Error::from)?;
        Ok(out)
    }

    pub(crate) fn last_used_ms(&self) -> i64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        self.last_used_ms.store(now_ms(), Ordering::Relaxed);
    }
}

/// A write transaction plus the tenant's id clock.
pub struct Write<'a> {
    tx: Transaction<'a>,
    ids: &'a mut IdClock,
}

impl Write<'_> {
    /// A ULID greater than every one minted before it for this file in this process, so ids sort
    /// in commit order and cursor paging never skips a row that commits later.
    pub fn new_ulid(&mut self) -> Ulid {
        self.ids.next()
    }

    pub fn tx(&self) -> &Transaction<'_> {
        &self.tx
    }
}

impl std::ops::Deref for Write<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.tx
    }
}

#[derive(Default)]
struct IdClock {
    last: Ulid,
}

impl IdClock {
    fn next(&mut self) -> Ulid {
        let now = Ulid::new();
        let next = if now > self.last {
            now
        } else {
            // Same millisecond, or the clock stepped back: stay monotonic.
            self.last.increment().unwrap_or(now)
        };
        self.last = next;
        next
    }
}

fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    // NORMAL in WAL mode: a commit survives a crash of the process (kill -9); only an OS crash or
    // power cut may lose the last transactions.
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_monotonic_within_a_millisecond() {
        let mut clock = IdClock::default();
        let ids: Vec<Ulid> = (0..10_000).map(|_| clock.next()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_stay_monotonic_when_the_clock_steps_back() {
        let mut clock = IdClock {
            last: Ulid::from_parts(u64::from(u32::MAX) * 1000, 0),
        };
        let a = clock.next();
        let b = clock.next();
        assert!(a < b && a.timestamp_ms() == u64::from(u32::MAX) * 1000);
    }

    #[test]
    fn write_rolls_back_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = TenantDb::open(
            &dir.path().join("t.db"),
            Env::Test,
            2,
            Arc::new(ScheduledThreadPool::new(1)),
        )
        .unwrap();
        let r: Result<(), Error> = db.write(|w| {
            w.execute(
                "INSERT INTO users (id, username, created_at) VALUES ('usr_1', 'a', 'now')",
                [],
            )?;
            Err(Error::Invalid("boom".into()))
        });
        assert!(r.is_err());
        let n: i64 = db
            .read(|c| Ok::<_, Error>(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 0);
    }
}
