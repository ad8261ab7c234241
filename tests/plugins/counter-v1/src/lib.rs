//! Version 1 of a plugin that is upgraded in place by the tests.
use mobieus_sdk::prelude::*;

struct Counter;

impl Plugin for Counter {
    fn manifest() -> Manifest {
        Manifest::new("counter", "1.0.0")
            .claims(["counter"])
            .scope("counter:use", "Count.")
            .migration(1, "hits", "CREATE TABLE counter_hits (id TEXT PRIMARY KEY)")
    }

    fn router() -> Router {
        Router::new()
            .route(Route::post("/api/v1/counter/hits", "counter:use", hit))
            .route(Route::get("/api/v1/counter/version", "counter:use", version))
    }
}

fn hit(cx: &mut Ctx) -> Result<Reply> {
    cx.db().execute("INSERT INTO counter_hits (id) VALUES (?1)", &[&cx.new_id("hit_")])?;
    let n: i64 = cx.db().query_one("SELECT COUNT(*) AS n FROM counter_hits", &[])?.map_or(Ok(0), |r| r.get("n"))?;
    Reply::created(&json!({ "hits": n }))
}

fn version(_: &mut Ctx) -> Result<Reply> {
    Reply::ok(&json!({ "version": 1 }))
}

mobieus_sdk::export!(Counter);
