//! A plugin's migrations, applied once per tenant database, in version order, inside the write
//! transaction of the first request that needs them, under the sandbox's migration rules (its own
//! tables and indexes only). Recorded in `_migrations` as set `plugin:<name>`.

use rusqlite::params;
use tenants::db::Write;

use crate::plugins::registry::LoadedPlugin;
use crate::plugins::runtime::Limits;
use crate::plugins::sandbox::{self, Bounds, Installed, Mode, Rules};

/// Whether this file still lacks some of `plugin`'s migrations.
pub fn pending(conn: &rusqlite::Connection, plugin: &LoadedPlugin) -> rusqlite::Result<bool> {
    let Some(last) = plugin.manifest.migrations.last() else {
        return Ok(false);
    };
    Ok(applied(conn, &plugin.manifest.name)? < last.version)
}

fn applied(conn: &rusqlite::Connection, name: &str) -> rusqlite::Result<u32> {
    conn.prepare_cached("SELECT COALESCE(MAX(version), 0) FROM _migrations WHERE set_name = ?1")?
        .query_row([format!("plugin:{name}")], |r| r.get(0))
}

/// Applies what is missing. An error names the migration and leaves nothing behind (the caller's
/// transaction rolls back).
pub fn ensure(w: &mut Write<'_>, plugin: &LoadedPlugin, limits: &Limits) -> Result<(), String> {
    let name = &plugin.manifest.name;
    let done = applied(w, name).map_err(|e| e.to_string())?;
    let todo: Vec<_> = plugin
        .manifest
        .migrations
        .iter()
        .filter(|m| m.version > done)
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let bounds = Bounds::from_now(limits.migration_deadline, &limits.sql);
    let sandbox = Installed::new(
        w,
        name,
        plugin.manifest.capabilities,
        Mode::Migrate,
        &bounds,
    )
    .map_err(|e| e.to_string())?;
    let rules = sandbox.rules();
    for m in todo {
        run_statements(w, &rules, &m.sql).map_err(|e| {
            format!(
                "migration {} ({}) of plugin `{name}` failed: {e}",
                m.version, m.name
            )
        })?;
        sandbox::as_host(&rules, || {
            w.execute(
                "INSERT INTO _migrations (set_name, version, name, applied_at) VALUES (?1, ?2, ?3, ?4)",
                params![format!("plugin:{name}"), m.version, m.name, crate::time::to_rfc3339(&chrono::Utc::now())],
            )
        })
        .map_err(|e| e.to_string())?;
    }
    if done == 0 && !plugin.manifest.subscriptions.is_empty() {
        // A subscriber's cursor starts here, when it arrives in this file, so the events that
        // follow reach it even if the on-event drain first runs after they committed.
        sandbox::as_host(&rules, || {
            w.execute(
                "INSERT OR IGNORE INTO plugin_cursors (plugin, last_event_id)
                 VALUES (?1, (SELECT COALESCE(MAX(id), '') FROM events))",
                [name],
            )
        })
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs a migration's SQL one statement at a time, telling the sandbox where each begins (which
/// reads of the schema table are SQLite's own depends on what the statement is), and checking
/// the index an `fts5vocab` table names before it is created.
pub fn run_statements(
    conn: &rusqlite::Connection,
    rules: &Rules,
    sql: &str,
) -> rusqlite::Result<()> {
    use rusqlite::fallible_iterator::FallibleIterator;
    let mut batch = rusqlite::Batch::new(conn, sql);
    loop {
        rules.next_statement();
        let Some(mut statement) = batch.next()? else {
            return Ok(());
        };
        if rules.created_vocab() {
            let sql = statement.expanded_sql().unwrap_or_default();
            rules.check_vocab(&sql).map_err(|why| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_AUTH),
                    Some(why),
                )
            })?;
        }
        statement.raw_execute()?;
    }
}
