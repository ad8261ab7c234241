//! `/admin/audit`: the audit log, newest first, filtered by action, actor or target.

use axum::extract::Query;
use axum::http::StatusCode;
use minijinja::context;
use serde::Deserialize;

use crate::admin::page::{self, PageResult, blocking};
use crate::admin::session::Admin;
use crate::audit::{self, Filter};

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
}

fn given(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

pub async fn index(admin: Admin, Query(q): Query<AuditQuery>) -> PageResult {
    let filter = Filter {
        action: given(q.action),
        actor: given(q.actor),
        target: given(q.target),
    };
    let db = admin.console.db.clone();
    let f = filter.clone();
    let (entries, actions) =
        blocking(move || db.read(|c| Ok((audit::search(c, &f, 200)?, audit::actions(c)?)))).await?;
    let entries: Vec<minijinja::Value> = entries
        .into_iter()
        .map(|e| {
            let details = match e.details.as_object() {
                Some(o) if o.is_empty() => String::new(),
                _ => e.details.to_string(),
            };
            context! { at => e.at, actor => e.actor, action => e.action, target => e.target, details }
        })
        .collect();
    let filter =
        context! { action => filter.action, actor => filter.actor, target => filter.target };
    Ok(page::render(
        &admin,
        StatusCode::OK,
        "admin/audit.html",
        "audit",
        context! { entries, actions, filter },
    ))
}
