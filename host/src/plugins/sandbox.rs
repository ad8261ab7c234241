//! The SQL sandbox a plugin's statements run in: SQLite's authorizer, installed on the
//! connection for the length of one plugin call.
//!
//! A plugin may touch its own tables (`<name>_…`) and read the views the host grants
//! (`host_users`, `host_posts`, `host_files`), and nothing else: no host table, no other plugin's
//! table, no ATTACH/DETACH, no PRAGMA, no transaction control, no triggers or views of its own, no
//! `load_extension`. A plugin that declares `search` may also create and drop FTS5 virtual tables
//! in its prefix; FTS5's shadow tables (`<table>_data`, `_idx`, …) are named after the virtual
//! table, so they fall in the same prefix, and the statements FTS5 prepares for them pass the
//! same rules (an external-content table naming someone else's table cannot be read through).
//! A refused statement fails to prepare, which the plugin sees as an error. Host
//! code that runs inside an import (appending an event, reading a user) lifts the rules for its
//! own statements. Which tables are a plugin's own is [`tables`]' rule.
//!
//! For the same length the connection is bounded ([`Bounds`]): a progress handler interrupts any
//! statement still running at the call's deadline, SQLite's own limits cap the length of a value
//! and of the SQL text, and a write may not grow the tenant file past its quota.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Instant;

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;

use crate::plugins::capabilities::{Capabilities, Capability};
use crate::plugins::limits::{Limits, SqlLimits};
use crate::plugins::tables;

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
    /// It declared `search`: FTS5 virtual tables of its own.
    search: bool,
    /// Set while host code runs inside an import.
    host: AtomicBool,
    /// In a migration: what the statement being prepared began with ([`Rules::next_statement`]).
    began: AtomicU8,
    /// In a migration: whether the statement being prepared may create, or created, an
    /// `fts5vocab` table ([`Rules::created_vocab`]).
    vocab: AtomicU8,
}

const VOCAB_NONE: u8 = 0;
const VOCAB_ALLOWED: u8 = 1;
const VOCAB_CREATED: u8 = 2;

/// What a migration's statement began with: it decides which reads of the schema table are
/// SQLite's own. CREATE and DROP rewrite `sqlite_master` through statements SQLite writes itself,
/// reading it as they go; a user's SELECT inside a statement (`CREATE TABLE … AS SELECT`,
/// `INSERT … SELECT`) must not read it.
const BEGAN_NOTHING: u8 = 0;
const BEGAN_CREATE: u8 = 1;
/// ALTER and DROP statements can hold no SELECT of the plugin's: every schema read is SQLite's.
const BEGAN_ALTER_OR_DROP: u8 = 2;
const BEGAN_OTHER: u8 = 3;

impl Rules {
    /// The key under which this plugin's statements, prepared under these rules, may be cached
    /// and reused: SQLite's authorizer runs when a statement is prepared, not when it runs, so a
    /// cached statement must never serve another plugin or a laxer mode.
    pub fn statement_key(&self, sql: &str) -> String {
        format!("/* {}{:?} */ {sql}", self.prefix, self.mode)
    }

    fn own(&self, table: &str) -> bool {
        tables::owns(&self.prefix, table)
    }

    /// Call before each statement of a migration is prepared. The statement may create one
    /// `fts5vocab` table; whoever calls this must then ask [`Rules::created_vocab`] and, if it
    /// did, pass its text through [`Rules::check_vocab`] before running it.
    pub fn next_statement(&self) {
        self.began.store(BEGAN_NOTHING, Ordering::Relaxed);
        self.vocab.store(VOCAB_ALLOWED, Ordering::Relaxed);
    }

    /// Whether the statement just prepared creates an `fts5vocab` table.
    pub fn created_vocab(&self) -> bool {
        self.vocab.swap(VOCAB_NONE, Ordering::Relaxed) == VOCAB_CREATED
    }

    /// An `fts5vocab` table reads the index it names, and the authorizer is not told which:
    /// the statement's text must name one of the plugin's own tables (its two-argument form, the
    /// only one SQLite takes outside `temp`, reads `main`). Plain text only
    /// (no comments), one `fts5vocab` in it, so what is checked is what SQLite reads.
    pub fn check_vocab(&self, sql: &str) -> Result<(), String> {
        let refuse = |why: &str| Err(format!("fts5vocab: {why}"));
        let lower = sql.to_ascii_lowercase();
        if lower.contains("--") || lower.contains("/*") {
            return refuse("write the statement without comments");
        }
        let mut found = lower.match_indices("fts5vocab");
        let (Some((at, _)), None) = (found.next(), found.next()) else {
            return refuse("one fts5vocab table per statement, and no other name containing it");
        };
        let Some(args) = vocab_args(&sql[at + "fts5vocab".len()..]) else {
            return refuse("expected fts5vocab(table, type)");
        };
        let [table, _] = args.as_slice() else {
            return refuse("expected fts5vocab(table, type)");
        };
        if !self.own(table) {
            return refuse(&format!("`{table}` is not one of the plugin's own tables"));
        }
        Ok(())
    }

    /// Whether a read of the schema table is SQLite's own, on behalf of a DDL statement.
    fn schema_read_allowed(&self, action: &AuthAction<'_>) -> bool {
        let AuthAction::Read {
            table_name,
            column_name,
        } = action
        else {
            return false;
        };
        if !is_schema_table(table_name) {
            return false;
        }
        match self.began.load(Ordering::Relaxed) {
            BEGAN_ALTER_OR_DROP => true,
            // CREATE finds the row it inserted by rowid; a SELECT of the plugin's would read columns.
            BEGAN_CREATE => column_name.eq_ignore_ascii_case("rowid"),
            _ => false,
        }
    }

    fn note_first_action(&self, action: &AuthAction<'_>) {
        let drops = matches!(
            action,
            AuthAction::AlterTable { .. }
                | AuthAction::DropTable { .. }
                | AuthAction::DropIndex { .. }
                | AuthAction::DropVtable { .. }
        );
        match self.began.load(Ordering::Relaxed) {
            BEGAN_NOTHING => {}
            // Dropping a virtual table this connection has not opened yet opens it first, and
            // FTS5 then reads its own config table before SQLite asks about the DROP. A
            // statement that drops or alters cannot return rows, so what it reads of the schema
            // after is SQLite's bookkeeping.
            BEGAN_OTHER if drops => {
                self.began.store(BEGAN_ALTER_OR_DROP, Ordering::Relaxed);
                return;
            }
            _ => return,
        }
        let began = match action {
            AuthAction::CreateTable { .. }
            | AuthAction::CreateIndex { .. }
            | AuthAction::CreateVtable { .. } => BEGAN_CREATE,
            // CREATE TABLE first asks to insert into the schema table.
            AuthAction::Insert { table_name } if is_schema_table(table_name) => BEGAN_CREATE,
            // DROP first asks to delete from the schema table.
            AuthAction::Delete { table_name } if is_schema_table(table_name) => BEGAN_ALTER_OR_DROP,
            AuthAction::AlterTable { .. }
            | AuthAction::DropTable { .. }
            | AuthAction::DropIndex { .. }
            | AuthAction::DropVtable { .. } => BEGAN_ALTER_OR_DROP,
            _ => BEGAN_OTHER,
        };
        self.began.store(began, Ordering::Relaxed);
    }

    fn decide(&self, ctx: &AuthContext<'_>) -> Authorization {
        if self.host.load(Ordering::Relaxed) {
            return Authorization::Allow;
        }
        let schema = self.mode == Mode::Migrate;
        if schema {
            self.note_first_action(&ctx.action);
            // CREATE/ALTER/DROP rewrite the schema tables; SQLite asks on the plugin's behalf.
            if self.schema_read_allowed(&ctx.action) || is_schema_bookkeeping(&ctx.action) {
                return Authorization::Allow;
            }
        }
        // ALTER names its database in the action (SQLite passes something else beside it for
        // DROP COLUMN): judged in its arm below.
        if ctx.database_name.is_some_and(|db| db != "main")
            && !matches!(
                ctx.action,
                AuthAction::Select | AuthAction::Function { .. } | AuthAction::AlterTable { .. }
            )
        {
            return Authorization::Deny;
        }
        let writes = self.mode != Mode::Read;
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
            AuthAction::AlterTable {
                database_name,
                table_name,
            } => schema && database_name == "main" && self.own(table_name),
            AuthAction::Reindex { index_name } => schema && self.own(index_name),
            // FTS5, and `fts5vocab` over the plugin's own index only: the migration runner
            // checks the index a vocabulary table names before it runs (`check_vocab`).
            AuthAction::CreateVtable {
                table_name,
                module_name,
            } => {
                let module_ok = module_name.eq_ignore_ascii_case("fts5")
                    || (module_name.eq_ignore_ascii_case("fts5vocab")
                        && self
                            .vocab
                            .compare_exchange(
                                VOCAB_ALLOWED,
                                VOCAB_CREATED,
                                Ordering::Relaxed,
                                Ordering::Relaxed,
                            )
                            .is_ok());
                schema && self.search && module_ok && self.own(table_name)
            }
            AuthAction::DropVtable {
                table_name,
                module_name,
            } => {
                let module_ok = module_name.eq_ignore_ascii_case("fts5")
                    || module_name.eq_ignore_ascii_case("fts5vocab");
                schema && self.search && module_ok && self.own(table_name)
            }
            // FTS5 reads the file's change counter to know whether its cached index is stale; it
            // says nothing but "something committed".
            AuthAction::Pragma {
                pragma_name,
                pragma_value: None,
            } => self.search && pragma_name.eq_ignore_ascii_case("data_version"),
            _ => false,
        };
        if allowed {
            Authorization::Allow
        } else {
            Authorization::Deny
        }
    }
}

/// The arguments of `(…)` at the start of `rest`, unquoted; `None` unless it is a plain list.
fn vocab_args(rest: &str) -> Option<Vec<String>> {
    let inner = rest.trim_start().strip_prefix('(')?;
    let (mut args, mut arg, mut quote) = (vec![], String::new(), None::<char>);
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                // A doubled quote is one quote character.
                if chars.peek() == Some(&q) {
                    chars.next();
                    arg.push(q);
                } else {
                    quote = None;
                }
            }
            (Some(_), c) => arg.push(c),
            (None, '\'' | '"' | '`') if arg.trim().is_empty() => quote = Some(c),
            (None, '[') if arg.trim().is_empty() => quote = Some(']'),
            (None, ',') => args.push(std::mem::take(&mut arg).trim().to_owned()),
            (None, ')') => {
                args.push(arg.trim().to_owned());
                let tail = chars.collect::<String>();
                let tail = tail.trim().trim_end_matches(';').trim();
                return (tail.is_empty() && args.iter().all(|a| !a.is_empty())).then_some(args);
            }
            (None, c) if c.is_alphanumeric() || c == '_' || c.is_whitespace() => arg.push(c),
            (None, _) => return None,
        }
    }
    None
}

/// The writes to the schema table that SQLite makes on a CREATE, ALTER or DROP's behalf (its
/// reads are [`Rules::schema_read_allowed`]'s to judge).
fn is_schema_bookkeeping(action: &AuthAction<'_>) -> bool {
    matches!(
        action,
        AuthAction::Insert { table_name } | AuthAction::Update { table_name, .. } | AuthAction::Delete { table_name }
            if is_schema_table(table_name)
    )
}

/// The schema tables of `main` and of `temp` (a rename checks the temporary schema too).
fn is_schema_table(name: &str) -> bool {
    matches!(
        name,
        "sqlite_master" | "sqlite_schema" | "sqlite_temp_master" | "sqlite_temp_schema"
    )
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

/// How far one call's statements may go.
pub struct Bounds<'a> {
    /// A statement still running at this instant is interrupted.
    pub deadline: Instant,
    pub sql: &'a SqlLimits,
}

impl<'a> Bounds<'a> {
    /// For a plugin call (a route's or a reaction's) starting now.
    pub fn for_call(limits: &'a Limits) -> Self {
        Bounds::from_now(limits.deadline, &limits.sql)
    }

    /// For a call that may take `length` from now.
    pub fn from_now(length: std::time::Duration, sql: &'a SqlLimits) -> Self {
        Bounds {
            deadline: Instant::now() + length,
            sql,
        }
    }
}

/// How often (in SQLite VM steps) a running statement checks the deadline: a clock read every
/// few microseconds of SQL.
const PROGRESS_STEPS: i32 = 1000;

/// The connection's settings from before a call, put back after it.
struct Before {
    length: i32,
    sql_length: i32,
    max_pages: Option<i64>,
}

/// The sandbox, active on this thread for one plugin call; lifted when dropped.
pub struct Installed<'c> {
    conn: &'c Connection,
    rules: Arc<Rules>,
    previous: Option<Arc<Rules>>,
    before: Option<Before>,
}

impl<'c> Installed<'c> {
    pub fn new(
        conn: &'c Connection,
        plugin: &str,
        capabilities: Capabilities,
        mode: Mode,
        bounds: &Bounds<'_>,
    ) -> rusqlite::Result<Self> {
        let rules = Arc::new(Rules {
            prefix: tables::prefix(plugin),
            mode,
            search: capabilities.contains(Capability::Search),
            host: AtomicBool::new(false),
            began: AtomicU8::new(BEGAN_NOTHING),
            vocab: AtomicU8::new(VOCAB_NONE),
        });
        // The guard goes on a connection once, with a marker only this connection can see (a
        // temporary table lives and dies with its connection): finding the marker is a cached
        // statement, not a parse. Checked before the rules apply, which would refuse `temp`
        // (and the pragmas that bound the call).
        let previous = ACTIVE.with(|active| active.take());
        let guarded = guard_connection(conn);
        let bounded = guarded.and_then(|()| bound(conn, mode, bounds));
        ACTIVE.with(|active| *active.borrow_mut() = Some(rules.clone()));
        // Dropped on an error, it puts the previous rules back.
        let mut installed = Installed {
            conn,
            rules,
            previous,
            before: None,
        };
        installed.before = Some(bounded?);
        Ok(installed)
    }

    pub fn rules(&self) -> Arc<Rules> {
        self.rules.clone()
    }
}

/// Bounds `conn` for one call; returns what to put back.
fn bound(conn: &Connection, mode: Mode, bounds: &Bounds<'_>) -> rusqlite::Result<Before> {
    let clamp = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let deadline = bounds.deadline;
    conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline))?;
    let length = conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, clamp(bounds.sql.max_value))?;
    let sql_length = conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, clamp(bounds.sql.max_sql))?;
    let max_pages = if mode == Mode::Read {
        None
    } else {
        let page_size: i64 = conn
            .prepare_cached("PRAGMA page_size")?
            .query_row([], |r| r.get(0))?;
        let before: i64 = conn
            .prepare_cached("PRAGMA max_page_count")?
            .query_row([], |r| r.get(0))?;
        set_max_pages(conn, bounds.sql.max_file as i64 / page_size.max(512))?;
        Some(before)
    };
    Ok(Before {
        length,
        sql_length,
        max_pages,
    })
}

/// SQLite never lowers it below the file's current size.
fn set_max_pages(conn: &Connection, pages: i64) -> rusqlite::Result<()> {
    // A pragma takes no bound parameter; the number is ours, not the plugin's.
    conn.prepare_cached(&format!("PRAGMA max_page_count = {pages}"))?
        .query_row([], |_| Ok(()))
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        // Rules off first: they would refuse the pragma that restores the page cap.
        ACTIVE.with(|active| active.take());
        let _ = self.conn.progress_handler(0, None::<fn() -> bool>);
        if let Some(before) = self.before.take() {
            let _ = self
                .conn
                .set_limit(Limit::SQLITE_LIMIT_LENGTH, before.length);
            let _ = self
                .conn
                .set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, before.sql_length);
            if let Some(pages) = before.max_pages
                && let Err(e) = set_max_pages(self.conn, pages)
            {
                tracing::error!("restoring max_page_count after a plugin call: {e}");
            }
        }
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
    use crate::plugins::migrate::run_statements as run_migration;

    fn bounds() -> Bounds<'static> {
        static SQL: std::sync::LazyLock<SqlLimits> = std::sync::LazyLock::new(SqlLimits::default);
        Bounds::from_now(std::time::Duration::from_secs(30), &SQL)
    }

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
        let _sandbox =
            Installed::new(&conn, "me", Capabilities::NONE, Mode::Write, &bounds()).unwrap();
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
            let _sandbox =
                Installed::new(&conn, "me", Capabilities::NONE, Mode::Read, &bounds()).unwrap();
            assert!(conn.prepare("SELECT * FROM me_rows").is_ok());
            assert!(conn.prepare("INSERT INTO me_rows VALUES ('x')").is_err());
        }
        {
            let sandbox =
                Installed::new(&conn, "me", Capabilities::NONE, Mode::Migrate, &bounds()).unwrap();
            let rules = sandbox.rules();
            run_migration(&conn, &rules, "CREATE TABLE me_new (id TEXT PRIMARY KEY, u TEXT UNIQUE) WITHOUT ROWID; CREATE INDEX me_new_id ON me_new (id); ALTER TABLE me_new ADD COLUMN n INTEGER;").unwrap();
            assert!(run_migration(&conn, &rules, "CREATE TABLE elsewhere (id TEXT)").is_err());
            assert!(run_migration(&conn, &rules, "CREATE INDEX sneaky ON api_keys (id)").is_err());
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
            let limits = Default::default();
            migrate::ensure(w, &market, &limits).unwrap();
            migrate::ensure(w, &moderation, &limits).unwrap();
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
                let _sandbox =
                    Installed::new(w, plugin, Capabilities::NONE, Mode::Write, &bounds()).unwrap();
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

    /// FTS5 for a plugin that declares `search`: its own virtual tables with both tokenizers,
    /// MATCH and the ranking functions; nobody else's index, shadow tables or vocabulary.
    #[test]
    fn full_text_search_in_the_plugins_own_prefix_only() {
        let conn = db();
        let search: Capabilities = [Capability::Search].into_iter().collect();
        {
            let sandbox = Installed::new(&conn, "me", search, Mode::Migrate, &bounds()).unwrap();
            let rules = sandbox.rules();
            run_migration(
                &conn,
                &rules,
                "CREATE TABLE me_pages (id TEXT PRIMARY KEY, title TEXT, body TEXT);
                 CREATE VIRTUAL TABLE me_pages_fts USING fts5(title, body, tokenize = 'porter unicode61');
                 CREATE VIRTUAL TABLE me_names USING fts5(name, tokenize = 'trigram');
                 CREATE VIRTUAL TABLE me_vocab USING fts5vocab('me_pages_fts', 'row');
                 CREATE VIRTUAL TABLE me_vocab2 USING fts5vocab([me_names], \"col\");",
            )
            .unwrap();
            for refused in [
                "CREATE VIRTUAL TABLE other_fts USING fts5(x)",
                "CREATE VIRTUAL TABLE me_r USING rtree(id, a, b)",
                // A vocabulary of an index that is not the plugin's, or that the check cannot read.
                "CREATE VIRTUAL TABLE me_v USING fts5vocab(other_fts, 'row')",
                "CREATE VIRTUAL TABLE me_v USING fts5vocab('Me_pages_fts', 'row')",
                "CREATE VIRTUAL TABLE me_v USING fts5vocab(temp, me_pages_fts, 'row')",
                "CREATE VIRTUAL TABLE me_v USING fts5vocab(me_pages_fts)",
                "CREATE VIRTUAL TABLE me_v /* fts5vocab(me_pages_fts, 'row') */ USING fts5vocab(other_fts, 'row')",
                "CREATE VIRTUAL TABLE me_v USING fts5vocab(me_pages_fts, 'row') -- fts5vocab(other_fts, 'row')",
                "CREATE VIRTUAL TABLE me_v USING fts5vocab(me_pages_fts || other_fts, 'row')",
                "CREATE VIRTUAL TABLE me_fts5vocab USING fts5vocab(other_fts, 'row')",
            ] {
                assert!(
                    run_migration(&conn, &rules, refused).is_err(),
                    "{refused} was allowed"
                );
            }
        }
        {
            let _sandbox = Installed::new(&conn, "me", search, Mode::Write, &bounds()).unwrap();
            conn.execute_batch(
                "INSERT INTO me_pages_fts (rowid, title, body) VALUES (1, 'Running a server', 'The servers were running all night');
                 INSERT INTO me_pages_fts (rowid, title, body) VALUES (2, 'Cooking', 'Bread and soup');
                 INSERT INTO me_names (name) VALUES ('Ada Lovelace');",
            )
            .unwrap();
        }
        {
            let _sandbox = Installed::new(&conn, "me", search, Mode::Read, &bounds()).unwrap();
            let (rowid, snippet, highlight, rank): (i64, String, String, f64) = conn
                .query_row(
                    "SELECT rowid, snippet(me_pages_fts, 1, '[', ']', '…', 5), highlight(me_pages_fts, 0, '<', '>'), bm25(me_pages_fts)
                     FROM me_pages_fts WHERE me_pages_fts MATCH 'run' ORDER BY rank",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            assert_eq!(rowid, 1, "porter stems `run` to match `running`");
            assert!(snippet.contains("[running]"), "{snippet}");
            assert_eq!(highlight, "<Running> a server");
            assert!(rank < 0.0);
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM me_names WHERE name MATCH 'love'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "trigram matches inside a word");
            let (term, docs): (String, i64) = conn
                .query_row(
                    "SELECT term, doc FROM me_vocab WHERE term = 'run'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(
                (term.as_str(), docs),
                ("run", 1),
                "the vocabulary of its own index"
            );
            assert!(
                conn.prepare("INSERT INTO me_names (name) VALUES ('x')")
                    .is_err()
            );
        }
        // Another plugin, even one with `search`, reaches neither the index nor its shadow tables,
        // nor its vocabulary.
        {
            let sandbox = Installed::new(&conn, "other", search, Mode::Migrate, &bounds()).unwrap();
            let rules = sandbox.rules();
            for refused in [
                "CREATE VIRTUAL TABLE other_v USING fts5vocab(me_pages_fts, 'row')",
                "CREATE VIRTUAL TABLE temp.other_v USING fts5vocab(main, me_pages_fts, 'row')",
            ] {
                assert!(
                    run_migration(&conn, &rules, refused).is_err(),
                    "{refused} was allowed"
                );
            }
        }
        let _other = Installed::new(&conn, "other", search, Mode::Write, &bounds()).unwrap();
        for refused in [
            "SELECT * FROM me_pages_fts WHERE me_pages_fts MATCH 'run'",
            "SELECT * FROM me_pages_fts_data",
            "SELECT * FROM me_pages_fts_content",
            "SELECT * FROM me_pages_fts_idx",
            "SELECT * FROM me_pages_fts_docsize",
            "SELECT * FROM me_pages_fts_config",
            "INSERT INTO me_pages_fts (title, body) VALUES ('x', 'y')",
            "DELETE FROM me_pages_fts_data",
            "SELECT * FROM me_vocab",
        ] {
            assert!(conn.prepare(refused).is_err(), "{refused} was allowed");
        }
    }

    /// Without `search` a plugin cannot create an index, and an external-content index cannot
    /// read a table that is not the plugin's.
    #[test]
    fn full_text_search_needs_the_capability_and_reads_only_what_the_plugin_may() {
        let conn = db();
        {
            let sandbox =
                Installed::new(&conn, "me", Capabilities::NONE, Mode::Migrate, &bounds()).unwrap();
            let rules = sandbox.rules();
            let why = run_migration(&conn, &rules, "CREATE VIRTUAL TABLE me_fts USING fts5(x)")
                .unwrap_err();
            assert!(why.to_string().contains("not authorized"), "{why}");
        }
        let search: Capabilities = [Capability::Search].into_iter().collect();
        {
            let sandbox = Installed::new(&conn, "me", search, Mode::Migrate, &bounds()).unwrap();
            let rules = sandbox.rules();
            run_migration(
                &conn,
                &rules,
                "CREATE VIRTUAL TABLE me_keys USING fts5(id, content = 'api_keys', content_rowid = 'rowid')",
            )
            .unwrap();
        }
        conn.execute("INSERT INTO api_keys VALUES ('secret-key-id')", [])
            .unwrap();
        let _sandbox = Installed::new(&conn, "me", search, Mode::Write, &bounds()).unwrap();
        let read = conn
            .prepare("SELECT id FROM me_keys")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, String>(0)));
        assert!(
            read.is_err(),
            "read the host's table through an index: {read:?}"
        );
        let rebuilt = conn.execute("INSERT INTO me_keys (me_keys) VALUES ('rebuild')", []);
        assert!(rebuilt.is_err(), "indexed the host's table: {rebuilt:?}");
    }

    /// A migration drops an FTS5 index that this connection has not opened yet (a later
    /// migration, on a tenant whose index an earlier server version made).
    #[test]
    fn a_migration_drops_an_index_a_fresh_connection_has_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let search: Capabilities = [Capability::Search].into_iter().collect();
        {
            let conn = Connection::open(&path).unwrap();
            let sandbox = Installed::new(&conn, "me", search, Mode::Migrate, &bounds()).unwrap();
            run_migration(
                &conn,
                &sandbox.rules(),
                "CREATE VIRTUAL TABLE me_tri USING fts5(body, tokenize = 'trigram');
                 INSERT INTO me_tri (body) VALUES ('onboarding');",
            )
            .unwrap();
        }
        let conn = Connection::open(&path).unwrap();
        {
            let sandbox = Installed::new(&conn, "me", search, Mode::Migrate, &bounds()).unwrap();
            run_migration(&conn, &sandbox.rules(), "DROP TABLE me_tri").unwrap();
        }
        let left: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'me_tri%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0, "the index and its shadow tables are gone");
    }

    #[test]
    fn a_migration_cannot_read_the_schema() {
        let conn = db();
        let sandbox =
            Installed::new(&conn, "me", Capabilities::NONE, Mode::Migrate, &bounds()).unwrap();
        let rules = sandbox.rules();
        for refused in [
            "CREATE TABLE me_copy AS SELECT * FROM sqlite_master",
            "CREATE TABLE me_copy AS SELECT sql FROM sqlite_schema",
            "CREATE TABLE me_copy AS SELECT name FROM sqlite_master",
            "INSERT INTO me_rows SELECT sql FROM sqlite_master",
            "UPDATE me_rows SET id = (SELECT sql FROM sqlite_master LIMIT 1)",
            "SELECT name FROM sqlite_master",
        ] {
            assert!(
                run_migration(&conn, &rules, refused).is_err(),
                "{refused} was allowed"
            );
        }
        run_migration(
            &conn,
            &rules,
            "CREATE TABLE me_ok (id TEXT PRIMARY KEY, u TEXT UNIQUE); CREATE INDEX me_ok_u ON me_ok (u);
             ALTER TABLE me_ok ADD COLUMN n INTEGER; ALTER TABLE me_ok RENAME COLUMN n TO m;
             ALTER TABLE me_ok RENAME TO me_renamed; DROP INDEX me_ok_u; ALTER TABLE me_renamed DROP COLUMN m;
             DROP TABLE me_renamed;",
        )
        .unwrap();
    }

    #[test]
    fn a_statement_running_at_the_deadline_is_interrupted() {
        let conn = db();
        let sql = SqlLimits::default();
        let bounds = Bounds::from_now(std::time::Duration::from_millis(100), &sql);
        let started = Instant::now();
        let spun = {
            let _sandbox =
                Installed::new(&conn, "me", Capabilities::NONE, Mode::Read, &bounds).unwrap();
            // A CTE is named like a table: in the plugin's prefix.
            conn.query_row(
                "WITH RECURSIVE me_c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM me_c) SELECT count(*) FROM me_c",
                [],
                |r| r.get::<_, i64>(0),
            )
        };
        let err = spun.unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::OperationInterrupted)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Lifted with the sandbox: the host's own statements run unbounded.
        let n: i64 = conn
            .query_row(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT count(*) FROM c",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 100000);
    }

    #[test]
    fn values_and_the_file_are_bounded_while_a_call_runs() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        conn.execute_batch("CREATE TABLE me_blobs (b BLOB)")
            .unwrap();
        let sql = SqlLimits {
            max_value: 1 << 20,
            max_file: 4 << 20,
            ..SqlLimits::default()
        };
        let bounds = Bounds::from_now(std::time::Duration::from_secs(30), &sql);
        {
            let _sandbox =
                Installed::new(&conn, "me", Capabilities::NONE, Mode::Write, &bounds).unwrap();
            let big = conn.query_row("SELECT zeroblob(2000000)", [], |_| Ok(()));
            assert_eq!(
                big.unwrap_err().sqlite_error_code(),
                Some(rusqlite::ErrorCode::TooBig)
            );
            let mut full = None;
            for _ in 0..10 {
                if let Err(e) = conn.execute("INSERT INTO me_blobs VALUES (zeroblob(900000))", []) {
                    full = Some(e);
                    break;
                }
            }
            assert_eq!(
                full.expect("the file grew past its cap")
                    .sqlite_error_code(),
                Some(rusqlite::ErrorCode::DiskFull)
            );
        }
        // Back to the host's limits.
        conn.query_row("SELECT zeroblob(2000000)", [], |_| Ok(()))
            .unwrap();
        conn.execute("INSERT INTO me_blobs VALUES (zeroblob(900000))", [])
            .unwrap();
    }

    #[test]
    fn the_guard_survives_a_rolled_back_marker_and_each_connection_gets_its_own() {
        let conn = db();
        conn.execute_batch("BEGIN").unwrap();
        drop(Installed::new(&conn, "me", Capabilities::NONE, Mode::Write, &bounds()).unwrap());
        conn.execute_batch("ROLLBACK").unwrap();
        // The marker went with the rollback; the guard did not, and is found again.
        let _sandbox =
            Installed::new(&conn, "me", Capabilities::NONE, Mode::Write, &bounds()).unwrap();
        assert!(conn.prepare("SELECT * FROM api_keys").is_err());
        let other = db();
        let _other =
            Installed::new(&other, "me", Capabilities::NONE, Mode::Read, &bounds()).unwrap();
        assert!(other.prepare("SELECT * FROM api_keys").is_err());
    }

    #[test]
    fn host_code_inside_an_import_is_not_sandboxed() {
        let conn = db();
        let sandbox =
            Installed::new(&conn, "me", Capabilities::NONE, Mode::Write, &bounds()).unwrap();
        let rules = sandbox.rules();
        assert!(as_host(&rules, || conn
            .prepare("SELECT * FROM api_keys")
            .is_ok()));
        assert!(conn.prepare("SELECT * FROM api_keys").is_err());
    }
}
