//! `GET /api/openapi.json` and `/api/openapi.yaml`, no key needed. On a tenant's host: the host's
//! operations and those of each plugin the tenant has on. Anywhere else (the bare base domain):
//! the platform document, with every plugin this server runs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tenants::{Env, Store};

use crate::error::{ApiError, Result};
use crate::http::tenant_host;
use crate::openapi::plugins;
use crate::plugins::registry::Plugins;

/// What serving the document needs: the host's part (finished once, by the router), the plugins,
/// and the tenants' settings (which plugins each has on).
#[derive(Clone)]
pub struct Documents {
    pub host: Arc<Value>,
    pub plugins: Arc<Plugins>,
    pub store: Arc<Store>,
    pub base_domain: Arc<str>,
}

pub async fn json(state: State<Documents>, headers: HeaderMap, uri: Uri) -> Result<Response> {
    let doc = document(&state, &headers, &uri).await?;
    Ok(answer("application/json", serde_json::to_vec_pretty(&doc)?))
}

pub async fn yaml(state: State<Documents>, headers: HeaderMap, uri: Uri) -> Result<Response> {
    let doc = document(&state, &headers, &uri).await?;
    let text =
        serde_norway::to_string(&doc).map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
    Ok(answer("application/yaml", text.into_bytes()))
}

fn answer(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Public and credential-free: any tool may fetch it from a browser.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The document for the request's host.
pub async fn document(state: &Documents, headers: &HeaderMap, uri: &Uri) -> Result<Value> {
    let set = state.plugins.current();
    let Some(slug) =
        tenant_host::tenant_slug(headers, uri, &state.base_domain, state.store.registry())
    else {
        return Ok(plugins::document(&state.host, &set, |_| true));
    };
    let store = state.store.clone();
    let settings = tokio::task::spawn_blocking(move || -> Result<_> {
        let tenant = store
            .tenant(&slug)?
            .ok_or_else(crate::http::gate::tenant_not_found)?;
        let live = store.db(&tenant, Env::Live)?;
        live.read(|conn| Ok::<_, ApiError>(crate::settings::load(conn)?))
    })
    .await??;
    Ok(plugins::document(&state.host, &set, |p| {
        settings.plugin_on(&p.manifest.name, p.enabled_by_default())
    }))
}
