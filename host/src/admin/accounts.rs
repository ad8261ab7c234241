//! A tenant's admins: invited by the CLI with a one-time setup link, then password login.
//! Passwords are argon2id hashes; setup tokens are stored as SHA-256 hashes only.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::time::{parse_rfc3339, to_rfc3339};

/// How long a setup link works.
pub const SETUP_VALID_FOR: Duration = Duration::hours(24);
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 1024;

#[derive(Debug, Clone)]
pub struct Admin {
    pub id: String,
    pub email: String,
}

impl Admin {
    /// Who the audit log names for this admin's actions.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.email)
    }
}

/// 32 random bytes, URL-safe: session tokens, setup tokens, CSRF tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates the admin, or gives an existing one a fresh setup link (a password reset). Returns the
/// admin and the setup token, which exists only in this return value.
pub fn invite(
    conn: &Connection,
    email: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<(Admin, String)> {
    let token = random_token();
    let expires = to_rfc3339(&(now + SETUP_VALID_FOR));
    let existing: Option<String> = conn
        .query_row("SELECT id FROM admins WHERE email = ?1", [email], |r| {
            r.get(0)
        })
        .optional()?;
    let id = match existing {
        Some(id) => {
            conn.execute(
                "UPDATE admins SET setup_token_hash = ?2, setup_expires_at = ?3 WHERE id = ?1",
                params![id, token_hash(&token), expires],
            )?;
            id
        }
        None => {
            let id = format!("adm_{}", ulid::Ulid::new());
            conn.execute(
                "INSERT INTO admins (id, email, setup_token_hash, setup_expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, email, token_hash(&token), expires, to_rfc3339(&now)],
            )?;
            id
        }
    };
    Ok((
        Admin {
            id,
            email: email.to_owned(),
        },
        token,
    ))
}

/// The admin a setup token belongs to, while it is valid.
pub fn by_setup_token(
    conn: &Connection,
    token: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<Admin>> {
    let found: Option<(String, String, String)> = conn
        .query_row(
            "SELECT id, email, setup_expires_at FROM admins WHERE setup_token_hash = ?1",
            [token_hash(token)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(found.and_then(|(id, email, expires)| {
        parse_rfc3339(&expires)
            .is_some_and(|e| e > now)
            .then_some(Admin { id, email })
    }))
}

/// Sets the password and spends the setup token.
pub fn set_password(conn: &Connection, id: &str, password_hash: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE admins SET password_hash = ?2, setup_token_hash = NULL, setup_expires_at = NULL
         WHERE id = ?1",
        params![id, password_hash],
    )?;
    Ok(())
}

pub fn check_password_rules(password: &str, confirm: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < PASSWORD_MIN {
        return Err("Use at least 12 characters.");
    }
    if password.len() > PASSWORD_MAX {
        return Err("Use at most 1024 bytes.");
    }
    if password != confirm {
        return Err("The two passwords differ.");
    }
    Ok(())
}

/// argon2id with the crate's defaults (19 MiB, 2 passes) and a random salt. Slow on purpose:
/// call it off the async executor.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// A stand-in hash for unknown emails, so a login takes as long whether or not the email exists.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// What a login is checked against: the admin with that email, and their password hash once set.
pub struct Credentials {
    admin: Admin,
    password_hash: Option<String>,
}

/// The SQL condition "the admin whose email is `column` may use the console": not a user their
/// identity provider deactivated (their console access stops with their access everywhere
/// else), nor one the community barred ([`crate::admin::bars`]).
pub fn console_allowed(column: &str) -> String {
    // Two probes by index, never a scan of the users: the deactivated users' emails (a partial
    // index), and the few barred users by id (`CROSS JOIN` keeps the bars outside).
    format!(
        "NOT EXISTS (SELECT 1 FROM users u WHERE u.email = {column} COLLATE NOCASE \
         AND u.active = 0 AND u.left_at IS NULL) \
         AND NOT EXISTS (SELECT 1 FROM user_bars b CROSS JOIN users u ON u.id = b.user_id \
         WHERE u.email = {column} COLLATE NOCASE)"
    )
}

/// Ends every console session of the admin with this email (their identity provider
/// deactivated them, or the community barred them), so restoring them later revives none.
pub fn end_sessions_of(conn: &Connection, email: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM admin_sessions WHERE admin_id IN
         (SELECT id FROM admins WHERE email = ?1 COLLATE NOCASE)",
        [email],
    )
}

pub fn credentials(conn: &Connection, email: &str) -> rusqlite::Result<Option<Credentials>> {
    conn.query_row(
        &format!(
            "SELECT id, email, password_hash FROM admins WHERE email = ?1 AND {}",
            console_allowed("admins.email")
        ),
        [email],
        |r| {
            Ok(Credentials {
                admin: Admin {
                    id: r.get(0)?,
                    email: r.get(1)?,
                },
                password_hash: r.get(2)?,
            })
        },
    )
    .optional()
}

/// The admin, if `password` is theirs. Slow on purpose (argon2), and as slow for an unknown
/// email: run it off the async executor, holding no connection.
pub fn verify(found: Option<Credentials>, password: &str) -> Option<Admin> {
    let stored = found
        .as_ref()
        .and_then(|c| c.password_hash.as_deref())
        .unwrap_or_else(|| decoy_hash());
    let matches = PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    found
        .filter(|c| matches && c.password_hash.is_some())
        .map(|c| c.admin)
}

pub fn record_login(conn: &Connection, id: &str, now: DateTime<Utc>) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE admins SET last_login_at = ?2 WHERE id = ?1",
        params![id, to_rfc3339(&now)],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify_login(
        conn: &Connection,
        email: &str,
        password: &str,
    ) -> rusqlite::Result<Option<Admin>> {
        Ok(verify(credentials(conn, email)?, password))
    }

    /// A tenant's live file: its data (users) and its control tables (admins).
    fn live_file() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for m in tenants::migrations::DATA
            .iter()
            .chain(tenants::migrations::CONTROL)
        {
            conn.execute_batch(m.sql).unwrap();
        }
        conn
    }

    /// Checked on every console request: it must never read every user.
    #[test]
    fn console_access_is_two_index_probes() {
        let conn = live_file();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT id FROM admins a WHERE a.id = 'x' AND {}",
            console_allowed("a.email")
        );
        let plan: Vec<String> = conn
            .prepare(&sql)
            .unwrap()
            .query_map([], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN u")),
            "{plan:#?}"
        );
    }

    #[test]
    fn a_password_verifies_and_a_wrong_one_does_not() {
        let conn = live_file();
        let now = Utc::now();
        let (admin, token) = invite(&conn, "ada@example.com", now).unwrap();
        assert_eq!(
            by_setup_token(&conn, &token, now).unwrap().unwrap().id,
            admin.id
        );
        assert!(
            by_setup_token(&conn, &token, now + SETUP_VALID_FOR)
                .unwrap()
                .is_none()
        );
        assert!(
            verify_login(&conn, "ada@example.com", "")
                .unwrap()
                .is_none(),
            "no password yet"
        );
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        set_password(&conn, &admin.id, &hash).unwrap();
        assert!(
            by_setup_token(&conn, &token, now).unwrap().is_none(),
            "the token is spent"
        );
        assert!(
            verify_login(&conn, "ADA@example.com", "correct horse battery")
                .unwrap()
                .is_some()
        );
        assert!(
            verify_login(&conn, "ada@example.com", "wrong horse battery")
                .unwrap()
                .is_none()
        );
        assert!(
            verify_login(&conn, "bob@example.com", "correct horse battery")
                .unwrap()
                .is_none()
        );
        assert_eq!(
            check_password_rules("short", "short"),
            Err("Use at least 12 characters.")
        );
        assert!(check_password_rules("long enough pw", "long enough pX").is_err());
    }
}
