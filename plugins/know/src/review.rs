//! Revisions and their review: proposing one, approving it (it becomes stable, is indexed, and
//! webhooks hear of it), rejecting it; the history and the diff between two revisions.

use mobieus_sdk::check::not_blank;
use mobieus_sdk::prelude::*;

use crate::pages;
use crate::{markdown, search};

/// What a revision says, before it is stored.
#[derive(Clone)]
pub struct Draft {
    pub title: String,
    pub body: String,
    pub parent_id: Option<String>,
    pub tags: Vec<String>,
    pub summary: Option<String>,
    pub author_id: Option<String>,
}

/// A revision as listed in the history: everything but its text.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct RevisionMeta {
    #[schemars(regex(pattern = "^rev_[0-9A-Z]{26}$"))]
    pub id: String,
    pub page_id: String,
    /// 1 for the page's first revision, then one more for each.
    pub number: i64,
    /// The revision it was edited from (`If-Match`).
    pub base_revision_id: Option<String>,
    pub status: RevisionStatus,
    pub title: String,
    pub parent_id: Option<String>,
    pub tags: Vec<String>,
    /// The author's note for reviewers.
    pub summary: Option<String>,
    /// The host user who wrote it, when the caller said.
    pub author_id: Option<String>,
    /// The API key that proposed it.
    pub key_id: Option<String>,
    /// Bytes of Markdown.
    pub size: i64,
    /// Bytes more (or fewer) than the revision it was based on.
    pub size_change: i64,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    pub reviewer_id: Option<String>,
    /// The API key that approved or rejected it.
    pub reviewed_by_key: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub reviewed_at: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
}

impl HasId for RevisionMeta {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum RevisionStatus {
    Pending,
    Stable,
    Superseded,
    Rejected,
}

/// One revision with its text.
#[derive(Serialize, JsonSchema)]
pub struct Revision {
    #[serde(flatten)]
    pub meta: RevisionMeta,
    /// Markdown.
    pub body: String,
    /// The body as sanitised HTML.
    pub html: String,
    /// With `?compare_to=REV`: a unified line diff from that revision to this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Who made a revision stable (or deleted the page).
#[derive(Serialize, JsonSchema)]
pub struct Actor {
    /// The API key that called.
    pub key_id: Option<String>,
    /// The host user the caller named (`author_id` or `reviewer_id`), if any.
    pub user_id: Option<String>,
}

pub fn actor(cx: &Ctx, user_id: Option<String>) -> Actor {
    Actor {
        key_id: cx.caller().map(|c| c.key_id),
        user_id,
    }
}

/// `page.created` and `page.updated`.
#[derive(Serialize, JsonSchema)]
pub struct PageEvent<'a> {
    pub page_id: &'a str,
    /// The revision that became stable.
    pub revision_id: &'a str,
    /// The stable revision it replaced (`null` for `page.created`).
    pub previous_revision_id: Option<&'a str>,
    pub title: &'a str,
    pub actor: Actor,
}

/// `page.deleted`.
#[derive(Serialize, JsonSchema)]
pub struct PageDeleted<'a> {
    pub page_id: &'a str,
    /// The stable revision readers saw last.
    pub revision_id: &'a str,
    pub title: &'a str,
    pub actor: Actor,
}

/// A revision of a page, or `404 revision_not_found`.
pub fn find(cx: &Ctx, page_id: &str, id: &str) -> Result<Revision> {
    let meta: RevisionMeta = cx
        .db()
        .select_one(
            "know_revisions",
            "WHERE id = ?1 AND page_id = ?2",
            &[&id, &page_id],
        )?
        .ok_or_else(|| Error::new(404, "revision_not_found", crate::NO_REVISION))?;
    let text = cx
        .db()
        .query_one(
            "SELECT body, html FROM know_revisions WHERE id = ?1",
            &[&id],
        )?
        .ok_or_else(|| Error::internal("the revision vanished"))?;
    Ok(Revision {
        meta,
        body: text.get("body")?,
        html: text.get("html")?,
        diff: None,
    })
}

/// Whether an edit must wait for review: the tenant's `know.review_required` (default on).
fn review_required(cx: &Ctx) -> bool {
    cx.config("review_required").as_deref() != Some("off")
}

/// The checks a draft's references need: its author is a user, its parent a live page that is
/// not the page itself nor below it.
pub fn check_draft(cx: &Ctx, page_id: &str, draft: &Draft) -> Result<()> {
    if let Some(author) = &draft.author_id {
        cx.require_user("author_id", author)?;
    }
    match &draft.parent_id {
        Some(parent) => check_parent(cx, page_id, parent, true),
        None => Ok(()),
    }
}

/// The parent is not `page_id` nor below it, and (when `live`) a live page.
fn check_parent(cx: &Ctx, page_id: &str, parent: &str, live: bool) -> Result<()> {
    let mut at = parent.to_owned();
    // Walk up from the parent: meeting the page means the edit would make a loop.
    for _ in 0..64 {
        if at == page_id {
            return Err(Error::validation(
                "parent_id",
                "a page cannot be under itself",
            ));
        }
        let row = cx.db().query_one(
            "SELECT parent_id FROM know_pages WHERE id = ?1 AND deleted_at IS NULL",
            &[&at],
        )?;
        let Some(row) = row else {
            // A deleted page ends the walk: it has no parent any more.
            if live && at == parent {
                return Err(Error::validation("parent_id", "no such page"));
            }
            return Ok(());
        };
        match row.get::<Option<String>>("parent_id")? {
            Some(up) => at = up,
            None => return Ok(()),
        }
    }
    Err(Error::validation("parent_id", "pages nest at most 64 deep"))
}

/// Stores a draft as the page's next revision, based on `base`; stable at once when the
/// tenant does not review edits.
pub fn propose(cx: &Ctx, page_id: &str, base: Option<&Revision>, draft: Draft) -> Result<Revision> {
    let number = cx
        .db()
        .query_one(
            "SELECT COALESCE(MAX(number), 0) + 1 AS n FROM know_revisions WHERE page_id = ?1",
            &[&page_id],
        )?
        .map_or(Ok(1), |r| r.get::<i64>("n"))?;
    let size = draft.body.len() as i64;
    let revision = Revision {
        meta: RevisionMeta {
            id: cx.new_id("rev_"),
            page_id: page_id.to_owned(),
            number,
            base_revision_id: base.map(|b| b.meta.id.clone()),
            status: RevisionStatus::Pending,
            title: draft.title,
            parent_id: draft.parent_id,
            tags: draft.tags,
            summary: draft.summary,
            author_id: draft.author_id,
            key_id: cx.caller().map(|c| c.key_id),
            size,
            size_change: size - base.map_or(0, |b| b.meta.size),
            created_at: cx.now(),
            reviewer_id: None,
            reviewed_by_key: None,
            reviewed_at: None,
            reason: None,
        },
        html: markdown::to_html(&draft.body),
        body: draft.body,
        diff: None,
    };
    cx.db().insert("know_revisions", &Stored(&revision))?;
    if review_required(cx) {
        sync_page(cx, page_id)?;
        return Ok(revision);
    }
    let author = revision.meta.author_id.clone();
    make_stable(cx, revision, author)
}

/// A revision as a row: its metadata, body and HTML (the diff is never stored).
struct Stored<'a>(&'a Revision);

impl Serialize for Stored<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            meta: &'a RevisionMeta,
            body: &'a str,
            html: &'a str,
        }
        Row {
            meta: &self.0.meta,
            body: &self.0.body,
            html: &self.0.html,
        }
        .serialize(s)
    }
}

/// The revision becomes stable: the stable one before it and the pending ones it contains are
/// superseded, the index shows it, and webhooks hear of it.
fn make_stable(cx: &Ctx, mut revision: Revision, reviewer: Option<String>) -> Result<Revision> {
    let page = pages::find(cx, &revision.meta.page_id)?;
    let m = &mut revision.meta;
    if let Some(parent) = &m.parent_id {
        // The parent may have moved under this page since the edit was proposed (or been
        // deleted, which leaves this page where it was).
        check_parent(cx, &m.page_id, parent, false)?;
    }
    let now = cx.now();
    cx.db().execute(
        "UPDATE know_revisions SET status = 'superseded'
         WHERE page_id = ?1 AND (status = 'stable' OR (status = 'pending' AND number < ?2))",
        &[&m.page_id, &m.number],
    )?;
    m.status = RevisionStatus::Stable;
    m.reviewer_id = reviewer;
    m.reviewed_by_key = cx.caller().map(|c| c.key_id);
    m.reviewed_at = Some(now.clone());
    cx.db().execute(
        "UPDATE know_revisions SET status = 'stable', reviewer_id = ?2, reviewed_by_key = ?3, reviewed_at = ?4
         WHERE id = ?1",
        &[&m.id, &m.reviewer_id, &m.reviewed_by_key, &now],
    )?;
    cx.db().execute(
        "UPDATE know_pages SET title = ?2, parent_id = ?3, tags = ?4, updated_at = ?5 WHERE id = ?1",
        &[&m.page_id, &m.title, &m.parent_id, &mobieus_sdk::json::to_string(&m.tags)?, &now],
    )?;
    sync_page(cx, &m.page_id)?;
    search::index(cx, &m.page_id, &m.id, &m.title, &revision.body)?;
    let previous = page.stable_revision_id.as_deref();
    let event = PageEvent {
        page_id: &revision.meta.page_id,
        revision_id: &revision.meta.id,
        previous_revision_id: previous,
        title: &revision.meta.title,
        actor: actor(cx, revision.meta.reviewer_id.clone()),
    };
    let kind = if previous.is_some() {
        "page.updated"
    } else {
        "page.created"
    };
    cx.emit(kind, &event)?;
    Ok(revision)
}

/// Recomputes the page's status and its pointers to revisions from the revisions.
fn sync_page(cx: &Ctx, page_id: &str) -> Result<()> {
    cx.db().execute(
        "UPDATE know_pages SET
            stable_revision_id = (SELECT id FROM know_revisions WHERE page_id = ?1 AND status = 'stable'),
            pending_revision_id = (SELECT id FROM know_revisions WHERE page_id = ?1 AND status = 'pending'
                                   ORDER BY number DESC LIMIT 1),
            head_revision_id = (SELECT id FROM know_revisions WHERE page_id = ?1
                                AND status IN ('pending', 'stable') ORDER BY number DESC LIMIT 1)
         WHERE id = ?1",
        &[&page_id],
    )?;
    cx.db().execute(
        "UPDATE know_pages SET status = CASE
            WHEN pending_revision_id IS NOT NULL THEN 'pending'
            WHEN stable_revision_id IS NOT NULL THEN 'published'
            ELSE 'rejected' END,
            title = CASE WHEN stable_revision_id IS NULL
                THEN (SELECT title FROM know_revisions WHERE page_id = ?1 ORDER BY number DESC LIMIT 1)
                ELSE title END
         WHERE id = ?1",
        &[&page_id],
    )?;
    Ok(())
}

pub fn list(cx: &mut Ctx, Path(id): Path<String>) -> Result<Page<RevisionMeta>> {
    pages::find(cx, &id)?;
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and("page_id = ?", id.as_str());
    let statuses = ["pending", "stable", "superseded", "rejected"];
    filter.and_opt("status = ?", page.filter_one_of("status", &statuses)?);
    page.fetch_as(&cx.db(), "know_revisions", &filter)
}

#[derive(Deserialize, JsonSchema)]
pub struct RevisionPath {
    id: String,
    revision_id: String,
}

pub fn get(cx: &mut Ctx, Path(p): Path<RevisionPath>) -> Result<Json<Revision>> {
    pages::find(cx, &p.id)?;
    let mut revision = find(cx, &p.id, &p.revision_id)?;
    if let Some(other) = cx.query("compare_to") {
        let earlier = find(cx, &p.id, &other)
            .map_err(|_| Error::validation("compare_to", "not a revision of this page"))?;
        if earlier.meta.number >= revision.meta.number {
            return Err(Error::validation(
                "compare_to",
                "must be an earlier revision than this one",
            ));
        }
        revision.diff = Some(diff(&earlier, &revision));
    }
    Ok(Json(revision))
}

/// A unified line diff of the title and body, `a/<earlier id>` to `b/<this id>`.
fn diff(from: &Revision, to: &Revision) -> String {
    let text = |r: &Revision| format!("# {}\n\n{}\n", r.meta.title, r.body.trim_end_matches('\n'));
    let (a, b) = (text(from), text(to));
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{}", from.meta.id), &format!("b/{}", to.meta.id))
        .to_string()
}

/// A pending revision, or `409 already_reviewed`.
fn pending(cx: &Ctx, p: &RevisionPath) -> Result<Revision> {
    pages::find(cx, &p.id)?;
    let revision = find(cx, &p.id, &p.revision_id)?;
    if revision.meta.status != RevisionStatus::Pending {
        let status = mobieus_sdk::json::to_value(revision.meta.status)?;
        return Err(Error::conflict(
            "already_reviewed",
            format!(
                "The revision is {}; only a pending one can be reviewed.",
                status.as_str().unwrap_or("")
            ),
        )
        .with("status", status));
    }
    Ok(revision)
}

#[derive(Deserialize, JsonSchema, Validate, Default)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The host user who reviewed it (usr_…).
    #[garde(skip)]
    reviewer_id: Option<String>,
}

pub fn approve(
    cx: &mut Ctx,
    Path(p): Path<RevisionPath>,
    JsonOrDefault(approval): JsonOrDefault<Approval>,
) -> Result<Json<Revision>> {
    let revision = pending(cx, &p)?;
    if let Some(reviewer) = &approval.reviewer_id {
        cx.require_user("reviewer_id", reviewer)?;
    }
    make_stable(cx, revision, approval.reviewer_id).map(Json)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Why; the author reads it.
    #[garde(length(chars, min = 1, max = 1000), custom(not_blank))]
    reason: String,
    #[garde(skip)]
    reviewer_id: Option<String>,
}

/// The revision is rejected with its reason, and so are the pending revisions built on it (they
/// contain its text).
pub fn reject(
    cx: &mut Ctx,
    Path(p): Path<RevisionPath>,
    Json(rejection): Json<Rejection>,
) -> Result<Json<Revision>> {
    let mut revision = pending(cx, &p)?;
    if let Some(reviewer) = &rejection.reviewer_id {
        cx.require_user("reviewer_id", reviewer)?;
    }
    let m = &mut revision.meta;
    let now = cx.now();
    let key = cx.caller().map(|c| c.key_id);
    let reason = rejection.reason.trim().to_owned();
    let built_on = format!("Built on {}, which was rejected: {reason}", m.id);
    cx.db().execute(
        "UPDATE know_revisions SET status = 'rejected', reviewer_id = ?3, reviewed_by_key = ?4, reviewed_at = ?5,
            reason = CASE WHEN id = ?1 THEN ?6 ELSE ?7 END
         WHERE page_id = ?2 AND status = 'pending' AND number >= ?8",
        &[&m.id, &m.page_id, &rejection.reviewer_id, &key, &now, &reason, &built_on, &m.number],
    )?;
    m.status = RevisionStatus::Rejected;
    m.reviewer_id = rejection.reviewer_id;
    m.reviewed_by_key = key;
    m.reviewed_at = Some(now);
    m.reason = Some(reason);
    sync_page(cx, &m.page_id)?;
    Ok(Json(revision))
}
