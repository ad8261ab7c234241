//! CORS for `/api/v1/*`: preflight `OPTIONS` answers 204 on every path; allowed origins (the
//! tenant's `cors.allowed_origins`) get the CORS headers, any other origin none.

use axum::http::{HeaderMap, HeaderValue, header};

const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
/// The host's request headers, and those conditional requests and the surfaces' protocols use.
const ALLOW_HEADERS: &str = "authorization, x-api-key, content-type, idempotency-key, if-match, \
                             if-none-match, x-experience-api-version";
const EXPOSE_HEADERS: &str = "x-request-id, x-ratelimit-limit, x-ratelimit-remaining, \
                              x-ratelimit-reset, retry-after, idempotent-replayed, etag, \
                              last-modified, location, x-experience-api-version";

/// Headers for an actual (non-preflight) response to an allowed origin.
pub fn allow(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    vary_origin(headers);
}

/// Headers for a preflight answer to an allowed origin.
pub fn allow_preflight(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    vary_origin(headers);
}

/// Caches must not reuse a response across origins.
pub fn vary_origin(headers: &mut HeaderMap) {
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}
