//! Broadcasts: a one-shot mail to a segment's members, at most five per community in any window
//! of 24 hours (seed 001), shared with the console's (which calls this same route).
//!
//! A broadcast is queued, not sent in one go: the route takes the segment's active members as
//! they are now, hands the first batch ([`BATCH`]) of them to the host's outbox in its own transaction,
//! and a timer hands on the rest, a batch per run, so a segment of any size is mailed within
//! the call deadline and nobody twice (each batch commits with the removal of its recipients).

use mobieus_sdk::check::not_blank;
use mobieus_sdk::prelude::*;

use crate::paging::{OffsetPage, Window};
use crate::segments;

/// The columns and the queue added to the first table ([`segments::MIGRATION`]).
pub const MIGRATION: &str = "
ALTER TABLE community_broadcasts ADD COLUMN text TEXT NOT NULL DEFAULT '';
ALTER TABLE community_broadcasts ADD COLUMN html TEXT;
CREATE TABLE community_broadcast_queue (
    broadcast_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (broadcast_id, user_id)
) WITHOUT ROWID;
";

/// The most broadcasts in one window (seed 001).
const PER_WINDOW: i64 = 5;
/// Recipients handed to the outbox per call, unless the `broadcast_batch` setting says: well
/// inside one call's deadline.
const BATCH: i64 = 500;
/// The timers that carry a broadcast on are named after it.
const TIMER_PREFIX: &str = "broadcast:";

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewBroadcast {
    #[garde(length(max = 64))]
    pub segment_id: String,
    #[garde(length(chars, min = 1, max = 200), custom(not_blank), custom(mobieus_sdk::check::one_line))]
    pub subject: String,
    #[garde(length(chars, min = 1, max = 100000))]
    pub text: String,
    #[garde(inner(length(chars, max = 200000)))]
    pub html: Option<String>,
}

/// A broadcast: one mail for each of the segment's active members (as they were when it was
/// sent) that has an address, through the host's outbox.
#[derive(Serialize, JsonSchema)]
pub struct Broadcast {
    pub id: String,
    pub segment_id: String,
    pub subject: String,
    /// The segment's active members it goes to.
    pub recipients: i64,
    /// How many of them are still to be handed to the outbox (a batch at a time).
    pub pending: i64,
    #[schemars(extend("format" = "date-time"))]
    pub sent_at: String,
}

/// The broadcasts sent, newest first (`ADMIN`): the window's count is in them.
pub fn list(cx: &mut Ctx) -> Result<Json<OffsetPage<Broadcast>>> {
    let window = Window::of(cx)?;
    let columns = "b.id, b.segment_id, b.subject, b.recipients, b.sent_ms, (SELECT COUNT(*) FROM community_broadcast_queue q WHERE q.broadcast_id = b.id) AS pending";
    let page = window.fetch(cx, columns, "community_broadcasts b", "b.sent_ms DESC, b.id DESC", &[], |r| {
        Ok(Broadcast {
            id: r.get("id")?,
            segment_id: r.get("segment_id")?,
            subject: r.get("subject")?,
            recipients: r.get("recipients")?,
            pending: r.get("pending")?,
            sent_at: cx.time_at(r.get("sent_ms")?),
        })
    })?;
    Ok(Json(page))
}

/// The window broadcasts are counted in: the `broadcast_window_secs` setting, 24 hours unless
/// set (a shorter one is for trying the limit out).
fn window_ms(cx: &Ctx) -> i64 {
    cx.config("broadcast_window_secs").and_then(|v| v.trim().parse::<i64>().ok()).filter(|s| *s > 0).unwrap_or(86_400) * 1000
}

pub fn send(cx: &mut Ctx, Json(new): Json<NewBroadcast>) -> Result<Reply> {
    let now = cx.now_ms();
    let window = window_ms(cx);
    let sent: Vec<i64> = cx
        .db()
        .query("SELECT sent_ms FROM community_broadcasts WHERE sent_ms > ?1 ORDER BY sent_ms", &[&(now - window)])?
        .iter()
        .map(|r| r.get("sent_ms"))
        .collect::<Result<_>>()?;
    if sent.len() as i64 >= PER_WINDOW {
        let frees_ms = sent[sent.len() - PER_WINDOW as usize] + window;
        let retry = ((frees_ms - now) + 999) / 1000;
        let error = Error::new(429, "broadcast_limit", format!("{PER_WINDOW} broadcasts were sent in the last {} s: the next one may go at {}.", window / 1000, cx.time_at(frees_ms)))
            .with("retry_at", cx.time_at(frees_ms));
        return Ok(Reply::error(error).header("Retry-After", &retry.max(1).to_string()));
    }
    let (segment, _) = segments::find(cx, &new.segment_id).map_err(|e| match e.status {
        404 => Error::validation("segment_id", "no such segment"),
        _ => e,
    })?;
    let id = cx.new_id("bc_");
    cx.db().execute(
        "INSERT INTO community_broadcasts (id, segment_id, subject, text, html, recipients, sent_ms) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
        &[&id, &segment.id, &new.subject, &new.text, &new.html, &now],
    )?;
    // Who it goes to is decided now: a member who joins later is not in it.
    let recipients = cx.db().execute(
        "INSERT INTO community_broadcast_queue (broadcast_id, user_id) SELECT ?1, m.user_id FROM community_segment_members m JOIN community_members c ON c.user_id = m.user_id AND c.status = 'active' WHERE m.segment_id = ?2",
        &[&id, &segment.id],
    )? as i64;
    cx.db().execute("UPDATE community_broadcasts SET recipients = ?1 WHERE id = ?2", &[&recipients, &id])?;
    let pending = recipients - hand_on(cx, &id)?;
    let broadcast = Broadcast { id, segment_id: segment.id, subject: new.subject, recipients, pending, sent_at: cx.time_at(now) };
    cx.emit("broadcast.sent", &broadcast)?;
    Reply::created(&broadcast)
}

/// A timer of a broadcast came due: the next batch.
pub fn on_timer(cx: &mut Ctx, timer: &Timer) -> Result<bool> {
    let Some(id) = timer.key.strip_prefix(TIMER_PREFIX) else {
        return Ok(false);
    };
    hand_on(cx, id)?;
    Ok(true)
}

/// Hands the next batch of recipients of broadcast `id` to the outbox, one mail each (nobody
/// sees another's address), and sets a timer if any are left; how many it handed on.
fn hand_on(cx: &Ctx, id: &str) -> Result<i64> {
    let Some(row) = cx.db().query_one("SELECT subject, text, html FROM community_broadcasts WHERE id = ?1", &[&id])? else {
        return Ok(0);
    };
    let (subject, text, html): (String, String, Option<String>) = (row.get("subject")?, row.get("text")?, row.get("html")?);
    let size = cx.config("broadcast_batch").and_then(|v| v.trim().parse::<i64>().ok()).filter(|n| (1..=BATCH).contains(n)).unwrap_or(BATCH);
    let batch: Vec<String> = cx
        .db()
        .query("SELECT user_id FROM community_broadcast_queue WHERE broadcast_id = ?1 ORDER BY user_id LIMIT ?2", &[&id, &size])?
        .iter()
        .map(|r| r.get("user_id"))
        .collect::<Result<_>>()?;
    for chunk in batch.chunks(100) {
        // A user who left since, or has no address, gets nothing.
        for user in cx.users(chunk)?.into_iter().filter(|u| u.email.is_some()) {
            let mut mail = Mail::new(&subject, &text).to_user(&user.id);
            if let Some(html) = &html {
                mail = mail.html(html);
            }
            cx.send_mail(mail)?;
        }
    }
    if let Some(last) = batch.last() {
        cx.db().execute("DELETE FROM community_broadcast_queue WHERE broadcast_id = ?1 AND user_id <= ?2", &[&id, last])?;
    }
    // One probe, not a count of what is left: a run must not cost more the larger the segment.
    if cx.db().query_one("SELECT 1 AS one FROM community_broadcast_queue WHERE broadcast_id = ?1 LIMIT 1", &[&id])?.is_some() {
        cx.set_timer(&format!("{TIMER_PREFIX}{id}"), cx.now_ms(), &())?;
    }
    Ok(batch.len() as i64)
}
