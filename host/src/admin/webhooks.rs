//! `/admin/webhooks` and `/admin/webhooks/{id}`: the endpoints of each environment, their
//! delivery history with every attempt (status, latency, the start of the receiver's answer),
//! and the owner's actions: send a test, retry a delivery, enable, rotate the secret.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::json;
use tenants::{Env, TenantDb};

use crate::admin::page;
use crate::admin::session::{Admin, Posted};
use crate::app::AppState;
use crate::audit;
use crate::error::ApiError;
use crate::webhooks::manage;
use crate::webhooks::store::{self, Endpoint};

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

async fn db_of(
    state: &AppState,
    admin: &Admin,
    env: Env,
) -> Result<std::sync::Arc<TenantDb>, Response> {
    if env == Env::Live {
        return Ok(admin.console.db.clone());
    }
    let (store, tenant) = (state.clone(), admin.console.tenant.clone());
    match tokio::task::spawn_blocking(move || store.store.db(&tenant, env)).await {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(page::internal(e.into())),
        Err(e) => Err(page::internal(e.into())),
    }
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
) -> Response {
    let env = env_of(q.env.as_deref().unwrap_or(""));
    let db = match db_of(&state, &admin, env).await {
        Ok(db) => db,
        Err(response) => return response,
    };
    let found = tokio::task::spawn_blocking(move || {
        db.read(|c| Ok::<_, anyhow::Error>(store::all_endpoints(c)?))
    })
    .await;
    let endpoints = match found {
        Ok(Ok(list)) => list,
        Ok(Err(e)) => return page::internal(e),
        Err(e) => return page::internal(e.into()),
    };
    let endpoints: Vec<Value> = endpoints.iter().map(endpoint_view).collect();
    page::render(
        &admin,
        StatusCode::OK,
        "admin/webhooks.html",
        "webhooks",
        context! { endpoints, env => env.as_str() },
    )
}

fn excerpt(body: Option<String>) -> Option<String> {
    body.map(|b| {
        if b.chars().count() > EXCERPT {
            format!("{}…", b.chars().take(EXCERPT).collect::<String>())
        } else {
            b
        }
    })
}

async fn detail(
    state: &AppState,
    admin: &Admin,
    env: Env,
    id: String,
    status: StatusCode,
    extra: Value,
) -> Response {
    let db = match db_of(state, admin, env).await {
        Ok(db) => db,
        Err(response) => return response,
    };
    let found = tokio::task::spawn_blocking(move || {
        db.read(|c| {
            let Some(endpoint) = store::get_endpoint(c, &id)? else {
                return Ok::<_, anyhow::Error>(None);
            };
            let mut deliveries = vec![];
            for d in store::recent_deliveries(c, &id, HISTORY)? {
                let attempts = store::attempts(c, &d.id)?;
                deliveries.push((d, attempts));
            }
            Ok(Some((endpoint, deliveries)))
        })
    })
    .await;
    let (endpoint, deliveries) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => {
            return page::message(
                StatusCode::NOT_FOUND,
                "No such endpoint",
                "This environment has no webhook endpoint with that id.",
            );
        }
        Ok(Err(e)) => return page::internal(e),
        Err(e) => return page::internal(e.into()),
    };
    let deliveries: Vec<Value> = deliveries
        .into_iter()
        .map(|(d, attempts)| context! {
            id => d.id, event_type => d.event_type, event_id => d.event_id, status => d.status,
            attempt_count => d.attempt_count, created => d.created_at, next_attempt => d.next_attempt_at,
            attempts => attempts.into_iter().map(|a| context! {
                at => a.attempted_at, status_code => a.status_code, latency_ms => a.latency_ms,
                excerpt => excerpt(a.response_body), error => a.error,
            }).collect::<Vec<_>>(),
        })
        .collect();
    page::render(
        admin,
        status,
        "admin/webhook.html",
        "webhooks",
        context! { endpoint => endpoint_view(&endpoint), deliveries, env => env.as_str(), ..extra },
    )
}

pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<EnvQuery>,
) -> Response {
    let env = env_of(q.env.as_deref().unwrap_or(""));
    let notice = q.notice.as_deref().and_then(page::notice);
    detail(&state, &admin, env, id, StatusCode::OK, context! { notice }).await
}

/// Runs one of the owner's actions on the endpoint in its environment, audited.
async fn act<T: Send + 'static>(
    state: &AppState,
    admin: &Admin,
    env: Env,
    action: &'static str,
    target: String,
    f: impl FnOnce(&mut tenants::db::Write<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Response> {
    let db = db_of(state, admin, env).await?;
    let (control, actor) = (admin.console.db.clone(), admin.actor());
    let done = tokio::task::spawn_blocking(move || {
        let value = db.write(f)?;
        // The audit log is the live file's, whichever environment the endpoint is in.
        control.write(move |w| {
            audit::record(
                w,
                &actor,
                action,
                Some(&target),
                json!({ "env": env.as_str() }),
                Utc::now(),
            )?;
            Ok::<_, ApiError>(())
        })?;
        Ok::<_, ApiError>(value)
    })
    .await;
    match done {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if e.status.is_client_error() => {
            Err(page::message(e.status, "That did not work", &e.message))
        }
        Ok(Err(e)) => Err(page::internal(anyhow::anyhow!("{e}"))),
        Err(e) => Err(page::internal(e.into())),
    }
}

fn back(id: &str, env: Env, notice: &str) -> Response {
    Redirect::to(&format!(
        "/admin/webhooks/{id}?env={}&notice={notice}",
        env.as_str()
    ))
    .into_response()
}

pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(admin, form): Posted,
) -> Response {
    let env = env_of(form.get("env"));
    let i = id.clone();
    match act(
        &state,
        &admin,
        env,
        "webhook.test_sent",
        id.clone(),
        move |w| manage::send_test(w, &i),
    )
    .await
    {
        Ok(_) => back(&id, env, "test_sent"),
        Err(response) => response,
    }
}

pub async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(admin, form): Posted,
) -> Response {
    let env = env_of(form.get("env"));
    let i = id.clone();
    match act(
        &state,
        &admin,
        env,
        "webhook.enabled",
        id.clone(),
        move |w| manage::enable(w, &i),
    )
    .await
    {
        Ok(_) => back(&id, env, "enabled"),
        Err(response) => response,
    }
}

pub async fn retry(
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
    Posted(admin, form): Posted,
) -> Response {
    let env = env_of(form.get("env"));
    let (i, d) = (id.clone(), delivery_id.clone());
    match act(
        &state,
        &admin,
        env,
        "webhook.delivery_retried",
        delivery_id,
        move |w| manage::retry(w, &i, &d),
    )
    .await
    {
        Ok(_) => back(&id, env, "retried"),
        Err(response) => response,
    }
}

pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted(admin, form): Posted,
) -> Response {
    let env = env_of(form.get("env"));
    let hours = form
        .get("grace_period_hours")
        .parse()
        .unwrap_or(manage::DEFAULT_GRACE_HOURS);
    let i = id.clone();
    match act(
        &state,
        &admin,
        env,
        "webhook.secret_rotated",
        id.clone(),
        move |w| manage::rotate_secret(w, &i, hours),
    )
    .await
    {
        // The new secret is shown on this one answer, never stored in a page or the log.
        Ok(rotated) => detail(
            &state,
            &admin,
            env,
            id,
            StatusCode::OK,
            context! { rotated => context! {
                secret => rotated.secret, previous_expires => rotated.previous_secret_expires_at,
            } },
        )
        .await,
        Err(response) => response,
    }
}
