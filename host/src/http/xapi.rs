//! What the host does differently under the xAPI Learning Record Store's base
//! (`/api/v1/learn/xapi`, served by the Learn plugin). xAPI clients (content, cmi5 players, the
//! ADL conformance suite) speak the standard and nothing else, so on these paths alone:
//!
//! - HTTP Basic carries the API key (xAPI 1.0.3 Communication 4.0): as the username with an empty
//!   password (`curl -u "$KEY:"`, Stripe's convention), or as the password with any username.
//!   `Bearer` and `X-API-Key` work as everywhere. Elsewhere a Basic header stays
//!   `invalid_authorization`.
//! - The alternate request syntax (Communication 1.3) may carry `Authorization` as a form field of
//!   a `POST …?method=…`: it is lifted into the header before the key is looked up.
//! - The host's own refusals (401, 404, 429…) carry `X-Experience-API-Version`, as the plugin's
//!   answers do.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::auth::Presented;
use crate::error::{ApiError, Result};
use crate::http::json::read_body;

/// The LRS's base path.
pub const BASE: &str = "/api/v1/learn/xapi";

/// The xAPI version the LRS speaks.
pub const VERSION: &str = "1.0.3";

pub fn is_lrs_path(path: &str) -> bool {
    path.strip_prefix(BASE)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The key a Basic header carries, or `None` when the header is not Basic (the caller falls back
/// to the usual schemes). A Basic header that does not decode is `invalid_authorization`.
pub fn basic_key(headers: &HeaderMap) -> Option<Result<Option<Presented>>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let Some(decoded) = decoded else {
        return Some(Err(invalid_basic()));
    };
    let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
    let key = if password.is_empty() { user } else { password };
    Some(Ok(Presented::parse(key)))
}

fn invalid_basic() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "invalid_authorization",
        "The Authorization header must be `Basic <base64 of key:>` or `Bearer <key>`.",
    )
}

/// For a `POST …?method=…` form with no `Authorization` header, the form's `Authorization`
/// field becomes the header. The body is read (within the API's limit) and put back whole.
pub async fn lift_form_authorization(req: Request) -> Result<Request> {
    let alternate = req.method() == Method::POST
        && !req.headers().contains_key(header::AUTHORIZATION)
        && req
            .uri()
            .query()
            .is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "method"))
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
    if !alternate {
        return Ok(req);
    }
    let (mut parts, body) = req.into_parts();
    let bytes = read_body(body).await?;
    let field = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "Authorization")
        .and_then(|(_, v)| HeaderValue::from_str(&v).ok());
    if let Some(value) = field {
        parts.headers.insert(header::AUTHORIZATION, value);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Stamps the version on an answer that has none (the host's own refusals).
pub fn stamp_version(response: &mut Response) {
    response
        .headers_mut()
        .entry("x-experience-api-version")
        .or_insert(HeaderValue::from_static(VERSION));
}

/// An error before the gate's key lookup, with the version stamped.
pub fn refuse(error: ApiError) -> Response {
    let mut response = error.into_response();
    stamp_version(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_pass);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        headers
    }

    #[test]
    fn paths() {
        assert!(is_lrs_path("/api/v1/learn/xapi"));
        assert!(is_lrs_path("/api/v1/learn/xapi/statements"));
        assert!(!is_lrs_path("/api/v1/learn/xapis"));
        assert!(!is_lrs_path("/api/v1/learn/courses"));
    }

    #[test]
    fn the_key_is_the_username_with_no_password_or_else_the_password() {
        let key = format!("mc_live_{}", "a".repeat(43));
        let as_user = basic(&format!("{key}:"));
        let as_password = basic(&format!("xapi:{key}"));
        for headers in [as_user, as_password] {
            let presented = basic_key(&headers).unwrap().unwrap();
            assert!(presented.is_some(), "a key in either place is found");
        }
        let neither = basic("someone:not-a-key");
        assert!(basic_key(&neither).unwrap().unwrap().is_none());
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(basic_key(&bearer).is_none(), "not Basic: the usual schemes");
        let mut garbled = HeaderMap::new();
        garbled.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic %%%"));
        assert!(basic_key(&garbled).unwrap().is_err());
    }
}
