//! Guestbook: a complete Mobieus surface in one file, on the public SDK only.
//!
//! `GET/POST /api/v1/guestbook/entries`, `GET /api/v1/guestbook/entries/{id}`; scopes
//! `guestbook:read` / `guestbook:write`; event `guestbook.entry_created`; one table. Each shape
//! is written once: the table in its migration, the rest as Rust types, from which the routes'
//! schemas, the body checks and the row mapping are derived.

use mobieus_sdk::check::not_blank;
use mobieus_sdk::prelude::*;

struct Guestbook;

impl Plugin for Guestbook {
    fn manifest() -> Manifest {
        Manifest::new("guestbook", env!("CARGO_PKG_VERSION"))
            .claims(["guestbook"])
            .scope("guestbook:read", "Read guestbook entries.")
            .scope("guestbook:write", "Write guestbook entries.")
            .event_of::<EntryCreated>("guestbook.entry_created", "Someone signed the guestbook.")
            .migration(
                1,
                "entries",
                "CREATE TABLE guestbook_entries (
                    id         TEXT PRIMARY KEY,
                    name       TEXT NOT NULL,
                    message    TEXT NOT NULL,
                    created_at TEXT NOT NULL
                )",
            )
    }

    fn router() -> Router {
        Router::new()
            .route(
                Route::get("/api/v1/guestbook/entries", "guestbook:read", list)
                    .id("listGuestbookEntries")
                    .summary("List entries, newest first"),
            )
            .route(
                Route::post("/api/v1/guestbook/entries", "guestbook:write", create)
                    .id("createGuestbookEntry")
                    .summary("Sign the guestbook"),
            )
            .route(
                Route::get("/api/v1/guestbook/entries/{id}", "guestbook:read", get)
                    .id("getGuestbookEntry")
                    .summary("One entry")
                    .error(404, "entry_not_found", "No entry has this id."),
            )
    }
}

/// An entry, as stored and as answered.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Entry {
    id: String,
    name: String,
    message: String,
    #[schemars(extend("format" = "date-time"))]
    created_at: String,
}

impl HasId for Entry {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
struct NewEntry {
    #[garde(length(chars, min = 1, max = 80), custom(not_blank))]
    name: String,
    #[garde(length(chars, min = 1, max = 2000), custom(not_blank))]
    message: String,
}

#[derive(Serialize, JsonSchema)]
struct EntryCreated<'a> {
    entry: &'a Entry,
}

fn list(cx: &mut Ctx) -> Result<Page<Entry>> {
    let page = PageRequest::from(cx)?;
    page.fetch_as(&cx.db(), "guestbook_entries", &page.time_filter("created_at"))
}

fn create(cx: &mut Ctx, Json(new): Json<NewEntry>) -> Result<Created<Entry>> {
    let entry = Entry { id: cx.new_id("gb_"), name: new.name, message: new.message, created_at: cx.now() };
    cx.db().insert("guestbook_entries", &entry)?;
    cx.emit("guestbook.entry_created", &EntryCreated { entry: &entry })?;
    Ok(Created(entry))
}

fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Entry>> {
    let entry = cx.db().select_one("guestbook_entries", "WHERE id = ?1", &[&id])?;
    entry.map(Json).ok_or_else(|| Error::not_found("entry"))
}

mobieus_sdk::export!(Guestbook);
