//! Declares a scope outside its namespaces: refused.
use mobieus_sdk::prelude::*;

struct P;

impl Plugin for P {
    fn manifest() -> Manifest {
        Manifest::new("badscope", "1.0.0").claims(["badscope"]).scope("users:admin", "Not its own.")
    }

    fn router() -> Router {
        Router::new().route(Route::get("/api/v1/badscope/x", "users:admin", hello))
    }
}

fn hello(_: &mut Ctx) -> Result<Reply> {
    Reply::ok(&json!({ "hello": true }))
}

mobieus_sdk::export!(P);
