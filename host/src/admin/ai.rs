//! `/admin/ai` (the console's tenant file is the live one, where AI settings live): the community's AI provider, model and key (the key is write-only: sealed on
//! save, never shown), its monthly token budget, and this month's meter.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use minijinja::context;

use crate::admin::keys::Notice;
use crate::admin::page::{self, PageResult, blocking};
use crate::admin::session::{Admin, Posted};
use crate::ai::provider::{self, NewProvider, Provider};
use crate::ai::usage;
use crate::state::AppState;

async fn ai_page(
    admin: &Admin,
    status: StatusCode,
    notice: Option<(&str, &str)>,
    error: Option<String>,
) -> PageResult {
    let live = admin.console.db.clone();
    let month = usage::month_of(Utc::now());
    let m = month.clone();
    let (shown, used) =
        blocking(move || live.read(|c| Ok((provider::show(c)?, usage::month(c, &m)?)))).await?;
    Ok(page::render(
        admin,
        status,
        "admin/ai.html",
        "ai",
        context! {
            shown => minijinja::Value::from(minijinja::value::Serde(&shown)),
            used => minijinja::Value::from(minijinja::value::Serde(&used)),
            month, notice, error,
        },
    ))
}

pub async fn index(admin: Admin, Query(q): Query<Notice>) -> PageResult {
    let notice = q.notice.as_deref().and_then(page::notice);
    ai_page(&admin, StatusCode::OK, notice, None).await
}

/// The provider form: a blank key keeps the one set before.
pub async fn save(State(state): State<AppState>, Posted(admin, form): Posted) -> PageResult {
    let provider: Provider = match form.get("provider").parse() {
        Ok(p) => p,
        Err(e) => return ai_page(&admin, StatusCode::BAD_REQUEST, None, Some(e)).await,
    };
    let (model, base_url, key) = (
        form.get("model").trim().to_owned(),
        form.get("base_url").trim().to_owned(),
        form.get("api_key").trim().to_owned(),
    );
    let no_key = form.get("no_key") == "on";
    let live = admin.console.db.clone();
    let (server_key, tenant_id, actor) = (
        state.ai.key.clone(),
        admin.console.tenant.id.clone(),
        admin.actor(),
    );
    let saved = blocking(move || {
        live.write(move |w| {
            let new = NewProvider {
                provider,
                base_url: (!base_url.is_empty()).then_some(base_url.as_str()),
                model: &model,
                api_key: match (no_key, key.as_str()) {
                    (true, _) => Some(""),
                    (false, "") => None,
                    (false, k) => Some(k),
                },
            };
            // A refusal is the admin's to fix; it writes nothing.
            Ok(provider::set(
                w,
                &server_key,
                &tenant_id,
                &actor,
                &new,
                Utc::now(),
            ))
        })
    })
    .await?;
    if let Err(error) = saved {
        return ai_page(&admin, StatusCode::BAD_REQUEST, None, Some(error)).await;
    }
    Ok(Redirect::to("/admin/ai?notice=ai_saved").into_response())
}

/// The budget form: blank for none.
pub async fn budget(Posted(admin, form): Posted) -> PageResult {
    let raw = form.get("monthly_token_budget").trim().to_owned();
    let budget = match raw.as_str() {
        "" => None,
        n => match n.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                let error = "The budget is a whole number of tokens, or blank for none.".to_owned();
                return ai_page(&admin, StatusCode::BAD_REQUEST, None, Some(error)).await;
            }
        },
    };
    let live = admin.console.db.clone();
    let actor = admin.actor();
    let saved = blocking(move || {
        live.write(move |w| Ok(provider::set_budget(w, &actor, budget, Utc::now())))
    })
    .await?;
    if let Err(error) = saved {
        return ai_page(&admin, StatusCode::BAD_REQUEST, None, Some(error)).await;
    }
    Ok(Redirect::to("/admin/ai?notice=ai_budget_saved").into_response())
}
