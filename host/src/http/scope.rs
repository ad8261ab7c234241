//! Scope checks, declared per route next to the route itself, run before the handler.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::context::Authenticated;
use crate::http::idempotency;

/// `route` may be called only by keys holding `scope`. POSTs on it honour `Idempotency-Key`
/// (after the scope check, so a refused request never claims a key).
pub fn scoped(
    state: &AppState,
    scope: &'static str,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    route
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(from_fn(move |req: Request, next: Next| {
            require(scope, req, next)
        }))
}

pub async fn require(scope: &'static str, req: Request, next: Next) -> Response {
    match check(req.extensions().get::<Authenticated>(), scope) {
        Ok(()) => next.run(req).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// 403 `insufficient_scope` naming the scope, unless the caller's key holds it. Plugin routes use
/// it too.
pub fn check(auth: Option<&Authenticated>, scope: &str) -> Result<(), ApiError> {
    if auth.is_some_and(|auth| auth.key.has_scope(scope)) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        format!("This key lacks the `{scope}` scope this endpoint requires."),
    )
    .with("required_scope", scope.to_owned()))
}
