//! What an endpoint's owner can do to it, shared by the API (`/api/v1/webhooks/...`) and the
//! admin console (`/admin/webhooks/...`): enable, rotate the secret, retry a delivery, send a
//! test. Each runs inside the caller's write transaction.

use chrono::Utc;
use rusqlite::params;
use serde::Serialize;
use serde_json::json;
use tenants::db::Write;
use utoipa::ToSchema;

use crate::error::{ApiError, Result};
use crate::sealed::ServerKey;
use crate::time::to_rfc3339;
use crate::webhooks::store::{self, Delivery, Endpoint};
use crate::webhooks::{TEST, sign};

pub fn not_found() -> ApiError {
    ApiError::not_found("webhook")
}

fn delivery_not_found() -> ApiError {
    ApiError::not_found("delivery")
}

/// Turns the endpoint back on after the retries disabled it: resets the failure count and
/// re-arms its pending deliveries.
pub fn enable(w: &mut Write<'_>, id: &str) -> Result<Endpoint> {
    store::get_endpoint(w, id)?.ok_or_else(not_found)?;
    let now = Utc::now();
    w.execute(
        "UPDATE webhook_endpoints SET enabled = 1, disabled_reason = NULL, consecutive_failures = 0, updated_at = ?2
         WHERE id = ?1",
        params![id, to_rfc3339(&now)],
    )?;
    store::rearm(w, id, None, now)?;
    store::get_endpoint(w, id)?.ok_or_else(not_found)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rotated {
    pub id: String,
    /// The new signing secret, shown this once.
    pub secret: String,
    /// Until then, deliveries carry signatures by both secrets.
    pub previous_secret_expires_at: String,
}

/// How long the previous secret may keep verifying, in hours.
pub const GRACE_HOURS: std::ops::RangeInclusive<u32> = 1..=168;
pub const DEFAULT_GRACE_HOURS: u32 = 24;

/// A new signing secret; the previous one keeps verifying for `grace_hours`.
pub fn rotate_secret(
    w: &mut Write<'_>,
    key: &ServerKey,
    id: &str,
    grace_hours: u32,
) -> Result<Rotated> {
    if !GRACE_HOURS.contains(&grace_hours) {
        return Err(ApiError::validation(
            "grace_period_hours",
            "1 to 168 (7 days)",
        ));
    }
    let secrets = store::secrets(w, key, id)?.ok_or_else(not_found)?;
    let now = Utc::now();
    let until = now + chrono::Duration::hours(i64::from(grace_hours));
    let secret = sign::new_secret();
    w.execute(
        "UPDATE webhook_endpoints SET secret = ?2, previous_secret = ?3, previous_expires_at = ?4, updated_at = ?5
         WHERE id = ?1",
        params![
            id,
            store::seal_secret(key, id, &secret),
            store::seal_secret(key, id, &secrets.current),
            until.timestamp(),
            to_rfc3339(&now)
        ],
    )?;
    Ok(Rotated {
        id: id.to_owned(),
        secret,
        previous_secret_expires_at: to_rfc3339(&until),
    })
}

/// Sends the delivery again now, whatever became of it.
pub fn retry(w: &mut Write<'_>, id: &str, delivery_id: &str) -> Result<Delivery> {
    store::get_endpoint(w, id)?.ok_or_else(not_found)?;
    store::get_delivery(w, id, delivery_id)?.ok_or_else(delivery_not_found)?;
    let now = Utc::now();
    w.execute(
        "UPDATE webhook_deliveries SET status = 'pending', updated_at = ?2 WHERE id = ?1",
        params![delivery_id, to_rfc3339(&now)],
    )?;
    store::rearm(w, id, Some(delivery_id), now)?;
    store::get_delivery(w, id, delivery_id)?.ok_or_else(delivery_not_found)
}

/// Queues a `webhook.test` delivery to the endpoint; the event is not in the event log.
pub fn send_test(w: &mut Write<'_>, id: &str) -> Result<Delivery> {
    store::get_endpoint(w, id)?.ok_or_else(not_found)?;
    let now = Utc::now();
    let event = json!({
        "id": format!("evt_{}", w.new_ulid()),
        "type": TEST,
        "created_at": to_rfc3339(&now),
        "data": { "webhook_id": id, "message": "A test event from Mobieus. It is not in the event log." },
    });
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let delivery_id = store::insert_delivery(w, id, &event_id, TEST, &event.to_string(), now)?;
    store::get_delivery(w, id, &delivery_id)?.ok_or_else(delivery_not_found)
}
