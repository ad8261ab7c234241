//! Know: the wiki, with a review flow and search an agent can ground on.
//!
//! A page has revisions. One at most is `stable`: what readers, search and webhooks see. Newer
//! ones wait as `pending` until approved (then they supersede the stable one) or rejected (with
//! a reason), unless the tenant turned review off (`know.review_required` = `off`), when an edit
//! is stable at once. History is a line: an edit is based on the newest revision not rejected
//! (`If-Match`), approving one supersedes the pending ones before it (it contains them), and
//! rejecting one rejects the pending ones built on it.
//!
//! Routes under `/api/v1/know` (`know:read`, `know:write`); events `page.created`,
//! `page.updated`, `page.deleted`, each about reviewed content only. Built on the public SDK.

mod markdown;
mod merge;
mod pages;
mod review;
mod search;

use mobieus_sdk::prelude::*;

struct Know;

const NOT_FOUND: &str = "No page has this id, or it was deleted.";
const NO_REVISION: &str = "The page has no revision with this id.";

impl Plugin for Know {
    fn manifest() -> Manifest {
        Manifest::new("know", env!("CARGO_PKG_VERSION"))
            .claims(["know", "page"])
            .uses([Capability::Search, Capability::Timers])
            .setting(
                "review_required",
                "on: an edit waits for a reviewer's approval before readers, search and webhooks see it; off: it is stable at once.",
                "on",
                &["on", "off"],
            )
            .setting(
                "index_merge_after",
                "Seconds after an edit before the search index is merged back into one piece (0 to 86400): searches are faster after, and each merge rewrites the index.",
                "60",
                &[],
            )
            .scope("know:read", "Read wiki pages, their revisions, and search them.")
            .scope("know:write", "Create, edit and delete pages; approve and reject revisions.")
            .event_of::<review::PageEvent>(
                "page.created",
                "A page got its first stable revision (approved, or saved while review is off).",
            )
            .event_of::<review::PageEvent>(
                "page.updated",
                "A later revision of a page became stable; `previous_revision_id` is the one it replaced.",
            )
            .event_of::<review::PageDeleted>(
                "page.deleted",
                "A page that readers could see was deleted; its revisions are kept.",
            )
            .migration(1, "pages", pages::MIGRATION)
            .migration(2, "search", search::MIGRATION)
            .migration(3, "index merge", merge::MIGRATION)
            .migration(4, "lexicon", search::LEXICON_MIGRATION)
    }

    fn on_timer(cx: &mut Ctx, timer: &Timer) -> std::result::Result<(), String> {
        if timer.key != merge::TIMER {
            return Err(format!("no timer of this plugin is named `{}`", timer.key));
        }
        merge::run(cx, timer).map_err(|e| e.message)
    }

    fn router() -> Router {
        Router::new()
            .route(
                Route::get("/api/v1/know/pages", "know:read", pages::list)
                    .id("listPages")
                    .summary("List pages, newest first")
                    .query(
                        "status",
                        "published (a stable revision, nothing pending), pending (a revision waits for review) or rejected (nothing stable, nothing pending). Without it: every page readers can see.",
                    )
                    .query("parent_id", "Only the children of this page (pg_…).")
                    .query("tag", "Only pages with this tag."),
            )
            .route(
                Route::post("/api/v1/know/pages", "know:write", pages::create)
                    .id("createPage")
                    .summary("Create a page; its first revision waits for review unless review is off")
                    .status(201)
                    .answers::<pages::PageView>(),
            )
            .route(
                Route::get("/api/v1/know/pages/{id}", "know:read", pages::get)
                    .id("getPage")
                    .summary("A page at its stable revision (ETag: the revision id)")
                    .query("revision", "`latest`: the newest revision, pending or not.")
                    .answers::<pages::PageView>()
                    .error(404, "page_not_found", NOT_FOUND)
                    .error(404, "revision_not_found", "The page has no stable revision yet; ask for ?revision=latest."),
            )
            .route(
                Route::patch("/api/v1/know/pages/{id}", "know:write", pages::update)
                    .id("updatePage")
                    .summary("Propose a new revision (If-Match: the revision it is based on)")
                    .answers::<pages::PageView>()
                    .error(404, "page_not_found", NOT_FOUND)
                    .error(412, "revision_conflict", "If-Match is not the page's newest revision: someone edited it first."),
            )
            .route(
                Route::delete("/api/v1/know/pages/{id}", "know:write", pages::delete)
                    .id("deletePage")
                    .summary("Delete a page: gone from reads and search, its revisions kept")
                    .error(404, "page_not_found", NOT_FOUND),
            )
            .route(
                Route::get("/api/v1/know/pages/{id}/revisions", "know:read", review::list)
                    .id("listPageRevisions")
                    .summary("A page's revision history, newest first")
                    .query("status", "pending, stable, superseded or rejected.")
                    .error(404, "page_not_found", NOT_FOUND),
            )
            .route(
                Route::get("/api/v1/know/pages/{id}/revisions/{revision_id}", "know:read", review::get)
                    .id("getPageRevision")
                    .summary("One revision; ?compare_to=REV adds a unified diff against an earlier one")
                    .query("compare_to", "An earlier revision of the same page (rev_…).")
                    .error(404, "page_not_found", NOT_FOUND)
                    .error(404, "revision_not_found", NO_REVISION),
            )
            .route(
                Route::post(
                    "/api/v1/know/pages/{id}/revisions/{revision_id}/approve",
                    "know:write",
                    review::approve,
                )
                .id("approvePageRevision")
                .summary("Make a pending revision stable")
                .error(404, "page_not_found", NOT_FOUND)
                .error(404, "revision_not_found", NO_REVISION)
                .error(409, "already_reviewed", "The revision is not pending: it was approved, superseded or rejected."),
            )
            .route(
                Route::post(
                    "/api/v1/know/pages/{id}/revisions/{revision_id}/reject",
                    "know:write",
                    review::reject,
                )
                .id("rejectPageRevision")
                .summary("Reject a pending revision, with a reason")
                .error(404, "page_not_found", NOT_FOUND)
                .error(404, "revision_not_found", NO_REVISION)
                .error(409, "already_reviewed", "The revision is not pending: it was approved, superseded or rejected."),
            )
            .route(
                Route::get("/api/v1/know/search", "know:read", pages::search)
                    .id("searchPages")
                    .answers::<search::Results>()
                    .summary("Full-text search over the stable revisions")
                    .required_query(
                        "q",
                        "Words (a page needs one, and ranks higher with more), \"quoted phrases\" (needed), word* (a prefix), -word (left out).",
                    )
                    .query("limit", "1 to 50, default 10.")
                    .query("tag", "Only pages with this tag.")
                    .error(400, "invalid_query", "The search cannot run: an unclosed quote, no words, too many words."),
            )
    }
}

mobieus_sdk::export!(Know);
