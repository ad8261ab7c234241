//! Console access a community's ban withdraws. Seed 001's members are host users, and "a ban
//! stops their console access": the Cobuntu-compatible surface's `member.banned` event, emitted
//! on the live data by the plugin serving `/api/v1/communities` (the one claiming that namespace,
//! as for its scopes) for a caller holding `ADMIN` (seed 001: "ADMIN: ban/kick members"; a
//! `WRITE_MEMBERS` key bans from the community, and cannot lock an admin out of the console),
//! bars the user in the same transaction. The console then refuses the admin with the barred
//! user's address, as it refuses a deactivated one ([`accounts::console_allowed`]), and their
//! sessions end, so lifting a bar later revives none. Only the operator lifts one
//! (`mobieus admin create --lift-bar`).

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use crate::admin::accounts;
use crate::time::to_rfc3339;

/// The event that bars its user.
pub const BANNED: &str = "member.banned";

/// What the host reads of a `member.banned` payload.
#[derive(Deserialize)]
struct Banned {
    user_id: String,
    reason: Option<String>,
}

/// Reads an event the Cobuntu surface emitted on the live data: a ban bars its user. Another
/// event, or a payload without a user, changes nothing.
pub fn on_emitted(
    conn: &Connection,
    plugin: &str,
    event_type: &str,
    payload: &str,
) -> rusqlite::Result<()> {
    if event_type != BANNED {
        return Ok(());
    }
    match serde_json::from_str::<Banned>(payload) {
        Ok(banned) => bar(conn, plugin, &banned.user_id, banned.reason.as_deref()),
        Err(_) => Ok(()),
    }
}

/// Bars `user_id` (a host user; anything else is ignored) and ends the console sessions of the
/// admin with their address.
pub fn bar(
    conn: &Connection,
    plugin: &str,
    user_id: &str,
    reason: Option<&str>,
) -> rusqlite::Result<()> {
    let email: Option<Option<String>> = conn
        .query_row("SELECT email FROM users WHERE id = ?1", [user_id], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(email) = email else {
        return Ok(());
    };
    conn.execute(
        "INSERT INTO user_bars (user_id, barred_at, reason, plugin) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id) DO NOTHING",
        params![user_id, to_rfc3339(&Utc::now()), reason, plugin],
    )?;
    if let Some(email) = email {
        accounts::end_sessions_of(conn, &email)?;
    }
    Ok(())
}

/// When the user with this address was barred, if they were.
pub fn barred_at(conn: &Connection, email: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT MIN(b.barred_at) FROM user_bars b CROSS JOIN users u ON u.id = b.user_id
         WHERE u.email = ?1 COLLATE NOCASE",
        [email],
        |r| r.get(0),
    )
}

/// Lifts the bars of the users with this address; how many there were. Their community bans
/// stand.
pub fn lift(conn: &Connection, email: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM user_bars
         WHERE (SELECT email FROM users WHERE id = user_bars.user_id) = ?1 COLLATE NOCASE",
        [email],
    )
}
