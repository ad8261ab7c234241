//! The gate every `/api/v1` request passes before routing, in this order:
//! tenant (from Host) → CORS preflight → credentials → key lookup in that tenant's own file →
//! plan gate → rate limit. All SQLite work of the gate happens in one blocking job.
//!
//! One exception to "no key, no entry": a GET of a plugin route its manifest declares public,
//! sent with no credentials at all, is admitted as an anonymous caller ([`ApiKey::anonymous`]:
//! no scopes, live data, rate-limited per client address).
//!
//! The xAPI LRS's paths also take HTTP Basic, as xAPI clients send it ([`xapi`]).
//!
//! A plugin GET's checks are [`Deferred`]: they run on the plugin read thread that then makes the
//! call, so the request takes one hop off the async workers instead of two (a hand-off between
//! threads costs about as much as the plugin call's own overhead on a two-core box).

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tenants::{Env, Plan, Store};

use crate::auth::{ApiKey, Presented, keys};
use crate::error::{ApiError, Result};
use crate::http::context::Authenticated;
use crate::http::last_used::LastUsed;
use crate::http::rate_limit::{Ceiling, Decision, RateLimiter};
use crate::http::{client_ip, cors, tenant_host, xapi};
use crate::plugins::registry::{Lookup, Plugins};
use crate::settings::{self, TenantSettings};

/// What the gate needs, and no more.
#[derive(Clone)]
pub struct Gate {
    pub store: Arc<Store>,
    /// Tenants are served at `<slug>.<base_domain>`.
    pub base_domain: Arc<str>,
    /// The platform default, per key per minute.
    pub default_rate_limit: u32,
    pub limiter: Arc<RateLimiter>,
    pub last_used: Arc<LastUsed>,
    /// Which plugin routes are public.
    pub plugins: Arc<Plugins>,
}

impl Gate {
    /// The slug of the tenant the request is for: the one a `/api/v1/communities/{tag}/` path
    /// names, else the one its host names ([`tenant_host`]); resolved once per request: the
    /// outermost layer puts it in the request as [`RequestedTenant`].
    pub fn tenant_of(&self, req: &Request) -> Option<String> {
        if let Some(RequestedTenant(slug)) = req.extensions().get() {
            return slug.clone();
        }
        if let Some(tag) = tenant_host::community_of_path(req.uri().path()) {
            return Some(tag);
        }
        tenant_host::tenant_slug(
            req.headers(),
            req.uri(),
            &self.base_domain,
            self.store.registry(),
        )
    }
}

/// The tenant slug the request's host names (whether or not the tenant exists).
#[derive(Debug, Clone)]
pub struct RequestedTenant(pub Option<String>);

pub fn is_api_path(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/")
}

pub async fn gate(State(state): State<Gate>, req: Request, next: Next) -> Response {
    if !is_api_path(req.uri().path()) {
        return next.run(req).await;
    }
    if xapi::is_lrs_path(req.uri().path()) {
        return lrs_gate(state, req, next).await;
    }
    api_gate(state, req, next, false).await
}

/// The LRS's paths: HTTP Basic too, and xAPI's version header on every answer ([`xapi`]).
async fn lrs_gate(state: Gate, req: Request, next: Next) -> Response {
    let req = match xapi::lift_form_authorization(req).await {
        Ok(req) => req,
        Err(error) => return xapi::refuse(error),
    };
    let mut response = api_gate(state, req, next, true).await;
    xapi::stamp_version(&mut response);
    response
}

/// The gate proper; `lrs`: the request is for the LRS, which takes HTTP Basic too.
async fn api_gate(state: Gate, mut req: Request, next: Next, lrs: bool) -> Response {
    let Some(slug) = state.tenant_of(&req) else {
        return tenant_not_found().into_response();
    };
    let origin = req.headers().get(header::ORIGIN).cloned();

    if req.method() == Method::OPTIONS {
        return preflight(state, slug, origin).await;
    }

    let basic = lrs.then(|| xapi::basic_key(req.headers())).flatten();
    let credentials = match basic {
        Some(basic) => basic.and_then(|key| key.ok_or_else(invalid_api_key)),
        None => credentials(req.headers()),
    };
    let ip = client_ip::of(req.extensions());
    let plugin_read = plugin_read(&state.plugins, &req);
    let anonymous = (sends_no_credentials(req.headers()) && plugin_read == Some(Public(true)))
        .then(|| ApiKey::anonymous(&ip));
    let checks = Checks {
        gate: state.clone(),
        slug,
        credentials,
        anonymous,
        ip,
    };
    let (stamp, mut response) = if plugin_read.is_some() {
        let deferred = Deferred(Arc::new(Mutex::new(Deferral::Pending(Box::new(checks)))));
        req.extensions_mut().insert(deferred.clone());
        let response = next.run(req).await;
        (deferred.stamp(), response)
    } else {
        match tokio::task::spawn_blocking(move || checks.run()).await {
            Err(join) => (Stamp::default(), ApiError::from(join).into_response()),
            Ok((stamp, Err(refusal))) => (stamp, *refusal),
            Ok((stamp, Ok(auth))) => {
                req.extensions_mut().insert(auth);
                (stamp, next.run(req).await)
            }
        }
    };
    stamp.apply(&mut response, origin.as_ref());
    response
}

/// The gate's checks for one request, run on a blocking thread (a plugin GET's on the read thread
/// that makes its call): the tenant and key ([`authenticate`]), the plan gate, the rate limit.
struct Checks {
    gate: Gate,
    slug: String,
    credentials: Result<Presented>,
    anonymous: Option<ApiKey>,
    ip: String,
}

impl Checks {
    fn run(self) -> (Stamp, std::result::Result<Authenticated, Refusal>) {
        let (settings, admitted) = authenticate(
            &self.gate.store,
            &self.slug,
            self.credentials,
            self.anonymous,
        );
        let mut stamp = Stamp {
            settings,
            ..Stamp::default()
        };
        let admitted = match admitted {
            Err(error) => Err(Box::new(error.into_response())),
            Ok(auth) => admit(&self.gate, &auth, &self.ip).map(|decision| {
                stamp.decision = Some(decision);
                stamp.tenant = Some(ServedTenant(auth.tenant.slug.as_str().into()));
                auth
            }),
        };
        (stamp, admitted)
    }
}

/// A plugin GET's [`Checks`], left in the request for the plugin read thread that makes the call.
/// The plugin router runs them before anything else; a request it answers without running them
/// (a route gone since the gate looked) leaves the response unstamped.
#[derive(Clone)]
pub struct Deferred(Arc<Mutex<Deferral>>);

enum Deferral {
    Pending(Box<Checks>),
    Ran(Stamp),
}

impl Deferred {
    /// Blocking: the gate's checks, once; the caller, or the refusal to answer with.
    pub fn admit(&self) -> std::result::Result<Authenticated, Refusal> {
        let taken = std::mem::replace(&mut *self.lock(), Deferral::Ran(Stamp::default()));
        let Deferral::Pending(checks) = taken else {
            let twice = ApiError::internal(anyhow::anyhow!("the gate's checks ran twice"));
            return Err(Box::new(twice.into_response()));
        };
        let (stamp, admitted) = checks.run();
        *self.lock() = Deferral::Ran(stamp);
        admitted
    }

    /// Whether the checks are still to run.
    pub fn is_pending(&self) -> bool {
        matches!(&*self.lock(), Deferral::Pending(_))
    }

    fn stamp(&self) -> Stamp {
        match &*self.lock() {
            Deferral::Ran(stamp) => stamp.clone(),
            Deferral::Pending(_) => Stamp::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Deferral> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A request the checks refused: the answer (boxed: a response is large beside a caller).
pub type Refusal = Box<Response>;

/// What the checks leave on the response: CORS (from the tenant's settings, refusals too), the
/// rate limit's headers and the tenant served (for the metrics) when admitted.
#[derive(Clone, Default)]
struct Stamp {
    settings: Option<Arc<TenantSettings>>,
    decision: Option<Decision>,
    tenant: Option<ServedTenant>,
}

impl Stamp {
    fn apply(self, response: &mut Response, origin: Option<&HeaderValue>) {
        if let Some(decision) = &self.decision {
            decision.write_headers(response.headers_mut());
        }
        if let Some(tenant) = self.tenant {
            response.extensions_mut().insert(tenant);
        }
        let allowed = origin.filter(|o| {
            self.settings
                .as_ref()
                .zip(o.to_str().ok())
                .is_some_and(|(s, o)| s.allows_origin(o))
        });
        match allowed {
            Some(origin) => cors::allow(response.headers_mut(), origin),
            None => cors::vary_origin(response.headers_mut()),
        }
    }
}

/// Plan gate and rate limit for an authenticated request.
fn admit(state: &Gate, auth: &Authenticated, ip: &str) -> std::result::Result<Decision, Refusal> {
    plan_allows(auth.tenant.plan, "The public REST API")
        .map_err(|refused| Box::new(refused.into_response()))?;
    let per_minute = auth
        .settings
        .default_rate_limit_per_minute
        .unwrap_or(state.default_rate_limit);
    let now = Utc::now();
    let decision = within_limit(state, &auth.key.id, Ceiling::of(&auth.key, per_minute), now)?;
    if !auth.key.is_anonymous() {
        state.last_used.record(&auth.tenant, &auth.key.id, now, ip);
    }
    Ok(decision)
}

/// The plan gate, for the API and for SCIM alike: `403 plan_gated` naming the current and the
/// required plans unless the tenant's plan includes `what` (the surface refused, for the message).
pub fn plan_allows(plan: Plan, what: &str) -> Result<(), ApiError> {
    if plan.has_api() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "plan_gated",
        format!("{what} is available on Pro and higher plans. Upgrade in /admin/billing."),
    )
    .with("current_plan", plan.as_str())
    .with(
        "required_plans",
        Plan::API_PLANS
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>(),
    ))
}

/// The rate limit: one more request of `who` (a key id, or a SCIM token's) under `ceiling`, or
/// `429 rate_limited` with `Retry-After` and the rate limit headers.
pub fn within_limit(
    state: &Gate,
    who: &str,
    ceiling: Ceiling,
    now: DateTime<Utc>,
) -> std::result::Result<Decision, Refusal> {
    let decision = state.limiter.check(who, ceiling, now.timestamp());
    if !decision.allowed {
        return Err(Box::new(rate_limited(&decision, ceiling, now.timestamp())));
    }
    Ok(decision)
}

/// The tenant a request was admitted for (an existing one, unlike the slug a Host header names),
/// for the metrics' optional `tenant` label.
#[derive(Debug, Clone)]
pub struct ServedTenant(pub Arc<str>);

/// `429 rate_limited` with `Retry-After` and the rate limit headers.
fn rate_limited(decision: &Decision, ceiling: Ceiling, now: i64) -> Response {
    let retry_after = decision.retry_after(now);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "Rate limit of {} exceeded. Retry after {retry_after} s.",
            ceiling.describe()
        ),
    )
    .into_response();
    decision.write_headers(response.headers_mut());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// Blocking: resolves the tenant, then the key in that tenant's own file (or takes the anonymous
/// caller of a public route). Returns the tenant's settings when the tenant exists (for CORS on
/// errors too).
fn authenticate(
    store: &Store,
    slug: &str,
    credentials: Result<Presented>,
    anonymous: Option<ApiKey>,
) -> (Option<Arc<TenantSettings>>, Result<Authenticated>) {
    let tenant = match store.tenant(slug) {
        Ok(Some(t)) => t,
        Ok(None) => return (None, Err(tenant_not_found())),
        Err(e) => return (None, Err(e.into())),
    };
    let lookup = || -> Result<(TenantSettings, Option<ApiKey>)> {
        let live = store.db(&tenant, Env::Live)?;
        live.read(|conn| {
            let settings = settings::load(conn)?;
            let key = match &credentials {
                Ok(presented) => keys::find(conn, presented)?,
                Err(_) => None,
            };
            Ok((settings, key))
        })
    };
    let (settings, key) = match lookup() {
        Ok((settings, key)) => (Arc::new(settings), key),
        Err(e) => return (None, Err(e)),
    };
    let key = match (credentials, key) {
        (Err(_), _) if anonymous.is_some() => anonymous.expect("checked"),
        (Err(refusal), _) => return (Some(settings), Err(refusal)),
        (Ok(_), Some(key)) if key.is_active(Utc::now()) => key,
        (Ok(_), _) => return (Some(settings), Err(invalid_api_key())),
    };
    let db = store.db(&tenant, key.env);
    match db {
        Ok(db) => (
            Some(settings.clone()),
            Ok(Authenticated {
                tenant,
                key: Arc::new(key),
                db,
                settings,
            }),
        ),
        Err(e) => (Some(settings), Err(e.into())),
    }
}

async fn preflight(state: Gate, slug: String, origin: Option<HeaderValue>) -> Response {
    let store = state.store.clone();
    let settings = tokio::task::spawn_blocking(move || -> Result<Option<TenantSettings>> {
        let Some(tenant) = store.tenant(&slug)? else {
            return Ok(None);
        };
        let live = store.db(&tenant, Env::Live)?;
        live.read(|conn| Ok(Some(settings::load(conn)?)))
    })
    .await;
    let settings = match settings {
        Ok(Ok(Some(s))) => s,
        Ok(Ok(None)) => return tenant_not_found().into_response(),
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    match origin.filter(|o| o.to_str().is_ok_and(|o| settings.allows_origin(o))) {
        Some(origin) => cors::allow_preflight(response.headers_mut(), &origin),
        None => cors::vary_origin(response.headers_mut()),
    }
    response
}

/// No `Authorization` and no `X-API-Key`: a caller with a bad key is refused, never anonymous.
fn sends_no_credentials(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::AUTHORIZATION) && !headers.contains_key("x-api-key")
}

/// Whether a route a loaded plugin declares public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Public(bool);

/// A GET (or HEAD) of a loaded plugin's route, and whether the route is public (whether the
/// tenant has the plugin on is the plugin router's to say, as for any caller).
fn plugin_read(plugins: &Plugins, req: &Request) -> Option<Public> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return None;
    }
    match plugins.current().route("GET", req.uri().path()) {
        Lookup::Found(_, route, _) => Some(Public(route.is_public())),
        _ => None,
    }
}

/// `Authorization: Bearer <key>` or `X-API-Key: <key>`.
fn credentials(headers: &HeaderMap) -> Result<Presented> {
    let token = if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| invalid_authorization())?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(invalid_authorization());
        }
        token.trim().to_owned()
    } else if let Some(value) = headers.get("x-api-key") {
        let token = value.to_str().map_err(|_| invalid_authorization())?.trim();
        if token.is_empty() {
            return Err(invalid_authorization());
        }
        token.to_owned()
    } else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_authorization",
            "Send your API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
        ));
    };
    Presented::parse(&token).ok_or_else(invalid_api_key)
}

fn invalid_authorization() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_authorization",
        "The Authorization header must be `Bearer <key>`.",
    )
}

fn invalid_api_key() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
        "The API key is invalid, revoked, or expired.",
    )
}

pub fn tenant_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "tenant_not_found",
        "No community is served at this address.",
    )
}
