//! The tenant admin console, server-rendered at `<slug>.<base domain>/admin/...`.
//!
//! Admins are invited by `mobieus admin create` ([`accounts`]); a session cookie and a CSRF token
//! per form guard every page and action ([`session`]); every action is written to the tenant's
//! audit log. Pages: API keys ([`keys`]), API settings ([`api_settings`]), webhooks
//! ([`webhooks`]), plugins ([`plugins`]) and each plugin's own data ([`plugin_data`]), billing
//! ([`billing`]), the audit log ([`audit`]).

pub mod accounts;
pub mod ai;
pub mod api_settings;
pub mod audit;
pub mod bars;
pub mod billing;
pub mod keys;
pub mod login;
pub mod mail;
pub mod page;
pub mod plugin_data;
pub mod plugins;
pub mod scim;
pub mod session;
pub mod webhooks;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/api-keys") }))
        .route("/admin/login", get(login::login_page).post(login::login))
        .route("/admin/logout", post(login::logout))
        .route("/admin/setup", get(login::setup_page).post(login::setup))
        .route("/admin/api-keys", get(keys::index).post(keys::create))
        .route(
            "/admin/api-keys/{id}/edit",
            get(keys::edit_page).post(keys::edit),
        )
        .route(
            "/admin/api-keys/{id}/revoke",
            get(keys::revoke_page).post(keys::revoke),
        )
        .route(
            "/admin/api/settings",
            get(api_settings::index).post(api_settings::save),
        )
        .route("/admin/webhooks", get(webhooks::index))
        .route("/admin/webhooks/{id}", get(webhooks::show))
        .route("/admin/webhooks/{id}/test", post(webhooks::test))
        .route("/admin/webhooks/{id}/enable", post(webhooks::enable))
        .route("/admin/webhooks/{id}/rotate-secret", post(webhooks::rotate))
        .route(
            "/admin/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry),
        )
        .route("/admin/plugins", get(plugins::index))
        .route("/admin/plugins/{name}", post(plugins::switch))
        .route(
            "/admin/plugins/{name}/data",
            get(plugin_data::index).post(plugin_data::submit),
        )
        .route(
            "/admin/plugins/{name}/settings",
            post(plugins::save_settings),
        )
        .route("/admin/billing", get(billing::index).post(billing::change))
        .route("/admin/scim", get(scim::index).post(scim::create))
        .route("/admin/scim/{id}/revoke", post(scim::revoke))
        .route("/admin/audit", get(audit::index))
        .route("/admin/mail", get(mail::index))
        .route("/admin/ai", get(ai::index).post(ai::save))
        .route("/admin/ai/budget", post(ai::budget))
}
