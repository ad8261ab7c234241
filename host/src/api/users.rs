//! Users: `GET /api/v1/users`, `GET /api/v1/users/{id}` (`users:read`); `POST /api/v1/users`,
//! `DELETE /api/v1/users/{id}` (`users:write`), emitting `user.registered` / `user.left`.
//! A user who left keeps their row (their posts still name them) but is no longer listed.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiPath, validate};
use crate::app::AppState;
use crate::error::{ApiError, Result};
use crate::event_log::{self, USER_LEFT, USER_REGISTERED};
use crate::http::context::Ctx;
use crate::http::json::ApiJson;
use crate::http::scope::scoped;
use crate::paging::{ListQuery, ListRequest, Page};
use crate::time::to_rfc3339;
use utoipa::ToSchema;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, get_one, create, remove))]
pub struct Doc;

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
    fn validate(&self) -> Result<()> {
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

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        display_name: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// An active user (not left), for this module and for posts' author checks.
pub fn find_active(conn: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM users WHERE id = ?1 AND left_at IS NULL"
    ))?
    .query_row([id], from_row)
    .optional()
}

/// List users
///
/// Active members (not those who left), newest first.
#[utoipa::path(get, path = "/api/v1/users", tag = "Users", operation_id = "listUsers",
    params(crate::openapi::ListParams), security(("api_key" = ["users:read"])),
    responses((status = 200, description = "A page of users.", body = [User])))]
async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<User>>> {
    let req = ListRequest::parse(&uri, "users", &[], &state.cursor_key)?;
    let key = state.cursor_key.clone();
    api::read(&ctx, move |conn| {
        ListQuery {
            table: "users",
            id_prefix: "usr_",
            columns: COLUMNS,
            conditions: vec!["left_at IS NULL".into()],
            params: vec![],
            counters: Some(vec!["users".into()]),
        }
        .fetch(conn, &req, &key, from_row)
    })
    .await
    .map(Json)
}

/// Get a user
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "Users", operation_id = "getUser",
    params(("id" = String, Path, description = "`usr_…`")),
    security(("api_key" = ["users:read"])),
    responses((status = 200, description = "The user.", body = User)))]
async fn get_one(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Json<User>> {
    api::read(&ctx, move |conn| {
        find_active(conn, &id)?.ok_or_else(|| ApiError::not_found("user"))
    })
    .await
    .map(Json)
}

/// Register a user
///
/// Emits `user.registered`. 409 `username_taken` when an active user has the username.
#[utoipa::path(post, path = "/api/v1/users", tag = "Users", operation_id = "createUser",
    request_body = NewUser, security(("api_key" = ["users:write"])),
    responses((status = 201, description = "The new user.", body = User),
        (status = 409, description = "`username_taken`.", body = crate::openapi::ErrorEnvelope)))]
async fn create(ctx: Ctx, ApiJson(new): ApiJson<NewUser>) -> Result<Response> {
    new.validate()?;
    api::write(&ctx, StatusCode::CREATED, move |w| {
        let taken: bool = w
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE username = ?1 AND left_at IS NULL)")?
            .query_row([&new.username], |r| r.get(0))?;
        if taken {
            return Err(ApiError::conflict("username_taken", "Another user has this username.")
                .with("field", "username"));
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
            "INSERT INTO users (id, username, email, display_name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![user.id, user.username, user.email, user.display_name, user.created_at])?;
        event_log::append(w, USER_REGISTERED, &serde_json::json!({ "user": &user }))?;
        Ok(user)
    })
    .await
}

/// Remove a user
///
/// The user leaves: no longer listed, their posts keep naming them. Emits `user.left`.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "Users", operation_id = "deleteUser",
    params(("id" = String, Path, description = "`usr_…`")),
    security(("api_key" = ["users:write"])),
    responses((status = 200, description = "The user who left.", body = User)))]
async fn remove(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Response> {
    api::write(&ctx, StatusCode::OK, move |w| {
        let user = find_active(w, &id)?.ok_or_else(|| ApiError::not_found("user"))?;
        w.execute(
            "UPDATE users SET left_at = ?2 WHERE id = ?1",
            params![id, to_rfc3339(&chrono::Utc::now())],
        )?;
        event_log::append(w, USER_LEFT, &serde_json::json!({ "user": &user }))?;
        Ok(user)
    })
    .await
}

pub fn ulid_time(ulid: ulid::Ulid) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ulid.timestamp_ms() as i64).unwrap_or_default()
}

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/users",
            scoped(state, "users:read", get(list)).merge(scoped(
                state,
                "users:write",
                post(create),
            )),
        )
        .route(
            "/api/v1/users/{id}",
            scoped(state, "users:read", get(get_one)).merge(scoped(
                state,
                "users:write",
                delete(remove),
            )),
        )
}
