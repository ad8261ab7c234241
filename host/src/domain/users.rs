//! Users: members of the community. A user who leaves keeps their row (their posts still name
//! them) but is no longer listed or readable. An identity provider (SCIM) may also keep a
//! [`Profile`] of them and deactivate them: a deactivated user stays listed and readable with
//! `active: false`, keeps their content, and is no one plugins may act for until reactivated.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tenants::db::Write;
use utoipa::ToSchema;

use crate::domain::validate;
use crate::error::{ApiError, Result};
use crate::event_log::{self, USER_LEFT, USER_REGISTERED, USER_UPDATED};
use crate::paging::ListQuery;
use crate::time::{to_rfc3339, ulid_time};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `false` while their identity provider has them deactivated.
    pub active: bool,
    pub created_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
}

impl NewUser {
    pub fn validate(&self) -> Result<()> {
        validate::username(&self.username)?;
        if let Some(email) = &self.email {
            validate::email(email)?;
        }
        if let Some(name) = &self.display_name {
            validate::text("display_name", name, 1, 100, false)?;
        }
        Ok(())
    }
}

const COLUMNS: &str = "id, username, email, display_name, active IS NOT 0, created_at";

pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        display_name: row.get(3)?,
        active: row.get(4)?,
        created_at: row.get(5)?,
    })
}

/// Active members, newest first, a page at a time (map rows with [`from_row`]).
pub fn list_query() -> ListQuery<'static> {
    ListQuery {
        table: "users",
        id_prefix: "usr_",
        columns: COLUMNS,
        conditions: vec!["left_at IS NULL".into()],
        params: vec![],
        counters: Some(vec!["users".into()]),
    }
}

/// An active user (not left).
pub fn find_active(conn: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM users WHERE id = ?1 AND left_at IS NULL"
    ))?
    .query_row([id], from_row)
    .optional()
}

/// A user someone may act for: not left, not deactivated (what plugins see).
pub fn find_member(conn: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    Ok(find_active(conn, id)?.filter(|u| u.active))
}

/// Whether a user other than `other_than` has `username`, compared without case (as SCIM
/// compares `userName`), through the `users_username_nocase` index.
fn username_taken(conn: &Connection, username: &str, other_than: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM users
         WHERE username = ?1 COLLATE NOCASE AND left_at IS NULL AND id <> ?2)",
    )?
    .query_row([username, other_than], |r| r.get(0))
}

fn taken() -> ApiError {
    ApiError::conflict(
        "username_taken",
        "Another user has this username (compared without case).",
    )
    .with("field", "username")
}

/// Registers a validated user and appends `user.registered`. 409 `username_taken` when an
/// active user has the username.
pub fn register(w: &mut Write<'_>, new: NewUser) -> Result<User> {
    let profile = Profile {
        username: new.username,
        email: new.email,
        display_name: new.display_name,
        external_id: None,
        active: Some(true),
        extra: None,
    };
    Ok(provision(w, profile)?.user)
}

/// A user as an identity provider keeps them: the columns, and the rest of its record (name
/// parts, every email, the enterprise extension…) as a JSON object the host stores untouched.
#[derive(Debug, Clone)]
pub struct Profile {
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    /// `None`: the provider did not say (the user is active).
    pub active: Option<bool>,
    pub extra: Option<serde_json::Value>,
}

/// A user with their profile and its version (for `ETag` / `If-Match`).
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub user: User,
    pub external_id: Option<String>,
    pub extra: Option<serde_json::Value>,
    pub version: i64,
    pub updated_at: String,
    /// `active` as the provider set it (`None`: never said).
    pub active_said: Option<bool>,
}

const PROVISIONED_COLUMNS: &str = "id, username, email, display_name, active IS NOT 0, created_at, external_id, scim, version, \
     COALESCE(updated_at, created_at), active";

pub fn provisioned_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Provisioned> {
    let extra: Option<String> = row.get(7)?;
    Ok(Provisioned {
        user: from_row(row)?,
        external_id: row.get(6)?,
        extra: extra.and_then(|s| serde_json::from_str(&s).ok()),
        version: row.get(8)?,
        updated_at: row.get(9)?,
        active_said: row.get(10)?,
    })
}

/// The SELECT of provisioned users (not left), for callers that add their own conditions.
pub fn provisioned_select() -> String {
    format!("SELECT {PROVISIONED_COLUMNS} FROM users WHERE left_at IS NULL")
}

pub fn find_provisioned(conn: &Connection, id: &str) -> rusqlite::Result<Option<Provisioned>> {
    conn.prepare_cached(&format!("{} AND id = ?1", provisioned_select()))?
        .query_row([id], provisioned_from_row)
        .optional()
}

/// Registers a user from a profile and appends `user.registered`; 409 `username_taken`.
pub fn provision(w: &mut Write<'_>, profile: Profile) -> Result<Provisioned> {
    if username_taken(w, &profile.username, "")? {
        return Err(taken());
    }
    let ulid = w.new_ulid();
    let id = format!("usr_{ulid}");
    w.prepare_cached(
        "INSERT INTO users (id, username, email, display_name, created_at, external_id, active, scim)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id,
        profile.username,
        profile.email,
        profile.display_name,
        to_rfc3339(&ulid_time(ulid)),
        profile.external_id,
        profile.active,
        profile.extra.as_ref().map(|v| v.to_string()),
    ])?;
    let stored = find_provisioned(w, &id)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a user just added is not there")))?;
    event_log::append(
        w,
        USER_REGISTERED,
        &serde_json::json!({ "user": &stored.user }),
    )?;
    Ok(stored)
}

/// Replaces a user's profile, bumps its version and appends `user.updated` (which says, with
/// `active`, whether they were deactivated or restored); 404 `user_not_found`, 409
/// `username_taken`.
pub fn reprovision(w: &mut Write<'_>, id: &str, profile: Profile) -> Result<Provisioned> {
    if find_active(w, id)?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    if username_taken(w, &profile.username, id)? {
        return Err(taken());
    }
    w.prepare_cached(
        "UPDATE users SET username = ?2, email = ?3, display_name = ?4, external_id = ?5,
         active = ?6, scim = ?7, version = version + 1, updated_at = ?8 WHERE id = ?1",
    )?
    .execute(params![
        id,
        profile.username,
        profile.email,
        profile.display_name,
        profile.external_id,
        profile.active,
        profile.extra.as_ref().map(|v| v.to_string()),
        to_rfc3339(&chrono::Utc::now()),
    ])?;
    let stored = find_provisioned(w, id)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a user just updated is not there")))?;
    event_log::append(
        w,
        USER_UPDATED,
        &serde_json::json!({ "user": &stored.user }),
    )?;
    Ok(stored)
}

/// The user leaves, and `user.left` is appended; 404 `user_not_found` for no active user.
pub fn leave(w: &mut Write<'_>, id: &str) -> Result<User> {
    let user = find_active(w, id)?.ok_or_else(|| ApiError::not_found("user"))?;
    w.execute(
        "UPDATE users SET left_at = ?2 WHERE id = ?1",
        params![id, to_rfc3339(&chrono::Utc::now())],
    )?;
    event_log::append(w, USER_LEFT, &serde_json::json!({ "user": &user }))?;
    Ok(user)
}
