//! The HTTP stack. The order of the layers is written once, in [`stack`]:
//!
//! request id (and the error envelope) → panic guard → gate (tenant → CORS → auth → plan gate →
//! rate limit) → route table → per route: scope check → idempotency → handler.

pub mod context;
pub mod cors;
pub mod gate;
pub mod idempotency;
pub mod json;
pub mod last_used;
pub mod rate_limit;
pub mod request_id;
pub mod scope;
pub mod tenant_host;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use tower_http::catch_panic::CatchPanicLayer;

use crate::app::AppState;

/// Wraps the routes in the middleware every request goes through. Layers added last run first.
pub fn stack(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(from_fn_with_state(state.clone(), gate::gate))
        .layer(CatchPanicLayer::custom(request_id::panic_response))
        .layer(from_fn(request_id::request_id))
        .with_state(state)
}
