//! SCIM 2.0 (RFC 7643 / 7644) at `/scim/v2`: identity providers provision the tenant's users and
//! groups, the same ones `/api/v1` shows, with their own bearer tokens ([`gate`]). Every write
//! goes through `crate::domain`, so it appends the host's `user.*` and `group.*` events.
//!
//! - [`schema`]: the attributes, from which discovery, filters and PATCH take their rules;
//! - [`filter`]: filters and PATCH paths; [`patch`]: PATCH operations; [`resource`]: what
//!   Users and Groups share (reading a body, projections, sorting, ETags);
//! - [`users`], [`groups`], [`discovery`]: the endpoints; [`openapi`]: them in the document.
//!
//! Errors are [`ApiError`]s like everywhere; [`crate::http::request_id`] renders them in the
//! SCIM error schema for paths under `/scim/`.

pub mod discovery;
pub mod filter;
pub mod gate;
pub mod groups;
pub mod openapi;
pub mod patch;
pub mod resource;
pub mod schema;
pub mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{any, get, post};
use serde_json::Value;

use crate::error::{ApiError, Result};
use crate::http::gate::Gate;
use crate::state::AppState;
use gate::ScimCtx;
use resource::{read, scim_json};

/// The largest request body (a group's whole member list fits).
const MAX_BODY: usize = 4 * 1024 * 1024;

pub fn router(gate: Gate) -> Router<AppState> {
    let routes = Router::new()
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/Users", get(users::list_users).post(users::create_user))
        .route("/Users/.search", post(users::search_users))
        .route(
            "/Users/{id}",
            get(users::get_user)
                .put(users::replace_user)
                .patch(users::patch_user)
                .delete(users::delete_user),
        )
        .route(
            "/Groups",
            get(groups::list_groups).post(groups::create_group),
        )
        .route("/Groups/.search", post(groups::search_groups))
        .route(
            "/Groups/{id}",
            get(groups::get_group)
                .put(groups::replace_group)
                .patch(groups::patch_group)
                .delete(groups::delete_group),
        )
        .route("/.search", post(search_all))
        .route("/Me", any(me))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(from_fn_with_state(gate, gate::gate));
    Router::new().nest("/scim/v2", routes)
}

/// `POST /.search` at the root: Users, then Groups, that match. A filter naming an attribute
/// only one type has selects from that type alone.
async fn search_all(
    ctx: ScimCtx,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response> {
    let search = || resource::Search::from_body(&headers, &body);
    let (first, first_error) = (search()?, search()?.parse(&schema::USERS).err());
    let (user_listing, group_listing) = (
        search()?.parse(&schema::USERS).ok(),
        search()?.parse(&schema::GROUPS).ok(),
    );
    if user_listing.is_none() && group_listing.is_none() {
        return Err(first_error.unwrap_or_else(|| resource::invalid_value("a SearchRequest")));
    }
    let start = first.start_index.unwrap_or(1).max(1) as usize;
    let count = first
        .count
        .unwrap_or(resource::MAX_RESULTS)
        .clamp(0, resource::MAX_RESULTS) as usize;
    let base = ctx.base.clone();
    let page = read(&ctx, move |conn| {
        let mut all = Vec::new();
        for (listing, list) in [
            (
                user_listing,
                users::list as fn(&_, &_, &str) -> Result<Value>,
            ),
            (group_listing, groups::list),
        ] {
            let Some(mut listing) = listing else { continue };
            (listing.start, listing.count) = (1, usize::MAX);
            if let Value::Array(found) = list(conn, &listing, &base)?["Resources"].take() {
                all.extend(found);
            }
        }
        let total = all.len();
        let page = all.into_iter().skip(start - 1).take(count).collect();
        Ok(resource::list_response(total, start, page))
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &page, None))
}

/// `/Me` needs to know which user a token acts for; tokens act for the tenant.
async fn me(_: ScimCtx) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "/Me is not supported: a SCIM token acts for the community, not for one user.",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such SCIM endpoint.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This SCIM endpoint does not accept that method.",
    )
}
