//! The append-only event log. [`append`] is the one place an event is written: inside the caller's
//! write transaction, so an event exists exactly when the write that caused it committed, and so
//! do its webhook deliveries (the outbox).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use tenants::db::Write;

use crate::error::{ApiError, Result};
use crate::time::to_rfc3339;
use crate::webhooks::store as outbox;

/// An event exactly as `GET /api/v1/events` (and later a webhook body) shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    /// The resource the event is about, e.g. `{"post": {...}}`.
    #[schema(value_type = Object)]
    pub data: Box<RawValue>,
}

/// The signal a commit raises when it appended events.
pub const SIGNAL: &str = "events";

pub const USER_REGISTERED: &str = "user.registered";
pub const USER_LEFT: &str = "user.left";
pub const USER_UPDATED: &str = "user.updated";
pub const POST_CREATED: &str = "post.created";
pub const POST_UPDATED: &str = "post.updated";
pub const FILE_UPLOADED: &str = "file.uploaded";
pub const GROUP_CREATED: &str = "group.created";
pub const GROUP_UPDATED: &str = "group.updated";
pub const GROUP_DELETED: &str = "group.deleted";
pub const GROUP_MEMBER_ADDED: &str = "group.member_added";
pub const GROUP_MEMBER_REMOVED: &str = "group.member_removed";

/// Event types the host itself emits.
pub const HOST_TYPES: &[&str] = &[
    USER_REGISTERED,
    USER_LEFT,
    USER_UPDATED,
    POST_CREATED,
    POST_UPDATED,
    FILE_UPLOADED,
    GROUP_CREATED,
    GROUP_UPDATED,
    GROUP_DELETED,
    GROUP_MEMBER_ADDED,
    GROUP_MEMBER_REMOVED,
];

/// Appends an event in the caller's transaction, and queues its webhook deliveries there too.
pub fn append(w: &mut Write<'_>, kind: &str, data: &impl Serialize) -> Result<Event> {
    append_at_depth(w, kind, data, 0)
}

/// Like [`append`], for an event at `depth` in a chain of plugin reactions
/// ([`crate::plugins::state::Emits`]).
pub fn append_at_depth(
    w: &mut Write<'_>,
    kind: &str,
    data: &impl Serialize,
    depth: u32,
) -> Result<Event> {
    let event = insert(w, kind, data, depth)?;
    outbox::enqueue(w, &event.id, &event.kind, &event, None)?;
    Ok(event)
}

/// Appends a `webhook.*` event about one endpoint, which is not delivered to that endpoint (news
/// of its failures would only fail again).
pub fn append_about_webhook(
    w: &mut Write<'_>,
    kind: &str,
    data: &impl Serialize,
    endpoint_id: &str,
) -> Result<Event> {
    let event = insert(w, kind, data, 0)?;
    outbox::enqueue(w, &event.id, &event.kind, &event, Some(endpoint_id))?;
    Ok(event)
}

fn insert(w: &mut Write<'_>, kind: &str, data: &impl Serialize, depth: u32) -> Result<Event> {
    debug_assert!(is_valid_type(kind), "{kind}");
    let ulid = w.new_ulid();
    let created_at: DateTime<Utc> =
        DateTime::from_timestamp_millis(ulid.timestamp_ms() as i64).unwrap_or_else(Utc::now);
    let data = serde_json::value::to_raw_value(data)?;
    let event = Event {
        id: format!("evt_{ulid}"),
        kind: kind.to_owned(),
        created_at: to_rfc3339(&created_at),
        data,
    };
    w.prepare_cached(
        "INSERT INTO events (id, type, created_at, data, chain_depth) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute((
        &event.id,
        &event.kind,
        &event.created_at,
        event.data.get(),
        depth,
    ))?;
    // Wakes the plugins' `on-event` dispatcher once this commits.
    w.after_commit(SIGNAL);
    Ok(event)
}

pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let data: String = row.get(3)?;
    Ok(Event {
        id: row.get(0)?,
        kind: row.get(1)?,
        created_at: row.get(2)?,
        data: RawValue::from_string(data).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?,
    })
}

pub const COLUMNS: &str = "id, type, created_at, data";

/// `noun.verb` in lowercase with underscores: `post.created`, `listing.withdrawn`.
pub fn is_valid_type(kind: &str) -> bool {
    let mut parts = kind.split('.');
    let ok_part = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    parts.clone().count() >= 2 && parts.all(ok_part)
}

/// Checks a `type` filter value (exact or comma list) and returns the types.
pub fn parse_type_filter(value: &str) -> Result<Vec<String>> {
    let mut types: Vec<String> = value.split(',').map(|t| t.trim().to_owned()).collect();
    types.sort();
    types.dedup();
    if types.len() > 20 {
        return Err(ApiError::validation("type", "at most 20 event types"));
    }
    for t in &types {
        if !is_valid_type(t) {
            return Err(ApiError::validation(
                "type",
                format!("`{t}` is not an event type (expected e.g. post.created)"),
            ));
        }
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        for ok in ["post.created", "webhook.delivery_failed", "a.b.c"] {
            assert!(is_valid_type(ok), "{ok}");
        }
        for bad in [
            "post",
            "Post.created",
            "post.",
            ".created",
            "post created",
            "post.created!",
        ] {
            assert!(!is_valid_type(bad), "{bad}");
        }
        assert!(parse_type_filter("post.created,user.left").is_ok());
        assert!(parse_type_filter("post.created,").is_err());
    }
}
