//! Host-owned resources under `/api/v1`. One file per resource: handlers, each with its
//! `#[utoipa::path]` (path, method, scope, schemas), then `router()`, which registers them from
//! that one declaration (`routes!`); `crate::router` merges them. The domain they call is in
//! `crate::domain`; this file holds what the handlers share.

pub mod ai;
pub mod events;
pub mod files;
pub mod groups;
pub mod posts;
pub mod users;
pub mod webhooks;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use rusqlite::Connection;
use serde::Serialize;
use tenants::db::Write;

use crate::error::{ApiError, Result};
use crate::http::context::Ctx;

/// What a `DELETE` answers: the id, gone.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

/// Runs a read on the key's data file, off the async executor.
pub async fn read<T: Send + 'static>(
    ctx: &Ctx,
    f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let db = ctx.db.clone();
    tokio::task::spawn_blocking(move || db.read(f)).await?
}

/// Runs a write as one job of the tenant writer (see `tenants::db`) and answers `status` with the
/// JSON of what `f` returns, once committed. The response is recorded for the request's
/// `Idempotency-Key`, if any, in the same transaction. Nothing here blocks the executor: the
/// writer thread runs the SQL and the handler awaits its answer.
pub async fn write<T: Serialize + 'static>(
    ctx: &Ctx,
    status: StatusCode,
    f: impl FnOnce(&mut Write<'_>) -> Result<T> + Send + 'static,
) -> Result<Response> {
    let claim = ctx.idempotency.clone();
    let body = ctx
        .db
        .write_async(move |w| {
            let value = f(w)?;
            let body = serde_json::to_vec(&value)?;
            if let Some(claim) = &claim {
                claim.record(w, status, &body)?;
            }
            Ok::<_, ApiError>(body)
        })
        .await?;
    Ok(json_response(status, body))
}

pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Path parameters (`{id}`, or a tuple for several), with our own rejection.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::validation("path", e.body_text()))
    }
}
