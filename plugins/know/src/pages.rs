//! Pages: reading them, creating them, proposing edits, deleting, and the search route.

use mobieus_sdk::check::{not_blank, not_blank_if_given};
use mobieus_sdk::prelude::*;

use crate::review::{self, Draft, Revision};
use crate::search;

pub const MIGRATION: &str = "
    CREATE TABLE know_pages (
        id                  TEXT PRIMARY KEY,
        status              TEXT NOT NULL CHECK (status IN ('published', 'pending', 'rejected')),
        title               TEXT NOT NULL,
        parent_id           TEXT,
        tags                TEXT NOT NULL DEFAULT '[]',
        stable_revision_id  TEXT,
        pending_revision_id TEXT,
        head_revision_id    TEXT,
        created_at          TEXT NOT NULL,
        updated_at          TEXT NOT NULL,
        deleted_at          TEXT
    );
    CREATE INDEX know_pages_parent ON know_pages (parent_id, id);
    CREATE INDEX know_pages_updated ON know_pages (updated_at);
    CREATE TABLE know_revisions (
        id               TEXT PRIMARY KEY,
        page_id          TEXT NOT NULL,
        number           INTEGER NOT NULL,
        base_revision_id TEXT,
        status           TEXT NOT NULL CHECK (status IN ('pending', 'stable', 'superseded', 'rejected')),
        title            TEXT NOT NULL,
        body             TEXT NOT NULL,
        html             TEXT NOT NULL,
        parent_id        TEXT,
        tags             TEXT NOT NULL DEFAULT '[]',
        summary          TEXT,
        author_id        TEXT,
        key_id           TEXT,
        size             INTEGER NOT NULL,
        size_change      INTEGER NOT NULL,
        created_at       TEXT NOT NULL,
        reviewer_id      TEXT,
        reviewed_by_key  TEXT,
        reviewed_at      TEXT,
        reason           TEXT,
        UNIQUE (page_id, number)
    );
    CREATE INDEX know_revisions_status ON know_revisions (page_id, status, number);";

const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 200_000;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 40;

/// A page as listed: what readers may know about it without its text.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct PageSummary {
    #[schemars(regex(pattern = "^pg_[0-9A-Z]{26}$"))]
    pub id: String,
    /// `published`: a stable revision, nothing pending; `pending`: a revision waits for review;
    /// `rejected`: nothing stable and nothing pending.
    pub status: PageStatus,
    /// The stable revision's (before the first approval: the newest revision's).
    pub title: String,
    pub parent_id: Option<String>,
    pub tags: Vec<String>,
    pub stable_revision_id: Option<String>,
    /// The newest revision waiting for review.
    pub pending_revision_id: Option<String>,
    /// The newest revision not rejected: what an edit is based on (`If-Match`).
    pub head_revision_id: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    /// When the stable revision last changed.
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
}

impl HasId for PageSummary {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum PageStatus {
    Published,
    Pending,
    Rejected,
}

/// A page at one of its revisions.
#[derive(Serialize, JsonSchema)]
pub struct PageView {
    #[serde(flatten)]
    pub page: PageSummary,
    /// The revision shown: the stable one, or with `?revision=latest` the newest.
    pub revision_id: String,
    pub revision_status: review::RevisionStatus,
    /// Markdown.
    pub body: String,
    /// The body as sanitised HTML.
    pub html: String,
    pub author_id: Option<String>,
}

impl PageView {
    fn of(page: PageSummary, revision: Revision) -> PageView {
        // What readers see is the revision's, whatever the page row says of another.
        let page = PageSummary {
            title: revision.meta.title,
            parent_id: revision.meta.parent_id,
            tags: revision.meta.tags,
            ..page
        };
        PageView {
            page,
            revision_id: revision.meta.id,
            revision_status: revision.meta.status,
            body: revision.body,
            html: revision.html,
            author_id: revision.meta.author_id,
        }
    }

    /// As an answer, with the revision's ETag.
    fn reply(self, status: u16) -> Result<Reply> {
        let etag = etag(&self.revision_id);
        Ok(Reply::json(status, &self)?.header("ETag", &etag))
    }
}

pub fn etag(revision_id: &str) -> String {
    format!("\"{revision_id}\"")
}

/// A live page, or `404 page_not_found`.
pub fn find(cx: &Ctx, id: &str) -> Result<PageSummary> {
    cx.db()
        .select_one("know_pages", "WHERE id = ?1 AND deleted_at IS NULL", &[&id])?
        .ok_or_else(|| Error::new(404, "page_not_found", crate::NOT_FOUND))
}

pub fn list(cx: &mut Ctx) -> Result<Page<PageSummary>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("updated_at");
    filter.and("deleted_at IS ?", Value::Null);
    match page.filter("status") {
        None => {
            filter.and("stable_revision_id IS NOT ?", Value::Null);
        }
        Some(s @ ("published" | "pending" | "rejected")) => {
            filter.and("status = ?", s);
        }
        Some(_) => {
            return Err(Error::validation(
                "status",
                "one of published, pending, rejected",
            ));
        }
    }
    filter.and_opt("parent_id = ?", page.filter("parent_id"));
    if let Some(tag) = page.filter("tag") {
        filter.and("instr(tags, ?) > 0", format!("\"{}\"", tag.to_lowercase()));
    }
    page.fetch_as(&cx.db(), "know_pages", &filter)
}

/// A new page's content; its first revision.
#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewPage {
    #[garde(length(chars, min = 1, max = MAX_TITLE), custom(not_blank))]
    title: String,
    /// Markdown.
    #[serde(default)]
    #[garde(length(chars, max = MAX_BODY))]
    body: String,
    #[garde(skip)]
    parent_id: Option<String>,
    #[serde(default)]
    #[garde(length(max = MAX_TAGS))]
    tags: Vec<String>,
    /// The host user who wrote it (usr_…).
    #[garde(skip)]
    author_id: Option<String>,
    /// What the revision is about, for reviewers.
    #[garde(length(chars, max = 500))]
    summary: Option<String>,
}

pub fn create(cx: &mut Ctx, Json(new): Json<NewPage>) -> Result<Reply> {
    let id = cx.new_id("pg_");
    let draft = Draft {
        title: new.title.trim().to_owned(),
        body: new.body,
        parent_id: new.parent_id,
        tags: normalize_tags(new.tags)?,
        summary: new.summary,
        author_id: new.author_id,
    };
    review::check_draft(cx, &id, &draft)?;
    let now = cx.now();
    cx.db().execute(
        "INSERT INTO know_pages (id, status, title, parent_id, tags, created_at, updated_at)
         VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?5)",
        &[
            &id,
            &draft.title,
            &draft.parent_id,
            &mobieus_sdk::json::to_string(&draft.tags)?,
            &now,
        ],
    )?;
    let revision = review::propose(cx, &id, None, draft)?;
    let view = PageView::of(find(cx, &id)?, revision);
    Ok(view
        .reply(201)?
        .header("Location", &format!("/api/v1/know/pages/{id}")))
}

pub fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Reply> {
    let page = find(cx, &id)?;
    let revision_id = match cx.query("revision").as_deref() {
        None | Some("stable") => page.stable_revision_id.clone().ok_or_else(|| {
            Error::new(
                404,
                "revision_not_found",
                "The page has no stable revision yet; ask for ?revision=latest to see the pending one.",
            )
        })?,
        Some("latest") => latest(cx, &page)?,
        Some(_) => return Err(Error::validation("revision", "`latest` or `stable`")),
    };
    if let Some(known) = cx.header("if-none-match")
        && etags(known).any(|t| t == "*" || t == revision_id)
    {
        return Ok(Reply::not_modified()?.header("ETag", &etag(&revision_id)));
    }
    let revision = review::find(cx, &id, &revision_id)?;
    PageView::of(page, revision).reply(200)
}

/// The newest revision: the head, or when every revision was rejected, the last of them.
fn latest(cx: &Ctx, page: &PageSummary) -> Result<String> {
    if let Some(head) = &page.head_revision_id {
        return Ok(head.clone());
    }
    cx.db()
        .query_one(
            "SELECT id FROM know_revisions WHERE page_id = ?1 ORDER BY number DESC LIMIT 1",
            &[&page.id],
        )?
        .ok_or_else(|| Error::internal("a page without revisions"))?
        .get("id")
}

/// The entity tags of an `If-Match` / `If-None-Match` header, without quotes or `W/`.
fn etags(header: &str) -> impl Iterator<Item = &str> {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
}

/// An edit: what changes; at least one field.
#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct PagePatch {
    #[garde(length(chars, min = 1, max = MAX_TITLE), custom(not_blank_if_given))]
    title: Option<String>,
    #[garde(length(chars, max = MAX_BODY))]
    body: Option<String>,
    /// `null` makes it a top-level page.
    #[serde(default, deserialize_with = "present")]
    #[garde(skip)]
    parent_id: Option<Option<String>>,
    #[garde(length(max = MAX_TAGS))]
    tags: Option<Vec<String>>,
    #[garde(skip)]
    author_id: Option<String>,
    #[garde(length(chars, max = 500))]
    summary: Option<String>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub fn update(cx: &mut Ctx, Json(patch): Json<PagePatch>) -> Result<Reply> {
    let id = cx.param("id")?;
    let page = find(cx, &id)?;
    let head = page.head_revision_id.clone();
    // An edit builds on the head; after every revision was rejected, on the newest one (what
    // `?revision=latest` shows, with its ETag).
    let current = latest(cx, &page)?;
    if let Some(wanted) = cx.header("if-match")
        && !etags(wanted).any(|t| t == "*" || t == current)
    {
        return Err(Error::new(
            412,
            "revision_conflict",
            "The page changed since that revision: read its newest (?revision=latest) and edit that.",
        )
        .with("head_revision_id", head));
    }
    let base = review::find(cx, &id, &current)?;
    // A parent kept from the base may have been deleted since; only a new one is checked.
    let new_parent = patch.parent_id.is_some();
    let draft = Draft {
        title: patch
            .title
            .map_or(base.meta.title.clone(), |t| t.trim().to_owned()),
        body: patch.body.unwrap_or_else(|| base.body.clone()),
        parent_id: patch
            .parent_id
            .unwrap_or_else(|| base.meta.parent_id.clone()),
        tags: match patch.tags {
            Some(tags) => normalize_tags(tags)?,
            None => base.meta.tags.clone(),
        },
        summary: patch.summary,
        author_id: patch.author_id,
    };
    if draft.title == base.meta.title
        && draft.body == base.body
        && draft.parent_id == base.meta.parent_id
        && draft.tags == base.meta.tags
        && head.is_some()
    {
        return Err(Error::validation("body", "the edit changes nothing"));
    }
    let checked = Draft {
        parent_id: draft.parent_id.clone().filter(|_| new_parent),
        ..draft.clone()
    };
    review::check_draft(cx, &id, &checked)?;
    let revision = review::propose(cx, &id, head.as_deref().map(|_| &base), draft)?;
    PageView::of(find(cx, &id)?, revision).reply(200)
}

pub fn delete(cx: &mut Ctx, Path(id): Path<String>) -> Result<NoContent> {
    let page = find(cx, &id)?;
    let now = cx.now();
    cx.db().execute(
        "UPDATE know_pages SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1",
        &[&id, &now],
    )?;
    search::unindex(cx, &id)?;
    if let Some(revision_id) = &page.stable_revision_id {
        cx.emit(
            "page.deleted",
            &review::PageDeleted {
                page_id: &id,
                revision_id,
                title: &page.title,
                actor: review::actor(cx, None),
            },
        )?;
    }
    Ok(NoContent)
}

/// Tags compare without case; a tag is letters, digits, `-` and `_`, once each.
fn normalize_tags(tags: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = vec![];
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        let ok = tag
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if tag.is_empty() || tag.chars().count() > MAX_TAG || !ok {
            return Err(Error::validation(
                "tags",
                format!("`{tag}`: 1 to {MAX_TAG} letters, digits, - and _"),
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// How long the host may give a search's answer again while no page changes (any edit, review
/// or delete changes the tenant's file, which retires it at once): a search's answer rests on
/// the index alone, not on who asks.
const SHARED_FOR: &str = "max-age=600";

pub fn search(cx: &mut Ctx) -> Result<Reply> {
    let (mut q, mut limit, mut tag) = (None, 10, None);
    for (name, value) in cx.query_pairs() {
        match name.as_str() {
            "q" => q = Some(value),
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=50).contains(n))
                    .ok_or_else(|| Error::validation("limit", "a whole number from 1 to 50"))?
            }
            "tag" => tag = Some(value.to_lowercase()),
            other => {
                return Err(Error::validation(
                    other,
                    "unknown query parameter; search takes q, limit, tag",
                ));
            }
        }
    }
    let q = q
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Error::validation("q", "what to search for"))?;
    if q.chars().count() > 500 {
        return Err(Error::validation("q", "at most 500 characters"));
    }
    let query = search::Query::parse(&q)?;
    let results = search::run(cx, &query, tag.as_deref(), limit)?;
    Ok(Reply::ok(&results)?.header("Mobieus-Cache-Control", SHARED_FOR))
}
