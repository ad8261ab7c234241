//! Contract 1.1's capabilities as the end-to-end tests drive them: full-text search over its own
//! FTS5 index, timers and `on-timer`, the tenant's files, users in a batch.
use mobieus_sdk::prelude::*;

struct Capable;

impl Plugin for Capable {
    fn manifest() -> Manifest {
        Manifest::new("capable", "1.0.0")
            .claims(["capable"])
            .scope("capable:use", "Use it.")
            .uses([
                Capability::Search,
                Capability::Timers,
                Capability::Files,
                Capability::Mail,
                Capability::Surfaces,
                Capability::Ai,
            ])
            .flag("ai.summary")
            .flag("ai.tag")
            .event("capable.timer_fired", "A timer fired.")
            .migration(
                1,
                "notes",
                "CREATE TABLE capable_notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL);
                 CREATE VIRTUAL TABLE capable_notes_fts USING fts5(title, body, content = 'capable_notes', content_rowid = 'id', tokenize = 'porter unicode61');
                 CREATE VIRTUAL TABLE capable_names USING fts5(name, tokenize = 'trigram');
                 CREATE TABLE capable_fired (key TEXT NOT NULL, payload TEXT NOT NULL, at_ms INTEGER NOT NULL, fired_at INTEGER NOT NULL);",
            )
            .migration(
                2,
                "tagged",
                "CREATE TABLE capable_tagged (id INTEGER PRIMARY KEY, text TEXT NOT NULL, tags TEXT NOT NULL);
                 CREATE TABLE capable_runs (label TEXT NOT NULL);",
            )
    }

    fn router() -> Router {
        let r = |route: Route| route;
        Router::new()
            .route(r(Route::post(
                "/api/v1/capable/notes",
                "capable:use",
                add_note,
            )))
            .route(r(Route::get(
                "/api/v1/capable/search",
                "capable:use",
                search,
            )))
            .route(r(Route::post(
                "/api/v1/capable/timers",
                "capable:use",
                set_timer,
            )))
            .route(r(Route::delete(
                "/api/v1/capable/timers/{key}",
                "capable:use",
                cancel_timer,
            )))
            .route(r(Route::get(
                "/api/v1/capable/timers/set-in-a-get",
                "capable:use",
                timer_in_get,
            )))
            .route(r(Route::get("/api/v1/capable/fired", "capable:use", fired)))
            .route(r(Route::get(
                "/api/v1/capable/files/{id}",
                "capable:use",
                read_file,
            )))
            .route(r(Route::get("/api/v1/capable/users", "capable:use", users)))
            .route(r(Route::post("/api/v1/capable/mail", "capable:use", send_mail)))
            .route(r(Route::get("/api/v1/capable/public/{code}", "capable:use", public).public()))
            .route(r(Route::get("/api/v1/capable/chain", "capable:use", chain)))
            .route(r(Route::post("/api/v1/capable/chain", "capable:use", chain)))
            .route(Route::post("/api/v1/capable/ai/tag", "capable:use", ai_tag).ai_errors())
            .route(Route::get("/api/v1/capable/ai/summary", "capable:use", ai_summary).ai_errors())
            .route(Route::get("/api/v1/capable/ai/tagged", "capable:use", ai_tagged))
            .route(r(Route::get("/api/v1/capable/groups/{id}", "capable:use", group_members)))
    }

    fn on_timer(cx: &mut Ctx, timer: &Timer) -> std::result::Result<(), String> {
        let mut payload: String = serde_json_str(&timer.payload);
        if payload == "fail" {
            return Err("asked to fail".into());
        }
        // A reaction reads the tenant's flags too.
        if payload == "flag" {
            payload = format!("flag:{}", if cx.flag("ai.summary") { "on" } else { "off" });
        }
        let fired = || -> Result<()> {
            cx.db().execute(
                "INSERT INTO capable_fired (key, payload, at_ms, fired_at) VALUES (?1, ?2, ?3, ?4)",
                &[&timer.key, &payload, &timer.at_ms, &cx.now_ms()],
            )?;
            cx.emit(
                "capable.timer_fired",
                &json!({ "key": timer.key, "payload": payload }),
            )?;
            if payload == "again" {
                // Set again under its own key: it must survive this timer's deletion.
                cx.set_timer(&timer.key, cx.now_ms() + 50, &"second")?;
            }
            Ok(())
        };
        fired().map_err(|e| e.message)
    }
}

fn serde_json_str(text: &str) -> String {
    mobieus_sdk::json::from_str(text).unwrap_or_default()
}

#[derive(Deserialize)]
struct NewNote {
    title: String,
    body: String,
}

fn add_note(cx: &mut Ctx) -> Result<Reply> {
    let note: NewNote = cx.json()?;
    cx.db().execute(
        "INSERT INTO capable_notes (title, body) VALUES (?1, ?2)",
        &[&note.title, &note.body],
    )?;
    let id: i64 = cx
        .db()
        .query_one("SELECT last_insert_rowid() AS id", &[])?
        .map_or(Ok(0), |r| r.get("id"))?;
    cx.db().execute(
        "INSERT INTO capable_notes_fts (rowid, title, body) VALUES (?1, ?2, ?3)",
        &[&id, &note.title, &note.body],
    )?;
    cx.db().execute(
        "INSERT INTO capable_names (name) VALUES (?1)",
        &[&note.title],
    )?;
    Reply::created(&json!({ "id": id }))
}

fn search(cx: &mut Ctx) -> Result<Reply> {
    let q = cx
        .query("q")
        .ok_or_else(|| Error::validation("q", "required"))?;
    let rows = cx.db().query(
        "SELECT rowid AS id, highlight(capable_notes_fts, 0, '<b>', '</b>') AS title,
                snippet(capable_notes_fts, 1, '<b>', '</b>', '…', 8) AS snippet, bm25(capable_notes_fts) AS score
         FROM capable_notes_fts WHERE capable_notes_fts MATCH ?1 ORDER BY rank LIMIT 20",
        &[&q],
    )?;
    let mut hits = vec![];
    for row in rows {
        hits.push(json!({
            "id": row.get::<i64>("id")?,
            "title": row.get::<String>("title")?,
            "snippet": row.get::<String>("snippet")?,
            "score": row.get::<f64>("score")?,
        }));
    }
    let names: i64 = cx
        .db()
        .query_one(
            "SELECT count(*) AS n FROM capable_names WHERE name MATCH ?1",
            &[&format!("\"{q}\"")],
        )?
        .map_or(Ok(0), |r| r.get("n"))?;
    Reply::ok(&json!({ "data": hits, "trigram_matches": names }))
}

#[derive(Deserialize)]
struct NewTimer {
    key: String,
    in_ms: i64,
    payload: String,
}

fn set_timer(cx: &mut Ctx) -> Result<Reply> {
    let t: NewTimer = cx.json()?;
    cx.set_timer(&t.key, cx.now_ms() + t.in_ms, &t.payload)?;
    Reply::created(&json!({ "key": t.key }))
}

fn cancel_timer(cx: &mut Ctx) -> Result<Reply> {
    let key = cx.param("key")?;
    Reply::ok(&json!({ "cancelled": cx.cancel_timer(&key)? }))
}

fn timer_in_get(cx: &mut Ctx) -> Result<Reply> {
    match cx.set_timer("nope", 0, &"x") {
        Ok(()) => Reply::ok(&json!({ "set": true })),
        Err(e) => Reply::ok(&json!({ "set": false, "error": e.message })),
    }
}

fn fired(cx: &mut Ctx) -> Result<Reply> {
    let rows = cx.db().query(
        "SELECT key, payload FROM capable_fired ORDER BY fired_at, key",
        &[],
    )?;
    let mut out = vec![];
    for row in rows {
        out.push(
            json!({ "key": row.get::<String>("key")?, "payload": row.get::<String>("payload")? }),
        );
    }
    Reply::ok(&json!({ "data": out }))
}

fn read_file(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.param("id")?;
    let Some(info) = cx.file(&id)? else {
        return Err(Error::not_found("file"));
    };
    if info.status != "clean" {
        return Err(Error::conflict(
            "file_not_clean",
            format!("The file is {}.", info.status),
        ));
    }
    let bytes = cx.read_file(&id, 8 << 20)?;
    let sum = bytes
        .iter()
        .fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
    Reply::ok(&json!({
        "filename": info.filename,
        "size": info.size,
        "read": bytes.len(),
        "checksum": sum.to_string(),
        "sha256": info.sha256,
    }))
}

fn users(cx: &mut Ctx) -> Result<Reply> {
    let ids: Vec<String> = cx
        .query("ids")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let found = cx.users(&ids)?;
    Reply::ok(&json!({ "usernames": found.iter().map(|u| u.username.clone()).collect::<Vec<_>>() }))
}

#[derive(Deserialize)]
struct NewMail {
    #[serde(default)]
    to_user: Option<String>,
    #[serde(default)]
    to: Option<String>,
    subject: String,
    text: String,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    invite: bool,
    /// Queue it, then fail the request: nothing may be sent.
    #[serde(default)]
    then_fail: bool,
}

const INVITE: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//capable//test//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:evt-1@capable\r\nDTSTAMP:20261206T120000Z\r\nDTSTART:20261210T150000Z\r\nSUMMARY:Kick-off\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

fn send_mail(cx: &mut Ctx) -> Result<Reply> {
    let m: NewMail = cx.json()?;
    let mut mail = Mail::new(&m.subject, &m.text);
    if let Some(user) = &m.to_user {
        mail = mail.to_user(user);
    }
    if let Some(to) = &m.to {
        mail = mail.to_address(to);
    }
    if let Some(html) = &m.html {
        mail = mail.html(html);
    }
    if m.invite {
        mail = mail.attach("invite.ics", "text/calendar; method=REQUEST", INVITE.as_bytes().to_vec());
    }
    let id = match cx.send_mail(mail) {
        Ok(id) => id,
        Err(e) => return Err(Error::validation("to", e.message)),
    };
    if m.then_fail {
        return Err(Error::conflict("asked_to_fail", "Failed after queueing mail."));
    }
    Reply::created(&json!({ "id": id }))
}

/// GETs `?path=` as the caller and says what came back.
fn chain(cx: &mut Ctx) -> Result<Reply> {
    let path = cx.query("path").unwrap_or_default();
    match cx.surface_get(&path) {
        Ok(answer) => {
            let body: mobieus_sdk::json::Value = mobieus_sdk::json::from_slice(&answer.body).unwrap_or_default();
            Reply::ok(&json!({ "status": answer.status, "body": body }))
        }
        Err(e) => Reply::ok(&json!({ "refused": e.message })),
    }
}

fn public(cx: &mut Ctx) -> Result<Reply> {
    let caller = cx.caller();
    Reply::ok(&json!({
        "code": cx.param("code")?,
        "key_id": caller.as_ref().map(|c| c.key_id.clone()),
        "scopes": caller.map(|c| c.scopes).unwrap_or_default(),
    }))
}

mobieus_sdk::export!(Capable);

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "mobieus_sdk::schemars")]
struct Tags {
    tags: Vec<String>,
}

/// Writes before it asks (rolled back and done again on the run with the answer, so once), asks
/// for tags of a schema, writes them.
fn ai_tag(cx: &mut Ctx) -> Result<Reply> {
    #[derive(Deserialize)]
    struct Body {
        text: String,
    }
    let body: Body = cx.json()?;
    cx.db()
        .execute("INSERT INTO capable_runs (label) VALUES ('before')", &[])?;
    let (tags, completion) = cx.ask_for::<Tags>(
        Prompt::new("ai.tag")
            .system("You tag support messages.")
            .user(&body.text)
            .max_tokens(200)
            .temperature(0.0),
    )?;
    let joined = mobieus_sdk::json::to_string(&tags.tags)?;
    cx.db().execute(
        "INSERT INTO capable_tagged (text, tags) VALUES (?1, ?2)",
        &[&body.text, &joined],
    )?;
    Reply::created(&json!({
        "tags": tags.tags,
        "model": completion.model,
        "usage": { "input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens },
    }))
}

/// A read call that asks, in plain text.
fn ai_summary(cx: &mut Ctx) -> Result<Reply> {
    let text = cx
        .query("text")
        .ok_or_else(|| Error::validation("text", "required"))?;
    let answer = cx.ask(Prompt::new("ai.summary").user(&format!("Summarise: {text}")))?;
    Reply::ok(&json!({ "summary": answer.text, "model": answer.model }))
}

/// What the tag route left: its rows, and how many runs wrote before asking and stayed.
fn ai_tagged(cx: &mut Ctx) -> Result<Reply> {
    let tagged = cx.db().query("SELECT text, tags FROM capable_tagged ORDER BY id", &[])?;
    let runs = cx
        .db()
        .query_one("SELECT COUNT(*) AS n FROM capable_runs", &[])?
        .map_or(Ok(0), |r| r.get::<i64>("n"))?;
    let mut rows = vec![];
    for row in tagged {
        rows.push(json!({ "text": row.get::<String>("text")?, "tags": row.get::<String>("tags")? }));
    }
    Reply::ok(&json!({ "tagged": rows, "runs_kept": runs }))
}

/// A host group's members, as the users capability reads them.
fn group_members(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.param("id")?;
    let members = cx
        .group_members(&id)?
        .ok_or_else(|| Error::not_found("group"))?;
    Reply::ok(&json!({ "members": members }))
}
