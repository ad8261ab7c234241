//! Claims a namespace the host owns: refused.
use mobieus_sdk::prelude::*;

struct P;

impl Plugin for P {
    fn manifest() -> Manifest {
        Manifest::new("hostns", "1.0.0").claims(["users"])
    }

    fn router() -> Router {
        Router::new().route(Route::get("/api/v1/users/extra", "users:read", hello))
    }
}

fn hello(_: &mut Ctx) -> Result<Reply> {
    Reply::ok(&json!({ "hello": true }))
}

mobieus_sdk::export!(P);
