//! `/admin/audit`: the audit log, newest first, filtered by action, actor or target.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use crate::admin::page;
use crate::admin::session::Admin;
use crate::audit::{self, Filter};

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
}

pub async fn index(admin: Admin, Query(q): Query<AuditQuery>) -> Response {
    let filter = Filter {
        action: q.action.filter(|s| !s.trim().is_empty()),
        actor: q.actor.filter(|s| !s.trim().is_empty()),
        target: q.target.filter(|s| !s.trim().is_empty()),
    };
    let db = admin.console.db.clone();
    let f = filter.clone();
    let found = tokio::task::spawn_blocking(move || {
        db.read(|c| Ok::<_, anyhow::Error>((audit::search(c, &f, 200)?, audit::actions(c)?)))
    })
    .await;
    let (entries, actions) = match found {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return page::internal(e),
        Err(e) => return page::internal(e.into()),
    };
    let entries: Vec<minijinja::Value> = entries
        .into_iter()
        .map(|e| context! {
            at => e.at, actor => e.actor, action => e.action, target => e.target,
            details => if e.details.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { e.details.to_string() },
        })
        .collect();
    page::render(
        &admin,
        StatusCode::OK,
        "admin/audit.html",
        "audit",
        context! { entries, actions, filter => context! { action => filter.action, actor => filter.actor, target => filter.target } },
    )
}
