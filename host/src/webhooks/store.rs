//! Webhook rows: endpoints, deliveries (the outbox) and attempts. Everything here runs inside a
//! tenant write job or read, on that tenant's file.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Map, Value};
use tenants::db::Write;

use crate::error::Result;
use crate::sealed::ServerKey;
use crate::time::to_rfc3339;
use crate::webhooks::filter;

/// The signal a write raises when it created or re-armed deliveries.
pub const SIGNAL: &str = "webhooks";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub filter: Option<Value>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub consecutive_failures: u32,
    pub created_at: String,
    pub updated_at: String,
}

/// The signing secrets of an endpoint: the current one, and the previous one while its grace
/// window lasts.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub current: String,
    pub previous: Option<(String, i64)>,
}

impl Secrets {
    /// The secrets that sign at `now` (unix seconds), current first.
    pub fn signing(&self, now: i64) -> Vec<&str> {
        let mut all = vec![self.current.as_str()];
        if let Some((previous, until)) = &self.previous
            && now < *until
        {
            all.push(previous);
        }
        all
    }
}

pub const ENDPOINT_COLUMNS: &str = "id, url, description, events, filter, enabled, disabled_reason, consecutive_failures, created_at, updated_at";

pub fn endpoint_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Endpoint> {
    let events: String = row.get(3)?;
    let filter: Option<String> = row.get(4)?;
    Ok(Endpoint {
        id: row.get(0)?,
        url: row.get(1)?,
        description: row.get(2)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        filter: filter.and_then(|f| serde_json::from_str(&f).ok()),
        enabled: row.get(5)?,
        disabled_reason: row.get(6)?,
        consecutive_failures: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
    })
}

pub fn get_endpoint(conn: &Connection, id: &str) -> rusqlite::Result<Option<Endpoint>> {
    conn.prepare_cached(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"
    ))?
    .query_row([id], endpoint_from_row)
    .optional()
}

/// Every endpoint, newest first (the console lists them all; the API pages them).
pub fn all_endpoints(conn: &Connection) -> rusqlite::Result<Vec<Endpoint>> {
    conn.prepare_cached(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id DESC"
    ))?
    .query_map([], endpoint_from_row)?
    .collect()
}

/// An endpoint's latest deliveries, newest first.
pub fn recent_deliveries(
    conn: &Connection,
    endpoint_id: &str,
    limit: u32,
) -> rusqlite::Result<Vec<Delivery>> {
    conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = ?1 ORDER BY id DESC LIMIT ?2"
    ))?
    .query_map(rusqlite::params![endpoint_id, limit], delivery_from_row)?
    .collect()
}

/// Where an endpoint's sealed secrets belong: a sealed value opens only in its own row.
fn context(id: &str) -> String {
    format!("webhook:{id}")
}

/// A signing secret as the endpoint's row keeps it: sealed with the server key.
pub fn seal_secret(key: &ServerKey, id: &str, secret: &str) -> String {
    key.seal(secret, &context(id))
}

/// A secret as the row holds it, opened: sealed, or plaintext from before secrets were sealed
/// (until [`seal_plaintext_secrets`] runs at the next start).
fn open_secret(key: &ServerKey, id: &str, stored: String) -> rusqlite::Result<String> {
    if !ServerKey::is_sealed(&stored) {
        return Ok(stored);
    }
    key.open(&stored, &context(id)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Secrets {
    /// From `secret, previous_secret, previous_expires_at` at `at` in `row`.
    pub fn from_row(
        key: &ServerKey,
        id: &str,
        row: &rusqlite::Row<'_>,
        at: usize,
    ) -> rusqlite::Result<Secrets> {
        let previous: Option<String> = row.get(at + 1)?;
        let until: Option<i64> = row.get(at + 2)?;
        Ok(Secrets {
            current: open_secret(key, id, row.get(at)?)?,
            previous: match previous.zip(until) {
                Some((p, until)) => Some((open_secret(key, id, p)?, until)),
                None => None,
            },
        })
    }
}

pub fn secrets(conn: &Connection, key: &ServerKey, id: &str) -> rusqlite::Result<Option<Secrets>> {
    conn.prepare_cached(
        "SELECT secret, previous_secret, previous_expires_at FROM webhook_endpoints WHERE id = ?1",
    )?
    .query_row([id], |r| Secrets::from_row(key, id, r, 0))
    .optional()
}

/// Seals the secrets a file still holds in plaintext (written before they were sealed). Returns
/// how many rows it sealed.
pub fn seal_plaintext_secrets(w: &mut Write<'_>, key: &ServerKey) -> rusqlite::Result<usize> {
    let rows: Vec<(String, String, Option<String>)> = w
        .prepare("SELECT id, secret, previous_secret FROM webhook_endpoints")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut sealed = 0;
    for (id, secret, previous) in rows {
        let plain = |s: &String| !ServerKey::is_sealed(s);
        if !plain(&secret) && !previous.as_ref().is_some_and(plain) {
            continue;
        }
        let seal = |s: String| {
            if plain(&s) {
                seal_secret(key, &id, &s)
            } else {
                s
            }
        };
        w.execute(
            "UPDATE webhook_endpoints SET secret = ?2, previous_secret = ?3 WHERE id = ?1",
            rusqlite::params![id, seal(secret), previous.map(seal)],
        )?;
        sealed += 1;
    }
    Ok(sealed)
}

/// Whether an endpoint subscribed to `events` wants an event of type `kind`.
pub fn subscribed(events: &[String], kind: &str) -> bool {
    events.iter().any(|e| e == "*" || e == kind)
}

/// The outbox: one pending delivery per enabled endpoint that wants the event (`event_id`, of
/// type `kind`, delivered as `event`'s JSON), in the caller's transaction (the one appending the
/// event). `exclude` is the endpoint a `webhook.*` event is about: it never receives news of its
/// own failures.
pub fn enqueue(
    w: &mut Write<'_>,
    event_id: &str,
    kind: &str,
    event: &impl serde::Serialize,
    exclude: Option<&str>,
) -> Result<usize> {
    let endpoints: Vec<(String, String, Option<String>)> = w
        .prepare_cached("SELECT id, events, filter FROM webhook_endpoints WHERE enabled = 1")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let body = serde_json::to_string(event)?;
    let mut as_value: Option<Value> = None;
    let mut queued = 0;
    for (id, events, filter) in endpoints {
        if Some(id.as_str()) == exclude {
            continue;
        }
        let events: Vec<String> = serde_json::from_str(&events).unwrap_or_default();
        if !subscribed(&events, kind) {
            continue;
        }
        if let Some(filter) =
            filter.and_then(|f| serde_json::from_str::<Map<String, Value>>(&f).ok())
        {
            let value = match &as_value {
                Some(v) => v,
                None => as_value.insert(serde_json::from_str(&body)?),
            };
            if !filter::matches(&filter, value) {
                continue;
            }
        }
        insert_delivery(w, &id, event_id, kind, &body, Utc::now())?;
        queued += 1;
    }
    Ok(queued)
}

/// A pending delivery, due now. Raises the signal that wakes the worker.
pub fn insert_delivery(
    w: &mut Write<'_>,
    endpoint_id: &str,
    event_id: &str,
    event_type: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = format!("dlv_{}", w.new_ulid());
    let at = to_rfc3339(&now);
    w.prepare_cached(
        "INSERT INTO webhook_deliveries
             (id, endpoint_id, event_id, event_type, body, status, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?7)",
    )?
    .execute(params![id, endpoint_id, event_id, event_type, body, now.timestamp_millis(), at])?;
    w.after_commit(SIGNAL);
    Ok(id)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event_type, status, attempt_count, \
     next_attempt_at, last_status_code, last_error, created_at, updated_at";

pub fn delivery_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    let status: String = row.get(4)?;
    let next: Option<i64> = row.get(6)?;
    Ok(Delivery {
        id: row.get(0)?,
        webhook_id: row.get(1)?,
        event_id: row.get(2)?,
        event_type: row.get(3)?,
        next_attempt_at: next
            .filter(|_| status == "pending")
            .and_then(DateTime::from_timestamp_millis)
            .map(|t| to_rfc3339(&t)),
        status,
        attempt_count: row.get(5)?,
        last_status_code: row.get(7)?,
        last_error: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

pub fn get_delivery(
    conn: &Connection,
    endpoint_id: &str,
    id: &str,
) -> rusqlite::Result<Option<Delivery>> {
    conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?1 AND endpoint_id = ?2"
    ))?
    .query_row([id, endpoint_id], delivery_from_row)
    .optional()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub id: String,
    pub attempted_at: String,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

pub fn attempts(conn: &Connection, delivery_id: &str) -> rusqlite::Result<Vec<Attempt>> {
    conn.prepare_cached(
        "SELECT id, attempted_at, status_code, latency_ms, response_body, error
         FROM webhook_attempts WHERE delivery_id = ?1 ORDER BY id",
    )?
    .query_map([delivery_id], |r| {
        Ok(Attempt {
            id: r.get(0)?,
            attempted_at: r.get(1)?,
            status_code: r.get(2)?,
            latency_ms: r.get(3)?,
            response_body: r.get(4)?,
            error: r.get(5)?,
        })
    })?
    .collect()
}

/// Makes an endpoint's pending deliveries due now (after enable, or a manual retry).
pub fn rearm(
    w: &mut Write<'_>,
    endpoint_id: &str,
    delivery_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<usize> {
    let n = w.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = ?1, updated_at = ?2
         WHERE endpoint_id = ?3 AND status = 'pending' AND (?4 IS NULL OR id = ?4)",
        params![
            now.timestamp_millis(),
            to_rfc3339(&now),
            endpoint_id,
            delivery_id
        ],
    )?;
    if n > 0 {
        w.after_commit(SIGNAL);
    }
    Ok(n)
}
