//! A plugin whose routes misbehave on purpose, to show that the host contains each one.

use mobieus_sdk::prelude::*;

struct Hostile;

impl Plugin for Hostile {
    fn manifest() -> Manifest {
        Manifest::new("hostile", "1.0.0")
            .claims(["hostile"])
            .scope("hostile:use", "Call the hostile routes.")
            .event("hostile.thing_created", "A thing was written.")
            .migration(1, "things", "CREATE TABLE hostile_things (id TEXT PRIMARY KEY, note TEXT)")
            .subscribe("user.registered")
    }

    /// Reacts to another surface's event: a row and an event of its own, in one transaction with
    /// the cursor. Idempotent, as at-least-once delivery asks.
    fn on_event(cx: &mut Ctx, event: &Event) -> std::result::Result<(), String> {
        let id = format!("seen_{}", event.id);
        let note = event.data["user"]["username"].as_str().unwrap_or("?").to_owned();
        cx.db()
            .execute("INSERT OR IGNORE INTO hostile_things (id, note) VALUES (?1, ?2)", &[&id, &note])
            .map_err(|e| e.to_string())?;
        cx.emit("hostile.thing_created", &json!({ "id": id, "from": event.id })).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn router() -> Router {
        type Make = fn(&str, &str, fn(&mut Ctx) -> Result<Reply>) -> Route;
        let r = |method: Make, path: &str, h: fn(&mut Ctx) -> Result<Reply>| method(path, "hostile:use", h);
        Router::new()
            .route(r(Route::get, "/api/v1/hostile/loop", spin))
            .route(r(Route::get, "/api/v1/hostile/trap", trap))
            .route(r(Route::get, "/api/v1/hostile/oom", oom))
            .route(r(Route::get, "/api/v1/hostile/big", big))
            .route(r(Route::get, "/api/v1/hostile/sql/{case}", sql))
            .route(r(Route::post, "/api/v1/hostile/emit-undeclared", undeclared))
            .route(r(Route::post, "/api/v1/hostile/things", write))
            .route(r(Route::post, "/api/v1/hostile/write-then-trap", write_then_trap))
            .route(r(Route::get, "/api/v1/hostile/things", count))
            .route(r(Route::post, "/api/v1/hostile/read-users", read_users))
    }
}

fn spin(_: &mut Ctx) -> Result<Reply> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn trap(_: &mut Ctx) -> Result<Reply> {
    panic!("hostile: a deliberate panic");
}

fn oom(_: &mut Ctx) -> Result<Reply> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

fn big(_: &mut Ctx) -> Result<Reply> {
    Reply::bytes(200, vec![b'x'; 5 << 20])
}

/// Each case tries something the sandbox must refuse; the refusal comes back as an error.
fn sql(cx: &mut Ctx) -> Result<Reply> {
    let statement = match cx.param("case")?.as_str() {
        "host-table" => "SELECT * FROM api_keys",
        "host-users" => "SELECT * FROM users",
        "other-plugin" => "SELECT * FROM guestbook_entries",
        "attach" => "ATTACH DATABASE 'stolen.db' AS stolen",
        "pragma" => "PRAGMA journal_mode = DELETE",
        "pragma-read" => "PRAGMA table_info(api_keys)",
        "extension" => "SELECT load_extension('evil')",
        "schema" => "SELECT sql FROM sqlite_master",
        "own" => "SELECT COUNT(*) AS n FROM hostile_things",
        "drop-host" => "DROP TABLE events",
        other => return Err(Error::validation("case", format!("unknown case {other}"))),
    };
    match cx.db().query(statement, &[]) {
        Ok(rows) => Reply::ok(&json!({ "allowed": true, "rows": rows.len() })),
        Err(e) => Reply::ok(&json!({ "allowed": false, "error": e.message })),
    }
}

fn undeclared(cx: &mut Ctx) -> Result<Reply> {
    match cx.emit("hostile.sneaky", &json!({})) {
        Ok(id) => Reply::ok(&json!({ "emitted": id })),
        Err(e) => Reply::ok(&json!({ "emitted": null, "error": e.message })),
    }
}

fn insert(cx: &mut Ctx) -> Result<String> {
    let id = cx.new_id("thing_");
    cx.db().execute("INSERT INTO hostile_things (id, note) VALUES (?1, ?2)", &[&id, &"written"])?;
    cx.emit("hostile.thing_created", &json!({ "id": id }))?;
    Ok(id)
}

fn write(cx: &mut Ctx) -> Result<Reply> {
    let id = insert(cx)?;
    Reply::created(&json!({ "id": id }))
}

fn write_then_trap(cx: &mut Ctx) -> Result<Reply> {
    insert(cx)?;
    panic!("hostile: trapped after writing");
}

fn count(cx: &mut Ctx) -> Result<Reply> {
    let n: i64 = cx.db().query_one("SELECT COUNT(*) AS n FROM hostile_things", &[])?.map_or(Ok(0), |r| r.get("n"))?;
    Reply::ok(&json!({ "count": n }))
}

/// The host grants a read-only view of its users.
fn read_users(cx: &mut Ctx) -> Result<Reply> {
    let rows = cx.db().query("SELECT id, username FROM host_users", &[])?;
    let write = cx.db().execute("DELETE FROM host_users", &[]);
    Reply::ok(&json!({ "users": rows.len(), "delete_refused": write.is_err() }))
}

mobieus_sdk::export!(Hostile);
