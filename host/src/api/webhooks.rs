//! Webhook endpoints and their deliveries (`webhooks:read` / `webhooks:manage`).
//!
//! `POST /api/v1/webhooks` registers an endpoint (the signing secret is shown once); `GET`,
//! `PATCH`, `DELETE` manage it; deliveries and their attempts are listed, retried, replayed.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, OriginalUri, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use rusqlite::params;
use rusqlite::types::Value as SqlValue;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::api::{self, ApiPath, Deleted};
use crate::error::{ApiError, Result};
use crate::event_log;
use crate::http::context::Ctx;
use crate::http::json::{ApiJson, parse, read_body, require_json};
use crate::paging::{ListQuery, ListRequest, Page};
use crate::ssrf;
use crate::state::AppState;
use crate::time::{parse_rfc3339, to_rfc3339};
use crate::webhooks::manage::{self, Rotated, not_found};
use crate::webhooks::store::{self, Delivery, Endpoint};
use crate::webhooks::{self as hooks, Webhooks, filter, sign, worker};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const MAX_REPLAY: usize = 10_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    /// An `https` URL the SSRF guard accepts (no private, loopback or link-local address).
    url: String,
    /// Event types to deliver, or `["*"]` for all.
    events: Vec<String>,
    description: Option<String>,
    /// Deliver only events whose fields match, e.g. `{"data.post.author_id": "usr_…"}`.
    #[schema(value_type = Option<Object>)]
    filter: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EndpointPatch {
    url: Option<String>,
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    filter: Option<Option<Value>>,
    enabled: Option<bool>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Rotate {
    /// How long the previous secret still verifies: 1 to 168 hours (default 24).
    grace_period_hours: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Replay {
    since: String,
    until: String,
    types: Option<Vec<String>>,
}

/// An endpoint as created or rotated: with its secret, this once.
#[derive(Serialize, ToSchema)]
struct WithSecret {
    #[serde(flatten)]
    endpoint: Endpoint,
    /// `whsec_…`: verify each delivery's signature with it. Shown this once.
    secret: String,
}

#[derive(Serialize, ToSchema)]
struct Replayed {
    webhook_id: String,
    /// Deliveries queued.
    replayed: usize,
}

#[derive(Serialize, ToSchema)]
struct DeliveryDetail {
    #[serde(flatten)]
    delivery: Delivery,
    attempts: Vec<store::Attempt>,
}

/// A JSON body that may be left out entirely (`POST …/rotate-secret` with no body).
struct OptionalJson<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self> {
        let headers = req.headers().clone();
        let bytes = read_body(req.into_body()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        require_json(&headers)?;
        parse(&bytes).map(OptionalJson)
    }
}

fn validate_events(state: &AppState, events: &[String]) -> Result<()> {
    if events.is_empty() || events.len() > 100 {
        return Err(ApiError::validation(
            "events",
            "1 to 100 event types, or [\"*\"] for all",
        ));
    }
    if events.iter().any(|e| e == "*") {
        return if events.len() == 1 {
            Ok(())
        } else {
            Err(ApiError::validation("events", "\"*\" stands alone"))
        };
    }
    let mut known: Vec<String> = hooks::known_event_types()
        .iter()
        .map(|t| t.to_string())
        .collect();
    known.extend(state.plugins.current().event_types());
    for e in events {
        if !known.contains(e) {
            return Err(ApiError::validation(
                "events",
                format!("unknown event type `{e}`; known: {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

fn validate_description(description: &Option<String>) -> Result<()> {
    match description {
        Some(d) => crate::domain::validate::text("description", d, 0, 500, false),
        None => Ok(()),
    }
}

fn validate_filter(f: &Option<Value>) -> Result<()> {
    match f {
        Some(f) => filter::validate(f).map_err(|why| ApiError::validation("filter", why)),
        None => Ok(()),
    }
}

/// The SSRF guard, as at registration.
async fn check_url(state: &AppState, url: &str) -> Result<()> {
    if url.len() > 2048 {
        return Err(ApiError::validation("url", "at most 2048 characters"));
    }
    match state.webhooks.guard.check(url).await {
        Ok(_) => Ok(()),
        Err(ssrf::Refusal::Invalid(why)) => Err(ApiError::validation("url", why)),
        Err(refusal @ ssrf::Refusal::Unresolvable(_)) => {
            Err(ApiError::validation("url", refusal.to_string()))
        }
        Err(refusal) => Err(ApiError::bad_request(
            "webhook_url_forbidden",
            format!("This URL may not receive webhooks: {refusal}."),
        )
        .with("reason", refusal.to_string())),
    }
}

/// Register an endpoint
///
/// The URL passes the SSRF guard first. The answer carries the signing `secret`, this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "Webhooks", operation_id = "createWebhook",
    request_body = NewEndpoint, security(("api_key" = ["webhooks:manage"])),
    responses((status = 201, description = "The endpoint, with its secret.", body = WithSecret)))]
async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(new): ApiJson<NewEndpoint>,
) -> Result<Response> {
    validate_events(&state, &new.events)?;
    validate_description(&new.description)?;
    validate_filter(&new.filter)?;
    check_url(&state, &new.url).await?;
    // The worker looks for deliveries in files it knows have endpoints; say so before there is one.
    let (registry, tenant_id, env) = (state.clone(), ctx.tenant.id.clone(), ctx.key.env);
    tokio::task::spawn_blocking(move || {
        registry
            .store
            .registry()
            .mark_target(tenants::registry::Target::Webhooks, &tenant_id, env)
    })
    .await??;
    let key = state.webhooks.key.clone();
    api::write(&ctx, StatusCode::CREATED, move |w| {
        let id = format!("whk_{}", w.new_ulid());
        let secret = sign::new_secret();
        let sealed = store::seal_secret(&key, &id, &secret);
        let at = to_rfc3339(&Utc::now());
        w.execute(
            "INSERT INTO webhook_endpoints (id, url, description, events, filter, secret, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            params![
                id,
                new.url,
                new.description,
                serde_json::to_string(&new.events)?,
                new.filter.as_ref().map(Value::to_string),
                sealed,
                at
            ],
        )?;
        let endpoint = store::get_endpoint(w, &id)?.ok_or_else(not_found)?;
        Ok(WithSecret { endpoint, secret })
    })
    .await
}

/// List endpoints
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "Webhooks", operation_id = "listWebhooks",
    params(crate::openapi::ListParams), security(("api_key" = ["webhooks:read"])),
    responses((status = 200, description = "A page of endpoints.", body = [Endpoint])))]
async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<Endpoint>>> {
    let req = ListRequest::parse(&uri, "webhooks", &[], &state.cursor_key)?;
    let key = state.cursor_key.clone();
    api::read(&ctx, move |conn| {
        ListQuery {
            table: "webhook_endpoints",
            id_prefix: "whk_",
            columns: store::ENDPOINT_COLUMNS,
            conditions: vec![],
            params: vec![],
            counters: None,
        }
        .fetch(conn, &req, &key, store::endpoint_from_row)
    })
    .await
    .map(Json)
}

/// Get an endpoint
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "Webhooks", operation_id = "getWebhook",
    params(("id" = String, Path, description = "`whk_…`")), security(("api_key" = ["webhooks:read"])),
    responses((status = 200, description = "The endpoint.", body = Endpoint)))]
async fn get_one(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Json<Endpoint>> {
    api::read(&ctx, move |conn| {
        store::get_endpoint(conn, &id)?.ok_or_else(not_found)
    })
    .await
    .map(Json)
}

/// Update an endpoint
///
/// Absent fields stay; `null` clears `description` or `filter`. `enabled: true` re-enables an
/// endpoint the retries disabled.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "Webhooks",
    operation_id = "updateWebhook", params(("id" = String, Path, description = "`whk_…`")), request_body = EndpointPatch,
    security(("api_key" = ["webhooks:manage"])),
    responses((status = 200, description = "The endpoint as updated.", body = Endpoint)))]
async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<EndpointPatch>,
) -> Result<Response> {
    if let Some(events) = &change.events {
        validate_events(&state, events)?;
    }
    if let Some(description) = &change.description {
        validate_description(description)?;
    }
    if let Some(f) = &change.filter {
        validate_filter(f)?;
    }
    if let Some(url) = &change.url {
        check_url(&state, url).await?;
    }
    api::write(&ctx, StatusCode::OK, move |w| {
        store::get_endpoint(w, &id)?.ok_or_else(not_found)?;
        let at = to_rfc3339(&Utc::now());
        if let Some(url) = &change.url {
            w.execute(
                "UPDATE webhook_endpoints SET url = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, url, at],
            )?;
        }
        if let Some(events) = &change.events {
            w.execute(
                "UPDATE webhook_endpoints SET events = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, serde_json::to_string(events)?, at],
            )?;
        }
        if let Some(description) = &change.description {
            w.execute(
                "UPDATE webhook_endpoints SET description = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, description, at],
            )?;
        }
        if let Some(f) = &change.filter {
            w.execute(
                "UPDATE webhook_endpoints SET filter = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, f.as_ref().map(Value::to_string), at],
            )?;
        }
        match change.enabled {
            Some(true) => {
                manage::enable(w, &id)?;
            }
            Some(false) => worker::disable(w, &id, "disabled through the API")?,
            None => {}
        }
        store::get_endpoint(w, &id)?.ok_or_else(not_found)
    })
    .await
}

/// Delete an endpoint
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "Webhooks",
    operation_id = "deleteWebhook", params(("id" = String, Path, description = "`whk_…`")), security(("api_key" = ["webhooks:manage"])),
    responses((status = 200, description = "Deleted, with its pending deliveries.", body = Deleted)))]
async fn remove(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Response> {
    api::write(&ctx, StatusCode::OK, move |w| {
        let n = w.execute("DELETE FROM webhook_endpoints WHERE id = ?1", [&id])?;
        if n == 0 {
            return Err(not_found());
        }
        Ok(Deleted { id, deleted: true })
    })
    .await
}

/// Enable an endpoint
///
/// After the retries disabled it: resets the failure count and re-arms its pending deliveries.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/enable", tag = "Webhooks",
    operation_id = "enableWebhook", params(("id" = String, Path, description = "`whk_…`")), security(("api_key" = ["webhooks:manage"])),
    responses((status = 200, description = "The endpoint, enabled.", body = Endpoint)))]
async fn enable(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Response> {
    api::write(&ctx, StatusCode::OK, move |w| manage::enable(w, &id)).await
}

/// Rotate the signing secret
///
/// The previous secret keeps verifying for the grace period. The body may be left out.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "Webhooks",
    operation_id = "rotateWebhookSecret", params(("id" = String, Path, description = "`whk_…`")),
    request_body(content = Option<Rotate>, description = "Optional."),
    security(("api_key" = ["webhooks:manage"])),
    responses((status = 200, description = "The new secret, this once.", body = Rotated)))]
async fn rotate_secret(
    State(webhooks): State<Arc<Webhooks>>,
    ctx: Ctx,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<Rotate>,
) -> Result<Response> {
    let hours = body
        .grace_period_hours
        .unwrap_or(manage::DEFAULT_GRACE_HOURS);
    api::write(&ctx, StatusCode::OK, move |w| {
        manage::rotate_secret(w, &webhooks.key, &id, hours)
    })
    .await
}

/// List an endpoint's deliveries
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "Webhooks",
    operation_id = "listWebhookDeliveries",
    params(("id" = String, Path, description = "`whk_…`"), crate::openapi::ListParams,
        ("status" = Option<String>, Query, description = "`pending`, `succeeded` or `failed`.")),
    security(("api_key" = ["webhooks:read"])),
    responses((status = 200, description = "A page of deliveries.", body = [Delivery])))]
async fn list_deliveries(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiPath(id): ApiPath<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Json<Page<Delivery>>> {
    let req = ListRequest::parse(
        &uri,
        &format!("webhook_deliveries:{id}"),
        &["status"],
        &state.cursor_key,
    )?;
    if let Some(status) = req.filters.get("status")
        && !matches!(status.as_str(), "pending" | "succeeded" | "failed")
    {
        return Err(ApiError::validation(
            "status",
            "one of pending, succeeded, failed",
        ));
    }
    let key = state.cursor_key.clone();
    api::read(&ctx, move |conn| {
        store::get_endpoint(conn, &id)?.ok_or_else(not_found)?;
        let mut query = ListQuery {
            table: "webhook_deliveries",
            id_prefix: "dlv_",
            columns: store::DELIVERY_COLUMNS,
            conditions: vec!["endpoint_id = ?".into()],
            params: vec![SqlValue::Text(id)],
            counters: None,
        };
        if let Some(status) = req.filters.get("status") {
            query.conditions.push("status = ?".into());
            query.params.push(SqlValue::Text(status.clone()));
        }
        query.fetch(conn, &req, &key, store::delivery_from_row)
    })
    .await
    .map(Json)
}

/// Get a delivery and its attempts
///
/// Each attempt with its status code, latency and the start of the receiver's answer.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}", tag = "Webhooks",
    operation_id = "getWebhookDelivery",
    params(("id" = String, Path, description = "`whk_…`"), ("delivery_id" = String, Path, description = "`dlv_…`")),
    security(("api_key" = ["webhooks:read"])),
    responses((status = 200, description = "The delivery with its attempts.", body = DeliveryDetail)))]
async fn get_delivery(
    ctx: Ctx,
    ApiPath((id, delivery_id)): ApiPath<(String, String)>,
) -> Result<Json<DeliveryDetail>> {
    api::read(&ctx, move |conn| {
        store::get_endpoint(conn, &id)?.ok_or_else(not_found)?;
        let delivery = store::get_delivery(conn, &id, &delivery_id)?
            .ok_or_else(|| ApiError::not_found("delivery"))?;
        let attempts = store::attempts(conn, &delivery_id)?;
        Ok(DeliveryDetail { delivery, attempts })
    })
    .await
    .map(Json)
}

/// Retry a delivery now
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
    tag = "Webhooks", operation_id = "retryWebhookDelivery",
    params(("id" = String, Path, description = "`whk_…`"), ("delivery_id" = String, Path, description = "`dlv_…`")),
    security(("api_key" = ["webhooks:manage"])),
    responses((status = 202, description = "Queued again.", body = Delivery)))]
async fn retry(
    ctx: Ctx,
    ApiPath((id, delivery_id)): ApiPath<(String, String)>,
) -> Result<Response> {
    api::write(&ctx, StatusCode::ACCEPTED, move |w| {
        manage::retry(w, &id, &delivery_id)
    })
    .await
}

/// Send a test event
///
/// A `webhook.test` delivery to this endpoint; it is not in the event log.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "Webhooks",
    operation_id = "testWebhook", params(("id" = String, Path, description = "`whk_…`")), security(("api_key" = ["webhooks:manage"])),
    responses((status = 202, description = "The test delivery, queued.", body = Delivery)))]
async fn test(ctx: Ctx, ApiPath(id): ApiPath<String>) -> Result<Response> {
    api::write(&ctx, StatusCode::ACCEPTED, move |w| {
        manage::send_test(w, &id)
    })
    .await
}

/// Replay past events
///
/// Queues a new delivery of each logged event in `[since, until]` the endpoint subscribes to
/// (or `types`), at most 10,000.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/replay", tag = "Webhooks",
    operation_id = "replayWebhook", params(("id" = String, Path, description = "`whk_…`")), request_body = Replay,
    security(("api_key" = ["webhooks:manage"])),
    responses((status = 202, description = "Deliveries queued.", body = Replayed)))]
async fn replay(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Replay>,
) -> Result<Response> {
    let since = parse_rfc3339(&body.since).ok_or_else(|| {
        ApiError::bad_request("invalid_since", "`since` must be an RFC 3339 time")
            .with("field", "since")
    })?;
    let until = parse_rfc3339(&body.until).ok_or_else(|| {
        ApiError::bad_request("invalid_until", "`until` must be an RFC 3339 time")
            .with("field", "until")
    })?;
    if until < since {
        return Err(
            ApiError::bad_request("invalid_until", "`until` is before `since`")
                .with("field", "until"),
        );
    }
    if let Some(types) = &body.types {
        validate_events(&state, types)?;
    }
    api::write(&ctx, StatusCode::ACCEPTED, move |w| {
        let endpoint = store::get_endpoint(w, &id)?.ok_or_else(not_found)?;
        let types = body.types.unwrap_or(endpoint.events.clone());
        let lo = format!(
            "evt_{}",
            ulid::Ulid::from_parts(since.timestamp_millis().max(0) as u64, 0)
        );
        let hi = format!(
            "evt_{}",
            ulid::Ulid::from_parts(until.timestamp_millis().max(0) as u64, (1 << 80) - 1)
        );
        let events: Vec<event_log::Event> = w
            .prepare_cached(&format!(
                "SELECT {} FROM events WHERE id >= ?1 AND id <= ?2 ORDER BY id LIMIT ?3",
                event_log::COLUMNS
            ))?
            .query_map(
                params![lo, hi, (MAX_REPLAY * 4) as i64],
                event_log::from_row,
            )?
            .collect::<rusqlite::Result<_>>()?;
        let filter = endpoint.filter.as_ref().and_then(Value::as_object);
        let mut chosen = vec![];
        for event in events.iter().filter(|e| store::subscribed(&types, &e.kind)) {
            let body = serde_json::to_string(event)?;
            if let Some(filter) = filter
                && !filter::matches(filter, &serde_json::from_str(&body)?)
            {
                continue;
            }
            chosen.push((event, body));
        }
        if chosen.len() > MAX_REPLAY || events.len() == MAX_REPLAY * 4 {
            return Err(ApiError::validation(
                "since",
                format!("more than {MAX_REPLAY} events in that window; replay a narrower one"),
            ));
        }
        let now = Utc::now();
        for (event, body) in &chosen {
            store::insert_delivery(w, &id, &event.id, &event.kind, body, now)?;
        }
        Ok(Replayed {
            webhook_id: id,
            replayed: chosen.len(),
        })
    })
    .await
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, remove))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(retry))
        .routes(routes!(test))
        .routes(routes!(enable))
        .routes(routes!(rotate_secret))
        .routes(routes!(replay))
}
