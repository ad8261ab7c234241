//! The event log: `GET /api/v1/events` (`events:read`), newest first, cursor paging, filters
//! `type` (exact or comma list), `since`, `until`.

use axum::Json;
use axum::extract::{OriginalUri, State};
use rusqlite::types::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api;
use crate::error::Result;
use crate::event_log::{self, Event};
use crate::http::context::Ctx;
use crate::paging::{CursorKey, ListQuery, ListRequest, Page};
use crate::state::AppState;

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
    State(key): State<CursorKey>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<Event>>> {
    let req = ListRequest::parse(&uri, "events", &["type"], &key)?;
    let types = req
        .filters
        .get("type")
        .map(|t| event_log::parse_type_filter(t))
        .transpose()?;
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}
