//! `Idempotency-Key` on POST. Same key + same API key + same path within 24 h replays the stored
//! status and body with `Idempotent-Replayed: true`; the same key with another body is 422
//! `idempotency_key_reused`; a duplicate while the first is still running is 409
//! `idempotency_in_progress`.
//!
//! Only successful (2xx) responses are stored, and the write records its response in the same
//! transaction as the rows it creates ([`Claim::record`]), so a crash can never leave a resource
//! without its record or a record without its resource: only one resource is ever created. A
//! request that failed changed nothing, so retrying it with the same key runs it again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Result};
use crate::http::context::Authenticated;
use crate::http::json::read_body;

pub const HEADER: &str = "idempotency-key";
pub const TTL_SECS: i64 = 24 * 60 * 60;

/// The SHA-256 (hex) of a body that a layer before this one consumed (an upload spooled to
/// disk): the request's fingerprint uses it in place of the bytes.
#[derive(Clone)]
pub struct BodyDigest(pub String);

/// The right to record the response for one idempotency key, held while the request runs.
pub struct Claim {
    api_key_id: String,
    key: String,
    path: String,
    request_hash: [u8; 32],
    recorded: AtomicBool,
}

impl Claim {
    /// Stores a JSON response; call inside the write transaction that produced it.
    pub fn record(
        &self,
        conn: &Connection,
        status: StatusCode,
        body: &[u8],
    ) -> rusqlite::Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.record_with(conn, status, &headers, body)
    }

    /// Stores a response with its own headers (a plugin's `Location`, `ETag`…), which a replay
    /// answers again.
    pub fn record_with(
        &self,
        conn: &Connection,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> rusqlite::Result<()> {
        if !status.is_success() {
            return Ok(());
        }
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let headers = serde_json::to_string(&headers)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        conn.prepare_cached(
            "INSERT OR REPLACE INTO idempotency_keys
                 (api_key_id, key, path, request_hash, status, headers, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            self.api_key_id,
            self.key,
            self.path,
            self.request_hash,
            status.as_u16(),
            headers,
            body,
            chrono::Utc::now().timestamp()
        ])?;
        self.recorded.store(true, Ordering::Release);
        Ok(())
    }
}

/// Keys whose first request is still running, in this process.
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<(String, String, String, String)>>);

struct InFlightGuard<'a> {
    set: &'a InFlight,
    entry: (String, String, String, String),
}

impl InFlight {
    /// The guard for `entry`, or `None` while another request holds it. The set's lock is released
    /// before a guard exists: dropping a guard takes the lock again (and must only ever remove an
    /// entry its own claim inserted).
    fn claim(&self, entry: (String, String, String, String)) -> Option<InFlightGuard<'_>> {
        let inserted = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(entry.clone());
        inserted.then(|| InFlightGuard { set: self, entry })
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut set = self.set.0.lock().unwrap_or_else(|e| e.into_inner());
        set.remove(&self.entry);
    }
}

struct Stored {
    request_hash: Vec<u8>,
    status: u16,
    /// `[[name, value], …]` as JSON (before plugins' headers were kept: `{name: value}`).
    headers: String,
    body: Vec<u8>,
}

pub async fn layer(State(inflight): State<Arc<InFlight>>, req: Request, next: Next) -> Response {
    guard(&inflight, req, |req| next.run(req)).await
}

/// Runs `next` under the request's `Idempotency-Key`, if it is a POST with one: replays, refuses
/// a reuse or a duplicate in flight, or lets the request through holding the claim.
pub async fn guard<F, Fut>(inflight: &InFlight, req: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    run(inflight, req, next)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn run<F, Fut>(inflight: &InFlight, req: Request, next: F) -> Result<Response>
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    if req.method() != axum::http::Method::POST {
        return Ok(next(req).await);
    }
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(next(req).await);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::validation("Idempotency-Key", "1 to 255 visible ASCII characters")
        })?
        .to_owned();
    let auth = req
        .extensions()
        .get::<Authenticated>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("idempotency outside the gate")))?;
    let (mut parts, body) = req.into_parts();
    // A streamed upload was written to disk already; its hash stands for its bytes.
    let (body, request_hash) = match parts.extensions.get::<BodyDigest>() {
        Some(digest) => (body, request_hash(&parts, digest.0.as_bytes())),
        None => {
            let bytes = read_body(body).await?;
            let hash = request_hash(&parts, &bytes);
            (Body::from(bytes), hash)
        }
    };
    let path = parts.uri.path().to_owned();

    let _guard = inflight
        .claim((
            auth.tenant.id.clone(),
            auth.key.id.clone(),
            key.clone(),
            path.clone(),
        ))
        .ok_or_else(|| {
            ApiError::conflict(
                "idempotency_in_progress",
                "A request with this Idempotency-Key is still being processed. Retry shortly.",
            )
        })?;

    let (db, key_id, k, p) = (
        auth.db.clone(),
        auth.key.id.clone(),
        key.clone(),
        path.clone(),
    );
    let stored = tokio::task::spawn_blocking(move || {
        db.read(|conn| -> Result<Option<Stored>> {
            Ok(conn
                .prepare_cached(
                    "SELECT request_hash, status, headers, body FROM idempotency_keys
                     WHERE api_key_id = ?1 AND key = ?2 AND path = ?3 AND created_at > ?4",
                )?
                .query_row(
                    params![key_id, k, p, chrono::Utc::now().timestamp() - TTL_SECS],
                    |r| {
                        Ok(Stored {
                            request_hash: r.get(0)?,
                            status: r.get(1)?,
                            headers: r.get(2)?,
                            body: r.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
    })
    .await??;

    if let Some(stored) = stored {
        if stored.request_hash != request_hash {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request body. Use a new key.",
            ));
        }
        return Ok(replay(stored));
    }

    let claim = Arc::new(Claim {
        api_key_id: auth.key.id.clone(),
        key,
        path,
        request_hash,
        recorded: AtomicBool::new(false),
    });
    parts.extensions.insert(claim.clone());
    let response = next(Request::from_parts(parts, body)).await;
    if response.status().is_success() && !claim.recorded.load(Ordering::Acquire) {
        // Every host write records in its own transaction; this is a bug guard, not a path.
        tracing::warn!(path = %claim.path, "a successful POST did not record its idempotency key");
    }
    Ok(response)
}

fn request_hash(parts: &axum::http::request::Parts, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(parts.method.as_str());
    hash.update([0]);
    hash.update(parts.uri.path_and_query().map_or("", |p| p.as_str()));
    hash.update([0]);
    hash.update(
        parts
            .headers
            .get(header::CONTENT_TYPE)
            .map_or(&b""[..], |v| v.as_bytes()),
    );
    hash.update([0]);
    hash.update(body);
    hash.finalize().into()
}

fn replay(stored: Stored) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let pairs: Vec<(String, String)> = match serde_json::from_str(&stored.headers) {
        Ok(serde_json::Value::Array(pairs)) => {
            serde_json::from_value(pairs.into()).unwrap_or_default()
        }
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
            .collect(),
        _ => vec![],
    };
    let headers = response.headers_mut();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Deletes records older than 24 h. Blocking.
pub fn sweep(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at <= ?1",
        [chrono::Utc::now().timestamp() - TTL_SECS],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> (String, String, String, String) {
        (
            "tnt".into(),
            "key".into(),
            key.into(),
            "/api/v1/posts".into(),
        )
    }

    /// A duplicate claim is refused without touching the first claim's entry, and never takes the
    /// set's lock twice (that deadlocked a worker). Run on a thread so a regression fails here
    /// instead of hanging the suite.
    #[test]
    fn a_duplicate_claim_is_refused_and_leaves_the_first_in_place() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let set = InFlight::default();
            let first = set.claim(entry("k")).expect("the first claim");
            assert!(set.claim(entry("k")).is_none(), "a duplicate was admitted");
            assert!(
                set.claim(entry("k")).is_none(),
                "the first claim's entry was removed"
            );
            let other = set
                .claim(entry("other"))
                .expect("another key is independent");
            drop(first);
            let again = set
                .claim(entry("k"))
                .expect("free again once the first finished");
            drop((again, other));
            assert!(set.0.lock().unwrap().is_empty());
            done.send(()).unwrap();
        });
        finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("claiming an in-flight key deadlocked");
    }
}
