//! Posts: what members write. Created by an active user; `post.created` / `post.updated` carry
//! the post.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Deserializer, Serialize};
use tenants::db::Write;
use utoipa::ToSchema;

use crate::domain::{users, validate};
use crate::error::{ApiError, Result};
use crate::event_log::{self, POST_CREATED, POST_UPDATED};
use crate::paging::ListQuery;
use crate::time::{to_rfc3339, ulid_time};

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

impl NewPost {
    pub fn validate(&self) -> Result<()> {
        if let Some(title) = &self.title {
            validate::text("title", title, 1, TITLE_MAX, false)?;
        }
        validate::text("body", &self.body, 1, BODY_MAX, true)?;
        if !validate::id_shape(&self.author_id, "usr_") {
            return Err(ApiError::validation("author_id", "not a user id (usr_…)"));
        }
        Ok(())
    }
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

impl PostPatch {
    pub fn validate(&self) -> Result<()> {
        if self.title.is_none() && self.body.is_none() {
            return Err(ApiError::validation(
                "body",
                "nothing to change: send `title` and/or `body`",
            ));
        }
        if let Some(Some(title)) = &self.title {
            validate::text("title", title, 1, TITLE_MAX, false)?;
        }
        if let Some(body) = &self.body {
            validate::text("body", body, 1, BODY_MAX, true)?;
        }
        Ok(())
    }
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

const COLUMNS: &str = "id, author_id, title, body, created_at, updated_at";

pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Post> {
    Ok(Post {
        id: row.get(0)?,
        author_id: row.get(1)?,
        title: row.get(2)?,
        body: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

pub fn find(conn: &Connection, id: &str) -> rusqlite::Result<Option<Post>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM posts WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

/// Posts newest first, optionally by one author, a page at a time (map rows with [`from_row`]).
pub fn list_query(author_id: Option<&str>) -> ListQuery<'static> {
    let mut query = ListQuery {
        table: "posts",
        id_prefix: "post_",
        columns: COLUMNS,
        conditions: vec![],
        params: vec![],
        counters: Some(vec!["posts".into()]),
    };
    if let Some(author) = author_id {
        query.conditions.push("author_id = ?".into());
        query.params.push(Value::Text(author.to_owned()));
        query.counters = None;
    }
    query
}

/// Creates a validated post by an active user and appends `post.created`.
pub fn create(w: &mut Write<'_>, new: NewPost) -> Result<Post> {
    if users::find_active(w, &new.author_id)?.is_none() {
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
}

/// Applies a validated patch and appends `post.updated`; 404 `post_not_found`.
pub fn update(w: &mut Write<'_>, id: &str, change: PostPatch) -> Result<Post> {
    let mut post = find(w, id)?.ok_or_else(|| ApiError::not_found("post"))?;
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
}
