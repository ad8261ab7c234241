//! The HTTP stack. The order of the layers is written once, in [`stack`]:
//!
//! access log and request metrics → client address (trusted proxies) → request id (and the error
//! envelope) → panic guard → gate (tenant → CORS → auth → plan gate → rate limit) → route table →
//! per route: scope check → idempotency → handler. A plugin GET's gate checks run, in the same
//! order, on the plugin read thread that makes the call ([`gate::Deferred`]).

pub mod access_log;
pub mod client_ip;
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
pub mod xapi;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use tower_http::catch_panic::CatchPanicLayer;

use gate::Gate;

/// Wraps the routes in the middleware every request goes through. Layers added last run first.
pub fn stack(routes: Router, gate: Gate, trusted: client_ip::TrustedProxies) -> Router {
    routes
        .layer(from_fn_with_state(gate.clone(), gate::gate))
        .layer(CatchPanicLayer::custom(request_id::panic_response))
        .layer(from_fn(request_id::request_id))
        .layer(from_fn_with_state(trusted, client_ip::client_ip))
        .layer(from_fn_with_state(gate, access_log::access_log))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_internal_error_with_the_request_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = tenants::Store::open(dir.path(), Default::default()).unwrap();
        let gate = Gate {
            store: std::sync::Arc::new(store),
            base_domain: "localhost".into(),
            default_rate_limit: 600,
            limiter: Default::default(),
            last_used: Default::default(),
            plugins: std::sync::Arc::new(crate::plugins::registry::Plugins::new(
                crate::plugins::runtime::Runtime::new(Default::default(), None).unwrap(),
                dir.path().join("plugins"),
            )),
        };
        let routes = Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("kaboom");
                }
                "unreachable"
            }),
        );
        let app = stack(routes, gate, Default::default());
        for _ in 0..2 {
            let response = app
                .clone()
                .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let id = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"]["code"], "internal_error");
            assert_eq!(body["error"]["request_id"], id.as_str());
            assert!(
                !body.to_string().contains("kaboom"),
                "the cause stays in the log"
            );
        }
    }
}
