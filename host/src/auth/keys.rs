//! API keys: `mc_<live|test>_<43 url-safe base64 chars>` (32 random bytes), or in Cobuntu's
//! format for the seed-001 surface's clients, `pk_<live|test>_…` (publishable) and
//! `sk_<live|test>_…` (secret). Only the SHA-256 of the whole key is stored, with its first 12
//! characters for display and lookup. A presented key is looked up by prefix, then every
//! candidate's hash is compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tenants::Env;

use crate::auth::scopes;
use crate::time::{parse_rfc3339, to_rfc3339};

const SECRET_LEN: usize = 43;
pub const PREFIX_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Secret,
    Publishable,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Publishable => "publishable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(KeyKind::Secret),
            "publishable" => Some(KeyKind::Publishable),
            _ => None,
        }
    }
}

/// How a key is written. Both are hashed, scoped and managed alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFormat {
    /// `mc_live_…`
    Mobieus,
    /// `pk_live_…` (publishable) and `sk_live_…` (secret), as Cobuntu's clients send them.
    Cobuntu,
}

impl KeyFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mobieus" => Some(KeyFormat::Mobieus),
            "cobuntu" => Some(KeyFormat::Cobuntu),
            _ => None,
        }
    }

    /// What a key of this format, kind and environment starts with.
    fn lead(self, kind: KeyKind, env: Env) -> String {
        let mark = match (self, kind) {
            (KeyFormat::Mobieus, _) => "mc",
            (KeyFormat::Cobuntu, KeyKind::Publishable) => "pk",
            (KeyFormat::Cobuntu, KeyKind::Secret) => "sk",
        };
        format!("{mark}_{}_", env.as_str())
    }

    /// The format a key's prefix (or plaintext) is written in.
    pub fn of(prefix: &str) -> KeyFormat {
        if prefix.starts_with("pk_") || prefix.starts_with("sk_") {
            KeyFormat::Cobuntu
        } else {
            KeyFormat::Mobieus
        }
    }
}

/// A key as presented in a request, syntactically valid. Its `Debug` never shows the secret.
pub struct Presented {
    pub env: Env,
    plaintext: String,
}

impl Presented {
    /// `None` for anything that is not shaped like one of our keys (in either format).
    pub fn parse(s: &str) -> Option<Self> {
        let (mark, rest) = s.split_at_checked(3)?;
        if !matches!(mark, "mc_" | "pk_" | "sk_") {
            return None;
        }
        let env = if rest.starts_with("live_") {
            Env::Live
        } else if rest.starts_with("test_") {
            Env::Test
        } else {
            return None;
        };
        let secret = &s[8..];
        let shaped = secret.len() == SECRET_LEN
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| Presented {
            env,
            plaintext: s.to_owned(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.plaintext[..PREFIX_LEN]
    }

    fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.plaintext.as_bytes()).into()
    }
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Presented({}…)", self.prefix())
    }
}

/// A stored key, as listed (never with its secret or hash).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub prefix: String,
    pub env: Env,
    pub kind: KeyKind,
    pub scopes: Vec<String>,
    pub label: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
    #[serde(serialize_with = "crate::time::ser")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::ser_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::ser_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::ser_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
}

/// What an anonymous caller's key id starts with.
const ANONYMOUS: &str = "anonymous:";

impl ApiKey {
    /// The caller of a public plugin route, who sent no key: no scopes, the live data, and a
    /// rate limit of its own per client address (its id).
    pub fn anonymous(ip: &str) -> ApiKey {
        let now = Utc::now();
        ApiKey {
            id: format!("{ANONYMOUS}{ip}"),
            prefix: String::new(),
            env: Env::Live,
            kind: KeyKind::Publishable,
            scopes: vec![],
            label: None,
            rate_limit_per_minute: None,
            created_at: now,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.id.starts_with(ANONYMOUS)
    }

    /// Usable now: not revoked, not expired.
    /// `active`, `revoked` or `expired`, for people reading a list of keys.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.is_active(now) {
            "active"
        } else {
            "expired"
        }
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether the key may call a route requiring `scope`: it holds it (or Cobuntu's `ADMIN`,
    /// which satisfies that surface's other scopes), and it is a read scope if the key is
    /// publishable, whatever the key was minted with.
    pub fn has_scope(&self, scope: &str) -> bool {
        let held = self.scopes.iter().any(|s| scopes::satisfies(s, scope));
        held && (self.kind == KeyKind::Secret || scopes::is_read(scope))
    }

    pub fn format(&self) -> KeyFormat {
        KeyFormat::of(&self.prefix)
    }
}

/// What to mint.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub env: Env,
    pub kind: KeyKind,
    pub format: KeyFormat,
    pub scopes: Vec<String>,
    pub label: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<u32>,
}

impl NewKey {
    /// Checks the request; the message is for the person who made it. `plugin_scopes` are the
    /// scopes the loaded plugins define.
    pub fn validate(&self, now: DateTime<Utc>, plugin_scopes: &[String]) -> Result<(), String> {
        if self.scopes.is_empty() {
            return Err("a key needs at least one scope".into());
        }
        for scope in &self.scopes {
            if !scopes::is_known(scope) && !plugin_scopes.contains(scope) {
                return Err(format!("unknown scope `{scope}`"));
            }
            if self.kind == KeyKind::Publishable && !scopes::is_read(scope) {
                return Err(format!(
                    "publishable keys may hold only read scopes (`*:read`, `READ_PUBLIC`); `{scope}` is not one"
                ));
            }
        }
        if let Some(label) = &self.label {
            validate_label(label)?;
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err("expires_at must be in the future".into());
        }
        if self.rate_limit_per_minute == Some(0) {
            return Err("rate limit must be at least 1 request per minute".into());
        }
        Ok(())
    }
}

pub fn validate_label(label: &str) -> Result<(), String> {
    if label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err("label: at most 100 characters, no control characters".into());
    }
    Ok(())
}

/// Mints a key and stores its hash. Returns the stored key and the plaintext, which exists only
/// in this return value.
pub fn create(
    conn: &Connection,
    new: &NewKey,
    now: DateTime<Utc>,
) -> rusqlite::Result<(ApiKey, String)> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let plaintext = format!(
        "{}{}",
        new.format.lead(new.kind, new.env),
        URL_SAFE_NO_PAD.encode(bytes)
    );
    let presented = Presented::parse(&plaintext).expect("a minted key is well formed");
    let mut scopes = new.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let key = ApiKey {
        id: format!("key_{}", ulid::Ulid::new()),
        prefix: presented.prefix().to_owned(),
        env: new.env,
        kind: new.kind,
        scopes,
        label: new.label.clone(),
        rate_limit_per_minute: new.rate_limit_per_minute,
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
        last_used_at: None,
        last_used_ip: None,
    };
    conn.execute(
        "INSERT INTO api_keys (id, prefix, hash, env, kind, scopes, label, rate_limit_per_minute,
                               created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            key.id,
            key.prefix,
            presented.hash(),
            key.env.as_str(),
            key.kind.as_str(),
            key.scopes.join(" "),
            key.label,
            key.rate_limit_per_minute,
            to_rfc3339(&key.created_at),
            key.expires_at.as_ref().map(to_rfc3339),
        ],
    )?;
    Ok((key, plaintext))
}

/// The stored key matching `presented`, active or not. The prefix narrows the candidates; the
/// hash comparison is constant-time so response timing says nothing about near misses.
pub fn find(conn: &Connection, presented: &Presented) -> rusqlite::Result<Option<ApiKey>> {
    let hash = presented.hash();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, hash FROM api_keys WHERE prefix = ?1"
    ))?;
    let mut rows = stmt.query([presented.prefix()])?;
    let mut found = None;
    while let Some(row) = rows.next()? {
        let stored: Vec<u8> = row.get(COLUMN_COUNT)?;
        if bool::from(stored.as_slice().ct_eq(&hash)) {
            found = Some(from_row(row)?);
        }
    }
    Ok(found.filter(|k| k.env == presented.env))
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<ApiKey>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
    ))?;
    stmt.query_map([], from_row)?.collect()
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<ApiKey>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

/// Revokes at once: the next request with the key is refused. Returns false if already revoked.
pub fn revoke(conn: &Connection, id: &str, now: DateTime<Utc>) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, to_rfc3339(&now)],
    )? == 1)
}

/// A change to a key's editable fields; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct KeyEdit {
    pub label: Option<Option<String>>,
    pub rate_limit_per_minute: Option<Option<u32>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

pub fn edit(conn: &Connection, id: &str, edit: &KeyEdit) -> rusqlite::Result<()> {
    if let Some(label) = &edit.label {
        conn.execute(
            "UPDATE api_keys SET label = ?2 WHERE id = ?1",
            params![id, label],
        )?;
    }
    if let Some(limit) = &edit.rate_limit_per_minute {
        conn.execute(
            "UPDATE api_keys SET rate_limit_per_minute = ?2 WHERE id = ?1",
            params![id, limit],
        )?;
    }
    if let Some(at) = &edit.expires_at {
        conn.execute(
            "UPDATE api_keys SET expires_at = ?2 WHERE id = ?1",
            params![id, at.as_ref().map(to_rfc3339)],
        )?;
    }
    Ok(())
}

/// Mints a key as `actor` (the CLI's user, an admin) and records it in the audit log, in the
/// caller's transaction. The audit row holds the prefix, never the key.
pub fn mint_by(
    conn: &Connection,
    actor: &str,
    new: &NewKey,
    now: DateTime<Utc>,
) -> rusqlite::Result<(ApiKey, String)> {
    let (key, plaintext) = create(conn, new, now)?;
    crate::audit::record(
        conn,
        actor,
        "api_key.created",
        Some(&key.id),
        serde_json::json!({ "prefix": key.prefix, "env": key.env, "kind": key.kind, "scopes": key.scopes }),
        now,
    )?;
    Ok((key, plaintext))
}

/// Revokes as `actor`, audited. `None`: no such key; `Some(false)`: it was already revoked.
pub fn revoke_by(
    conn: &Connection,
    actor: &str,
    id: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<bool>> {
    let Some(key) = get(conn, id)? else {
        return Ok(None);
    };
    let changed = revoke(conn, id, now)?;
    if changed {
        crate::audit::record(
            conn,
            actor,
            "api_key.revoked",
            Some(id),
            serde_json::json!({ "prefix": key.prefix }),
            now,
        )?;
    }
    Ok(Some(changed))
}

/// Edits as `actor`, audited with what changed. False when there is no such key.
pub fn edit_by(
    conn: &Connection,
    actor: &str,
    id: &str,
    change: &KeyEdit,
    now: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    if get(conn, id)?.is_none() {
        return Ok(false);
    }
    edit(conn, id, change)?;
    let mut details = serde_json::Map::new();
    if let Some(label) = &change.label {
        details.insert("label".into(), serde_json::json!(label));
    }
    if let Some(limit) = &change.rate_limit_per_minute {
        details.insert("rate_limit_per_minute".into(), serde_json::json!(limit));
    }
    if let Some(at) = &change.expires_at {
        details.insert(
            "expires_at".into(),
            serde_json::json!(at.as_ref().map(to_rfc3339)),
        );
    }
    crate::audit::record(conn, actor, "api_key.edited", Some(id), details.into(), now)?;
    Ok(true)
}

/// Records last use, batched by [`crate::http::last_used`].
pub fn touch(conn: &Connection, id: &str, at: DateTime<Utc>, ip: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2, last_used_ip = ?3 WHERE id = ?1")?
        .execute(params![id, to_rfc3339(&at), ip])?;
    Ok(())
}

const COLUMNS: &str = "id, prefix, env, kind, scopes, label, rate_limit_per_minute, created_at, \
                       expires_at, revoked_at, last_used_at, last_used_ip";
const COLUMN_COUNT: usize = 12;

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let env: String = row.get(2)?;
    let kind: String = row.get(3)?;
    let scopes: String = row.get(4)?;
    Ok(ApiKey {
        id: row.get(0)?,
        prefix: row.get(1)?,
        env: if env == "test" { Env::Test } else { Env::Live },
        kind: KeyKind::parse(&kind).unwrap_or(KeyKind::Secret),
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        label: row.get(5)?,
        rate_limit_per_minute: row.get(6)?,
        created_at: parse_rfc3339(&row.get::<_, String>(7)?).unwrap_or_default(),
        expires_at: row
            .get::<_, Option<String>>(8)?
            .and_then(|s| parse_rfc3339(&s)),
        revoked_at: row
            .get::<_, Option<String>>(9)?
            .and_then(|s| parse_rfc3339(&s)),
        last_used_at: row
            .get::<_, Option<String>>(10)?
            .and_then(|s| parse_rfc3339(&s)),
        last_used_ip: row.get(11)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        tenants::migrations::apply(&mut conn, tenants::migrations::CONTROL).unwrap();
        conn
    }

    fn new_key(env: Env, kind: KeyKind, scopes: &[&str]) -> NewKey {
        NewKey {
            env,
            kind,
            format: KeyFormat::Mobieus,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            label: None,
            expires_at: None,
            rate_limit_per_minute: None,
        }
    }

    #[test]
    fn minted_keys_have_the_documented_shape() {
        let conn = db();
        let (key, plaintext) = create(
            &conn,
            &new_key(Env::Live, KeyKind::Secret, &["events:read"]),
            Utc::now(),
        )
        .unwrap();
        assert!(plaintext.starts_with("mc_live_") && plaintext.len() == 8 + 43);
        assert_eq!(key.prefix, &plaintext[..12]);
        let (_, test) = create(
            &conn,
            &new_key(Env::Test, KeyKind::Secret, &["events:read"]),
            Utc::now(),
        )
        .unwrap();
        assert!(test.starts_with("mc_test_"));
        // The plaintext is not stored anywhere.
        let stored: String = conn
            .query_row(
                "SELECT group_concat(id || prefix || scopes) FROM api_keys",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!stored.contains(&plaintext[12..]));
    }

    #[test]
    fn find_matches_only_the_exact_key() {
        let conn = db();
        let (key, plaintext) = create(
            &conn,
            &new_key(Env::Live, KeyKind::Secret, &["events:read"]),
            Utc::now(),
        )
        .unwrap();
        let found = find(&conn, &Presented::parse(&plaintext).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(found.id, key.id);
        // Same prefix, different secret.
        let mut wrong = plaintext.clone();
        let last = if wrong.ends_with('A') { "B" } else { "A" };
        wrong.replace_range(wrong.len() - 1.., last);
        assert!(
            find(&conn, &Presented::parse(&wrong).unwrap())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn presented_keys_must_be_shaped_right() {
        assert!(Presented::parse("mc_live_short").is_none());
        assert!(Presented::parse(&format!("mc_prod_{}", "a".repeat(43))).is_none());
        assert!(Presented::parse(&format!("mc_live_{}", "a".repeat(42) + "!")).is_none());
        let p = Presented::parse(&format!("mc_test_{}", "a".repeat(43))).unwrap();
        assert_eq!(p.env, Env::Test);
        assert!(!format!("{p:?}").contains(&"a".repeat(10)));
    }

    #[test]
    fn publishable_keys_hold_only_read_scopes() {
        let now = Utc::now();
        assert!(
            new_key(Env::Live, KeyKind::Publishable, &["posts:read"])
                .validate(now, &[])
                .is_ok()
        );
        let err = new_key(
            Env::Live,
            KeyKind::Publishable,
            &["posts:read", "posts:write"],
        )
        .validate(now, &[])
        .unwrap_err();
        assert!(err.contains("posts:write"));
        assert!(
            new_key(Env::Live, KeyKind::Secret, &["nope:read"])
                .validate(now, &[])
                .is_err()
        );
        assert!(
            new_key(Env::Live, KeyKind::Secret, &[])
                .validate(now, &[])
                .is_err()
        );
    }

    #[test]
    fn revoke_and_expiry_deactivate() {
        let conn = db();
        let now = Utc::now();
        let (key, _) = create(
            &conn,
            &new_key(Env::Live, KeyKind::Secret, &["events:read"]),
            now,
        )
        .unwrap();
        assert!(key.is_active(now));
        assert!(revoke(&conn, &key.id, now).unwrap());
        assert!(!revoke(&conn, &key.id, now).unwrap());
        assert!(!get(&conn, &key.id).unwrap().unwrap().is_active(now));
        let expiring = ApiKey {
            expires_at: Some(now),
            ..key
        };
        assert!(!expiring.is_active(now));
    }
}
