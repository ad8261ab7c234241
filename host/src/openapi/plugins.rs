//! A tenant's view of the API: the host's document with the operations of each plugin it has
//! on, from the plugins' manifests. The manifest gives each route's path, method, operation id,
//! summary, scope and JSON Schemas; from contract 1.1 also its success status, the errors it
//! answers, its query parameters and names for its schemas, which become components. A 1.0
//! plugin's operation answers `2XX` and `4XX`, all its contract can say.

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
        crate::event_log::USER_UPDATED => {
            "A user's profile changed, or they were deactivated or restored (`data.user.active`); `data.user`."
        }
        crate::event_log::POST_CREATED => "A post was created; `data.post`.",
        crate::event_log::POST_UPDATED => "A post was updated; `data.post`.",
        crate::event_log::FILE_UPLOADED => "An upload passed its scan; `data.file`.",
        crate::event_log::GROUP_CREATED => "A group was created; `data.group`.",
        crate::event_log::GROUP_UPDATED => "A group was renamed or described; `data.group`.",
        crate::event_log::GROUP_DELETED => "A group was deleted; `data.group`.",
        crate::event_log::GROUP_MEMBER_ADDED => {
            "A user joined a group; `data.group_id`, `data.user_id`."
        }
        crate::event_log::GROUP_MEMBER_REMOVED => {
            "A user was removed from a group; `data.group_id`, `data.user_id`."
        }
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
        let route_doc = route.doc.as_ref();
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
        for q in route_doc.iter().flat_map(|d| &d.query) {
            let schema = q
                .schema
                .as_deref()
                .and_then(parse_schema)
                .unwrap_or_else(|| json!({ "type": "string" }));
            parameters.push(json!({
                "name": q.name, "in": "query", "required": q.required,
                "description": q.description, "schema": schema
            }));
        }
        let success = route_doc.map_or_else(|| "2XX".to_owned(), |d| d.success_status.to_string());
        let mut op = json!({
            "tags": [tag],
            "summary": route.summary,
            "operationId": route.operation_id,
            "security": [{ "api_key": [route.scope] }],
            "x-plugin": manifest.name,
            "responses": { &success: { "description": "Success." } }
        });
        match route_doc {
            None => {
                op["responses"]["4XX"] = json!({ "$ref": "#/components/responses/ClientError" })
            }
            Some(d) => {
                for (status, response) in error_responses(&d.errors) {
                    op["responses"][status] = response;
                }
            }
        }
        if !parameters.is_empty() {
            op["parameters"] = Value::Array(parameters);
        }
        if let Some(schema) = response {
            let name = route_doc.and_then(|d| d.response_name.as_deref());
            let schema = name_items(doc, &manifest.name, name, schema);
            let schema = component(doc, &manifest.name, name, schema);
            op["responses"][&success]["content"] =
                json!({ "application/json": { "schema": schema } });
        }
        if let Some(schema) = route.request_schema.as_deref().and_then(parse_schema) {
            let name = route_doc.and_then(|d| d.request_name.as_deref());
            let schema = component(doc, &manifest.name, name, schema);
            op["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": schema } }
            });
        }
        openapi::finish_operation(&mut op, &route.method, route.path.contains('{'));
        if route.is_public() {
            // No key: no security, no scope, nothing to refuse one for.
            op["security"] = json!([]);
            op["x-public"] = json!(true);
            if let Some(o) = op.as_object_mut() {
                o.remove("x-required-scope");
            }
            if let Some(responses) = op["responses"].as_object_mut() {
                responses.remove("401");
                responses.remove("403");
            }
        }
        let item = doc["paths"]
            .as_object_mut()
            .expect("the host document has paths")
            .entry(route.path.clone())
            .or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = op;
    }
}

/// The declared errors, one response per status: the envelope, its codes listed.
fn error_responses(errors: &[(u16, String, String)]) -> Vec<(String, Value)> {
    let mut by_status: std::collections::BTreeMap<u16, Vec<(&str, &str)>> = Default::default();
    for (status, code, description) in errors {
        by_status
            .entry(*status)
            .or_default()
            .push((code, description));
    }
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let description = codes
                .iter()
                .map(|(code, description)| format!("`{code}`: {description}"))
                .collect::<Vec<_>>()
                .join(" ");
            let names: Vec<&str> = codes.iter().map(|(code, _)| *code).collect();
            (
                status.to_string(),
                json!({
                    "description": description,
                    "x-error-codes": names,
                    "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/ErrorEnvelope" }
                    } }
                }),
            )
        })
        .collect()
}

/// `schema` as the document will hold it: under its name among the components (a `$ref`), or
/// inline when it has none. A name another schema already holds is taken with the plugin's name
/// before it (`MarketListing`), then a number after.
fn component(doc: &mut Value, plugin: &str, name: Option<&str>, schema: Value) -> Value {
    let Some(name) = name else {
        return schema;
    };
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("the host document has component schemas");
    let prefixed = format!("{}{name}", pascal(plugin));
    let candidates = [name.to_owned(), prefixed.clone()]
        .into_iter()
        .chain((2..).map(|n| format!("{prefixed}{n}")));
    for candidate in candidates {
        match schemas.get(&candidate) {
            Some(existing) if *existing != schema => continue,
            Some(_) => {}
            None => {
                schemas.insert(candidate.clone(), schema);
            }
        }
        return json!({ "$ref": format!("#/components/schemas/{candidate}") });
    }
    unreachable!("the candidates never end")
}

/// A page named `ReportPage` holds `Report`s: its items become that component (the same one a
/// single report's answer names, when they are the same schema), so a generated client reads
/// `Report`, not `ReportPageDataItem`.
fn name_items(doc: &mut Value, plugin: &str, page: Option<&str>, mut schema: Value) -> Value {
    let Some(item) = page
        .and_then(|p| p.strip_suffix("Page"))
        .filter(|i| !i.is_empty())
    else {
        return schema;
    };
    if let Some(items) = schema.pointer_mut("/properties/data/items")
        && items.get("$ref").is_none()
    {
        *items = component(doc, plugin, Some(item), items.take());
    }
    schema
}

/// `market_plus` → `MarketPlus`.
fn pascal(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_name_taken_by_another_shape_gets_the_plugins_name() {
        let mut doc = json!({ "components": { "schemas": { "Event": { "type": "object" } } } });
        let mine = json!({ "type": "string" });
        assert_eq!(
            component(&mut doc, "market", Some("Listing"), mine.clone()),
            json!({ "$ref": "#/components/schemas/Listing" })
        );
        // The same shape again is the same component.
        assert_eq!(
            component(&mut doc, "other", Some("Listing"), mine.clone()),
            json!({ "$ref": "#/components/schemas/Listing" })
        );
        assert_eq!(
            component(&mut doc, "my_plugin", Some("Event"), mine.clone()),
            json!({ "$ref": "#/components/schemas/MyPluginEvent" })
        );
        assert_eq!(
            component(
                &mut doc,
                "my_plugin",
                Some("Event"),
                json!({ "type": "integer" })
            ),
            json!({ "$ref": "#/components/schemas/MyPluginEvent2" })
        );
        assert_eq!(component(&mut doc, "x", None, mine.clone()), mine);
    }
}
