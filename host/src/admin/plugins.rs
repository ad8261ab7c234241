//! `/admin/plugins`: each plugin this server runs, on or off for this community, with the
//! routes, scopes and events it brings, the contract it was built against and the capabilities
//! it declared.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use minijinja::{Value, context};

use crate::admin::keys::Notice;
use crate::admin::page::{self, PageResult, blocking};
use crate::admin::session::{Admin, Posted};
use crate::plugins::manifest::Described;
use crate::plugins::registry::{LoadedPlugin, Origin};
use crate::settings::{self, TenantSettings};
use crate::state::AppState;

fn described(list: &[Described]) -> Vec<Value> {
    list.iter()
        .map(|d| context! { name => &d.name, description => &d.description })
        .collect()
}

fn view(p: &LoadedPlugin, settings: &TenantSettings) -> Value {
    let m = &p.manifest;
    let routes: Vec<Value> = m
        .routes
        .iter()
        .map(|r| context! { method => &r.method, path => &r.path, scope => &r.scope, summary => &r.summary })
        .collect();
    context! {
        name => &m.name, version => &m.version, contract => m.contract,
        capabilities => m.capabilities.iter().map(|c| c.name()).collect::<Vec<_>>(),
        first_party => p.origin == Origin::FirstParty,
        on => settings.plugin_on(&m.name, p.enabled_by_default()),
        routes, scopes => described(&m.scopes), events => described(&m.events),
    }
}

pub async fn index(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<Notice>,
) -> PageResult {
    let db = admin.console.db.clone();
    let loaded = blocking(move || db.read(|c| Ok(settings::load(c)?))).await?;
    let set = state.plugins.current();
    let plugins: Vec<Value> = set.plugins.iter().map(|p| view(p, &loaded)).collect();
    let notice = q.notice.as_deref().and_then(page::notice);
    Ok(page::render(
        &admin,
        StatusCode::OK,
        "admin/plugins.html",
        "plugins",
        context! { plugins, notice },
    ))
}

pub async fn switch(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted(admin, form): Posted,
) -> PageResult {
    if state.plugins.current().get(&name).is_none() {
        return Err(page::message(
            StatusCode::NOT_FOUND,
            "No such plugin",
            "This server runs no plugin by that name.",
        )
        .into());
    }
    let on = form.get("on") == "true";
    let (db, actor) = (admin.console.db.clone(), admin.actor());
    blocking(move || {
        db.write(move |w| {
            Ok(settings::switch_plugin_by(
                w,
                &actor,
                &name,
                on,
                Utc::now(),
            )?)
        })
    })
    .await?;
    let notice = if on { "plugin_on" } else { "plugin_off" };
    Ok(Redirect::to(&format!("/admin/plugins?notice={notice}")).into_response())
}
