//! `/admin/billing`: the community's plan. The gate reads the plan on every API request, so a
//! change applies to the next one (`starter` has no API access).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use minijinja::context;
use serde_json::json;
use tenants::Plan;

use crate::admin::keys::Notice;
use crate::admin::page::{self, PageResult, blocking};
use crate::admin::session::{Admin, Posted};
use crate::audit;
use crate::state::AppState;

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
) -> PageResult {
    let slug = admin.tenant_slug().to_owned();
    let tenant = blocking(move || Ok(state.store.tenant(&slug)?)).await?;
    let Some(current) = tenant.map(|t| t.plan) else {
        return Err(page::message(
            StatusCode::NOT_FOUND,
            "No community here",
            "It was deleted.",
        )
        .into());
    };
    let plans: Vec<minijinja::Value> = Plan::ALL
        .iter()
        .map(|p| {
            context! { name => p.as_str(), description => describe(*p), current => *p == current }
        })
        .collect();
    let notice = q.notice.as_deref().and_then(page::notice);
    Ok(page::render(
        &admin,
        StatusCode::OK,
        "admin/billing.html",
        "billing",
        context! { plans, current => current.as_str(), notice },
    ))
}

pub async fn change(State(state): State<AppState>, Posted(admin, form): Posted) -> PageResult {
    let Ok(plan) = form.get("plan").parse::<Plan>() else {
        return Err(page::message(
            StatusCode::BAD_REQUEST,
            "Unknown plan",
            "Choose one of the plans listed.",
        )
        .into());
    };
    let (slug, db, actor) = (
        admin.tenant_slug().to_owned(),
        admin.console.db.clone(),
        admin.actor(),
    );
    blocking(move || {
        let before = state.store.tenant(&slug)?.map(|t| t.plan);
        state.store.registry().set_plan(&slug, plan)?;
        db.write(move |w| {
            let change = json!({ "from": before.map(Plan::as_str), "to": plan.as_str() });
            audit::record(w, &actor, "plan.changed", Some(&slug), change, Utc::now())?;
            Ok(())
        })
    })
    .await?;
    Ok(Redirect::to("/admin/billing?notice=plan_changed").into_response())
}
