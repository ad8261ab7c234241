//! The application: shared state and the full router (host routes inside the middleware stack).

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tenants::Store;

use crate::api;
use crate::error::{ApiError, Result};
use crate::http::idempotency::InFlight;
use crate::http::last_used::LastUsed;
use crate::http::rate_limit::RateLimiter;
use crate::paging::CursorKey;
use crate::plugins::registry::Plugins;
use crate::webhooks::Webhooks;

#[derive(Debug, Clone)]
pub struct Config {
    /// Tenants are served at `<slug>.<base_domain>`.
    pub base_domain: String,
    /// The platform default rate limit, per key per minute.
    pub rate_limit_per_minute: u32,
    /// ClamAV's daemon, when uploads are to be scanned by it too.
    pub clamd: Option<crate::files::scan::Clamd>,
}

pub struct Shared {
    pub store: Store,
    pub config: Config,
    pub limiter: RateLimiter,
    pub last_used: LastUsed,
    pub idempotency: InFlight,
    pub cursor_key: CursorKey,
    pub webhooks: Webhooks,
    pub plugins: Arc<Plugins>,
    pub plugin_events: crate::plugins::events::Dispatcher,
    pub scanner: crate::files::scanner::Scanner,
    pub admin_logins: crate::admin::session::LoginThrottle,
}

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Builds the state and connects the tenant files' commits to the webhook worker.
    pub fn new(
        store: Store,
        config: Config,
        cursor_secret: [u8; 32],
        webhooks: Webhooks,
        plugins: Arc<Plugins>,
    ) -> Self {
        let scanner = crate::files::scanner::Scanner::new(config.clamd.clone());
        let state = AppState(Arc::new(Shared {
            scanner,
            store,
            config,
            limiter: RateLimiter::default(),
            last_used: LastUsed::default(),
            idempotency: InFlight::default(),
            cursor_key: CursorKey::new(cursor_secret),
            webhooks,
            plugins,
            plugin_events: Default::default(),
            admin_logins: Default::default(),
        }));
        // A weak handle: the hook lives in the store, which the state owns.
        let weak = Arc::downgrade(&state.0);
        state
            .store
            .pools()
            .set_commit_hook(Arc::new(move |id, signals| {
                let Some(shared) = weak.upgrade() else { return };
                if signals.contains(&crate::webhooks::store::SIGNAL) {
                    shared.webhooks.notify(id);
                }
                if signals.contains(&crate::event_log::SIGNAL) {
                    shared.plugin_events.notify(id);
                }
                if signals.contains(&crate::files::SIGNAL) {
                    shared.scanner.notify(id);
                }
            }));
        state
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(crate::openapi::serve::json))
        .route("/api/openapi.yaml", get(crate::openapi::serve::yaml))
        .route("/api/docs", get(crate::openapi::docs::page))
        .route("/assets/{name}", get(crate::ui::asset))
        .merge(crate::admin::router())
        .merge(api::router(&state))
        .fallback(crate::plugins::dispatch::fallback)
        .method_not_allowed_fallback(method_not_allowed);
    crate::http::stack(routes, state)
}

/// Readiness: the registry answers. Needs no tenant and no key.
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<impl IntoResponse> {
    tokio::task::spawn_blocking(move || state.store.tenant("-")).await??;
    Ok(axum::Json(serde_json::json!({ "status": "ok" })))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This endpoint does not accept that method.",
    )
}
