//! Posts: `GET /api/v1/posts` (filter `author_id`), `GET /api/v1/posts/{id}` (`posts:read`);
//! `POST /api/v1/posts`, `PATCH /api/v1/posts/{id}` (`posts:write`), emitting `post.created` /
//! `post.updated` with the post.

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{self, ApiPath};
use crate::domain::posts::{self, NewPost, Post, PostPatch};
use crate::error::{ApiError, Result};
use crate::http::context::Ctx;
use crate::http::json::ApiJson;
use crate::paging::{CursorKey, ListRequest, Page};
use crate::state::AppState;

/// List posts
///
/// Newest first; filter by `author_id`.
#[utoipa::path(get, path = "/api/v1/posts", tag = "Posts", operation_id = "listPosts",
    params(crate::openapi::ListParams,
        ("author_id" = Option<String>, Query, description = "Only posts by this user (`usr_…`).")),
    security(("api_key" = ["posts:read"])),
    responses((status = 200, description = "A page of posts.", body = [Post])))]
async fn list(
    State(key): State<CursorKey>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<Post>>> {
    let req = ListRequest::parse(&uri, "posts", &["author_id"], &key)?;
    api::read(&ctx, move |conn| {
        let author = req.filters.get("author_id").map(String::as_str);
        posts::list_query(author).fetch(conn, &req, &key, posts::from_row)
    })
    .await
    .map(Json)
}

/// Get a post
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "Posts", operation_id = "getPost",
    params(("id" = String, Path, description = "`post_…`")),
    security(("api_key" = ["posts:read"])),
    responses((status = 200, description = "The post.", body = Post)))]
async fn get_one(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Json<Post>> {
    api::read(&ctx, move |conn| {
        posts::find(conn, &id)?.ok_or_else(|| ApiError::not_found("post"))
    })
    .await
    .map(Json)
}

/// Create a post
///
/// The author must be an active user. Emits `post.created`.
#[utoipa::path(post, path = "/api/v1/posts", tag = "Posts", operation_id = "createPost",
    request_body = NewPost, security(("api_key" = ["posts:write"])),
    responses((status = 201, description = "The new post.", body = Post)))]
async fn create(ctx: Ctx, ApiJson(new): ApiJson<NewPost>) -> Result<Response> {
    new.validate()?;
    api::write(&ctx, StatusCode::CREATED, move |w| posts::create(w, new)).await
}

/// Update a post
///
/// Absent fields stay; `"title": null` clears the title. Emits `post.updated`.
#[utoipa::path(patch, path = "/api/v1/posts/{id}", tag = "Posts", operation_id = "updatePost",
    params(("id" = String, Path, description = "`post_…`")),
    request_body = PostPatch, security(("api_key" = ["posts:write"])),
    responses((status = 200, description = "The post as updated.", body = Post)))]
async fn update(
    ctx: Ctx,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<PostPatch>,
) -> Result<Response> {
    change.validate()?;
    api::write(&ctx, StatusCode::OK, move |w| posts::update(w, &id, change)).await
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update))
}
