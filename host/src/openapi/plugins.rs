//! A tenant's view of the API: the host's document with the operations of each plugin it has
//! on, from the plugins' manifests. The manifest gives each route's path, method, operation id,
//! summary, scope and JSON Schemas; the success status is not part of the contract, so a plugin
//! operation answers `2XX`.

use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::openapi::{self, ListParams};
use crate::plugins::registry::{LoadedPlugin, PluginSet};

/// The host's document (`host`, finished) merged with every plugin in `set` for which `on`
/// holds, and the event types of all of them as the document's `webhooks`.
pub fn document(host: &Value, set: &PluginSet, on: impl Fn(&LoadedPlugin) -> bool) -> Value {
    let mut doc = host.clone();
    let mut events: Vec<(String, String, Option<String>)> = crate::event_log::HOST_TYPES
        .iter()
        .map(|t| (t.to_string(), host_event_description(t).to_owned(), None))
        .collect();
    for plugin in set.plugins.iter().filter(|p| on(p)) {
        merge(&mut doc, plugin);
        events.extend(plugin.manifest.events.iter().map(|e| {
            (
                e.name.clone(),
                e.description.clone(),
                Some(plugin.manifest.name.clone()),
            )
        }));
    }
    doc["webhooks"] = events
        .into_iter()
        .map(|(kind, description, plugin)| {
            let mut op = json!({
                "summary": kind,
                "description": description,
                "operationId": format!("event:{kind}"),
                "requestBody": {
                    "description": "The event, signed (see docs/webhooks.md for the headers and how to verify them).",
                    "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Event" }
                    } }
                },
                "responses": { "2XX": { "description": "Received; any other answer is retried." } }
            });
            if let Some(plugin) = plugin {
                op["x-plugin"] = json!(plugin);
            }
            (kind, json!({ "post": op }))
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    doc
}

fn host_event_description(kind: &str) -> &'static str {
    match kind {
        crate::event_log::USER_REGISTERED => "A user registered; `data.user`.",
        crate::event_log::USER_LEFT => "A user left; `data.user`.",
        crate::event_log::POST_CREATED => "A post was created; `data.post`.",
        crate::event_log::POST_UPDATED => "A post was updated; `data.post`.",
        crate::event_log::FILE_UPLOADED => "An upload passed its scan; `data.file`.",
        _ => "",
    }
}

fn merge(doc: &mut Value, plugin: &LoadedPlugin) {
    let manifest = &plugin.manifest;
    let tag = manifest.name.clone();
    let scopes: Vec<String> = manifest
        .scopes
        .iter()
        .map(|s| format!("`{}` ({})", s.name, s.description))
        .collect();
    if let Some(tags) = doc["tags"].as_array_mut() {
        tags.push(json!({
            "name": tag,
            "description": format!(
                "The `{}` plugin, version {}. Scopes: {}.",
                manifest.name,
                manifest.version,
                scopes.join(", ")
            ),
        }));
    }
    for route in &manifest.routes {
        let mut parameters: Vec<Value> = path_params(&route.path)
            .map(|name| {
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
            })
            .collect();
        let response = route.response_schema.as_deref().and_then(parse_schema);
        if response.as_ref().is_some_and(is_page) {
            parameters.extend(
                ListParams::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query))
                    .into_iter()
                    .map(|p| serde_json::to_value(p).expect("a parameter serializes")),
            );
        }
        let mut op = json!({
            "tags": [tag],
            "summary": route.summary,
            "operationId": route.operation_id,
            "security": [{ "api_key": [route.scope] }],
            "x-plugin": manifest.name,
            "responses": {
                "2XX": { "description": "Success." },
                "4XX": { "$ref": "#/components/responses/ClientError" }
            }
        });
        if !parameters.is_empty() {
            op["parameters"] = Value::Array(parameters);
        }
        if let Some(schema) = response {
            op["responses"]["2XX"]["content"] = json!({ "application/json": { "schema": schema } });
        }
        if let Some(schema) = route.request_schema.as_deref().and_then(parse_schema) {
            op["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": schema } }
            });
        }
        openapi::finish_operation(&mut op, &route.method, route.path.contains('{'));
        let item = doc["paths"]
            .as_object_mut()
            .expect("the host document has paths")
            .entry(route.path.clone())
            .or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = op;
    }
}

/// A manifest's schema, or none if it is not JSON (the manifest check let it through as text).
fn parse_schema(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

fn is_page(schema: &Value) -> bool {
    let properties = &schema["properties"];
    properties.get("data").is_some() && properties.get("next_cursor").is_some()
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}
