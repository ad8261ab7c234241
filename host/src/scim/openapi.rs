//! SCIM in the tenant's OpenAPI document (seed 000: "in the API guide and the OpenAPI spec"):
//! its operations under `/scim/v2`, the `scim_token` security scheme, and the bodies' schemas,
//! derived from the attribute declarations in [`crate::scim::schema`]. The operations are
//! [`OPERATIONS`], one row each; a test sends each one to the router, so the document and the
//! routes cannot drift apart. SCIM's own discovery (`/Schemas`) stays the authority on
//! attributes: these schemas allow what they do not list.

use serde_json::{Map, Value, json};

use crate::scim::schema::{Attr, GROUPS, Kind, Mutability, ResourceType, USERS};

/// One SCIM operation: method, path, operationId, summary, request body schema, success status
/// and its body schema, and which query parameters it takes.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    pub body: Option<&'static str>,
    pub ok: (u16, Option<&'static str>),
    pub query: Query,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Query {
    None,
    /// `attributes`, `excludedAttributes`.
    Projection,
    /// A list's: the filter, sorting, paging and the projection.
    List,
}

const fn op(
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    ok: (u16, Option<&'static str>),
    query: Query,
) -> Operation {
    Operation {
        method,
        path,
        id,
        summary,
        body,
        ok,
        query,
    }
}

pub const OPERATIONS: &[Operation] = &[
    op(
        "get",
        "/scim/v2/ServiceProviderConfig",
        "scimServiceProviderConfig",
        "What this service provider supports",
        None,
        (200, Some("ScimObject")),
        Query::None,
    ),
    op(
        "get",
        "/scim/v2/ResourceTypes",
        "scimListResourceTypes",
        "The resource types: User and Group",
        None,
        (200, Some("ScimListResponse")),
        Query::None,
    ),
    op(
        "get",
        "/scim/v2/ResourceTypes/{id}",
        "scimGetResourceType",
        "One resource type",
        None,
        (200, Some("ScimObject")),
        Query::None,
    ),
    op(
        "get",
        "/scim/v2/Schemas",
        "scimListSchemas",
        "The schemas, with every attribute",
        None,
        (200, Some("ScimListResponse")),
        Query::None,
    ),
    op(
        "get",
        "/scim/v2/Schemas/{id}",
        "scimGetSchema",
        "One schema, by its URN",
        None,
        (200, Some("ScimObject")),
        Query::None,
    ),
    op(
        "get",
        "/scim/v2/Users",
        "scimListUsers",
        "List users",
        None,
        (200, Some("ScimListResponse")),
        Query::List,
    ),
    op(
        "post",
        "/scim/v2/Users",
        "scimCreateUser",
        "Provision a user",
        Some("ScimUser"),
        (201, Some("ScimUser")),
        Query::None,
    ),
    op(
        "post",
        "/scim/v2/Users/.search",
        "scimSearchUsers",
        "Search users with a body",
        Some("ScimSearchRequest"),
        (200, Some("ScimListResponse")),
        Query::None,
    ),
    op(
        "get",
        "/scim/v2/Users/{id}",
        "scimGetUser",
        "Get a user",
        None,
        (200, Some("ScimUser")),
        Query::Projection,
    ),
    op(
        "put",
        "/scim/v2/Users/{id}",
        "scimReplaceUser",
        "Replace a user",
        Some("ScimUser"),
        (200, Some("ScimUser")),
        Query::None,
    ),
    op(
        "patch",
        "/scim/v2/Users/{id}",
        "scimPatchUser",
        "Patch a user (active: false deactivates)",
        Some("ScimPatchOp"),
        (200, Some("ScimUser")),
        Query::None,
    ),
    op(
        "delete",
        "/scim/v2/Users/{id}",
        "scimDeleteUser",
        "Delete a user",
        None,
        (204, None),
        Query::None,
    ),
    op(
        "get",
        "/scim/v2/Groups",
        "scimListGroups",
        "List groups",
        None,
        (200, Some("ScimListResponse")),
        Query::List,
    ),
    op(
        "post",
        "/scim/v2/Groups",
        "scimCreateGroup",
        "Provision a group",
        Some("ScimGroup"),
        (201, Some("ScimGroup")),
        Query::None,
    ),
    op(
        "post",
        "/scim/v2/Groups/.search",
        "scimSearchGroups",
        "Search groups with a body",
        Some("ScimSearchRequest"),
        (200, Some("ScimListResponse")),
        Query::None,
    ),
    op(
        "get",
        "/scim/v2/Groups/{id}",
        "scimGetGroup",
        "Get a group",
        None,
        (200, Some("ScimGroup")),
        Query::Projection,
    ),
    op(
        "put",
        "/scim/v2/Groups/{id}",
        "scimReplaceGroup",
        "Replace a group",
        Some("ScimGroup"),
        (200, Some("ScimGroup")),
        Query::None,
    ),
    op(
        "patch",
        "/scim/v2/Groups/{id}",
        "scimPatchGroup",
        "Patch a group (its members)",
        Some("ScimPatchOp"),
        (200, Some("ScimGroup")),
        Query::None,
    ),
    op(
        "delete",
        "/scim/v2/Groups/{id}",
        "scimDeleteGroup",
        "Delete a group",
        None,
        (204, None),
        Query::None,
    ),
    op(
        "post",
        "/scim/v2/.search",
        "scimSearchAll",
        "Search users and groups with a body",
        Some("ScimSearchRequest"),
        (200, Some("ScimListResponse")),
        Query::None,
    ),
];

const SCIM_JSON: &str = "application/scim+json";

fn content(schema: &str) -> Value {
    let schema = json!({ "$ref": format!("#/components/schemas/{schema}") });
    json!({ SCIM_JSON: { "schema": schema } })
}

fn param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn parameters(op: &Operation) -> Vec<Value> {
    let mut out = vec![];
    if op.path.contains("{id}") {
        out.push(
            json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }),
        );
    }
    if op.query == Query::List {
        out.push(param(
            "filter",
            "e.g. `userName eq \"ada@example.org\"` (RFC 7644 §3.4.2.2)",
            json!({ "type": "string" }),
        ));
        out.push(param(
            "sortBy",
            "An attribute, e.g. `userName`.",
            json!({ "type": "string" }),
        ));
        out.push(param(
            "sortOrder",
            "`ascending` (default) or `descending`.",
            json!({ "type": "string", "enum": ["ascending", "descending"] }),
        ));
        out.push(param(
            "startIndex",
            "1-based.",
            json!({ "type": "integer", "minimum": 1 }),
        ));
        out.push(param(
            "count",
            "At most 200.",
            json!({ "type": "integer", "minimum": 0, "maximum": 200 }),
        ));
    }
    if op.query != Query::None {
        out.push(param(
            "attributes",
            "Comma-separated attributes to return.",
            json!({ "type": "string" }),
        ));
        out.push(param(
            "excludedAttributes",
            "Comma-separated attributes to leave out.",
            json!({ "type": "string" }),
        ));
    }
    out
}

fn operation(op: &Operation) -> Value {
    let error =
        |description: &str| json!({ "description": description, "content": content("ScimError") });
    let mut responses = Map::new();
    let (status, schema) = op.ok;
    let mut ok = json!({ "description": "Success." });
    if let Some(schema) = schema {
        ok["content"] = content(schema);
    }
    responses.insert(status.to_string(), ok);
    for (code, description) in [
        (
            "400",
            "`invalidFilter`, `invalidValue`, `invalidPath`, `invalidSyntax`, `noTarget`, `mutability`.",
        ),
        (
            "401",
            "No SCIM token, or not one of this tenant's live tokens (an API key is not one).",
        ),
        ("403", "The tenant's plan has no API."),
        ("429", "The tenant's rate limit; `Retry-After` says when."),
    ] {
        responses.insert(code.into(), error(description));
    }
    if op.path.contains("{id}") {
        responses.insert("404".into(), error("No such resource."));
    }
    if op.body.is_some() {
        responses.insert("413".into(), error("The body is over 4 MiB."));
        responses.insert(
            "415".into(),
            error("Not `application/scim+json` nor `application/json`."),
        );
    }
    if matches!(op.method, "post" | "put" | "patch") && !op.path.ends_with(".search") {
        responses.insert("409".into(), error("`uniqueness`: the `userName` or the group's `displayName` is taken (compared without case)."));
    }
    if matches!(op.method, "put" | "patch" | "delete") {
        responses.insert(
            "412".into(),
            error("`invalidVers`: `If-Match` does not name the current version."),
        );
    }
    if matches!(op.id, "scimGetUser" | "scimGetGroup") {
        responses.insert(
            "304".into(),
            json!({ "description": "`If-None-Match` names the current version." }),
        );
    }
    let mut out = json!({
        "tags": ["SCIM"],
        "operationId": op.id,
        "summary": op.summary,
        "security": [{ "scim_token": [] }],
        "responses": responses,
    });
    let params = parameters(op);
    if !params.is_empty() {
        out["parameters"] = Value::Array(params);
    }
    if let Some(body) = op.body {
        let schema = json!({ "$ref": format!("#/components/schemas/{body}") });
        out["requestBody"] = json!({
            "required": true,
            "content": { SCIM_JSON: { "schema": schema }, "application/json": { "schema": schema } },
        });
    }
    out
}

/// An attribute as JSON Schema. `$ref` sub-attributes are left to `additionalProperties`: as
/// property names they confuse tools that read `$ref` as a reference.
fn attr_schema(a: &Attr) -> Value {
    let mut one = match a.kind {
        Kind::String | Kind::Reference => json!({ "type": "string" }),
        Kind::DateTime => json!({ "type": "string", "format": "date-time" }),
        Kind::Boolean => json!({ "type": "boolean" }),
        Kind::Complex => {
            let properties: Map<String, Value> = a
                .sub
                .iter()
                .filter(|s| !s.name.starts_with('$'))
                .map(|s| (s.name.to_owned(), attr_schema(s)))
                .collect();
            json!({ "type": "object", "properties": properties })
        }
    };
    if !a.multi {
        one["description"] = json!(a.description);
    }
    if a.mutability == Mutability::ReadOnly {
        one["readOnly"] = json!(true);
    }
    if a.multi {
        json!({ "type": "array", "items": one, "description": a.description })
    } else {
        one
    }
}

fn resource_schema(rt: &ResourceType, description: &str) -> Value {
    let mut properties = Map::new();
    properties.insert("schemas".into(), json!({ "type": "array", "items": { "type": "string" }, "description": "The schema URNs the resource uses." }));
    properties.insert("id".into(), json!({ "type": "string", "readOnly": true }));
    properties.insert(
        "externalId".into(),
        json!({ "type": "string", "description": "The identity provider's id." }),
    );
    for a in rt.attrs {
        properties.insert(a.name.to_owned(), attr_schema(a));
    }
    properties.insert(
        "meta".into(),
        json!({ "type": "object", "readOnly": true, "description": "resourceType, created, lastModified, location, version (the ETag)." }),
    );
    let required: Vec<&str> = rt
        .attrs
        .iter()
        .filter(|a| a.required)
        .map(|a| a.name)
        .collect();
    let mut schema = json!({
        "type": "object",
        "description": description,
        "required": required,
        "properties": properties,
    });
    if let Some((urn, _)) = rt.extensions.first() {
        schema["description"] = json!(format!(
            "{description} Extension attributes sit under `{urn}`."
        ));
    }
    schema
}

fn schemas() -> Value {
    json!({
        "ScimUser": resource_schema(&USERS, "A user (RFC 7643 §4.1); `/scim/v2/Schemas` lists every attribute."),
        "ScimGroup": resource_schema(&GROUPS, "A group (RFC 7643 §4.2): the same groups as `/api/v1/groups`."),
        "ScimObject": { "type": "object", "description": "A SCIM discovery document (RFC 7644 §4)." },
        "ScimListResponse": {
            "type": "object",
            "required": ["schemas", "totalResults", "startIndex", "itemsPerPage", "Resources"],
            "properties": {
                "schemas": { "type": "array", "items": { "type": "string" } },
                "totalResults": { "type": "integer" },
                "startIndex": { "type": "integer" },
                "itemsPerPage": { "type": "integer" },
                "Resources": { "type": "array", "items": { "type": "object" } },
            },
        },
        "ScimSearchRequest": {
            "type": "object",
            "properties": {
                "schemas": { "type": "array", "items": { "type": "string" } },
                "filter": { "type": "string" },
                "sortBy": { "type": "string" },
                "sortOrder": { "type": "string", "enum": ["ascending", "descending"] },
                "startIndex": { "type": "integer", "minimum": 1 },
                "count": { "type": "integer", "minimum": 0, "maximum": 200 },
                "attributes": { "type": "array", "items": { "type": "string" } },
                "excludedAttributes": { "type": "array", "items": { "type": "string" } },
            },
        },
        "ScimPatchOp": {
            "type": "object",
            "required": ["Operations"],
            "properties": {
                "schemas": { "type": "array", "items": { "type": "string" } },
                "Operations": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1000,
                    "items": {
                        "type": "object",
                        "required": ["op"],
                        "properties": {
                            "op": { "type": "string", "description": "add, replace or remove, in any case." },
                            "path": { "type": "string", "description": "e.g. `emails[type eq \"work\"].value`." },
                            "value": { "description": "What to add or replace with." },
                        },
                    },
                },
            },
        },
        "ScimError": {
            "type": "object",
            "required": ["schemas", "status"],
            "properties": {
                "schemas": { "type": "array", "items": { "type": "string" } },
                "status": { "type": "string", "description": "The HTTP status, as a string." },
                "scimType": { "type": "string" },
                "detail": { "type": "string" },
            },
        },
    })
}

/// Adds SCIM to a finished host document: its tag, security scheme, operations and schemas.
pub fn add_to(doc: &mut Value) {
    doc["components"]["securitySchemes"]["scim_token"] = json!({
        "type": "http", "scheme": "bearer",
        "description": "`Authorization: Bearer scim_…`: a SCIM token (`mobieus scim token create`), never an API key.",
    });
    if let (Some(target), Value::Object(more)) =
        (doc["components"]["schemas"].as_object_mut(), schemas())
    {
        target.extend(more);
    }
    if let Some(tags) = doc["tags"].as_array_mut() {
        tags.push(json!({ "name": "SCIM", "description": "SCIM 2.0 provisioning (RFC 7643/7644) for identity providers, with a SCIM token: see docs/scim.md." }));
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for op in OPERATIONS {
        let item = paths.entry(op.path).or_insert_with(|| json!({}));
        item[op.method] = operation(op);
    }
}
