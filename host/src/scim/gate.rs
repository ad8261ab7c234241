//! The gate of `/scim/v2`: tenant (from Host) → SCIM bearer token (never an API key) → plan gate
//! → rate limit (the tenant's default, per token). What it admits is a [`ScimCtx`].

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tenants::{Env, Tenant, TenantDb};

use crate::auth::scim_tokens;
use crate::error::{ApiError, Result};
use crate::http::gate::{Gate, plan_allows, tenant_not_found, within_limit};
use crate::http::rate_limit::Ceiling;
use crate::settings;

/// A request the SCIM gate admitted: its tenant, the tenant's live file, and the base URL
/// (`http://acme.localhost:8080/scim/v2`) its resources' locations start with.
#[derive(Clone)]
pub struct ScimCtx {
    pub tenant: Arc<Tenant>,
    pub db: Arc<TenantDb>,
    pub base: Arc<str>,
}

impl<S: Send + Sync> FromRequestParts<S> for ScimCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        parts
            .extensions
            .get::<ScimCtx>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("SCIM route outside its gate")))
    }
}

pub async fn gate(State(state): State<Gate>, mut req: Request, next: Next) -> Response {
    let Some(slug) = state.tenant_of(&req) else {
        return tenant_not_found().into_response();
    };
    let token = match bearer(req.headers()) {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    let store = state.store.clone();
    let looked_up = tokio::task::spawn_blocking(move || -> Result<_> {
        let tenant = store.tenant(&slug)?.ok_or_else(tenant_not_found)?;
        let db = store.db(&tenant, Env::Live)?;
        let (found, settings) = db.read(|conn| {
            Ok::<_, ApiError>((scim_tokens::find(conn, &token)?, settings::load(conn)?))
        })?;
        let token = found.ok_or_else(invalid_token)?;
        Ok((tenant, db, token, settings))
    })
    .await;
    let (tenant, db, token, settings) = match looked_up {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Err(refused) = plan_allows(tenant.plan, "SCIM provisioning") {
        return refused.into_response();
    }
    let per_minute = settings
        .default_rate_limit_per_minute
        .unwrap_or(state.default_rate_limit);
    let now = Utc::now();
    let ceiling = Ceiling::per_minute(per_minute);
    let decision = match within_limit(&state, &format!("scim:{}", token.id), ceiling, now) {
        Ok(decision) => decision,
        Err(refused) => return *refused,
    };
    // A use is recorded at most once a minute, off the request's path.
    let stale = token
        .last_used_at
        .as_deref()
        .and_then(crate::time::parse_rfc3339);
    if stale.is_none_or(|at| now - at > chrono::Duration::minutes(1)) {
        let (db, id) = (db.clone(), token.id.clone());
        tokio::spawn(async move {
            let touched = db
                .write_async(move |w| Ok::<_, ApiError>(scim_tokens::touch(w, &id, now)?))
                .await;
            if let Err(e) = touched {
                tracing::warn!("recording a SCIM token's use failed: {e}");
            }
        });
    }
    let base = format!("{}://{}/scim/v2", scheme(&req), host(&req));
    req.extensions_mut().insert(ScimCtx {
        tenant,
        db,
        base: base.into(),
    });
    let mut response = next.run(req).await;
    decision.write_headers(response.headers_mut());
    response
}

fn scheme(req: &Request) -> &'static str {
    let forwarded = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok());
    if forwarded.is_some_and(|p| p.eq_ignore_ascii_case("https")) {
        "https"
    } else {
        "http"
    }
}

fn host(req: &Request) -> String {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost")
        .to_owned()
}

/// `Authorization: Bearer <token>`; SCIM clients send nothing else.
fn bearer(headers: &axum::http::HeaderMap) -> Result<String> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_authorization",
                "Send a SCIM token as `Authorization: Bearer <token>` (mint one with `mobieus scim token create`).",
            )
        })?
        .to_str()
        .map_err(|_| invalid_token())?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(invalid_token());
    }
    Ok(token.trim().to_owned())
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_scim_token",
        "The SCIM token is invalid or revoked. An API key is not a SCIM token.",
    )
}
