//! SCIM bearer tokens: `scim_<43 url-safe base64 chars>` (32 random bytes), one kind of credential
//! per surface. A token opens `/scim/v2` of its tenant and nothing else; an API key never opens
//! `/scim/v2`. Stored like keys: the SHA-256 of the whole token, and its first 12 characters for
//! display and lookup; a presented token's candidates are compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::time::to_rfc3339;

const PREFIX: &str = "scim_";
const SECRET_LEN: usize = 43;
const PREFIX_LEN: usize = 12;

/// A stored token, as listed (never its secret or hash).
#[derive(Debug, Clone, Serialize)]
pub struct ScimToken {
    pub id: String,
    pub prefix: String,
    pub label: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

const COLUMNS: &str = "id, prefix, label, created_at, revoked_at, last_used_at";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ScimToken> {
    Ok(ScimToken {
        id: row.get(0)?,
        prefix: row.get(1)?,
        label: row.get(2)?,
        created_at: row.get(3)?,
        revoked_at: row.get(4)?,
        last_used_at: row.get(5)?,
    })
}

/// Whether `s` is shaped like a SCIM token (anything else is refused before a lookup).
pub fn is_shaped(s: &str) -> bool {
    s.strip_prefix(PREFIX).is_some_and(|secret| {
        secret.len() == SECRET_LEN
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The live (not revoked) token `presented` is, if any.
pub fn find(conn: &Connection, presented: &str) -> rusqlite::Result<Option<ScimToken>> {
    if !is_shaped(presented) {
        return Ok(None);
    }
    let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, hash FROM scim_tokens WHERE prefix = ?1"
    ))?;
    let mut rows = stmt.query([&presented[..PREFIX_LEN]])?;
    let mut found = None;
    while let Some(row) = rows.next()? {
        let stored: Vec<u8> = row.get(6)?;
        if bool::from(stored.as_slice().ct_eq(&hash)) {
            found = Some(from_row(row)?);
        }
    }
    Ok(found.filter(|t| t.revoked_at.is_none()))
}

/// Mints a token as `actor`, audited; the plaintext is returned once and never stored.
pub fn mint_by(
    conn: &Connection,
    actor: &str,
    label: Option<&str>,
    now: DateTime<Utc>,
) -> rusqlite::Result<(ScimToken, String)> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let plaintext = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let hash: [u8; 32] = Sha256::digest(plaintext.as_bytes()).into();
    let id = format!("scimtok_{}", ulid::Ulid::new());
    conn.execute(
        "INSERT INTO scim_tokens (id, prefix, hash, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            &plaintext[..PREFIX_LEN],
            &hash[..],
            label,
            to_rfc3339(&now)
        ],
    )?;
    crate::audit::record(
        conn,
        actor,
        "scim_token.created",
        Some(&id),
        serde_json::json!({ "prefix": &plaintext[..PREFIX_LEN], "label": label }),
        now,
    )?;
    let token = get(conn, &id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok((token, plaintext))
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<ScimToken>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM scim_tokens WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

/// Newest first.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<ScimToken>> {
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM scim_tokens ORDER BY id DESC"
    ))?
    .query_map([], from_row)?
    .collect()
}

/// Revokes as `actor`, audited. `None`: no such token; `Some(false)`: already revoked.
pub fn revoke_by(
    conn: &Connection,
    actor: &str,
    id: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<bool>> {
    let Some(token) = get(conn, id)? else {
        return Ok(None);
    };
    let changed = conn.execute(
        "UPDATE scim_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, to_rfc3339(&now)],
    )? == 1;
    if changed {
        crate::audit::record(
            conn,
            actor,
            "scim_token.revoked",
            Some(id),
            serde_json::json!({ "prefix": token.prefix }),
            now,
        )?;
    }
    Ok(Some(changed))
}

/// Records a use, at most once a minute per token (a write per request would serialise them).
pub fn touch(conn: &Connection, id: &str, now: DateTime<Utc>) -> rusqlite::Result<()> {
    let cutoff = to_rfc3339(&(now - chrono::Duration::minutes(1)));
    conn.execute(
        "UPDATE scim_tokens SET last_used_at = ?2
         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
        params![id, to_rfc3339(&now), cutoff],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for m in tenants::migrations::CONTROL {
            conn.execute_batch(m.sql).unwrap();
        }
        conn
    }

    #[test]
    fn a_token_is_found_until_revoked_and_an_api_key_never_is() {
        let conn = db();
        let now = Utc::now();
        let (token, plaintext) = mint_by(&conn, "cli:test", Some("okta"), now).unwrap();
        assert!(plaintext.starts_with("scim_") && plaintext.len() == 5 + 43);
        assert_eq!(token.prefix, &plaintext[..12]);
        assert_eq!(find(&conn, &plaintext).unwrap().unwrap().id, token.id);
        let mut wrong = plaintext.clone();
        wrong.pop();
        wrong.push(if plaintext.ends_with('A') { 'B' } else { 'A' });
        assert!(find(&conn, &wrong).unwrap().is_none());
        let api_key = format!("mc_live_{}", &plaintext[5..]);
        assert!(find(&conn, &api_key).unwrap().is_none());
        assert_eq!(
            revoke_by(&conn, "cli:test", &token.id, now).unwrap(),
            Some(true)
        );
        assert_eq!(
            revoke_by(&conn, "cli:test", &token.id, now).unwrap(),
            Some(false)
        );
        assert!(find(&conn, &plaintext).unwrap().is_none());
        let mut audit: Vec<String> = conn
            .prepare("SELECT action FROM audit_log ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        audit.sort();
        assert_eq!(audit, ["scim_token.created", "scim_token.revoked"]);
        assert!(
            !conn
                .query_row("SELECT details FROM audit_log", [], |r| r
                    .get::<_, String>(0))
                .unwrap()
                .contains(&plaintext[12..])
        );
    }
}
