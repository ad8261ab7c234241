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
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, action, target, details FROM audit_log ORDER BY id DESC LIMIT ?1",
    )?;
    stmt.query_map([limit], |r| {
        let details: String = r.get(5)?;
        Ok(AuditEntry {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            target: r.get(4)?,
            details: serde_json::from_str(&details).unwrap_or(Value::Null),
        })
    })?
    .collect()
}
