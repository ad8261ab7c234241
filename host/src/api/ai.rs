//! The tenant's AI meter: `GET /api/v1/ai/usage` (`ai:read`), a month's calls and tokens by
//! plugin and model, the budget, and the latest calls. Kept in the live file for test keys too:
//! the provider, key and bill are the tenant's.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, State};
use tenants::{Env, Store};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ai::usage::{self, MonthUsage};
use crate::error::{ApiError, Result};
use crate::http::context::Ctx;
use crate::state::AppState;

#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the query; read by hand for the API's own error envelope.
struct UsageQuery {
    /// `YYYY-MM` (UTC); this month by default.
    month: Option<String>,
}

/// Read AI usage
///
/// A month of the tenant's AI meter: every question plugins asked its provider, by plugin and
/// model, against its monthly token budget.
#[utoipa::path(get, path = "/api/v1/ai/usage", tag = "AI", operation_id = "getAiUsage",
    params(UsageQuery),
    security(("api_key" = ["ai:read"])),
    responses((status = 200, description = "The month's usage.", body = MonthUsage)))]
async fn get_usage(
    State(store): State<Arc<Store>>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<MonthUsage>> {
    let month = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "month")
        .map(|(_, v)| v.into_owned());
    let month = match month {
        None => usage::month_of(chrono::Utc::now()),
        Some(m)
            if chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").is_ok()
                && m.len() == 7 =>
        {
            m
        }
        Some(_) => {
            return Err(ApiError::validation(
                "month",
                "expected YYYY-MM, e.g. 2026-12",
            ));
        }
    };
    let live = store.db(&ctx.tenant, Env::Live)?;
    tokio::task::spawn_blocking(move || live.read(|c| Ok(usage::month(c, &month)?)))
        .await?
        .map(Json)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_usage))
}
