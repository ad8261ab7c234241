//! The tenant's audit log: who did what to keys and settings, and when. Append-only (enforced by
//! triggers in the schema). Details never hold a secret.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;

use crate::time::to_rfc3339;

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub details: Value,
}

pub fn record(
    conn: &Connection,
    actor: &str,
    action: &str,
    target: Option<&str>,
    details: Value,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_log (id, at, actor, action, target, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            format!("aud_{}", ulid::Ulid::new()),
            to_rfc3339(&now),
            actor,
            action,
            target,
            details.to_string()
        ],
    )?;
    Ok(())
}

/// Newest first.
pub fn list(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<AuditEntry>> {
    search(conn, &Filter::default(), limit)
}

/// What the console's audit page filters by; each given field must match exactly.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
}

/// Newest first, at most `limit`, matching `filter`.
pub fn search(conn: &Connection, filter: &Filter, limit: u32) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor, action, target, details FROM audit_log
         WHERE (?1 IS NULL OR action = ?1) AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR target = ?3)
         ORDER BY id DESC LIMIT ?4",
    )?;
    stmt.query_map(
        params![filter.action, filter.actor, filter.target, limit],
        from_row,
    )?
    .collect()
}

/// The actions the log holds, for the filter's choices.
pub fn actions(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached("SELECT DISTINCT action FROM audit_log ORDER BY action")?
        .query_map([], |r| r.get(0))?
        .collect()
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    let details: String = r.get(5)?;
    Ok(AuditEntry {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        details: serde_json::from_str(&details).unwrap_or(Value::Null),
    })
}
