//! `/admin/billing`: the community's plan. The gate reads the plan on every API request, so a
//! change applies to the next one (`starter` has no API access).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::context;
use serde_json::json;
use tenants::Plan;

use crate::admin::keys::Notice;
use crate::admin::page;
use crate::admin::session::{Admin, Posted};
use crate::app::AppState;
use crate::audit;

fn describe(plan: Plan) -> &'static str {
    if plan.has_api() {
        "Includes the public REST API: keys, webhooks, plugins' routes."
    } else {
        "No public REST API: API requests answer 403 plan_gated."
    }
}

pub async fn index(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<Notice>,
) -> Response {
    let slug = admin.tenant_slug().to_owned();
    let store = state.clone();
    let current = match tokio::task::spawn_blocking(move || store.store.tenant(&slug)).await {
        Ok(Ok(Some(t))) => t.plan,
        Ok(Ok(None)) => {
            return page::message(
                StatusCode::NOT_FOUND,
                "No community here",
                "It was deleted.",
            );
        }
        Ok(Err(e)) => return page::internal(e.into()),
        Err(e) => return page::internal(e.into()),
    };
    let plans: Vec<minijinja::Value> = Plan::ALL
        .iter()
        .map(|p| context! { name => p.as_str(), description => describe(*p), api => p.has_api(), current => *p == current })
        .collect();
    let notice = q.notice.as_deref().and_then(page::notice);
    page::render(
        &admin,
        StatusCode::OK,
        "admin/billing.html",
        "billing",
        context! { plans, current => current.as_str(), notice },
    )
}

pub async fn change(State(state): State<AppState>, Posted(admin, form): Posted) -> Response {
    let Ok(plan) = form.get("plan").parse::<Plan>() else {
        return page::message(
            StatusCode::BAD_REQUEST,
            "Unknown plan",
            "Choose one of the plans listed.",
        );
    };
    let store = state.clone();
    let (slug, db, actor) = (
        admin.tenant_slug().to_owned(),
        admin.console.db.clone(),
        admin.actor(),
    );
    let done = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let before = store.store.tenant(&slug)?.map(|t| t.plan);
        store.store.registry().set_plan(&slug, plan)?;
        db.write(move |w| {
            audit::record(
                w,
                &actor,
                "plan.changed",
                Some(&slug),
                json!({ "from": before.map(Plan::as_str), "to": plan.as_str() }),
                Utc::now(),
            )?;
            Ok::<_, anyhow::Error>(())
        })
    })
    .await;
    match done {
        Ok(Ok(())) => Redirect::to("/admin/billing?notice=plan_changed").into_response(),
        Ok(Err(e)) => page::internal(e),
        Err(e) => page::internal(e.into()),
    }
}
