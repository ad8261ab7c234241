//! One line per request at the default level, and the request metrics: the outermost layer, so
//! it sees the status and `X-Request-Id` the client gets. The line names the route by its
//! template and never carries a key, a query string or a body: the request id a client quotes
//! finds it without turning on debug.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::http::gate::{Gate, RequestedTenant, ServedTenant};
use crate::plugins::dispatch::RouteTemplate;

/// A path no route matched: one label for them all, so a scan of random paths cannot grow the
/// metrics without bound.
const UNMATCHED: &str = "unmatched";

pub async fn access_log(State(gate): State<Gate>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let tenant = gate.tenant_of(&req);
    req.extensions_mut().insert(RequestedTenant(tenant.clone()));
    let response = next.run(req).await;
    let took = started.elapsed();
    let route = matched
        .as_deref()
        .or_else(|| response.extensions().get::<RouteTemplate>().map(|t| &*t.0))
        .unwrap_or(UNMATCHED);
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info!(
        target: "mobieus::access",
        request_id,
        tenant = tenant.as_deref().unwrap_or("-"),
        method = method.as_str(),
        route,
        status,
        micros = took.as_micros() as u64,
    );
    let served = response.extensions().get::<ServedTenant>().map(|t| &*t.0);
    crate::metrics::request(method.as_str(), route, status, served, took);
    response
}
