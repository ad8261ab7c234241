//! A plugin whose routes misbehave on purpose, to show that the host contains each one.

use mobieus_sdk::prelude::*;

struct Hostile;

impl Plugin for Hostile {
    fn manifest() -> Manifest {
        Manifest::new("hostile", "1.0.0")
            .claims(["hostile"])
            .scope("hostile:use", "Call the hostile routes.")
            .event("hostile.thing_created", "A thing was written.")
            .event(
                "hostile.echo",
                "Heard back: every one received is emitted again, many times.",
            )
            .event("hostile.stuck", "Its handler never returns.")
            .event(
                "hostile.flood",
                "Emitted as many times as one call allows, and more.",
            )
            .migration(
                1,
                "things",
                "CREATE TABLE hostile_things (id TEXT PRIMARY KEY, note TEXT)",
            )
            .migration(
                2,
                "blobs",
                "CREATE TABLE hostile_blobs (n INTEGER PRIMARY KEY, data BLOB)",
            )
            .subscribe("user.registered")
            .subscribe("hostile.echo")
            .subscribe("hostile.stuck")
    }

    /// Reacts to another surface's event: a row and an event of its own, in one transaction with
    /// the cursor. Idempotent, as at-least-once delivery asks. Its own events it answers badly:
    /// an echo with twenty more (a storm, if nothing bounds it), a stuck event with a loop.
    fn on_event(cx: &mut Ctx, event: &Event) -> std::result::Result<(), String> {
        match event.event_type.as_str() {
            "hostile.echo" => {
                for i in 0..20 {
                    // Refusals past the caps are expected and ignored: the storm tries on.
                    let _ = cx.emit("hostile.echo", &json!({ "from": event.id, "i": i }));
                }
                return Ok(());
            }
            "hostile.stuck" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            _ => {}
        }
        let id = format!("seen_{}", event.id);
        let note = event.data["user"]["username"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        cx.db()
            .execute(
                "INSERT OR IGNORE INTO hostile_things (id, note) VALUES (?1, ?2)",
                &[&id, &note],
            )
            .map_err(|e| e.to_string())?;
        cx.emit(
            "hostile.thing_created",
            &json!({ "id": id, "from": event.id }),
        )
        .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn router() -> Router {
        type Make = fn(&str, &str, fn(&mut Ctx) -> Result<Reply>) -> Route;
        let r = |method: Make, path: &str, h: fn(&mut Ctx) -> Result<Reply>| {
            method(path, "hostile:use", h)
        };
        Router::new()
            .route(r(Route::get, "/api/v1/hostile/loop", spin))
            .route(r(Route::get, "/api/v1/hostile/trap", trap))
            .route(r(Route::get, "/api/v1/hostile/oom", oom))
            .route(r(Route::get, "/api/v1/hostile/big", big))
            .route(r(Route::get, "/api/v1/hostile/sql/{case}", sql))
            .route(r(
                Route::post,
                "/api/v1/hostile/emit-undeclared",
                undeclared,
            ))
            .route(r(Route::post, "/api/v1/hostile/things", write))
            .route(r(
                Route::post,
                "/api/v1/hostile/write-then-trap",
                write_then_trap,
            ))
            .route(r(Route::get, "/api/v1/hostile/things", count))
            .route(r(Route::post, "/api/v1/hostile/read-users", read_users))
            .route(r(Route::get, "/api/v1/hostile/sleep", sleep))
            .route(r(Route::get, "/api/v1/hostile/sql-spin", sql_spin))
            .route(r(Route::post, "/api/v1/hostile/sql-spin", sql_spin))
            .route(r(Route::get, "/api/v1/hostile/sql-huge", sql_huge))
            .route(r(Route::get, "/api/v1/hostile/sql-wide", sql_wide))
            .route(r(Route::post, "/api/v1/hostile/fill", fill))
            .route(r(
                Route::post,
                "/api/v1/hostile/bloat-then-fail",
                bloat_then_fail,
            ))
            .route(r(Route::post, "/api/v1/hostile/echo", echo))
            .route(r(Route::post, "/api/v1/hostile/stuck", stuck))
            .route(r(Route::post, "/api/v1/hostile/flood", flood))
            .route(r(Route::get, "/api/v1/hostile/headers", headers))
    }
}

/// A WASI sleep: it would wait inside the host, out of the deadline's reach.
fn sleep(_: &mut Ctx) -> Result<Reply> {
    std::thread::sleep(std::time::Duration::from_secs(30));
    Reply::ok(&json!({ "slept": true }))
}

/// A statement that never ends, in a read (GET) or the tenant writer's transaction (POST).
fn sql_spin(cx: &mut Ctx) -> Result<Reply> {
    let spun = cx.db().query(
        "WITH RECURSIVE hostile_c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM hostile_c) SELECT count(*) AS n FROM hostile_c",
        &[],
    );
    match spun {
        Ok(_) => Reply::ok(&json!({ "finished": true })),
        Err(e) => Reply::ok(&json!({ "finished": false, "error": e.message })),
    }
}

/// A value far larger than the instance's own memory, built inside SQLite.
fn sql_huge(cx: &mut Ctx) -> Result<Reply> {
    match cx.db().query("SELECT hex(zeroblob(300000000)) AS h", &[]) {
        Ok(rows) => Reply::ok(&json!({ "allowed": true, "rows": rows.len() })),
        Err(e) => Reply::ok(&json!({ "allowed": false, "code": e.code, "error": e.message })),
    }
}

/// Many values each under the length limit, together more than a guest should be handed.
fn sql_wide(cx: &mut Ctx) -> Result<Reply> {
    let sql = "WITH RECURSIVE hostile_c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM hostile_c WHERE x < 40)
               SELECT zeroblob(1000000) AS b FROM hostile_c";
    match cx.db().query(sql, &[]) {
        Ok(rows) => Reply::ok(&json!({ "allowed": true, "rows": rows.len() })),
        Err(e) => Reply::ok(&json!({ "allowed": false, "code": e.code, "error": e.message })),
    }
}

/// Writes 1 MB rows until the host says no; keeps what it could write.
fn fill(cx: &mut Ctx) -> Result<Reply> {
    let mut inserted = 0;
    let error = loop {
        match cx.db().execute(
            "INSERT INTO hostile_blobs (data) VALUES (zeroblob(1000000))",
            &[],
        ) {
            Ok(_) => inserted += 1,
            Err(e) => break json!({ "code": e.code, "message": e.message }),
        }
        if inserted == 2000 {
            break json!(null);
        }
    };
    Reply::ok(&json!({ "inserted": inserted, "error": error }))
}

/// Writes about 80 MB, then fails: every byte is rolled back.
fn bloat_then_fail(cx: &mut Ctx) -> Result<Reply> {
    cx.db().execute(
        "WITH RECURSIVE hostile_c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM hostile_c WHERE x < 80)
         INSERT INTO hostile_blobs (data) SELECT zeroblob(1000000) FROM hostile_c",
        &[],
    )?;
    Err(Error::new(409, "changed_my_mind", "rolled back on purpose"))
}

/// Starts a storm: one echo, which its own handler answers with twenty.
fn echo(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.emit("hostile.echo", &json!({ "from": "route" }))?;
    Reply::created(&json!({ "id": id }))
}

/// An event whose handler loops.
fn stuck(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.emit("hostile.stuck", &json!({}))?;
    Reply::created(&json!({ "id": id }))
}

/// More events than one call may emit, then one over the payload cap.
fn flood(cx: &mut Ctx) -> Result<Reply> {
    let mut emitted = 0;
    let mut refusal = String::new();
    for i in 0..150 {
        match cx.emit("hostile.flood", &json!({ "i": i })) {
            Ok(_) => emitted += 1,
            Err(e) => {
                refusal = e.message;
                break;
            }
        }
    }
    let huge = cx.emit("hostile.flood", &json!({ "pad": "x".repeat(100_000) }));
    let huge = huge.err().map(|e| e.code).unwrap_or_default();
    Reply::created(&json!({ "emitted": emitted, "refusal": refusal, "huge": huge }))
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
        "other-fts" => "SELECT * FROM capable_notes_fts WHERE capable_notes_fts MATCH 'secret'",
        "other-fts-shadow" => "SELECT * FROM capable_notes_fts_data",
        "helpdesk" => "SELECT subject FROM helpdesk_tickets",
        "know" => "SELECT body FROM know_revisions",
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
    cx.db().execute(
        "INSERT INTO hostile_things (id, note) VALUES (?1, ?2)",
        &[&id, &"written"],
    )?;
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
    let n: i64 = cx
        .db()
        .query_one("SELECT COUNT(*) AS n FROM hostile_things", &[])?
        .map_or(Ok(0), |r| r.get("n"))?;
    Reply::ok(&json!({ "count": n }))
}

/// The host grants a read-only view of its users.
fn read_users(cx: &mut Ctx) -> Result<Reply> {
    let rows = cx.db().query("SELECT id, username FROM host_users", &[])?;
    let write = cx.db().execute("DELETE FROM host_users", &[]);
    Reply::ok(&json!({ "users": rows.len(), "delete_refused": write.is_err() }))
}

/// Echoes the request headers it was given, answers with headers of its own and with every
/// header the host owns (which must not get through), and honours `If-None-Match`.
fn headers(cx: &mut Ctx) -> Result<Reply> {
    const ETAG: &str = "\"v1\"";
    if cx.header("if-none-match") == Some(ETAG) {
        return Ok(Reply::not_modified()?.header("ETag", ETAG));
    }
    let seen: Vec<String> = [
        "authorization",
        "cookie",
        "x-api-key",
        "x-custom",
        "if-match",
        "accept",
    ]
    .into_iter()
    .filter(|name| cx.header(name).is_some())
    .map(str::to_owned)
    .collect();
    Ok(Reply::ok(&json!({ "seen": seen }))?
        .header("ETag", ETAG)
        .header("Cache-Control", "private, max-age=60")
        .header("X-Experience-API-Version", "1.0.3")
        .header("X-Request-Id", "req_forged")
        .header("Set-Cookie", "session=stolen")
        .header("X-RateLimit-Remaining", "999999")
        .header("Access-Control-Allow-Origin", "*")
        .header("Content-Length", "1")
        .header("X-Split", "a\r\nInjected: yes"))
}

mobieus_sdk::export!(Hostile);
