//! What a handler knows about the request once the gate let it through. Extracting [`Ctx`] is the
//! only way to reach a tenant's database, and it holds the one the key may use (live or sandbox).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tenants::{Tenant, TenantDb};

use crate::auth::ApiKey;
use crate::error::ApiError;
use crate::http::idempotency::Claim;

#[derive(Clone)]
pub struct Ctx {
    pub tenant: Arc<Tenant>,
    pub key: Arc<ApiKey>,
    /// The data file for the key's environment.
    pub db: Arc<TenantDb>,
    /// Set when the request carries an `Idempotency-Key`: the write records its response in the
    /// same transaction.
    pub idempotency: Option<Arc<Claim>>,
}

/// Put in the request by the gate.
#[derive(Clone)]
pub struct Authenticated {
    pub tenant: Arc<Tenant>,
    pub key: Arc<ApiKey>,
    pub db: Arc<TenantDb>,
    /// The tenant's settings as of this request (read with the key).
    pub settings: Arc<crate::settings::TenantSettings>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let auth = parts
            .extensions
            .get::<Authenticated>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("route outside the gate")))?;
        Ok(Ctx {
            tenant: auth.tenant,
            key: auth.key,
            db: auth.db,
            idempotency: parts.extensions.get::<Arc<Claim>>().cloned(),
        })
    }
}
