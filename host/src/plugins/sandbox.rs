//! The SQL sandbox a plugin's statements run in: SQLite's authorizer, installed on the
//! connection for the length of one plugin call.
//!
//! A plugin may touch its own tables (`<name>_…`) and read the views the host grants
//! (`host_users`, `host_posts`, `host_files`), and nothing else: no host table, no other plugin's
//! table, no ATTACH/DETACH, no PRAGMA, no transaction control, no triggers or views of its own, no
//! `load_extension`. A refused statement fails to prepare, which the plugin sees as an error. Host code that runs inside an
//! import (appending an event, reading a user) lifts the rules for its own statements.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

/// Views the host grants every plugin, read only.
pub const GRANTED_VIEWS: &[&str] = &["host_users", "host_posts", "host_files"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A GET: reads only.
    Read,
    /// A write request or an event: reads and writes of its own tables.
    Write,
    /// Applying its migrations: also create, alter and drop its own tables and indexes.
    Migrate,
}

pub struct Rules {
    prefix: String,
    mode: Mode,
    /// Set while host code runs inside an import.
    host: AtomicBool,
}

impl Rules {
    /// The key under which this plugin's statements, prepared under these rules, may be cached
    /// and reused: SQLite's authorizer runs when a statement is prepared, not when it runs, so a
    /// cached statement must never serve another plugin or a laxer mode.
    pub fn statement_key(&self, sql: &str) -> String {
        format!("/* {}{:?} */ {sql}", self.prefix, self.mode)
    }

    fn own(&self, table: &str) -> bool {
        table.starts_with(&self.prefix) && table.len() > self.prefix.len()
    }

    fn decide(&self, ctx: &AuthContext<'_>) -> Authorization {
        if self.host.load(Ordering::Relaxed) {
            return Authorization::Allow;
        }
        if ctx.database_name.is_some_and(|db| db != "main")
            && !matches!(ctx.action, AuthAction::Select | AuthAction::Function { .. })
        {
            return Authorization::Deny;
        }
        let writes = self.mode != Mode::Read;
        let schema = self.mode == Mode::Migrate;
        // CREATE/ALTER also rewrite sqlite_master; SQLite asks for that on the plugin's behalf.
        if schema && is_schema_bookkeeping(&ctx.action) {
            return Authorization::Allow;
        }
        let allowed = match ctx.action {
            AuthAction::Select | AuthAction::Recursive => true,
            AuthAction::Function { function_name } => {
                !function_name.eq_ignore_ascii_case("load_extension")
            }
            AuthAction::Read { table_name, .. } => {
                self.own(table_name)
                    || GRANTED_VIEWS.contains(&table_name)
                    // A granted view reads its base table through itself.
                    || ctx.accessor.is_some_and(|v| GRANTED_VIEWS.contains(&v))
            }
            AuthAction::Insert { table_name } | AuthAction::Delete { table_name } => {
                writes && self.own(table_name)
            }
            AuthAction::Update { table_name, .. } => writes && self.own(table_name),
            AuthAction::CreateTable { table_name } | AuthAction::DropTable { table_name } => {
                schema && self.own(table_name)
            }
            AuthAction::CreateIndex {
                table_name,
                index_name,
            }
            | AuthAction::DropIndex {
                table_name,
                index_name,
            } => {
                // `sqlite_autoindex_<table>_N`: the index SQLite makes for a PRIMARY KEY or UNIQUE.
                let auto = index_name
                    .strip_prefix("sqlite_autoindex_")
                    .is_some_and(|rest| self.own(rest));
                schema && self.own(table_name) && (self.own(index_name) || auto)
            }
            AuthAction::AlterTable { table_name, .. } => schema && self.own(table_name),
            AuthAction::Reindex { index_name } => schema && self.own(index_name),
            _ => false,
        };
        if allowed {
            Authorization::Allow
        } else {
            Authorization::Deny
        }
    }
}

fn is_schema_bookkeeping(action: &AuthAction<'_>) -> bool {
    matches!(
        action,
        AuthAction::Insert { table_name } | AuthAction::Update { table_name, .. } | AuthAction::Delete { table_name }
            if *table_name == "sqlite_master" || *table_name == "sqlite_schema"
    ) || matches!(action, AuthAction::Read { table_name, .. } if *table_name == "sqlite_master")
}

thread_local! {
    /// The rules of the plugin call running on this thread, if one is.
    static ACTIVE: RefCell<Option<Arc<Rules>>> = const { RefCell::new(None) };
}

/// The authorizer every connection a plugin uses carries for good: it applies the rules of the
/// call running on this thread, and allows everything when none is. Installed once per connection
/// (setting an authorizer makes SQLite expire every prepared statement of the connection, so
/// installing one per call would re-parse the host's cached statements after each plugin call).
fn guard(ctx: AuthContext<'_>) -> Authorization {
    ACTIVE.with(|active| match &*active.borrow() {
        Some(rules) => rules.decide(&ctx),
        None => Authorization::Allow,
    })
}

/// Prepares only on a connection that carries the guard.
const GUARD_MARKER: &str = "SELECT 1 FROM temp.mobieus_sandbox_guard";

/// Puts the guard on `conn` unless it carries it already. Call it outside a transaction where
/// one can (the marker made inside a transaction that rolls back is lost, and the next call pays
/// for installing the guard again, which also expires the connection's prepared statements).
pub fn guard_connection(conn: &Connection) -> rusqlite::Result<()> {
    if conn.prepare_cached(GUARD_MARKER).is_ok() {
        return Ok(());
    }
    conn.authorizer(Some(guard))?;
    conn.execute_batch("CREATE TEMP TABLE IF NOT EXISTS mobieus_sandbox_guard (x)")
}

/// The sandbox, active on this thread for one plugin call; lifted when dropped.
pub struct Installed<'c> {
    _conn: &'c Connection,
    rules: Arc<Rules>,
    previous: Option<Arc<Rules>>,
}

impl<'c> Installed<'c> {
    pub fn new(conn: &'c Connection, plugin: &str, mode: Mode) -> rusqlite::Result<Self> {
        let rules = Arc::new(Rules {
            prefix: format!("{plugin}_"),
            mode,
            host: AtomicBool::new(false),
        });
        // The guard goes on a connection once, with a marker only this connection can see (a
        // temporary table lives and dies with its connection): finding the marker is a cached
        // statement, not a parse. Checked before the rules apply, which would refuse `temp`.
        let previous = ACTIVE.with(|active| active.take());
        let guarded = guard_connection(conn);
        ACTIVE.with(|active| *active.borrow_mut() = Some(rules.clone()));
        // Dropped on an error, it puts the previous rules back.
        let installed = Installed {
            _conn: conn,
            rules,
            previous,
        };
        guarded?;
        Ok(installed)
    }

    pub fn rules(&self) -> Arc<Rules> {
        self.rules.clone()
    }
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        ACTIVE.with(|active| *active.borrow_mut() = previous);
    }
}

/// Runs host code with the rules lifted (inside an import).
pub fn as_host<T>(rules: &Rules, f: impl FnOnce() -> T) -> T {
    let before = rules.host.swap(true, Ordering::Relaxed);
    let out = f();
    rules.host.store(before, Ordering::Relaxed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE api_keys (id TEXT); CREATE TABLE users (id TEXT, username TEXT, left_at TEXT);
             CREATE VIEW host_users AS SELECT id, username FROM users WHERE left_at IS NULL;
             CREATE TABLE other_rows (id TEXT); CREATE TABLE me_rows (id TEXT);
             INSERT INTO users VALUES ('u1', 'ada', NULL);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn own_tables_and_granted_views_only() {
        let conn = db();
        let _sandbox = Installed::new(&conn, "me", Mode::Write).unwrap();
        for ok in [
            "SELECT * FROM me_rows",
            "INSERT INTO me_rows VALUES ('x')",
            "UPDATE me_rows SET id = 'y'",
            "DELETE FROM me_rows",
            "SELECT id, username FROM host_users",
            "SELECT count(*), upper('a') FROM me_rows",
        ] {
            conn.prepare(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for refused in [
            "SELECT * FROM api_keys",
            "SELECT * FROM users",
            "SELECT * FROM other_rows",
            "INSERT INTO other_rows VALUES ('x')",
            "DELETE FROM host_users",
            "ATTACH DATABASE ':memory:' AS x",
            "PRAGMA journal_mode = DELETE",
            "PRAGMA table_info(api_keys)",
            "SELECT load_extension('x')",
            "SELECT sql FROM sqlite_master",
            "CREATE TABLE me_new (id TEXT)",
            "DROP TABLE api_keys",
            "BEGIN",
            "SAVEPOINT s",
            "CREATE TRIGGER me_t AFTER INSERT ON me_rows BEGIN DELETE FROM api_keys; END",
            "CREATE VIEW me_v AS SELECT * FROM api_keys",
        ] {
            assert!(conn.prepare(refused).is_err(), "{refused} was allowed");
        }
    }

    #[test]
    fn modes() {
        let conn = db();
        {
            let _sandbox = Installed::new(&conn, "me", Mode::Read).unwrap();
            assert!(conn.prepare("SELECT * FROM me_rows").is_ok());
            assert!(conn.prepare("INSERT INTO me_rows VALUES ('x')").is_err());
        }
        {
            let _sandbox = Installed::new(&conn, "me", Mode::Migrate).unwrap();
            conn.execute_batch("CREATE TABLE me_new (id TEXT PRIMARY KEY, u TEXT UNIQUE) WITHOUT ROWID; CREATE INDEX me_new_id ON me_new (id); ALTER TABLE me_new ADD COLUMN n INTEGER;").unwrap();
            assert!(
                conn.execute_batch("CREATE TABLE elsewhere (id TEXT)")
                    .is_err()
            );
            assert!(
                conn.execute_batch("CREATE INDEX sneaky ON api_keys (id)")
                    .is_err()
            );
        }
        // Removed on drop: the host's statements run unchecked again.
        assert!(conn.prepare("SELECT * FROM api_keys").is_ok());
    }

    /// The first-party surfaces as they ship: their real manifests, migrated into a real tenant
    /// file. Market may not read or change a single row of Moderation's, nor the other way round.
    #[test]
    fn market_and_moderation_cannot_touch_each_others_tables() {
        use crate::plugins::migrate;
        use crate::plugins::registry::Plugins;
        use crate::plugins::runtime::Runtime;

        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(Default::default(), None).unwrap();
        let plugins = Plugins::new(runtime, dir.path().join("plugins"));
        assert!(plugins.load_all().is_empty());
        let set = plugins.current();
        let (market, moderation) = (
            set.get("market").unwrap().clone(),
            set.get("moderation").unwrap().clone(),
        );
        let store = tenants::Store::open(dir.path(), Default::default()).unwrap();
        let slug = tenants::Slug::parse("acme").unwrap();
        let tenant = store.create_tenant(&slug, tenants::Plan::Pro).unwrap();
        let db = store.db(&tenant, tenants::Env::Live).unwrap();
        db.write(move |w| {
            migrate::ensure(w, &market).unwrap();
            migrate::ensure(w, &moderation).unwrap();
            let tables = |prefix: &str| -> Vec<String> {
                let mut stmt = w
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?1")
                    .unwrap();
                stmt.query_map([format!("{prefix}_%")], |r| r.get(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            };
            for (plugin, own, theirs) in [
                ("market", tables("market"), tables("moderation")),
                ("moderation", tables("moderation"), tables("market")),
            ] {
                assert!(!own.is_empty() && !theirs.is_empty());
                let _sandbox = Installed::new(w, plugin, Mode::Write).unwrap();
                for table in &own {
                    w.prepare(&format!("SELECT * FROM {table}"))
                        .unwrap_or_else(|e| panic!("{plugin} reading its own {table}: {e}"));
                }
                for table in &theirs {
                    for sql in [
                        format!("SELECT * FROM {table}"),
                        format!("SELECT count(*) FROM {table}"),
                        format!("DELETE FROM {table}"),
                        format!("UPDATE {table} SET id = id"),
                        format!("INSERT INTO {table} (id) VALUES ('x')"),
                        format!("DROP TABLE {table}"),
                    ] {
                        assert!(w.prepare(&sql).is_err(), "{plugin} was allowed: {sql}");
                    }
                }
            }
            Ok::<_, tenants::Error>(())
        })
        .unwrap();
    }

    #[test]
    fn the_guard_survives_a_rolled_back_marker_and_each_connection_gets_its_own() {
        let conn = db();
        conn.execute_batch("BEGIN").unwrap();
        drop(Installed::new(&conn, "me", Mode::Write).unwrap());
        conn.execute_batch("ROLLBACK").unwrap();
        // The marker went with the rollback; the guard did not, and is found again.
        let _sandbox = Installed::new(&conn, "me", Mode::Write).unwrap();
        assert!(conn.prepare("SELECT * FROM api_keys").is_err());
        let other = db();
        let _other = Installed::new(&other, "me", Mode::Read).unwrap();
        assert!(other.prepare("SELECT * FROM api_keys").is_err());
    }

    #[test]
    fn host_code_inside_an_import_is_not_sandboxed() {
        let conn = db();
        let sandbox = Installed::new(&conn, "me", Mode::Write).unwrap();
        let rules = sandbox.rules();
        assert!(as_host(&rules, || conn
            .prepare("SELECT * FROM api_keys")
            .is_ok()));
        assert!(conn.prepare("SELECT * FROM api_keys").is_err());
    }
}
