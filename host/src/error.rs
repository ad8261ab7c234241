//! The one error type of the HTTP layer. Every failure a client can cause is an `ApiError` with a
//! specific code; everything else becomes `internal_error`. Handlers return it; `IntoResponse`
//! only records it in the response's extensions, and the outermost middleware
//! ([`crate::http::request_id`]) renders the envelope with the request id and logs the cause. So
//! rejections, fallbacks, panics and handler errors all take the same path.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Boxed, so `Result<T, ApiError>` stays one word wide on the happy path.
#[derive(Debug)]
pub struct ApiError(Box<ErrorBody>);

#[derive(Debug)]
pub struct ErrorBody {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: Cow<'static, str>,
    /// Fields beside `code` in the envelope (`required_scope`, `field`, ...).
    pub extra: Map<String, Value>,
    /// What went wrong on our side; logged with the request id, never sent.
    pub source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError(Box::new(ErrorBody {
            status,
            code: code.into(),
            message: message.into(),
            extra: Map::new(),
            source: None,
        }))
    }

    /// The envelope a client reads: `{"error": {"code", "message", ...extra, "request_id"}}`.
    pub fn envelope(&self, request_id: &str) -> Value {
        let mut body = Map::new();
        body.insert("code".into(), Value::from(self.code.as_ref()));
        body.insert("message".into(), Value::from(self.message.as_ref()));
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        body.insert("request_id".into(), Value::from(request_id));
        serde_json::json!({ "error": body })
    }

    /// Adds a field beside `code` in the envelope.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.extra.insert(key.to_owned(), value.into());
        self
    }

    /// `<thing>_not_found`, 404.
    pub fn not_found(thing: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{thing}_not_found"),
            format!("No such {thing}, or it is not visible to this key."),
        )
    }

    /// 400 `validation_failed` naming the field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            format!("`{field}`: {message}"),
        )
        .with("field", field)
    }

    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut error = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. Include the request_id when reporting it.",
        );
        error.0.source = Some(source.into());
        error
    }

    /// Records what went wrong on our side, for the log line; never sent.
    pub fn set_source(&mut self, source: anyhow::Error) {
        self.0.source = Some(source);
    }

    /// A failure of ours (logged as an error). `501` is an answer about the API, not a failure.
    pub fn is_internal(&self) -> bool {
        self.status.is_server_error() && self.status != StatusCode::NOT_IMPLEMENTED
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(source) = &self.source {
            write!(f, " ({source:#})")?;
        }
        Ok(())
    }
}

impl std::ops::Deref for ApiError {
    type Target = ErrorBody;
    fn deref(&self) -> &ErrorBody {
        &self.0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

impl From<tenants::Error> for ApiError {
    fn from(e: tenants::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::internal(e)
    }
}
