//! Posts: `GET /api/v1/posts` (filter `author_id`), `GET /api/v1/posts/{id}` (`posts:read`);
//! `POST /api/v1/posts`, `PATCH /api/v1/posts/{id}` (`posts:write`), emitting `post.created` /
//! `post.updated` with the post.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Deserializer, Serialize};

use crate::api::users::{find_active, ulid_time};
use crate::api::{self, ApiPath, validate};
use crate::app::AppState;
use crate::error::{ApiError, Result};
use crate::event_log::{self, POST_CREATED, POST_UPDATED};
use crate::http::context::Ctx;
use crate::http::json::ApiJson;
use crate::http::scope::scoped;
use crate::paging::{ListQuery, ListRequest, Page};
use crate::time::to_rfc3339;
use utoipa::ToSchema;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, get_one, create, update))]
pub struct Doc;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Post {
    pub id: String,
    pub author_id: String,
    pub title: Option<String>,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

const TITLE_MAX: usize = 200;
const BODY_MAX: usize = 20_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    pub author_id: String,
    pub title: Option<String>,
    pub body: String,
}

/// A partial update: absent fields stay; `"title": null` clears the title.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    pub body: Option<String>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

const COLUMNS: &str = "id, author_id, title, body, created_at, updated_at";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Post> {
    Ok(Post {
        id: row.get(0)?,
        author_id: row.get(1)?,
        title: row.get(2)?,
        body: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

fn find(conn: &Connection, id: &str) -> rusqlite::Result<Option<Post>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM posts WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

/// List posts
///
/// Newest first; filter by `author_id`.
#[utoipa::path(get, path = "/api/v1/posts", tag = "Posts", operation_id = "listPosts",
    params(crate::openapi::ListParams,
        ("author_id" = Option<String>, Query, description = "Only posts by this user (`usr_…`).")),
    security(("api_key" = ["posts:read"])),
    responses((status = 200, description = "A page of posts.", body = [Post])))]
async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<Post>>> {
    let req = ListRequest::parse(&uri, "posts", &["author_id"], &state.cursor_key)?;
    let key = state.cursor_key.clone();
    api::read(&ctx, move |conn| {
        let mut query = ListQuery {
            table: "posts",
            id_prefix: "post_",
            columns: COLUMNS,
            conditions: vec![],
            params: vec![],
            counters: Some(vec!["posts".into()]),
        };
        if let Some(author) = req.filters.get("author_id") {
            query.conditions.push("author_id = ?".into());
            query.params.push(Value::Text(author.clone()));
            query.counters = None;
        }
        query.fetch(conn, &req, &key, from_row)
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
        find(conn, &id)?.ok_or_else(|| ApiError::not_found("post"))
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
    if let Some(title) = &new.title {
        validate::text("title", title, 1, TITLE_MAX, false)?;
    }
    validate::text("body", &new.body, 1, BODY_MAX, true)?;
    if !validate::id_shape(&new.author_id, "usr_") {
        return Err(ApiError::validation("author_id", "not a user id (usr_…)"));
    }
    api::write(&ctx, StatusCode::CREATED, move |w| {
        if find_active(w, &new.author_id)?.is_none() {
            return Err(ApiError::validation("author_id", "no such user"));
        }
        let ulid = w.new_ulid();
        let at = to_rfc3339(&ulid_time(ulid));
        let post = Post {
            id: format!("post_{ulid}"),
            author_id: new.author_id,
            title: new.title,
            body: new.body,
            created_at: at.clone(),
            updated_at: at,
        };
        w.prepare_cached(
            "INSERT INTO posts (id, author_id, title, body, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            post.id,
            post.author_id,
            post.title,
            post.body,
            post.created_at,
            post.updated_at
        ])?;
        event_log::append(w, POST_CREATED, &serde_json::json!({ "post": &post }))?;
        Ok(post)
    })
    .await
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
    if change.title.is_none() && change.body.is_none() {
        return Err(ApiError::validation(
            "body",
            "nothing to change: send `title` and/or `body`",
        ));
    }
    if let Some(Some(title)) = &change.title {
        validate::text("title", title, 1, TITLE_MAX, false)?;
    }
    if let Some(body) = &change.body {
        validate::text("body", body, 1, BODY_MAX, true)?;
    }
    api::write(&ctx, StatusCode::OK, move |w| {
        let mut post = find(w, &id)?.ok_or_else(|| ApiError::not_found("post"))?;
        if let Some(title) = change.title {
            post.title = title;
        }
        if let Some(body) = change.body {
            post.body = body;
        }
        post.updated_at = to_rfc3339(&chrono::Utc::now());
        w.execute(
            "UPDATE posts SET title = ?2, body = ?3, updated_at = ?4 WHERE id = ?1",
            params![post.id, post.title, post.body, post.updated_at],
        )?;
        event_log::append(w, POST_UPDATED, &serde_json::json!({ "post": &post }))?;
        Ok(post)
    })
    .await
}

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/posts",
            scoped(state, "posts:read", get(list)).merge(scoped(
                state,
                "posts:write",
                post(create),
            )),
        )
        .route(
            "/api/v1/posts/{id}",
            scoped(state, "posts:read", get(get_one)).merge(scoped(
                state,
                "posts:write",
                patch(update),
            )),
        )
}
