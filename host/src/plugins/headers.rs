//! Which headers cross the sandbox. A plugin sees every request header but the caller's
//! credentials, so it can honour `If-Match`, `If-None-Match`, `Accept` or
//! `X-Experience-API-Version` itself; and the headers it answers with pass through (a
//! `Retry-After` on its own 429 too), except those the host owns: the request id, rate limits,
//! CORS, cookies, and HTTP's own framing, which only the host may speak for.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::plugins::bindings::types;

/// The most headers, and header bytes, one answer may set.
pub const MAX_HEADERS: usize = 64;
pub const MAX_HEADER_BYTES: usize = 16 << 10;

/// A secret of the caller's, which no plugin reads.
pub fn is_credential(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "authorization" | "cookie" | "x-api-key" | "proxy-authorization"
    )
}

/// Headers the host alone sets on an answer.
fn is_hosts(name: &str) -> bool {
    matches!(
        name,
        "x-request-id"
            | "set-cookie"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "upgrade"
            | "te"
            | "trailer"
            | "date"
            | "server"
            | "strict-transport-security"
            | "content-security-policy"
            | "idempotent-replayed"
            // The plugin's word to the host's cache alone (`shared_cache`).
            | "mobieus-cache-control"
    ) || name.starts_with("x-ratelimit-")
        || name.starts_with("access-control-")
        || name.starts_with("proxy-")
}

/// Copies a plugin's answer headers onto the response, dropping the host's own, malformed ones,
/// and whatever is past [`MAX_HEADERS`] or [`MAX_HEADER_BYTES`] (each with a log line: the
/// plugin's author should hear of it, the client need not).
pub fn pass_through(from: Vec<types::Header>, to: &mut HeaderMap) {
    let mut bytes = 0;
    for (i, header) in from.into_iter().enumerate() {
        bytes += header.name.len() + header.value.len();
        if i >= MAX_HEADERS || bytes > MAX_HEADER_BYTES {
            tracing::warn!(
                "plugin answer: headers past {MAX_HEADERS} or {MAX_HEADER_BYTES} bytes dropped"
            );
            return;
        }
        let name = header.name.to_ascii_lowercase();
        if is_hosts(&name) {
            tracing::debug!(header = %name, "plugin answer: a header the host owns, dropped");
            continue;
        }
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&header.value),
        ) {
            (Ok(name), Ok(value)) => {
                to.append(name, value);
            }
            _ => tracing::warn!(header = %name, "plugin answer: a malformed header, dropped"),
        }
    }
}

/// A header as a plugin sends or receives it, for tests.
#[cfg(test)]
pub fn h(name: &str, value: &str) -> types::Header {
    types::Header {
        name: name.into(),
        value: value.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugins_headers_pass_but_the_hosts_own_and_broken_ones() {
        let mut out = HeaderMap::new();
        pass_through(
            vec![
                h("ETag", "\"r1\""),
                h("Cache-Control", "no-cache"),
                h("Location", "/api/v1/x/1"),
                h("X-Experience-API-Version", "1.0.3"),
                h("Vary", "Accept"),
                h("X-Request-Id", "req_forged"),
                h("Mobieus-Cache-Control", "max-age=60"),
                h("Set-Cookie", "session=stolen"),
                h("X-RateLimit-Remaining", "999999"),
                h("Access-Control-Allow-Origin", "*"),
                h("Content-Length", "1"),
                h("Transfer-Encoding", "chunked"),
                h("bad name", "x"),
                h("X-Split", "a\r\nInjected: yes"),
            ],
            &mut out,
        );
        let names: Vec<&str> = out.keys().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "etag",
                "cache-control",
                "location",
                "x-experience-api-version",
                "vary"
            ]
        );
    }

    #[test]
    fn an_answer_sets_a_bounded_number_of_headers() {
        let mut out = HeaderMap::new();
        let many = (0..1000).map(|i| h(&format!("x-h{i}"), "v")).collect();
        pass_through(many, &mut out);
        assert_eq!(out.len(), MAX_HEADERS);
        let mut out = HeaderMap::new();
        pass_through(
            vec![h("x-big", &"v".repeat(MAX_HEADER_BYTES + 1))],
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn credentials_stay_with_the_host() {
        for name in [
            "authorization",
            "cookie",
            "x-api-key",
            "proxy-authorization",
        ] {
            assert!(is_credential(&HeaderName::from_static(name)));
        }
        for name in [
            "if-match",
            "if-none-match",
            "accept",
            "x-experience-api-version",
        ] {
            assert!(!is_credential(&HeaderName::from_static(name)));
        }
    }
}
