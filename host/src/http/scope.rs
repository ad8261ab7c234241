//! Scope checks. A host route's scope is declared once, in its handler's `#[utoipa::path]`
//! (`security(("api_key" = ["posts:write"]))`), which also registers the route; the router reads
//! the finished document into [`Scopes`], and one [`layer`] checks every matched host route
//! against it before idempotency and the handler. Plugin routes are checked with [`check`] by
//! `crate::plugins::dispatch`, from their manifests.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::http::context::Authenticated;
use crate::http::idempotency::{self, InFlight};

/// What an operation declares, by route template and method.
#[derive(Debug, Default)]
pub struct Scopes(HashMap<String, Vec<(Method, Declared)>>);

#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub scope: String,
    /// A body that is not JSON (an upload) is streamed by the route itself, which applies
    /// idempotency after it has spooled and hashed the bytes.
    pub streamed: bool,
}

impl Scopes {
    /// Every operation of a finished document (`x-required-scope`, set from its security).
    pub fn from_document(doc: &Value) -> Scopes {
        let mut table: HashMap<String, Vec<(Method, Declared)>> = HashMap::new();
        let paths = doc["paths"].as_object().into_iter().flatten();
        for (path, item) in paths {
            let operations = item.as_object().into_iter().flatten();
            for (method, op) in operations {
                let (Ok(method), Some(scope)) = (
                    Method::from_bytes(method.to_ascii_uppercase().as_bytes()),
                    op["x-required-scope"].as_str(),
                ) else {
                    continue;
                };
                let streamed = op
                    .pointer("/requestBody/content")
                    .and_then(Value::as_object)
                    .is_some_and(|content| !content.contains_key("application/json"));
                let declared = Declared {
                    scope: scope.to_owned(),
                    streamed,
                };
                table
                    .entry(path.clone())
                    .or_default()
                    .push((method, declared));
            }
        }
        Scopes(table)
    }

    pub fn get(&self, path: &str, method: &Method) -> Option<&Declared> {
        // axum answers HEAD with the GET handler.
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.0
            .get(path)?
            .iter()
            .find_map(|(m, declared)| (m == method).then_some(declared))
    }

    pub fn len(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the layer needs: the table, and the idempotency keys in flight.
#[derive(Clone)]
pub struct ScopeLayer {
    pub scopes: Arc<Scopes>,
    pub idempotency: Arc<InFlight>,
}

/// The matched route's declared scope, then `Idempotency-Key` on POSTs (after the scope check,
/// so a refused request never claims a key). A route without a declaration is refused: a host
/// route is never open by omission.
pub async fn layer(State(layer): State<ScopeLayer>, req: Request, next: Next) -> Response {
    let declared = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| layer.scopes.get(path.as_str(), req.method()));
    let Some(declared) = declared else {
        return ApiError::internal(anyhow::anyhow!(
            "{} {}: a host route without a declared scope",
            req.method(),
            req.uri().path()
        ))
        .into_response();
    };
    if let Err(refusal) = check(req.extensions().get::<Authenticated>(), &declared.scope) {
        return refusal.into_response();
    }
    if declared.streamed {
        return next.run(req).await;
    }
    idempotency::guard(&layer.idempotency, req, |req| next.run(req)).await
}

/// 403 `insufficient_scope` naming the scope, unless the caller's key holds it.
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
