//! The event log: `GET /api/v1/events` (`events:read`), newest first, cursor paging, filters
//! `type` (exact or comma list), `since`, `until`.

use axum::extract::{OriginalUri, State};
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::types::Value;

use crate::api;
use crate::app::AppState;
use crate::error::Result;
use crate::event_log::{self, Event};
use crate::http::context::Ctx;
use crate::http::scope::scoped;
use crate::paging::{ListQuery, ListRequest, Page};

#[derive(utoipa::OpenApi)]
#[openapi(paths(list))]
pub struct Doc;

/// List events
///
/// The append-only log, newest first: the same events webhooks deliver.
#[utoipa::path(get, path = "/api/v1/events", tag = "Events", operation_id = "listEvents",
    params(crate::openapi::ListParams,
        ("type" = Option<String>, Query,
            description = "One event type, or several separated by commas (`post.created,user.left`).")),
    security(("api_key" = ["events:read"])),
    responses((status = 200, description = "A page of events.", body = [Event])))]

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<Event>>> {
    let req = ListRequest::parse(&uri, "events", &["type"], &state.cursor_key)?;
    let types = req
        .filters
        .get("type")
        .map(|t| event_log::parse_type_filter(t))
        .transpose()?;
    let key = state.cursor_key.clone();
    api::read(&ctx, move |conn| {
        let mut query = ListQuery {
            table: "events",
            id_prefix: "evt_",
            columns: event_log::COLUMNS,
            conditions: vec![],
            params: vec![],
            counters: Some(vec!["events".into()]),
        };
        if let Some(types) = types {
            query
                .conditions
                .push(format!("type IN ({})", vec!["?"; types.len()].join(", ")));
            query.counters = Some(types.iter().map(|t| format!("events:{t}")).collect());
            query.params.extend(types.into_iter().map(Value::Text));
        }
        query.fetch(conn, &req, &key, event_log::from_row)
    })
    .await
    .map(Json)
}

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route("/api/v1/events", scoped(state, "events:read", get(list)))
}
