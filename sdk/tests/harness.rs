//! The local test harness, driving a small plugin that uses every capability natively: what a
//! plugin author's own `cargo test` looks like.

// Handlers answer `Result<Reply>` as in any plugin (see the SDK's note on `Error`'s size).
#![allow(clippy::result_large_err)]

use mobieus_sdk::prelude::*;
use mobieus_sdk::testing::Harness;
use mobieus_sdk::{Completion, Prompt};

struct Notes;

impl Plugin for Notes {
    fn manifest() -> Manifest {
        Manifest::new("notes", "1.0.0")
            .claims(["notes"])
            .scope("notes:use", "Use it.")
            .event("notes.noted", "A note was written.")
            .flag("ai.title")
            .uses([
                Capability::Timers,
                Capability::Mail,
                Capability::Ai,
                Capability::Surfaces,
            ])
            .migration(
                1,
                "notes",
                "CREATE TABLE notes_notes (id TEXT PRIMARY KEY, author_id TEXT NOT NULL, body TEXT NOT NULL, title TEXT);
                 CREATE TABLE notes_reminded (id TEXT NOT NULL);",
            )
    }

    fn router() -> Router {
        Router::new()
            .route(Route::post("/api/v1/notes", "notes:use", create))
            .route(Route::get("/api/v1/notes/{id}", "notes:use", get_one))
            .route(Route::get(
                "/api/v1/notes/{id}/try-write",
                "notes:use",
                write_in_get,
            ))
            .route(Route::post("/api/v1/notes/{id}/title", "notes:use", title).ai_errors())
            .route(Route::get("/api/v1/notes/group/{id}", "notes:use", group))
            .route(Route::get(
                "/api/v1/notes/elsewhere",
                "notes:use",
                elsewhere,
            ))
            .route(Route::get("/api/v1/notes/sealed", "notes:use", sealed))
    }

    fn on_timer(cx: &mut Ctx, timer: &Timer) -> std::result::Result<(), String> {
        // The payload is the JSON text `set_timer` was given.
        let id: String = mobieus_sdk::json::from_str(&timer.payload).map_err(|e| e.to_string())?;
        cx.db()
            .execute("INSERT INTO notes_reminded (id) VALUES (?1)", &[&id])
            .map(|_| ())
            .map_err(|e| e.message)
    }

    fn on_event(cx: &mut Ctx, event: &Event) -> std::result::Result<(), String> {
        let id = event.data["id"].as_str().unwrap_or_default().to_owned();
        cx.db()
            .execute("INSERT INTO notes_reminded (id) VALUES (?1)", &[&id])
            .map(|_| ())
            .map_err(|e| e.message)
    }
}

#[derive(Deserialize)]
struct NewNote {
    author_id: String,
    body: String,
}

fn create(cx: &mut Ctx) -> Result<Reply> {
    let new: NewNote = cx.json()?;
    let author = cx
        .user(&new.author_id)?
        .ok_or_else(|| Error::validation("author_id", "no such user"))?;
    let id = cx.new_id("note_");
    cx.db().execute(
        "INSERT INTO notes_notes (id, author_id, body) VALUES (?1, ?2, ?3)",
        &[&id, &new.author_id, &new.body],
    )?;
    cx.emit("notes.noted", &json!({ "id": id }))?;
    cx.set_timer(&format!("remind:{id}"), cx.now_ms() + 60_000, &id)?;
    cx.send_mail(Mail::new("Noted", &new.body).to_user(&author.id))?;
    if new.body == "fail after writing" {
        return Err(Error::conflict("asked_to_fail", "as asked"));
    }
    Reply::created(&json!({ "id": id }))
}

fn get_one(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.param("id")?;
    let row = cx
        .db()
        .query_one("SELECT body, title FROM notes_notes WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::not_found("note"))?;
    Reply::ok(
        &json!({ "body": row.get::<String>("body")?, "title": row.get::<Option<String>>("title")? }),
    )
}

fn write_in_get(cx: &mut Ctx) -> Result<Reply> {
    let refused = cx.db().execute("DELETE FROM notes_notes", &[]).is_err();
    Reply::ok(&json!({ "refused": refused }))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mobieus_sdk::schemars")]
struct Title {
    title: String,
}

fn title(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.param("id")?;
    let (answer, completion): (Title, Completion) =
        cx.ask_for(Prompt::new("ai.title").user("Give this note a title."))?;
    cx.db().execute(
        "UPDATE notes_notes SET title = ?1 WHERE id = ?2",
        &[&answer.title, &id],
    )?;
    Reply::ok(&json!({ "title": answer.title, "model": completion.model }))
}

fn group(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.param("id")?;
    let members = cx
        .group_members(&id)?
        .ok_or_else(|| Error::not_found("group"))?;
    Reply::ok(&json!({ "members": members }))
}

fn elsewhere(cx: &mut Ctx) -> Result<Reply> {
    let answer = cx.surface_get("/api/v1/know/search?q=x")?;
    Reply::ok(
        &json!({ "status": answer.status, "body": answer.json::<mobieus_sdk::json::Value>()? }),
    )
}

/// A value sealed and opened again, and what another label gets.
fn sealed(cx: &mut Ctx) -> Result<Reply> {
    let sealed = cx.seal("token", b"s3cret")?;
    let opened = cx.open_sealed("token", &sealed)?;
    let elsewhere = cx.open_sealed("other", &sealed).is_ok();
    Reply::ok(
        &json!({ "opened": String::from_utf8_lossy(&opened), "other_label_opens": elsewhere }),
    )
}

fn body(answer: &mobieus_sdk::Answer) -> serde_json::Value {
    answer.json().unwrap()
}

#[test]
fn a_write_commits_with_its_events_mail_and_timers_and_a_failed_one_leaves_nothing() {
    let mut host = Harness::<Notes>::new();
    host.user("usr_ada", "ada").now(1_000_000);
    let made = host.post(
        "/api/v1/notes",
        json!({ "author_id": "usr_ada", "body": "hello" }),
    );
    assert_eq!(made.status, 201);
    let id = body(&made)["id"].as_str().unwrap().to_owned();
    assert_eq!(
        body(&host.get(&format!("/api/v1/notes/{id}")))["body"],
        "hello"
    );
    assert_eq!(host.events().len(), 1);
    assert_eq!(host.events()[0].event_type, "notes.noted");
    assert_eq!(host.mail().len(), 1);
    assert_eq!(host.timers()[0].at_ms, 1_060_000);

    let failed = host.post(
        "/api/v1/notes",
        json!({ "author_id": "usr_ada", "body": "fail after writing" }),
    );
    assert_eq!(failed.status, 409);
    let count = host
        .db()
        .query_one("SELECT COUNT(*) AS n FROM notes_notes", &[])
        .unwrap()
        .unwrap()
        .get::<i64>("n")
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(
        (host.events().len(), host.mail().len(), host.timers().len()),
        (1, 1, 1)
    );

    // A GET is read-only; unknown paths and methods answer as the host does.
    assert_eq!(
        body(&host.get(&format!("/api/v1/notes/{id}/try-write")))["refused"],
        true
    );
    assert_eq!(host.get("/api/v1/nothing").status, 404);
    assert_eq!(host.delete(&format!("/api/v1/notes/{id}")).status, 405);

    // Timers fire once due; events are delivered to on_event.
    assert!(host.fire_due_timers().is_empty());
    host.now(1_060_000);
    let fired = host.fire_due_timers();
    assert_eq!(fired, vec![(format!("remind:{id}"), Ok(()))]);
    assert!(host.timers().is_empty());
    host.deliver("notes.noted", json!({ "id": "note_x" }))
        .unwrap();
    let reminded = host
        .db()
        .query("SELECT id FROM notes_reminded ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<String>("id").unwrap())
        .collect::<Vec<_>>();
    assert_eq!(reminded, vec![id.clone(), "note_x".to_owned()]);
}

#[test]
fn ai_flags_groups_surfaces_and_secrets_are_the_tests_to_set() {
    let mut host = Harness::<Notes>::new();
    host.user("usr_ada", "ada");
    let id = body(&host.post(
        "/api/v1/notes",
        json!({ "author_id": "usr_ada", "body": "hello" }),
    ))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/notes/{id}/title");
    let off = host.post(&path, json!({}));
    assert_eq!(
        (off.status, body(&off)["error"]["code"].clone()),
        (403, json!("feature_disabled"))
    );
    host.flag("ai.title", true);
    assert_eq!(host.post(&path, json!({})).status, 409); // no provider set
    host.on_ai(|request| {
        assert!(request.schema.is_some());
        Ok(mobieus_sdk::testing::fake::ai::Completion {
            text: r#"{"title":"Greetings"}"#.into(),
            model: "fake".into(),
            usage: mobieus_sdk::testing::fake::ai::Usage {
                input_tokens: 1,
                output_tokens: 1,
            },
        })
    });
    let titled = host.post(&path, json!({}));
    assert_eq!(titled.status, 200);
    assert_eq!(
        body(&host.get(&format!("/api/v1/notes/{id}")))["title"],
        "Greetings"
    );

    host.group("grp_1", &["usr_b", "usr_a"]);
    assert_eq!(
        body(&host.get("/api/v1/notes/group/grp_1"))["members"],
        json!(["usr_a", "usr_b"])
    );
    assert_eq!(host.get("/api/v1/notes/group/grp_2").status, 404);

    assert_eq!(
        body(&host.get("/api/v1/notes/sealed")),
        json!({ "opened": "s3cret", "other_label_opens": false })
    );

    host.on_surface(|path| (200, format!(r#"{{"asked":"{path}"}}"#).into_bytes()));
    assert_eq!(
        body(&host.get("/api/v1/notes/elsewhere"))["body"]["asked"],
        "/api/v1/know/search?q=x"
    );
}
