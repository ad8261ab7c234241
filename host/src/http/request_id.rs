//! The outermost layer: gives every request an id (`req_<16 hex>`), puts it in `X-Request-Id`,
//! renders any [`ApiError`] in the one envelope with that id, and logs failures with it.

use std::any::Any;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

impl RequestId {
    fn new() -> Self {
        RequestId(format!("req_{:016x}", rand::random::<u64>()).into())
    }
}

tokio::task_local! {
    /// The id of the request this task serves, for failures rendered outside the API's envelope
    /// (the console's HTML pages) to name the id the `X-Request-Id` header carries.
    static CURRENT: RequestId;
}

/// The id of the request being served, when called while serving one.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(RequestId::clone).ok()
}

pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = RequestId::new();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    req.extensions_mut().insert(id.clone());
    let mut response = CURRENT.scope(id.clone(), next.run(req)).await;
    if let Some(error) = response.extensions_mut().remove::<Arc<ApiError>>() {
        log_error(&id, &method, &path, &error);
        response = if path.starts_with("/scim/") {
            render_scim(response, &error, &id)
        } else {
            render(response, &error, &id)
        };
    }
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn log_error(id: &RequestId, method: &axum::http::Method, path: &str, error: &ApiError) {
    if let Some(source) = &error.source {
        tracing::error!(request_id = %id.0, %method, path, code = %error.code, "request failed: {source:#}");
    } else if error.is_internal() {
        tracing::error!(request_id = %id.0, %method, path, code = %error.code, "request failed");
    } else {
        tracing::debug!(request_id = %id.0, %method, path, status = error.status.as_u16(),
            code = %error.code, "request refused");
    }
}

/// The envelope: `{"error": {"code", "message", ...extra, "request_id"}}`. Headers already set on
/// the response (rate limits, `Retry-After`, CORS) are kept.
fn render(response: Response, error: &ApiError, id: &RequestId) -> Response {
    let bytes = serde_json::to_vec(&error.envelope(&id.0)).unwrap_or_default();
    let (mut parts, _) = response.into_parts();
    parts.status = error.status;
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// The SCIM error schema (RFC 7644 §3.12): `status` as a string, `scimType` when one applies.
/// The request id is in `X-Request-Id`, and in `detail` for a failure of ours.
fn render_scim(response: Response, error: &ApiError, id: &RequestId) -> Response {
    let scim_type =
        error
            .extra
            .get("scimType")
            .and_then(Value::as_str)
            .or(match error.code.as_ref() {
                "validation_failed" => Some("invalidValue"),
                "username_taken" | "group_name_taken" => Some("uniqueness"),
                _ => None,
            });
    let detail = if error.is_internal() {
        format!("{} (request {})", error.message, id.0)
    } else {
        error.message.to_string()
    };
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": error.status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(t) = scim_type {
        body["scimType"] = json!(t);
    }
    let (mut parts, _) = response.into_parts();
    parts.status = error.status;
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

/// A handler panicked: answer `internal_error`; the server and every other request carry on.
pub fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}
