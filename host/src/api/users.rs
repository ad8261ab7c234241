//! Users: `GET /api/v1/users`, `GET /api/v1/users/{id}` (`users:read`); `POST /api/v1/users`,
//! `DELETE /api/v1/users/{id}` (`users:write`), emitting `user.registered` / `user.left`.

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{self, ApiPath};
use crate::domain::users::{self, NewUser, User};
use crate::error::{ApiError, Result};
use crate::http::context::Ctx;
use crate::http::json::ApiJson;
use crate::paging::{CursorKey, ListRequest, Page};
use crate::state::AppState;

/// List users
///
/// Active members (not those who left), newest first.
#[utoipa::path(get, path = "/api/v1/users", tag = "Users", operation_id = "listUsers",
    params(crate::openapi::ListParams), security(("api_key" = ["users:read"])),
    responses((status = 200, description = "A page of users.", body = [User])))]
async fn list(
    State(key): State<CursorKey>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<User>>> {
    let req = ListRequest::parse(&uri, "users", &[], &key)?;
    api::read(&ctx, move |conn| {
        users::list_query().fetch(conn, &req, &key, users::from_row)
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
        users::find_active(conn, &id)?.ok_or_else(|| ApiError::not_found("user"))
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
    api::write(&ctx, StatusCode::CREATED, move |w| users::register(w, new)).await
}

/// Remove a user
///
/// The user leaves: no longer listed, their posts keep naming them. Emits `user.left`.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "Users", operation_id = "deleteUser",
    params(("id" = String, Path, description = "`usr_…`")),
    security(("api_key" = ["users:write"])),
    responses((status = 200, description = "The user who left.", body = User)))]
async fn remove(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Response> {
    api::write(&ctx, StatusCode::OK, move |w| users::leave(w, &id)).await
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, remove))
}
