//! Version 2: a new migration (a column) and a new route; the old data stays.
use mobieus_sdk::prelude::*;

struct Counter;

impl Plugin for Counter {
    fn manifest() -> Manifest {
        Manifest::new("counter", "2.0.0")
            .claims(["counter"])
            .scope("counter:use", "Count.")
            .migration(1, "hits", "CREATE TABLE counter_hits (id TEXT PRIMARY KEY)")
            .migration(2, "hit_notes", "ALTER TABLE counter_hits ADD COLUMN note TEXT")
    }

    fn router() -> Router {
        Router::new()
            .route(Route::post("/api/v1/counter/hits", "counter:use", hit))
            .route(Route::get("/api/v1/counter/version", "counter:use", version))
    }
}

fn hit(cx: &mut Ctx) -> Result<Reply> {
    cx.db().execute("INSERT INTO counter_hits (id, note) VALUES (?1, 'v2')", &[&cx.new_id("hit_")])?;
    let n: i64 = cx.db().query_one("SELECT COUNT(*) AS n FROM counter_hits", &[])?.map_or(Ok(0), |r| r.get("n"))?;
    Reply::created(&json!({ "hits": n }))
}

fn version(_: &mut Ctx) -> Result<Reply> {
    Reply::ok(&json!({ "version": 2 }))
}

mobieus_sdk::export!(Counter);
