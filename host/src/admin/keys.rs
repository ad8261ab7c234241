//! `/admin/api-keys`: the tenant's keys; mint one (its plaintext shown once), edit its label,
//! limit and expiry, revoke it after a confirmation.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use minijinja::{Value, context};
use serde::Deserialize;
use tenants::Env;

use crate::admin::page::{self, PageResult, Refused, blocking, when};
use crate::admin::session::{Admin, FormData, Posted};
use crate::auth::keys::{self, ApiKey, KeyEdit, KeyFormat, KeyKind, NewKey};
use crate::auth::scopes;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
}

/// Every scope a key may hold here: the host's, then each loaded plugin's.
fn scope_choices(state: &AppState) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = scopes::CORE
        .iter()
        .map(|s| (s.name.to_owned(), s.description.to_owned()))
        .collect();
    for plugin in &state.plugins.current().plugins {
        for s in &plugin.manifest.scopes {
            if !all.iter().any(|(n, _)| *n == s.name) {
                all.push((s.name.clone(), s.description.clone()));
            }
        }
    }
    all
}

fn row(k: &ApiKey, now: DateTime<Utc>) -> Value {
    let status = k.status(now);
    context! {
        id => &k.id, prefix => &k.prefix, env => k.env.as_str(), kind => k.kind.as_str(),
        scopes => &k.scopes, label => &k.label, status,
        rate_limit => k.rate_limit_per_minute,
        created => when(Some(&k.created_at)), expires => when(k.expires_at.as_ref()),
        last_used => when(k.last_used_at.as_ref()), last_ip => &k.last_used_ip,
    }
}

async fn keys_page(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    extra: Value,
) -> PageResult {
    let db = admin.console.db.clone();
    let keys = blocking(move || db.read(|c| Ok(keys::list(c)?))).await?;
    let now = Utc::now();
    let rows: Vec<Value> = keys.iter().map(|k| row(k, now)).collect();
    Ok(page::render(
        admin,
        status,
        "admin/keys.html",
        "keys",
        context! { keys => rows, scopes => scope_choices(state), ..extra },
    ))
}

pub async fn index(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<Notice>,
) -> PageResult {
    let notice = q.notice.as_deref().and_then(page::notice);
    keys_page(&state, &admin, StatusCode::OK, context! { notice }).await
}

/// `datetime-local` input (`2026-12-31T23:59`), read as UTC; blank is none.
fn parse_local_time(field: &str, s: &str) -> Result<Option<DateTime<Utc>>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map(|t| Some(t.and_utc()))
        .map_err(|_| format!("{field}: a date and time such as 2026-12-31T23:59 (UTC)"))
}

fn parse_limit(s: &str) -> Result<Option<u32>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<u32>().ok().filter(|n| *n >= 1).map(Some).ok_or_else(|| {
        "Rate limit: a whole number of requests per minute, at least 1, or blank for the community default".into()
    })
}

fn new_key(state: &AppState, form: &FormData, now: DateTime<Utc>) -> Result<NewKey, String> {
    let env = match form.get("env") {
        "test" => Env::Test,
        "live" | "" => Env::Live,
        _ => return Err("Environment: live or test".into()),
    };
    let kind = match form.get("kind") {
        "publishable" => KeyKind::Publishable,
        "secret" | "" => KeyKind::Secret,
        _ => return Err("Kind: secret or publishable".into()),
    };
    let format = match form.get("format") {
        "" => KeyFormat::Mobieus,
        other => KeyFormat::parse(other).ok_or("Format: mobieus or cobuntu")?,
    };
    let label = form.get("label");
    keys::validate_label(label)?;
    let new = NewKey {
        env,
        kind,
        format,
        scopes: form.all("scopes"),
        label: (!label.is_empty()).then(|| label.to_owned()),
        expires_at: parse_local_time("Expires", form.get("expires_at"))?,
        rate_limit_per_minute: parse_limit(form.get("rate_limit"))?,
    };
    new.validate(now, &state.plugins.current().scopes())?;
    Ok(new)
}

pub async fn create(State(state): State<AppState>, Posted(admin, form): Posted) -> PageResult {
    let now = Utc::now();
    let new = match new_key(&state, &form, now) {
        Ok(new) => new,
        Err(error) => {
            return keys_page(&state, &admin, StatusCode::BAD_REQUEST, context! { error }).await;
        }
    };
    let (db, actor) = (admin.console.db.clone(), admin.actor());
    let (key, plaintext) =
        blocking(move || db.write(move |w| Ok(keys::mint_by(w, &actor, &new, now)?))).await?;
    let created = context! { id => key.id, prefix => key.prefix, plaintext };
    keys_page(&state, &admin, StatusCode::CREATED, context! { created }).await
}

fn no_such_key() -> Response {
    page::message(
        StatusCode::NOT_FOUND,
        "No such key",
        "This community has no key with that id.",
    )
}

async fn find(admin: &Admin, id: String) -> Result<ApiKey, Refused> {
    let db = admin.console.db.clone();
    blocking(move || db.read(|c| Ok(keys::get(c, &id)?)))
        .await?
        .ok_or_else(|| no_such_key().into())
}

fn edit_form(admin: &Admin, key: &ApiKey, status: StatusCode, error: Option<String>) -> Response {
    let expires = key
        .expires_at
        .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default();
    page::render(
        admin,
        status,
        "admin/key_edit.html",
        "keys",
        context! { key => row(key, Utc::now()), expires_input => expires, error },
    )
}

pub async fn edit_page(admin: Admin, Path(id): Path<String>) -> PageResult {
    let key = find(&admin, id).await?;
    Ok(edit_form(&admin, &key, StatusCode::OK, None))
}

fn key_edit(key: &ApiKey, form: &FormData, now: DateTime<Utc>) -> Result<KeyEdit, String> {
    let label = form.get("label");
    keys::validate_label(label)?;
    let expires_at = parse_local_time("Expires", form.get("expires_at"))?;
    if expires_at.is_some_and(|at| at <= now) && expires_at != key.expires_at {
        return Err("Expires: must be in the future".into());
    }
    Ok(KeyEdit {
        label: Some((!label.is_empty()).then(|| label.to_owned())),
        rate_limit_per_minute: Some(parse_limit(form.get("rate_limit"))?),
        expires_at: Some(expires_at),
    })
}

pub async fn edit(Path(id): Path<String>, Posted(admin, form): Posted) -> PageResult {
    let key = find(&admin, id).await?;
    let now = Utc::now();
    let change = match key_edit(&key, &form, now) {
        Ok(change) => change,
        Err(error) => {
            return Ok(edit_form(
                &admin,
                &key,
                StatusCode::BAD_REQUEST,
                Some(error),
            ));
        }
    };
    let (db, actor, id) = (admin.console.db.clone(), admin.actor(), key.id.clone());
    blocking(move || db.write(move |w| Ok(keys::edit_by(w, &actor, &id, &change, now)?))).await?;
    Ok(Redirect::to("/admin/api-keys?notice=key_updated").into_response())
}

pub async fn revoke_page(admin: Admin, Path(id): Path<String>) -> PageResult {
    let key = find(&admin, id).await?;
    Ok(page::render(
        &admin,
        StatusCode::OK,
        "admin/key_revoke.html",
        "keys",
        context! { key => row(&key, Utc::now()) },
    ))
}

pub async fn revoke(Path(id): Path<String>, Posted(admin, _): Posted) -> PageResult {
    let (db, actor) = (admin.console.db.clone(), admin.actor());
    let revoked =
        blocking(move || db.write(move |w| Ok(keys::revoke_by(w, &actor, &id, Utc::now())?)))
            .await?;
    match revoked {
        Some(_) => Ok(Redirect::to("/admin/api-keys?notice=key_revoked").into_response()),
        None => Err(no_such_key().into()),
    }
}
