//! Guestbook: a complete Mobieus surface in one file, on the public SDK only.
//!
//! `GET/POST /api/v1/guestbook/entries`, `GET /api/v1/guestbook/entries/{id}`; scopes
//! `guestbook:read` / `guestbook:write`; event `guestbook.entry_created`; one table.

use mobieus_sdk::prelude::*;

struct Guestbook;

impl Plugin for Guestbook {
    fn manifest() -> Manifest {
        Manifest::new("guestbook", env!("CARGO_PKG_VERSION"))
            .claims(["guestbook"])
            .scope("guestbook:read", "Read guestbook entries.")
            .scope("guestbook:write", "Write guestbook entries.")
            .event_with_schema(
                "guestbook.entry_created",
                "Someone signed the guestbook.",
                json!({"type": "object", "properties": {"entry": entry_schema()}}),
            )
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
                    .summary("Sign the guestbook")
                    .request(new_entry_schema)
                    .response(entry_schema),
            )
            .route(
                Route::get("/api/v1/guestbook/entries/{id}", "guestbook:read", get)
                    .id("getGuestbookEntry")
                    .summary("One entry")
                    .response(entry_schema),
            )
    }
}

fn entry_schema() -> mobieus_sdk::json::Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "message": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}
        }
    })
}

fn new_entry_schema() -> mobieus_sdk::json::Value {
    json!({
        "type": "object",
        "required": ["name", "message"],
        "properties": {"name": {"type": "string", "maxLength": 80}, "message": {"type": "string", "maxLength": 2000}}
    })
}

#[derive(Serialize)]
struct Entry {
    id: String,
    name: String,
    message: String,
    created_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEntry {
    name: String,
    message: String,
}

fn entry(row: &mobieus_sdk::Row) -> Result<Entry> {
    Ok(Entry {
        id: row.get("id")?,
        name: row.get("name")?,
        message: row.get("message")?,
        created_at: row.get("created_at")?,
    })
}

fn list(cx: &mut Ctx) -> Result<Reply> {
    let page = PageRequest::from(cx)?;
    let db = cx.db();
    let filter = page.time_filter("created_at");
    Reply::ok(&page.fetch(&db, "guestbook_entries", "id, name, message, created_at", &filter, entry, |e| e.id.clone())?)
}

fn create(cx: &mut Ctx) -> Result<Reply> {
    let new: NewEntry = cx.json()?;
    if new.name.trim().is_empty() || new.name.chars().count() > 80 {
        return Err(Error::validation("name", "1 to 80 characters"));
    }
    if new.message.trim().is_empty() || new.message.chars().count() > 2000 {
        return Err(Error::validation("message", "1 to 2000 characters"));
    }
    let entry = Entry { id: cx.new_id("gb_"), name: new.name, message: new.message, created_at: cx.now() };
    cx.db().execute(
        "INSERT INTO guestbook_entries (id, name, message, created_at) VALUES (?1, ?2, ?3, ?4)",
        &[&entry.id, &entry.name, &entry.message, &entry.created_at],
    )?;
    cx.emit("guestbook.entry_created", &json!({ "entry": &entry }))?;
    Reply::created(&entry)
}

fn get(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.param("id")?;
    let row = cx
        .db()
        .query_one("SELECT id, name, message, created_at FROM guestbook_entries WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::not_found("entry"))?;
    Reply::ok(&entry(&row)?)
}

mobieus_sdk::export!(Guestbook);
