//! Rendering console pages: the shared context (tenant, admin, CSRF token, section, notice) and
//! the pages for failures.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use minijinja::{Value, context};

use crate::admin::session::Admin;

/// What a console handler answers: a page, or the page that says why not.
pub type PageResult = Result<Response, Response>;

/// Runs blocking work (SQLite, argon2) off the async executor; a failure of ours becomes the
/// error page, logged.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(internal(e)),
        Err(e) => Err(internal(e.into())),
    }
}

/// A page of the console for a signed-in admin.
pub fn render(
    admin: &Admin,
    status: StatusCode,
    template: &str,
    section: &str,
    page: Value,
) -> Response {
    crate::ui::render(
        status,
        template,
        context! {
            tenant => admin.tenant_slug(),
            admin_email => &admin.account.email,
            csrf => &admin.csrf,
            section => section,
            ..page
        },
    )
}

/// A page for someone not signed in (login, setup, refusals).
pub fn render_anonymous(status: StatusCode, template: &str, page: Value) -> Response {
    crate::ui::render(status, template, page)
}

pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    crate::ui::render(status, "admin/message.html", context! { title, text })
}

/// Our failure: logged with its cause, shown without it.
pub fn internal(e: anyhow::Error) -> Response {
    let id = format!("req_{:016x}", rand::random::<u64>());
    tracing::error!(request_id = %id, "admin console: {e:#}");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        &format!("It was our fault and it is logged. Quote {id} when you report it."),
    )
}

/// Short, readable UTC times for tables.
pub fn when(at: Option<&DateTime<Utc>>) -> String {
    at.map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// Messages shown after an action redirects back, by the code in `?notice=`. Only these texts
/// can appear: the query never injects its own.
pub fn notice(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "key_updated" => ("ok", "The key was updated."),
        "key_revoked" => (
            "ok",
            "The key was revoked. Requests with it are refused from now on.",
        ),
        "settings_saved" => ("ok", "Settings saved. They apply to the next request."),
        "plugin_on" => ("ok", "The plugin is on for this community."),
        "plugin_off" => (
            "ok",
            "The plugin is off; its routes answer 404 and its data stays.",
        ),
        "plan_changed" => (
            "ok",
            "The plan changed. It applies to the next API request.",
        ),
        "webhook_created" => ("ok", "The endpoint was registered."),
        "test_sent" => (
            "ok",
            "A test event is on its way; its attempt appears below.",
        ),
        "retried" => ("ok", "The delivery is queued again."),
        "enabled" => ("ok", "The endpoint is enabled; pending deliveries resume."),
        "disabled" => (
            "ok",
            "The endpoint is disabled; events queue until it is enabled.",
        ),
        _ => return None,
    })
}
