//! The OpenAPI 3.1 document: the host's operations come from the code (one `#[utoipa::path]` on
//! each handler, which also registers its route and scope: `crate::api`), collected by the router
//! and finished here ([`finish_host`]) with what every operation shares (both auth headers, the
//! scope, the error responses, the list envelope), then merged with the manifest of each plugin
//! a tenant has on ([`plugins`]). Served at `/api/openapi.json` and `.yaml` ([`serve`]); rendered
//! by Redoc at `/api/docs` ([`docs`]).

pub mod docs;
pub mod plugins;
pub mod serve;

use serde_json::{Map, Value, json};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// `info.version`: the API's major version is the path's (`/api/v1`); minor versions add.
pub const API_VERSION: &str = "1.0.0";

/// The paging parameters of every list operation (see `crate::paging`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page; bound to the resource and the filters.
    cursor: Option<String>,
    /// Only items created at or after this RFC 3339 time.
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only items created before this RFC 3339 time.
    #[param(format = DateTime)]
    until: Option<String>,
}

/// The error envelope every failure answers with.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorEnvelope {
    error: ErrorBody,
}

/// A specific, stable `code` and a sentence for people; more fields (`field`,
/// `required_scope`, `limit`, ...) may stand beside them.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// e.g. `validation_failed`, `insufficient_scope`, `user_not_found`.
    code: String,
    message: String,
    /// The `X-Request-Id` of the request, to quote when asking for help.
    request_id: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mobieus API",
        description = "One community's API: the host's resources (users, posts, the event log, \
            files, webhooks) and the surfaces its plugins add (Market, Moderation, ...). Send an \
            API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`; each operation \
            names the scope it needs. Errors answer with one envelope and a specific code.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorEnvelope, ErrorBody)),
    tags(
        (name = "Users", description = "Members of the community."),
        (name = "Posts", description = "What members write."),
        (name = "Events", description = "The append-only event log: every change, in order."),
        (name = "Files", description = "Uploads, scanned before anyone can download them."),
        (name = "Webhooks", description = "Signed, retried deliveries of events to your endpoints."),
        (name = "Groups", description = "Groups of users: made here or provisioned by SCIM, read by plugins."),
        (name = "AI", description = "The community's AI usage on its own provider and key."),
    )
)]
struct Host;

/// What the document says before any operation: its info, tags and shared schemas. The router
/// adds the host's operations to it as it registers their routes.
pub fn base() -> utoipa::openapi::OpenApi {
    Host::openapi()
}

/// The host's own operations, finished, with the shared components.
pub fn finish_host(doc: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).expect("an OpenAPI document serializes");
    doc["openapi"] = json!("3.1.0");
    doc["info"]["version"] = json!(API_VERSION);
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http", "scheme": "bearer",
            "description": "`Authorization: Bearer mc_live_…` (or `mc_test_…`)."
        },
        "api_key": {
            "type": "apiKey", "in": "header", "name": "X-API-Key",
            "description": "`X-API-Key: mc_live_…`, the same key in another header."
        }
    });
    doc["components"]["responses"] = error_responses();
    finish_operations(&mut doc);
    doc
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// What every operation shares, added to each: its scope under both auth schemes, the list
/// envelope around a list's items, and the error responses a client can cause.
fn finish_operations(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let mut pages = serde_json::Map::new();
    for (path, item) in paths.iter_mut() {
        let has_path_params = path.contains('{');
        for method in METHODS {
            if let Some(op) = item.get_mut(*method) {
                finish_operation(op, method, has_path_params);
                name_page(op, &mut pages);
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.extend(pages);
    }
}

/// A list's page of `Post`s as the component `PostPage`, so a generated client names it so
/// (not `ListPostsResponse200`), as the plugins' pages are.
fn name_page(op: &mut Value, pages: &mut serde_json::Map<String, Value>) {
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let Some(schema) = response
            .pointer_mut("/content/application~1json/schema")
            .filter(|_| status.starts_with('2'))
        else {
            continue;
        };
        let item = schema
            .pointer("/properties/data/items/$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"));
        let Some(name) = item.map(|item| format!("{item}Page")) else {
            continue;
        };
        pages.insert(name.clone(), schema.take());
        *schema = json!({ "$ref": format!("#/components/schemas/{name}") });
    }
}

pub fn finish_operation(op: &mut Value, method: &str, has_path_params: bool) {
    let of_plugin = op.get("x-plugin").is_some();
    let has_body = op.get("requestBody").is_some();
    let scope = op
        .pointer("/security/0")
        .and_then(Value::as_object)
        .and_then(|r| r.values().next())
        .and_then(|s| s.get(0))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(scope) = &scope {
        op["security"] = json!([{ "bearer": [scope] }, { "api_key": [scope] }]);
        op["x-required-scope"] = json!(scope);
    }
    let is_list = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "cursor"));
    let takes_input = has_body
        || op
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty());
    let responses = op["responses"]
        .as_object_mut()
        .expect("utoipa writes responses");
    if is_list {
        for (status, response) in responses.iter_mut() {
            if status.starts_with('2')
                && let Some(schema) = response.pointer_mut("/content/application~1json/schema")
                && schema["type"] == "array"
            {
                let items = schema["items"].take();
                *schema = page_schema(items);
            }
        }
    }
    let mut add = |status: &str, name: &str| {
        responses
            .entry(status)
            .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{name}") }));
    };
    if takes_input {
        add("400", "BadRequest");
    }
    if has_body {
        add("413", "PayloadTooLarge");
        // The host reads its own JSON bodies; a plugin's body reaches the plugin as it is.
        if !of_plugin {
            add("415", "UnsupportedMediaType");
        }
    }
    if method.eq_ignore_ascii_case("post") {
        add("409", "IdempotencyInProgress");
        add("422", "IdempotencyKeyReused");
    }
    add("401", "Unauthorized");
    add("403", "Forbidden");
    if has_path_params {
        add("404", "NotFound");
    }
    add("429", "RateLimited");
    add("500", "InternalError");
}

/// The standard list envelope around `items`.
pub fn page_schema(items: Value) -> Value {
    json!({
        "type": "object",
        "required": ["data", "has_more", "next_cursor", "total_count"],
        "properties": {
            "data": { "type": "array", "items": items },
            "has_more": { "type": "boolean", "description": "Whether a next page exists." },
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last."
            },
            "total_count": {
                "type": "integer",
                "description": "Items matching the filters, on every page."
            }
        }
    })
}

fn error_responses() -> Value {
    let mut responses = Map::new();
    let mut add = |name: &str, description: &str, headers: Value| {
        let mut response = json!({
            "description": description,
            "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/ErrorEnvelope" }
            } }
        });
        if !headers.is_null() {
            response["headers"] = headers;
        }
        responses.insert(name.into(), response);
    };
    add(
        "BadRequest",
        "The request is malformed: `validation_failed` (with the `field`), `invalid_json`, \
         `invalid_cursor`, `invalid_since`, `invalid_until`, ...",
        Value::Null,
    );
    add(
        "Unauthorized",
        "No usable key: `missing_authorization`, `invalid_authorization`, `invalid_api_key`.",
        Value::Null,
    );
    add(
        "Forbidden",
        "`insufficient_scope` (with the `required_scope`), or `plan_gated` when the tenant's \
         plan does not include the API.",
        Value::Null,
    );
    add(
        "NotFound",
        "`<thing>_not_found`: no such resource, or not visible to this key.",
        Value::Null,
    );
    let integer = json!({ "schema": { "type": "integer" } });
    add(
        "RateLimited",
        "`rate_limited`: this key's requests per minute are spent; retry after `Retry-After` \
         seconds.",
        json!({
            "Retry-After": integer,
            "X-RateLimit-Limit": integer,
            "X-RateLimit-Remaining": integer,
            "X-RateLimit-Reset": integer
        }),
    );
    add(
        "PayloadTooLarge",
        "`payload_too_large`: the body is over the limit (with the `limit` in bytes).",
        Value::Null,
    );
    add(
        "UnsupportedMediaType",
        "`unsupported_media_type`: send the body as `Content-Type: application/json`.",
        Value::Null,
    );
    add(
        "IdempotencyInProgress",
        "`idempotency_in_progress`: a request with this `Idempotency-Key` is still running; retry \
         shortly.",
        Value::Null,
    );
    add(
        "IdempotencyKeyReused",
        "`idempotency_key_reused`: this `Idempotency-Key` was used with another body in the last \
         24 hours.",
        Value::Null,
    );
    add(
        "ClientError",
        "Another refusal the operation defines, with its own code (e.g. `invalid_listing_state`).",
        Value::Null,
    );
    add(
        "InternalError",
        "`internal_error`: our fault, logged with the `request_id`.",
        Value::Null,
    );
    Value::Object(responses)
}
