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
