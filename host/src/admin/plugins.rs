//! `/admin/plugins`: each plugin this server runs, on or off for this community, with the
//! routes, scopes and events it brings.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::context;

use crate::admin::keys::Notice;
use crate::admin::page;
use crate::admin::session::{Admin, Posted};
use crate::app::AppState;
use crate::plugins::registry::Origin;
use crate::settings;

pub async fn index(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<Notice>,
) -> Response {
    let db = admin.console.db.clone();
    let loaded = match tokio::task::spawn_blocking(move || {
        db.read(|c| Ok::<_, anyhow::Error>(settings::load(c)?))
    })
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return page::internal(e),
        Err(e) => return page::internal(e.into()),
    };
    let set = state.plugins.current();
    let plugins: Vec<minijinja::Value> = set
        .plugins
        .iter()
        .map(|p| {
            let m = &p.manifest;
            context! {
                name => m.name.clone(), version => m.version.clone(),
                first_party => p.origin == Origin::FirstParty,
                on => loaded.plugin_on(&m.name, p.enabled_by_default()),
                routes => m.routes.iter().map(|r| context! {
                    method => r.method.clone(), path => r.path.clone(), scope => r.scope.clone(), summary => r.summary.clone(),
                }).collect::<Vec<_>>(),
                scopes => m.scopes.iter().map(|s| context! { name => s.name.clone(), description => s.description.clone() }).collect::<Vec<_>>(),
                events => m.events.iter().map(|e| context! { name => e.name.clone(), description => e.description.clone() }).collect::<Vec<_>>(),
            }
        })
        .collect();
    let notice = q.notice.as_deref().and_then(page::notice);
    page::render(
        &admin,
        StatusCode::OK,
        "admin/plugins.html",
        "plugins",
        context! { plugins, notice },
    )
}

pub async fn switch(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted(admin, form): Posted,
) -> Response {
    if state.plugins.current().get(&name).is_none() {
        return page::message(
            StatusCode::NOT_FOUND,
            "No such plugin",
            "This server runs no plugin by that name.",
        );
    }
    let on = form.get("on") == "true";
    let (db, actor) = (admin.console.db.clone(), admin.actor());
    let done = tokio::task::spawn_blocking(move || {
        db.write(move |w| {
            Ok::<_, anyhow::Error>(settings::switch_plugin_by(
                w,
                &actor,
                &name,
                on,
                Utc::now(),
            )?)
        })
    })
    .await;
    let notice = if on { "plugin_on" } else { "plugin_off" };
    match done {
        Ok(Ok(())) => Redirect::to(&format!("/admin/plugins?notice={notice}")).into_response(),
        Ok(Err(e)) => page::internal(e),
        Err(e) => page::internal(e.into()),
    }
}
