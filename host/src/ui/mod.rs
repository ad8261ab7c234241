//! What the binary serves to browsers: the static assets (its stylesheet, scripts, the vendored
//! Redoc and font), the templates, and the headers every HTML page carries. Used by the API
//! reference (`crate::openapi::docs`) and the admin console (`crate::admin`).

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use sha2::{Digest, Sha256};

/// Served at `/assets/{name}`: `(name, content type, bytes)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "mobieus.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/mobieus.css"),
    ),
    (
        "docs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/docs.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/admin.js"),
    ),
    (
        "redoc.standalone.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/redoc.standalone.js"),
    ),
    (
        "inter-latin-wght-normal.woff2",
        "font/woff2",
        include_bytes!("../../assets/vendor/inter-latin-wght-normal.woff2"),
    ),
    (
        "LICENSE-redoc.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/vendor/LICENSE-redoc"),
    ),
    (
        "LICENSE-inter.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/vendor/LICENSE-inter"),
    ),
];

/// Nothing on a page may come from elsewhere; styles may be inline (Redoc injects its own),
/// scripts may not. Redoc's search runs in a worker it builds from a blob.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(at) = ASSETS.iter().position(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let (_, content_type, bytes) = ASSETS[at];
    let etag = etags()[at].clone();
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

/// Each asset's `ETag`, hashed once (Redoc alone is over a megabyte), in `ASSETS` order.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, bytes)| format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..16]))
            .collect()
    })
}

/// An HTML page with the headers every page carries; never cached (pages show per-admin data,
/// and a key or secret shown once must not be kept by the browser).
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: with the latter a browser posts forms with `Origin: null`.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The templates, compiled once. `.html` templates escape every value.
pub fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env
    })
}

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "docs.html",
    "admin/base.html",
    "admin/message.html",
    "admin/login.html",
    "admin/setup.html",
    "admin/keys.html",
    "admin/key_edit.html",
    "admin/key_revoke.html",
    "admin/settings.html",
    "admin/webhooks.html",
    "admin/webhook.html",
    "admin/plugins.html",
    "admin/plugin_data.html",
    "admin/billing.html",
    "admin/audit.html",
    "admin/mail.html",
    "admin/ai.html",
    "admin/scim.html",
);

/// Renders `name` with `context` into a page.
pub fn render(status: StatusCode, name: &str, context: minijinja::Value) -> Response {
    match templates()
        .get_template(name)
        .and_then(|t| t.render(context))
    {
        Ok(body) => html(status, body),
        Err(e) => {
            let id = crate::http::request_id::current().map_or_else(|| "-".into(), |id| id.0);
            tracing::error!(request_id = %id, "rendering {name}: {e:#}");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>Something went wrong on our side.</p>"
                    .into(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_the_vendored_files_are_the_pinned_ones() {
        assert_eq!(templates().templates().count(), TEMPLATES.len());
        let sums = include_str!("../../assets/vendor/SHA256SUMS");
        for line in sums.lines() {
            let (sum, name) = line.split_once("  ").unwrap();
            let (_, _, bytes) = ASSETS.iter().find(|(n, _, _)| *n == name).unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(bytes)),
                sum,
                "{name} differs from its pin"
            );
        }
    }
}
