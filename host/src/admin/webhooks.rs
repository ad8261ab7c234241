//! `/admin/webhooks` and `/admin/webhooks/{id}`: the endpoints of each environment, their
//! delivery history with every attempt (status, latency, the start of the receiver's answer),
//! and the owner's actions: send a test, retry a delivery, enable, rotate the secret.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

use tenants::{Env, TenantDb};

use crate::admin::page::{self, PageResult, Refused, blocking};
use crate::admin::session::{Admin, Posted};
use crate::audit;
use crate::error::ApiError;
use crate::state::AppState;
use crate::webhooks::manage;
use crate::webhooks::store::{self, Attempt, Delivery, Endpoint};

const HISTORY: u32 = 50;
/// How much of a receiver's answer the history shows.
const EXCERPT: usize = 300;

#[derive(Deserialize)]
pub struct EnvQuery {
    env: Option<String>,
    notice: Option<String>,
}

fn env_of(s: &str) -> Env {
    if s == "test" { Env::Test } else { Env::Live }
}

async fn db_of(state: &AppState, admin: &Admin, env: Env) -> Result<Arc<TenantDb>, Refused> {
    if env == Env::Live {
        return Ok(admin.console.db.clone());
    }
    let (state, tenant) = (state.clone(), admin.console.tenant.clone());
    blocking(move || Ok(state.store.db(&tenant, env)?)).await
}

fn endpoint_view(e: &Endpoint) -> Value {
    context! {
        id => &e.id, url => &e.url, description => &e.description, events => e.events.join(", "),
        enabled => e.enabled, disabled_reason => &e.disabled_reason,
        failures => e.consecutive_failures, created => &e.created_at,
    }
}

pub async fn index(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<EnvQuery>,
) -> PageResult {
    let env = env_of(q.env.as_deref().unwrap_or(""));
    let db = db_of(&state, &admin, env).await?;
    let endpoints = blocking(move || db.read(|c| Ok(store::all_endpoints(c)?))).await?;
    let endpoints: Vec<Value> = endpoints.iter().map(endpoint_view).collect();
    Ok(page::render(
        &admin,
        StatusCode::OK,
        "admin/webhooks.html",
        "webhooks",
        context! { endpoints, env => env.as_str() },
    ))
}

fn excerpt(body: Option<String>) -> Option<String> {
    body.map(|b| match b.char_indices().nth(EXCERPT) {
        Some((at, _)) => format!("{}…", &b[..at]),
        None => b,
    })
}

fn delivery_view(d: Delivery, attempts: Vec<Attempt>) -> Value {
    let attempts: Vec<Value> = attempts
        .into_iter()
        .map(|a| {
            context! {
                at => a.attempted_at, status_code => a.status_code, latency_ms => a.latency_ms,
                excerpt => excerpt(a.response_body), error => a.error,
            }
        })
        .collect();
    context! {
        id => d.id, event_type => d.event_type, event_id => d.event_id, status => d.status,
        attempt_count => d.attempt_count, created => d.created_at, next_attempt => d.next_attempt_at,
        attempts,
    }
}

async fn detail(state: &AppState, admin: &Admin, env: Env, id: String, extra: Value) -> PageResult {
    let db = db_of(state, admin, env).await?;
    let found = blocking(move || {
        db.read(|c| {
            let Some(endpoint) = store::get_endpoint(c, &id)? else {
                return Ok(None);
            };
            let mut deliveries = vec![];
            for d in store::recent_deliveries(c, &id, HISTORY)? {
                let attempts = store::attempts(c, &d.id)?;
                deliveries.push(delivery_view(d, attempts));
            }
            Ok(Some((endpoint, deliveries)))
        })
    })
    .await?;
    let Some((endpoint, deliveries)) = found else {
        return Err(page::message(
            StatusCode::NOT_FOUND,
            "No such endpoint",
            "This environment has no webhook endpoint with that id.",
        )
        .into());
    };
    Ok(page::render(
        admin,
        StatusCode::OK,
        "admin/webhook.html",
        "webhooks",
        context! { endpoint => endpoint_view(&endpoint), deliveries, env => env.as_str(), ..extra },
    ))
}

pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<EnvQuery>,
) -> PageResult {
    let env = env_of(q.env.as_deref().unwrap_or(""));
    let notice = q.notice.as_deref().and_then(page::notice);
    detail(&state, &admin, env, id, context! { notice }).await
}

/// Runs one of the owner's actions on an endpoint in the form's environment, and records it in
/// the audit log as `action` on `target`.
async fn act<T: Send + 'static>(
    state: &AppState,
    admin: &Admin,
    env: Env,
    action: &'static str,
    target: String,
    f: impl FnOnce(&mut tenants::db::Write<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Refused> {
    let db = db_of(state, admin, env).await?;
    let (control, actor) = (admin.console.db.clone(), admin.actor());
    let done = tokio::task::spawn_blocking(move || {
        let value = db.write(f)?;
        // The audit log is the live file's, whichever environment the endpoint is in.
        control.write(move |w| {
            let details = json!({ "env": env.as_str() });
            audit::record(w, &actor, action, Some(&target), details, Utc::now())?;
            Ok::<_, ApiError>(())
        })?;
        Ok::<_, ApiError>(value)
    })
    .await;
    match done {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if e.status.is_client_error() => {
            Err(page::message(e.status, "That did not work", &e.message).into())
        }
        Ok(Err(e)) => Err(page::internal(anyhow::anyhow!("{e}")).into()),
        Err(e) => Err(page::internal(e.into()).into()),
    }
}

/// An action that ends back on the endpoint's page with a notice.
async fn act_and_return<T: Send + 'static>(
    state: &AppState,
    admin: &Admin,
    id: &str,
    env: Env,
    (action, notice): (&'static str, &str),
    f: impl FnOnce(&mut tenants::db::Write<'_>) -> Result<T, ApiError> + Send + 'static,
) -> PageResult {
    act(state, admin, env, action, id.to_owned(), f).await?;
    let back = format!("/admin/webhooks/{id}?env={}&notice={notice}", env.as_str());
    Ok(Redirect::to(&back).into_response())
}

pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(admin, form): Posted,
) -> PageResult {
    let (env, i) = (env_of(form.get("env")), id.clone());
    let what = ("webhook.test_sent", "test_sent");
    act_and_return(&state, &admin, &id, env, what, move |w| {
        manage::send_test(w, &i)
    })
    .await
}

pub async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(admin, form): Posted,
) -> PageResult {
    let (env, i) = (env_of(form.get("env")), id.clone());
    let what = ("webhook.enabled", "enabled");
    act_and_return(&state, &admin, &id, env, what, move |w| {
        manage::enable(w, &i)
    })
    .await
}

pub async fn retry(
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
    Posted(admin, form): Posted,
) -> PageResult {
    let (env, i) = (env_of(form.get("env")), id.clone());
    let what = ("webhook.delivery_retried", "retried");
    act_and_return(&state, &admin, &id, env, what, move |w| {
        manage::retry(w, &i, &delivery_id)
    })
    .await
}

pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(admin, form): Posted,
) -> PageResult {
    let env = env_of(form.get("env"));
    let hours = form
        .get("grace_period_hours")
        .parse()
        .unwrap_or(manage::DEFAULT_GRACE_HOURS);
    let (i, key) = (id.clone(), state.webhooks.key.clone());
    let action = "webhook.secret_rotated";
    let rotated = act(&state, &admin, env, action, id.clone(), move |w| {
        manage::rotate_secret(w, &key, &i, hours)
    })
    .await?;
    // The new secret is in this one answer only: never stored in a page or in the log.
    let rotated = context! {
        secret => rotated.secret, previous_expires => rotated.previous_secret_expires_at,
    };
    detail(&state, &admin, env, id, context! { rotated }).await
}
