//! One tenant database file: a small pool of connections for reads, and one writer thread that
//! owns the file's write connection.
//!
//! Writes are jobs sent to the writer. It runs whatever jobs are queued in ONE transaction (group
//! commit), each job inside its own savepoint: a job that fails is rolled back alone, and every
//! job's caller hears back only after the commit, so an acknowledged write is on disk (in the WAL)
//! and a failed one left nothing. Under load this turns one commit per write into one commit per
//! batch; idle, a batch is a single job and nothing waits.
//!
//! Other processes (the CLI) write through their own `TenantDb`; SQLite's lock and `busy_timeout`
//! serialise them with this one.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use scheduled_thread_pool::ScheduledThreadPool;
use tokio::sync::oneshot;
use ulid::Ulid;

use crate::{Env, Error, Result, migrations};

pub type Conn = PooledConnection<SqliteConnectionManager>;

/// The most jobs one transaction takes.
const MAX_BATCH: usize = 256;

/// A WAL larger than this after a batch that rolled work back is truncated: SQLite reuses the
/// file's space but never gives it back, so one huge rolled-back write would keep its size on
/// disk for good. Also the size a checkpoint leaves the WAL at (`journal_size_limit`).
const WAL_KEEP: u64 = 64 << 20;

/// Which database a [`CommitHook`] hears about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DbId {
    pub tenant_id: String,
    pub env: Env,
}

/// Runs on the writer thread after a transaction commits, with the signals its jobs raised
/// ([`Write::after_commit`]); never for work that rolled back. Keep it short: wake someone.
pub type CommitHook = Arc<dyn Fn(&DbId, &[&'static str]) + Send + Sync>;

/// Where a file's writer finds the hook: shared by every file of a [`crate::Pools`], and read
/// at each commit, so files opened before the hook was set hear it too.
pub type HookSlot = Arc<std::sync::OnceLock<CommitHook>>;

pub struct TenantDb {
    id: DbId,
    env: Env,
    path: PathBuf,
    pool: Pool<SqliteConnectionManager>,
    jobs: mpsc::Sender<Box<dyn Job>>,
    last_used_ms: AtomicI64,
}

impl TenantDb {
    /// Opens (creating if needed) the file at `path`, brings its schema up to date and starts its
    /// writer thread, which ends when the `TenantDb` is dropped.
    pub(crate) fn open(
        path: &Path,
        id: DbId,
        max_connections: u32,
        threads: Arc<ScheduledThreadPool>,
        hook: HookSlot,
    ) -> Result<Self> {
        let env = id.env;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut writer = Connection::open_with_flags(path, flags)?;
        configure(&mut writer)?;
        if env == Env::Live {
            migrations::apply(&mut writer, migrations::CONTROL)?;
        }
        migrations::apply(&mut writer, migrations::DATA)?;

        let manager = SqliteConnectionManager::file(path)
            .with_flags(flags)
            .with_init(configure);
        let pool = Pool::builder()
            .max_size(max_connections)
            .min_idle(Some(0))
            .idle_timeout(Some(Duration::from_secs(30)))
            .connection_timeout(Duration::from_secs(10))
            .test_on_check_out(false)
            .thread_pool(threads)
            .build_unchecked(manager);

        let (jobs, queue) = mpsc::channel();
        let name = format!("writer:{}", path.display());
        std::thread::Builder::new()
            .name(name.chars().take(15).collect())
            .stack_size(1 << 20)
            .spawn({
                let id = id.clone();
                let wal = wal_path(path);
                move || write_loop(writer, queue, id, hook, wal)
            })
            .map_err(|e| Error::io(path, e))?;
        Ok(TenantDb {
            id,
            env,
            path: path.to_owned(),
            pool,
            jobs,
            last_used_ms: AtomicI64::new(now_ms()),
        })
    }

    pub fn env(&self) -> Env {
        self.env
    }

    pub fn id(&self) -> &DbId {
        &self.id
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

    /// Runs `f` as one write job and waits until it is committed (`Ok`) or rolled back (`Err`, or
    /// a panic in `f`). Blocking: call from a blocking thread or outside any async runtime; from
    /// async code use [`TenantDb::write_async`]. Never call it from inside another write job.
    pub fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Write<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        match self.submit(f, false) {
            Ok(reply) => reply
                .blocking_recv()
                .unwrap_or_else(|_| Err(Error::WriteAborted.into())),
            Err(e) => Err(e),
        }
    }

    /// Like [`TenantDb::write`], without blocking the caller's thread.
    pub async fn write_async<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Write<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.write_job(f, false).await
    }

    /// Like [`TenantDb::write_async`], in a transaction of its own. For work that may make
    /// SQLite abandon the whole transaction (a write that reaches a `max_page_count` cap does):
    /// no other caller's work is in it to be lost. If SQLite does abandon it, `f`'s own error
    /// stands, or, had `f` succeeded, [`Error::Batch`].
    pub async fn write_alone<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Write<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.write_job(f, true).await
    }

    async fn write_job<T, E, F>(&self, f: F, alone: bool) -> Result<T, E>
    where
        F: FnOnce(&mut Write<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        match self.submit(f, alone) {
            Ok(reply) => reply
                .await
                .unwrap_or_else(|_| Err(Error::WriteAborted.into())),
            Err(e) => Err(e),
        }
    }

    fn submit<T, E, F>(&self, f: F, alone: bool) -> Result<oneshot::Receiver<Result<T, E>>, E>
    where
        F: FnOnce(&mut Write<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.touch();
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            f: Some(f),
            result: None,
            reply,
            alone,
        });
        self.jobs
            .send(job)
            .map_err(|_| E::from(Error::WriteAborted))?;
        Ok(answer)
    }

    pub(crate) fn last_used_ms(&self) -> i64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        self.last_used_ms.store(now_ms(), Ordering::Relaxed);
    }
}

/// What a write job sees: the write connection, inside the batch's transaction and the job's own
/// savepoint, and the file's id clock.
pub struct Write<'a> {
    conn: &'a Connection,
    ids: &'a mut IdClock,
    signals: &'a mut Vec<&'static str>,
}

impl<'a> Write<'a> {
    /// The connection, for as long as the transaction lasts (not just this borrow of `self`).
    pub fn connection(&self) -> &'a Connection {
        self.conn
    }

    /// Raises `signal` for the [`CommitHook`], which hears it once the transaction commits (and
    /// never if this job rolls back).
    pub fn after_commit(&mut self, signal: &'static str) {
        if !self.signals.contains(&signal) {
            self.signals.push(signal);
        }
    }

    /// A ULID greater than every one minted before it for this file in this process, so ids sort
    /// in commit order and cursor paging never skips a row that commits later.
    pub fn new_ulid(&mut self) -> Ulid {
        self.ids.next()
    }
}

impl std::ops::Deref for Write<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

trait Job: Send {
    /// Runs the job's SQL; true if it wants its changes kept.
    fn run(&mut self, w: &mut Write<'_>) -> bool;
    /// Tells the caller how it ended, once the transaction has.
    fn finish(self: Box<Self>, commit: Result<()>);
    /// Whether it runs in a transaction of its own.
    fn alone(&self) -> bool;
}

struct TypedJob<F, T, E> {
    f: Option<F>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
    alone: bool,
}

impl<F, T, E> Job for TypedJob<F, T, E>
where
    F: FnOnce(&mut Write<'_>) -> Result<T, E> + Send,
    T: Send,
    E: From<Error> + Send,
{
    fn run(&mut self, w: &mut Write<'_>) -> bool {
        let f = self.f.take().expect("a job runs once");
        let result = f(w);
        let keep = result.is_ok();
        self.result = Some(result);
        keep
    }

    fn finish(self: Box<Self>, commit: Result<()>) {
        let result = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(e)) | (None, Err(e)) => Err(e.into()),
            (None, Ok(())) => Err(Error::WriteAborted.into()),
        };
        let _ = self.reply.send(result);
    }

    fn alone(&self) -> bool {
        self.alone
    }
}

fn write_loop(
    conn: Connection,
    queue: mpsc::Receiver<Box<dyn Job>>,
    id: DbId,
    hook: HookSlot,
    wal: PathBuf,
) {
    let mut ids = IdClock::default();
    let mut signals = Vec::new();
    // A job that must run alone, met while a batch was being gathered: it starts the next one.
    let mut held: Option<Box<dyn Job>> = None;
    while let Some(first) = held.take().or_else(|| queue.recv().ok()) {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && !batch[0].alone() {
            match queue.try_recv() {
                Ok(job) if job.alone() => {
                    held = Some(job);
                    break;
                }
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics::histogram!("mobieus_writer_batch_jobs").record(batch.len() as f64);
        signals.clear();
        let ran = run_batch(&conn, &mut ids, &mut signals, batch);
        if ran.committed
            && !signals.is_empty()
            && let Some(hook) = hook.get()
        {
            hook(&id, &signals);
        }
        if ran.rolled_back {
            truncate_wal(&conn, &wal);
        }
    }
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Gives a WAL that rolled-back work swelled back to the file system.
fn truncate_wal(conn: &Connection, wal: &Path) {
    if std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_KEEP)
        && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    {
        tracing::warn!(wal = %wal.display(), "could not truncate the WAL: {e}");
    }
}

/// How a batch went.
struct Ran {
    committed: bool,
    /// Some job's changes (or the whole batch's) were rolled back.
    rolled_back: bool,
}

/// Runs one batch.
fn run_batch(
    conn: &Connection,
    ids: &mut IdClock,
    signals: &mut Vec<&'static str>,
    mut batch: Vec<Box<dyn Job>>,
) -> Ran {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = Error::from(e);
        for job in batch {
            job.finish(Err(Error::Batch(e.to_string())));
        }
        return Ran {
            committed: false,
            rolled_back: false,
        };
    }
    let mut rolled_back = false;
    let mut w = Write { conn, ids, signals };
    let mut failed = None;
    for job in &mut batch {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            failed = Some(Error::from(e));
            break;
        }
        let raised = w.signals.len();
        let keep = catch_unwind(AssertUnwindSafe(|| job.run(&mut w))).unwrap_or(false);
        if !keep {
            w.signals.truncate(raised);
            rolled_back = true;
        }
        if conn.is_autocommit() {
            // SQLite abandoned the transaction (SQLITE_FULL at a page cap can): nothing of it
            // remains to release or commit.
            w.signals.clear();
            failed = Some(Error::Batch("SQLite rolled the transaction back".into()));
            break;
        }
        let end = if keep {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = conn.execute_batch(end) {
            failed = Some(Error::from(e));
            break;
        }
    }
    let outcome = match failed {
        None => conn.execute_batch("COMMIT").map_err(Error::from),
        Some(e) => Err(e),
    };
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let message = outcome.as_ref().err().map(ToString::to_string);
    for job in batch {
        job.finish(match &message {
            None => Ok(()),
            Some(m) => Err(Error::Batch(m.clone())),
        });
    }
    Ran {
        committed: message.is_none(),
        rolled_back: rolled_back || message.is_some(),
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
    conn.query_row(
        &format!("PRAGMA journal_size_limit = {WAL_KEEP}"),
        [],
        |_| Ok(()),
    )?;
    conn.set_prepared_statement_cache_capacity(256);
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
        let db = open_test_db(dir.path(), HookSlot::default());
        let insert = |name: &'static str| {
            move |w: &mut Write<'_>| -> Result<(), Error> {
                w.execute(
                    "INSERT INTO users (id, username, created_at) VALUES (?1, ?1, 'now')",
                    [name],
                )?;
                Ok(())
            }
        };
        let r: Result<(), Error> = db.write(move |w| {
            insert("a")(w)?;
            Err(Error::Invalid("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(count(&db), 0);
        // A panicking job is rolled back and reported; the writer carries on.
        let r: Result<(), Error> = db.write(move |w| {
            insert("b")(w)?;
            panic!("a bug in a write job")
        });
        assert!(matches!(r, Err(Error::WriteAborted)));
        db.write(insert("c")).unwrap();
        assert_eq!(count(&db), 1);
    }

    #[test]
    fn a_failing_job_does_not_undo_its_batch_neighbours() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(open_test_db(dir.path(), HookSlot::default()));
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || {
                    db.write(move |w| -> Result<(), Error> {
                        w.execute(
                            "INSERT INTO users (id, username, created_at) VALUES (?1, ?1, 'now')",
                            [format!("u{i}")],
                        )?;
                        if i % 3 == 0 {
                            return Err(Error::Invalid("refused".into()));
                        }
                        Ok(())
                    })
                    .is_ok()
                })
            })
            .collect();
        let ok = handles
            .into_iter()
            .filter(|_| true)
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(ok, 200 - 67);
        assert_eq!(count(&db), ok as i64);
    }

    #[test]
    fn the_commit_hook_hears_only_committed_signals() {
        let dir = tempfile::tempdir().unwrap();
        let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = heard.clone();
        let hook: CommitHook = Arc::new(move |id: &DbId, signals: &[&'static str]| {
            sink.lock()
                .unwrap()
                .push((id.tenant_id.clone(), signals.to_vec()));
        });
        let slot = HookSlot::default();
        let db = open_test_db(dir.path(), slot.clone());
        let _ = slot.set(hook);
        db.write(|w| -> Result<(), Error> {
            w.after_commit("webhooks");
            w.after_commit("webhooks");
            Ok(())
        })
        .unwrap();
        let _ = db.write(|w| -> Result<(), Error> {
            w.after_commit("rolled-back");
            Err(Error::Invalid("no".into()))
        });
        db.write(|_| Ok::<_, Error>(())).unwrap();
        assert_eq!(
            *heard.lock().unwrap(),
            vec![("t".to_owned(), vec!["webhooks"])]
        );
    }

    /// A job that makes SQLite abandon its transaction (a page cap reached) loses no other
    /// caller's write: it runs alone, and its own error is what its caller hears.
    #[test]
    fn a_job_sqlite_abandons_takes_no_neighbour_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(open_test_db(dir.path(), HookSlot::default()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..100 {
                let neighbour = db.clone();
                tasks.push(tokio::spawn(async move {
                    neighbour.write_async(move |w| -> Result<(), Error> {
                        w.execute(
                            "INSERT INTO users (id, username, created_at) VALUES (?1, ?1, 'now')",
                            [format!("u{i}")],
                        )?;
                        Ok(())
                    })
                    .await
                    .is_ok()
                }));
                if i % 20 == 0 {
                    let alone = db.clone();
                    tasks.push(tokio::spawn(async move {
                        let r: Result<(), Error> = alone
                            .write_alone(|w| {
                                let pages: i64 =
                                    w.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                                w.query_row(
                                    &format!("PRAGMA max_page_count = {}", pages + 4),
                                    [],
                                    |_| Ok(()),
                                )?;
                                let full = w.execute(
                                    "INSERT INTO users (id, username, created_at) VALUES ('big', zeroblob(100000), 'now')",
                                    [],
                                );
                                w.query_row("PRAGMA max_page_count = 1000000000", [], |_| Ok(()))?;
                                full?;
                                Ok(())
                            })
                            .await;
                        let e = r.unwrap_err();
                        assert!(e.to_string().contains("full"), "{e}");
                        true
                    }));
                }
            }
            for task in tasks {
                assert!(task.await.unwrap());
            }
        });
        assert_eq!(count(&db), 100);
    }

    fn open_test_db(dir: &Path, hook: HookSlot) -> TenantDb {
        TenantDb::open(
            &dir.join("t.db"),
            DbId {
                tenant_id: "t".into(),
                env: Env::Test,
            },
            2,
            Arc::new(ScheduledThreadPool::new(1)),
            hook,
        )
        .unwrap()
    }

    fn count(db: &TenantDb) -> i64 {
        db.read(|c| Ok::<_, Error>(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?))
            .unwrap()
    }
}
