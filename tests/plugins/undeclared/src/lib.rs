//! Uses `timers` without declaring the capability: the host must refuse to load it.
use mobieus_sdk::prelude::*;

struct Undeclared;

impl Plugin for Undeclared {
    fn manifest() -> Manifest {
        Manifest::new("undeclared", "1.0.0")
            .claims(["undeclared"])
            .scope("undeclared:use", "Use it.")
    }

    fn router() -> Router {
        Router::new().route(Route::post(
            "/api/v1/undeclared/timers",
            "undeclared:use",
            sneak,
        ))
    }
}

fn sneak(cx: &mut Ctx) -> Result<Reply> {
    cx.set_timer("sneaky", 0, &"x")?;
    Reply::created(&json!({}))
}

mobieus_sdk::export!(Undeclared);
