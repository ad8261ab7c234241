//! Files: `POST /api/v1/files` (`files:write`; the raw bytes as the body, their type in
//! `Content-Type`, `?filename=`), `GET /api/v1/files` (filter `status`), `GET /api/v1/files/{id}`
//! and `GET /api/v1/files/{id}/content` (`files:read`).
//!
//! An upload streams to disk ([`crate::files::blobs`]) before the handler runs, capped by the
//! tenant's `files.max_upload_bytes` (default 25 MiB; 413 `payload_too_large` above it). It is
//! answered `201` in quarantine; the scanner decides, and only a `clean` file's content is served.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rusqlite::params;
use rusqlite::types::Value;

use crate::api::{self, ApiPath};
use crate::error::{ApiError, Result};
use crate::files::blobs::{Blobs, SpoolError, Spooled};
use crate::files::{self, CLEAN, File, QUARANTINED, REJECTED};
use crate::http::context::{Authenticated, Ctx};
use crate::http::idempotency::{self, BodyDigest};
use crate::paging::{ListQuery, ListRequest, Page};
use crate::state::AppState;
use crate::time::{to_rfc3339, ulid_time};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const FILENAME_MAX: usize = 255;
const CONTENT_TYPE_MAX: usize = 255;

/// The spooled upload, handed from [`spool`] to [`upload`].
#[derive(Clone)]
struct Upload(Arc<Mutex<Option<Spooled>>>);

/// List files
///
/// Newest first; filter by scan `status`.
#[utoipa::path(get, path = "/api/v1/files", tag = "Files", operation_id = "listFiles",
    params(crate::openapi::ListParams,
        ("status" = Option<String>, Query, description = "`quarantined`, `clean` or `rejected`.")),
    security(("api_key" = ["files:read"])),
    responses((status = 200, description = "A page of files.", body = [File])))]
async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<File>>> {
    let req = ListRequest::parse(&uri, "files", &["status"], &state.cursor_key)?;
    let key = state.cursor_key.clone();
    api::read(&ctx, move |conn| {
        let mut query = ListQuery {
            table: "files",
            id_prefix: "file_",
            columns: files::COLUMNS,
            conditions: vec![],
            params: vec![],
            counters: None,
        };
        if let Some(status) = req.filters.get("status") {
            if ![QUARANTINED, CLEAN, REJECTED].contains(&status.as_str()) {
                return Err(ApiError::validation(
                    "status",
                    "one of quarantined, clean, rejected",
                ));
            }
            query.conditions.push("status = ?".into());
            query.params.push(Value::Text(status.clone()));
        }
        query.fetch(conn, &req, &key, files::from_row)
    })
    .await
    .map(Json)
}

/// The file `id` of the key's tenant file, or `404 file_not_found`.
async fn find(ctx: &Ctx, id: String) -> Result<File> {
    api::read(ctx, move |conn| {
        files::find(conn, &id)?.ok_or_else(|| ApiError::not_found("file"))
    })
    .await
}

/// Get a file's metadata
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "Files", operation_id = "getFile",
    params(("id" = String, Path, description = "`file_…`")),
    security(("api_key" = ["files:read"])),
    responses((status = 200, description = "The file's metadata and scan status.", body = File)))]
async fn get_one(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Json<File>> {
    find(&ctx, id).await.map(Json)
}

/// Download a file
///
/// The bytes of a clean file, streamed, as an attachment that no browser runs or sniffs
/// (declared type, `ETag`, `nosniff`, `CSP: sandbox`).
#[utoipa::path(get, path = "/api/v1/files/{id}/content", tag = "Files",
    operation_id = "getFileContent",
    params(("id" = String, Path, description = "`file_…`")),
    security(("api_key" = ["files:read"])),
    responses((status = 200, description = "The bytes, in the type declared at upload.",
            content_type = "application/octet-stream", body = String),
        (status = 409, description = "`file_quarantined` (scan pending: retry shortly) or \
            `file_rejected` (with the `reason`; never served).", body = crate::openapi::ErrorEnvelope)))]
async fn content(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiPath(id): ApiPath<String>,
) -> Result<Response> {
    let file = find(&ctx, id).await?;
    match file.status.as_str() {
        CLEAN => {}
        REJECTED => {
            return Err(ApiError::conflict(
                "file_rejected",
                "The file failed its scan and is never served.",
            )
            .with("reason", file.reason.unwrap_or_default()));
        }
        _ => {
            return Err(ApiError::conflict(
                "file_quarantined",
                "The file is in quarantine until its scan passes; retry shortly.",
            ));
        }
    }
    let blobs = Blobs::of(&state.store, &ctx.tenant, ctx.db.env());
    let blob = tokio::fs::File::open(blobs.path(&file.sha256))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("blob of {}: {e}", file.id)))?;
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(blob)).into_response();
    let headers = response.headers_mut();
    let typed = |v: &str| HeaderValue::from_str(v).ok();
    if let Some(v) = typed(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    if let Some(v) = typed(&format!("\"{}\"", file.sha256)) {
        headers.insert(header::ETAG, v);
    }
    if let Some(v) = typed(&content_disposition(&file.filename)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(response)
}

/// `attachment; filename*=UTF-8''…` (RFC 6266 / 8187), with a plain ASCII fallback.
fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Streams the body to disk before idempotency and the handler run, so a large upload is never
/// held in memory; the idempotency layer fingerprints it by its hash ([`BodyDigest`]).
async fn spool(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(auth) = req.extensions().get::<Authenticated>().cloned() else {
        return ApiError::internal(anyhow::anyhow!("upload outside the gate")).into_response();
    };
    let cap = auth.settings.max_upload_bytes();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The file is larger than this tenant's upload limit of {cap} bytes."),
        )
        .with("limit", cap)
        .into_response()
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap) {
        return too_large();
    }
    let blobs = Blobs::of(&state.store, &auth.tenant, auth.db.env());
    let (mut parts, body) = req.into_parts();
    let spooled = match blobs.spool(body, cap).await {
        Ok(spooled) => spooled,
        Err(SpoolError::TooLarge) => return too_large(),
        Err(SpoolError::Read) => {
            return ApiError::bad_request("invalid_body", "The request body could not be read.")
                .into_response();
        }
        Err(SpoolError::Io(e)) => {
            return ApiError::internal(anyhow::anyhow!("spooling an upload: {e}")).into_response();
        }
    };
    parts.extensions.insert(BodyDigest(spooled.sha256.clone()));
    parts
        .extensions
        .insert(Upload(Arc::new(Mutex::new(Some(spooled)))));
    next.run(Request::from_parts(parts, Body::empty())).await
}

/// Upload a file
///
/// The raw bytes are the body and `Content-Type` their type. The file is answered in
/// `quarantined` status; the scan makes it `clean` (then `file.uploaded` is emitted) or
/// `rejected`. Capped by the tenant's `files.max_upload_bytes`. Honours `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/files", tag = "Files", operation_id = "uploadFile",
    params(("filename" = Option<String>, Query, description = "Its name (default `file`).")),
    request_body(content = String, content_type = "application/octet-stream",
        description = "The file's bytes, sent as they are, with their own `Content-Type`."),
    security(("api_key" = ["files:write"])),
    responses((status = 201, description = "The file, in quarantine.", body = File),
        (status = 413, description = "`payload_too_large`, with the `limit` in bytes.", body = crate::openapi::ErrorEnvelope)))]
async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Extension(upload): Extension<Upload>,
) -> Result<Response> {
    let filename = filename(&uri)?;
    let content_type = content_type(&headers)?;
    let spooled = upload
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("upload taken twice")))?;
    if spooled.size == 0 {
        return Err(ApiError::validation("body", "the file is empty"));
    }
    let (sha256, size) = (spooled.sha256.clone(), spooled.size as i64);
    let blobs = Blobs::of(&state.store, &ctx.tenant, ctx.db.env());
    tokio::task::spawn_blocking(move || spooled.commit(&blobs))
        .await?
        .map_err(|e| ApiError::internal(anyhow::anyhow!("storing an upload: {e}")))?;
    let key_id = ctx.key.id.clone();
    api::write(&ctx, StatusCode::CREATED, move |w| {
        let ulid = w.new_ulid();
        let file = File {
            id: format!("file_{ulid}"),
            filename,
            content_type,
            sniffed_type: None,
            size,
            sha256,
            status: QUARANTINED.into(),
            reason: None,
            created_at: to_rfc3339(&ulid_time(ulid)),
            scanned_at: None,
        };
        w.prepare_cached(
            "INSERT INTO files (id, filename, content_type, size, sha256, status, uploaded_by_key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            file.id,
            file.filename,
            file.content_type,
            file.size,
            file.sha256,
            file.status,
            key_id,
            file.created_at
        ])?;
        w.after_commit(files::SIGNAL);
        Ok(file)
    })
    .await
}

/// `?filename=` (the only query parameter), or `file`.
fn filename(uri: &axum::http::Uri) -> Result<String> {
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| ApiError::validation("query", e.body_text()))?
        .0;
    let mut name = None;
    for (k, v) in pairs {
        if k != "filename" {
            return Err(ApiError::validation(
                k,
                "unknown query parameter; an upload takes filename",
            ));
        }
        name = Some(v);
    }
    let Some(name) = name else {
        return Ok("file".into());
    };
    let ok = !name.is_empty()
        && name.chars().count() <= FILENAME_MAX
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if !ok {
        return Err(ApiError::validation(
            "filename",
            format!("1 to {FILENAME_MAX} characters, without / \\ or control characters"),
        ));
    }
    Ok(name)
}

/// The declared type: `type/subtype[; params]`, or `application/octet-stream` when none is sent.
fn content_type(headers: &HeaderMap) -> Result<String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok("application/octet-stream".into());
    };
    let bad = || {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the file's type in Content-Type as type/subtype, e.g. image/png.",
        )
    };
    let value = value.to_str().map_err(|_| bad())?.trim();
    let essence = value.split(';').next().unwrap_or("").trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, s)) if token(t) && token(s) && value.len() <= CONTENT_TYPE_MAX => {
            Ok(value.to_ascii_lowercase())
        }
        _ => Err(bad()),
    }
}

/// The scope layer runs first (see `crate::http::scope`); an upload is then spooled to disk, and
/// only then does idempotency fingerprint it (route layers added last run first).
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let (schemas, paths, upload) = routes!(upload);
    let upload = upload
        .route_layer(from_fn_with_state(
            state.idempotency.clone(),
            idempotency::layer,
        ))
        .route_layer(from_fn_with_state(state.clone(), spool));
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes((schemas, paths, upload))
        .routes(routes!(get_one))
        .routes(routes!(content))
}
