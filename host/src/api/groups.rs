//! Groups: `GET /api/v1/groups`, `GET /api/v1/groups/{id}`, `GET /api/v1/groups/{id}/members`
//! (`groups:read`); `POST /api/v1/groups`, `PATCH` and `DELETE /api/v1/groups/{id}`,
//! `POST /api/v1/groups/{id}/members`, `DELETE /api/v1/groups/{id}/members/{user_id}`
//! (`groups:write`), emitting `group.created`, `group.updated`, `group.deleted`,
//! `group.member_added`, `group.member_removed`.

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{self, ApiPath, Deleted};
use crate::domain::groups::{self, Group, GroupPatch, Member, NewGroup, NewMember};
use crate::error::{ApiError, Result};
use crate::http::context::Ctx;
use crate::http::json::ApiJson;
use crate::paging::{CursorKey, ListRequest, Page};
use crate::state::AppState;

/// List groups
///
/// Newest first, each with its member count.
#[utoipa::path(get, path = "/api/v1/groups", tag = "Groups", operation_id = "listGroups",
    params(crate::openapi::ListParams),
    security(("api_key" = ["groups:read"])),
    responses((status = 200, description = "A page of groups.", body = [Group])))]
async fn list(
    State(key): State<CursorKey>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<Group>>> {
    let req = ListRequest::parse(&uri, "groups", &[], &key)?;
    api::read(&ctx, move |conn| {
        groups::list_query().fetch(conn, &req, &key, groups::from_row)
    })
    .await
    .map(Json)
}

/// Get a group
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "Groups", operation_id = "getGroup",
    params(("id" = String, Path, description = "`grp_…`")),
    security(("api_key" = ["groups:read"])),
    responses((status = 200, description = "The group.", body = Group)))]
async fn get_one(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Json<Group>> {
    api::read(&ctx, move |conn| {
        groups::find(conn, &id)?.ok_or_else(|| ApiError::not_found("group"))
    })
    .await
    .map(Json)
}

/// Create a group
///
/// Names are one group's whatever their case (409 `group_name_taken`). Emits `group.created`.
#[utoipa::path(post, path = "/api/v1/groups", tag = "Groups", operation_id = "createGroup",
    request_body = NewGroup, security(("api_key" = ["groups:write"])),
    responses(
        (status = 201, description = "The new group.", body = Group),
        (status = 409, description = "`group_name_taken`.", body = crate::openapi::ErrorEnvelope)))]
async fn create(ctx: Ctx, ApiJson(new): ApiJson<NewGroup>) -> Result<Response> {
    new.validate()?;
    api::write(&ctx, StatusCode::CREATED, move |w| groups::create(w, new)).await
}

/// Update a group
///
/// Absent fields stay; `"description": null` clears it. Emits `group.updated`.
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "Groups", operation_id = "updateGroup",
    params(("id" = String, Path, description = "`grp_…`")),
    request_body = GroupPatch, security(("api_key" = ["groups:write"])),
    responses(
        (status = 200, description = "The group as updated.", body = Group),
        (status = 409, description = "`group_name_taken`.", body = crate::openapi::ErrorEnvelope)))]
async fn update(
    ctx: Ctx,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<GroupPatch>,
) -> Result<Response> {
    change.validate()?;
    api::write(&ctx, StatusCode::OK, move |w| {
        groups::update(w, &id, change)
    })
    .await
}

/// Delete a group
///
/// Its memberships go with it; the users stay. Emits `group.deleted`.
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "Groups", operation_id = "deleteGroup",
    params(("id" = String, Path, description = "`grp_…`")),
    security(("api_key" = ["groups:write"])),
    responses((status = 200, description = "Deleted.", body = Deleted)))]
async fn remove(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Response> {
    api::write(&ctx, StatusCode::OK, move |w| {
        groups::delete(w, &id)?;
        Ok(Deleted { id, deleted: true })
    })
    .await
}

/// List a group's members
///
/// The latest added first.
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "Groups",
    operation_id = "listGroupMembers",
    params(("id" = String, Path, description = "`grp_…`"), crate::openapi::ListParams),
    security(("api_key" = ["groups:read"])),
    responses((status = 200, description = "A page of members.", body = [Member])))]
async fn members(
    State(key): State<CursorKey>,
    ctx: Ctx,
    ApiPath(id): ApiPath<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<Member>>> {
    let req = ListRequest::parse(&uri, "group_members", &[], &key)?;
    api::read(&ctx, move |conn| {
        if groups::find(conn, &id)?.is_none() {
            return Err(ApiError::not_found("group"));
        }
        groups::members_query(&id).fetch(conn, &req, &key, groups::member_from_row)
    })
    .await
    .map(Json)
}

/// Add a member
///
/// An active user; 201 and `group.member_added`, or 200 with the membership as it was if the user
/// is a member already.
#[utoipa::path(post, path = "/api/v1/groups/{id}/members", tag = "Groups",
    operation_id = "addGroupMember",
    params(("id" = String, Path, description = "`grp_…`")),
    request_body = NewMember, security(("api_key" = ["groups:write"])),
    responses(
        (status = 201, description = "Added.", body = Member),
        (status = 200, description = "A member already.", body = Member)))]
async fn add_member(
    ctx: Ctx,
    ApiPath(id): ApiPath<String>,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<Response> {
    // The status depends on what the write found; the idempotency record needs it in the same
    // transaction, so decide inside and answer from there.
    let db = ctx.db.clone();
    let claim = ctx.idempotency.clone();
    let (status, body) = db
        .write_async(move |w| {
            let (member, added) = groups::add_member(w, &id, &new.user_id)?;
            let status = if added {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = serde_json::to_vec(&member)?;
            if let Some(claim) = &claim {
                claim.record(w, status, &body)?;
            }
            Ok::<_, ApiError>((status, body))
        })
        .await?;
    Ok(api::json_response(status, body))
}

/// Remove a member
///
/// Emits `group.member_removed`; 404 `member_not_found` if the user is not in the group.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user_id}", tag = "Groups",
    operation_id = "removeGroupMember",
    params(("id" = String, Path, description = "`grp_…`"),
        ("user_id" = String, Path, description = "`usr_…`")),
    security(("api_key" = ["groups:write"])),
    responses((status = 200, description = "Removed.", body = Deleted)))]
async fn remove_member(
    ctx: Ctx,
    ApiPath((id, user_id)): ApiPath<(String, String)>,
) -> Result<Response> {
    api::write(&ctx, StatusCode::OK, move |w| {
        groups::remove_member(w, &id, &user_id)?;
        Ok(Deleted {
            id: user_id,
            deleted: true,
        })
    })
    .await
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, remove))
        .routes(routes!(members, add_member))
        .routes(routes!(remove_member))
}
