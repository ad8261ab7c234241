//! Rendering console pages: the shared context (tenant, admin, CSRF token, section, notice) and
//! the pages for failures.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::{Value, context};

use crate::admin::session::Admin;

/// What a console handler answers: a page, or the page that says why not.
pub type PageResult = Result<Response, Refused>;

/// The page that answers instead of the one asked for: an error, or a redirect to the login.
/// Boxed: a `Response` is large, and this is the rare path.
pub struct Refused(Box<Response>);

impl From<Response> for Refused {
    fn from(response: Response) -> Self {
        Refused(Box::new(response))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// Runs blocking work (SQLite, argon2) off the async executor; a failure of ours becomes the
/// error page, logged.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, Refused> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(internal(e).into()),
        Err(e) => Err(internal(e.into()).into()),
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
    let id = crate::http::request_id::current().map_or_else(|| "-".into(), |id| id.0);
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
        "scim_token_revoked" => (
            "ok",
            "The SCIM token was revoked. The identity provider's requests are refused from now on.",
        ),
        "settings_saved" => ("ok", "Settings saved. They apply to the next request."),
        "ai_saved" => (
            "ok",
            "The AI provider is saved. It applies to the next call.",
        ),
        "ai_budget_saved" => ("ok", "The monthly budget is saved."),
        "plugin_on" => ("ok", "The plugin is on for this community."),
        "plugin_called" => ("ok", "Done: the plugin accepted the change."),
        "plugin_settings_saved" => (
            "ok",
            "The plugin's settings are saved. They apply to its next call.",
        ),
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

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::middleware::from_fn;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_failure_page_names_the_id_of_its_request() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async { internal(anyhow::anyhow!("kaboom")) }),
            )
            .layer(from_fn(crate::http::request_id::request_id));
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains(&format!("Quote {id} when")), "{body}");
        assert!(!body.contains("kaboom"), "the cause stays in the log");
    }
}
