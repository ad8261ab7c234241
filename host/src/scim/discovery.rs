//! What a SCIM client reads first (RFC 7644 §4): the service provider's configuration, its
//! resource types and schemas. Read-only: a write is 405.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::{ApiError, Result};
use crate::scim::gate::ScimCtx;
use crate::scim::resource::{MAX_RESULTS, list_response, scim_json};
use crate::scim::schema::{self, GROUPS, USERS};

pub async fn service_provider_config(ctx: ScimCtx) -> Response {
    let doc = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/mobieus/server/blob/main/docs/scim.md",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A SCIM token minted with `mobieus scim token create --tenant SLUG`, sent as `Authorization: Bearer scim_…`.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", ctx.base),
        },
    });
    scim_json(StatusCode::OK, &doc, None)
}

pub async fn resource_types(ctx: ScimCtx) -> Response {
    let types: Vec<Value> = [USERS, GROUPS]
        .iter()
        .map(|t| t.document(&ctx.base))
        .collect();
    scim_json(StatusCode::OK, &list_response(types.len(), 1, types), None)
}

pub async fn resource_type(ctx: ScimCtx, Path(id): Path<String>) -> Result<Response> {
    [USERS, GROUPS]
        .iter()
        .find(|t| t.name == id)
        .map(|t| scim_json(StatusCode::OK, &t.document(&ctx.base), None))
        .ok_or_else(|| ApiError::not_found("resource type"))
}

pub async fn schemas(ctx: ScimCtx) -> Response {
    let docs = schema::documents(&ctx.base);
    scim_json(StatusCode::OK, &list_response(docs.len(), 1, docs), None)
}

pub async fn schema(ctx: ScimCtx, Path(id): Path<String>) -> Result<Response> {
    schema::documents(&ctx.base)
        .into_iter()
        .find(|d| d["id"] == id.as_str())
        .map(|d| scim_json(StatusCode::OK, &d, None))
        .ok_or_else(|| ApiError::not_found("schema"))
}
