//! JSON request bodies with our own rejections: 415 `unsupported_media_type` for another content
//! type, 413 `payload_too_large` past the limit, 400 `invalid_json` for malformed JSON and 400
//! `validation_failed` naming the field for a wrong type, a missing or an unknown field.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Result};

/// The largest request body the API reads.
pub const BODY_LIMIT: usize = 1 << 20;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self> {
        require_json(req.headers())?;
        let bytes = read_body(req.into_body()).await?;
        parse(&bytes).map(ApiJson)
    }
}

pub fn require_json(headers: &HeaderMap) -> Result<()> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let is_json = essence.eq_ignore_ascii_case("application/json")
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the request body as JSON with `Content-Type: application/json`.",
        ))
    }
}

/// Past the limit, up to this much more is read and discarded before answering 413, so that an
/// ordinary client finishes sending and reads our answer instead of seeing the connection reset.
const DRAIN_LIMIT: usize = 16 << 20;

/// Reads a body up to [`BODY_LIMIT`].
pub async fn read_body(body: Body) -> Result<Bytes> {
    read_up_to(body, BODY_LIMIT)
        .await
        .map_err(|unread| match unread {
            Unread::TooLarge => payload_too_large(),
            Unread::Broken => {
                ApiError::bad_request("invalid_body", "The request body could not be read.")
            }
        })
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum Unread {
    /// Past the limit (and drained, up to [`DRAIN_LIMIT`] more).
    TooLarge,
    /// The client's body broke off.
    Broken,
}

/// Reads a body up to `limit` bytes; past it, drains up to [`DRAIN_LIMIT`] more so the client
/// reads the refusal.
pub async fn read_up_to(mut body: Body, limit: usize) -> std::result::Result<Bytes, Unread> {
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Unread::Broken)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        if seen > limit + DRAIN_LIMIT {
            break;
        }
        if seen <= limit {
            buf.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(Unread::TooLarge);
    }
    Ok(buf.freeze())
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("The request body is larger than {} bytes.", BODY_LIMIT),
    )
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err(invalid_json("the request body is empty")),
        // serde would accept `["ada"]` for a struct; every body of ours is an object.
        Some(b'[') => return Err(ApiError::validation("body", "expected a JSON object")),
        Some(_) => {}
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_error(&path, &inner),
            _ => invalid_json(&inner.to_string()),
        }
    })?;
    de.end().map_err(|e| invalid_json(&e.to_string()))?;
    Ok(value)
}

fn invalid_json(detail: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_json",
        format!("The request body is not valid JSON: {detail}."),
    )
}

/// A body that is JSON but not the expected shape: name the field.
fn data_error(path: &str, error: &serde_json::Error) -> ApiError {
    let text = error.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text).to_owned();
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let field = if path == "." || path.is_empty() {
        named("missing field `")
            .or_else(|| named("unknown field `"))
            .unwrap_or_else(|| "body".to_owned())
    } else {
        path.to_owned()
    };
    ApiError::validation(field, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        name: String,
        size: Option<u32>,
    }

    fn err(body: &str) -> ApiError {
        parse::<Thing>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn names_the_field() {
        assert!(parse::<Thing>(br#"{"name":"a"}"#).is_ok());
        let e = err(r#"{"name":5}"#);
        assert_eq!(
            (e.code.as_ref(), e.extra["field"].as_str()),
            ("validation_failed", Some("name"))
        );
        let e = err(r#"{"size":1}"#);
        assert_eq!(e.extra["field"], "name");
        let e = err(r#"{"name":"a","colour":1}"#);
        assert_eq!(e.extra["field"], "colour");
        let e = err(r#"{"name":"a","size":-1}"#);
        assert_eq!(e.extra["field"], "size");
        assert_eq!(err("[1]").extra["field"], "body");
    }

    #[test]
    fn malformed_is_invalid_json() {
        for body in ["", "{", "{\"name\":\"a\"} x", "nope"] {
            assert_eq!(err(body).code, "invalid_json", "{body}");
        }
    }
}
