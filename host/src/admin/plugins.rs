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
use crate::plugins::manifest::{Described, setting_value};
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
    let values = m.settings_for(settings);
    let declared: Vec<Value> = m
        .settings
        .iter()
        .map(|s| {
            context! {
                name => &s.name, description => &s.description, default => &s.default,
                allowed => &s.allowed, value => values.get(&s.name),
            }
        })
        .collect();
    context! {
        name => &m.name, version => &m.version, contract => m.contract,
        capabilities => m.capabilities.iter().map(|c| c.name()).collect::<Vec<_>>(),
        first_party => p.origin == Origin::FirstParty,
        on => settings.plugin_on(&m.name, p.enabled_by_default()),
        routes, scopes => described(&m.scopes), events => described(&m.events),
        settings => declared,
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

/// The settings the plugin declared, for this community: each checked as `mobieus settings set`
/// checks it (an empty field goes back to the default), saved and audited together.
pub async fn save_settings(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted(admin, form): Posted,
) -> PageResult {
    let set = state.plugins.current();
    let Some(plugin) = set.get(&name) else {
        return Err(page::message(
            StatusCode::NOT_FOUND,
            "No such plugin",
            "This server runs no plugin by that name.",
        )
        .into());
    };
    let mut values = vec![];
    for s in &plugin.manifest.settings {
        let raw = form.get(&s.name);
        let raw = raw.trim();
        let raw = if raw.is_empty() { "none" } else { raw };
        let full = format!("{name}.{}", s.name);
        match setting_value(&[&plugin.manifest], &full, raw) {
            Ok(value) => values.push(value),
            Err(why) => {
                return Err(page::message(StatusCode::BAD_REQUEST, "Not saved", &why).into());
            }
        }
    }
    let (db, actor) = (admin.console.db.clone(), admin.actor());
    blocking(move || {
        db.write(move |w| {
            let now = Utc::now();
            let current = settings::all(w)?;
            for (key, value) in &values {
                if current.get(key) != value.as_ref() {
                    settings::set_by(w, &actor, key, value.as_deref(), now)?;
                }
            }
            Ok(())
        })
    })
    .await?;
    Ok(Redirect::to(&format!(
        "/admin/plugins?notice=plugin_settings_saved#plugin-{name}"
    ))
    .into_response())
}
