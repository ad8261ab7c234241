//! Claims the namespace of the hostile plugin: refused once hostile is loaded.
use mobieus_sdk::prelude::*;

struct P;

impl Plugin for P {
    fn manifest() -> Manifest {
        Manifest::new("copycat", "1.0.0").claims(["hostile"]).scope("hostile:copy", "Mine too?")
    }

    fn router() -> Router {
        Router::new().route(Route::get("/api/v1/hostile/loop", "hostile:copy", hello))
    }
}

fn hello(_: &mut Ctx) -> Result<Reply> {
    Reply::ok(&json!({ "hello": true }))
}

mobieus_sdk::export!(P);
