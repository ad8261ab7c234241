//! `/admin/mail`: the community's outbox, live and sandbox: what plugins sent, what is pending or
//! failed (with the last error), and the `.eml` file of a message written when no SMTP server is
//! configured.

use axum::extract::State;
use axum::http::StatusCode;
use minijinja::context;
use tenants::Env;

use crate::admin::page::{self, PageResult, blocking};
use crate::admin::session::Admin;
use crate::state::AppState;

pub async fn index(State(state): State<AppState>, admin: Admin) -> PageResult {
    let (store, tenant) = (state.store.clone(), admin.console.tenant.clone());
    let smtp = state.mail.config.smtp.is_some();
    let mail = blocking(move || {
        let mut all = vec![];
        for env in [Env::Live, Env::Test] {
            for m in crate::mail::worker::listing(&store, &tenant, env, 100)? {
                all.push(context! {
                    env => env.as_str(), id => m.id, plugin => m.plugin, to => m.to.join(", "),
                    subject => m.subject, status => m.status, attempts => m.attempt_count,
                    last_error => m.last_error, eml_path => m.eml_path, created_at => m.created_at,
                });
            }
        }
        Ok(all)
    })
    .await?;
    Ok(page::render(
        &admin,
        StatusCode::OK,
        "admin/mail.html",
        "mail",
        context! { mail, smtp },
    ))
}
