//! Users: members of the community. A user who leaves keeps their row (their posts still name
//! them) but is no longer listed or readable.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tenants::db::Write;
use utoipa::ToSchema;

use crate::domain::validate;
use crate::error::{ApiError, Result};
use crate::event_log::{self, USER_LEFT, USER_REGISTERED};
use crate::paging::ListQuery;
use crate::time::{to_rfc3339, ulid_time};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
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

const COLUMNS: &str = "id, username, email, display_name, created_at";

pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        display_name: row.get(3)?,
        created_at: row.get(4)?,
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

/// Registers a validated user and appends `user.registered`. 409 `username_taken` when an
/// active user has the username.
pub fn register(w: &mut Write<'_>, new: NewUser) -> Result<User> {
    let taken: bool = w
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?1 AND left_at IS NULL)",
        )?
        .query_row([&new.username], |r| r.get(0))?;
    if taken {
        return Err(
            ApiError::conflict("username_taken", "Another user has this username.")
                .with("field", "username"),
        );
    }
    let ulid = w.new_ulid();
    let user = User {
        id: format!("usr_{ulid}"),
        username: new.username,
        email: new.email,
        display_name: new.display_name,
        created_at: to_rfc3339(&ulid_time(ulid)),
    };
    w.prepare_cached(
        "INSERT INTO users (id, username, email, display_name, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        user.id,
        user.username,
        user.email,
        user.display_name,
        user.created_at
    ])?;
    event_log::append(w, USER_REGISTERED, &serde_json::json!({ "user": &user }))?;
    Ok(user)
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
