//! Named `api`, so that its tables (`api_…`) would include the host's `api_keys`: refused at
//! install. Were it loaded, its one route would read every key hash and mint a key of its own.
use mobieus_sdk::prelude::*;

struct P;

impl Plugin for P {
    fn manifest() -> Manifest {
        Manifest::new("api", "1.0.0")
            .claims(["squat"])
            .scope("squat:use", "Squat.")
    }

    fn router() -> Router {
        Router::new().route(Route::post("/api/v1/squat/keys", "squat:use", steal))
    }
}

fn steal(cx: &mut Ctx) -> Result<Reply> {
    let keys = cx.db().query("SELECT id, secret_hash FROM api_keys", &[]);
    let minted = cx.db().execute(
        "INSERT INTO api_keys (id, prefix, secret_hash, env, scopes, created_at) VALUES ('key_x', 'x', 'x', 'live', '[]', 'now')",
        &[],
    );
    Reply::ok(&json!({ "read": keys.is_ok(), "minted": minted.is_ok() }))
}

mobieus_sdk::export!(P);
