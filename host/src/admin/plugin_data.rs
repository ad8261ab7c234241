//! `/admin/plugins/{name}/data`: a plugin's own data in the console, derived from its manifest
//! alone. Every GET route that needs no parameter is shown as a table; every write route is a
//! form built from its request schema. The console calls the routes in process, as a key of the
//! signed-in admin holding every scope the plugin declares ([`console_key`]): the plugin's own
//! validation, limits and events apply as for any API client (a broadcast sent here counts in
//! the same window as one sent with a key), and each call is in the audit log.
//!
//! A route under `/api/v1/communities/{tag}/` names the community in its path: the console fills
//! it with this community's slug. Any other path parameter is a field of the form.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use minijinja::{Value, context};
use serde_json::{Map, Value as Json};

use crate::admin::page::{self, PageResult, Refused, blocking};
use crate::admin::session::{Admin, FormData, Posted};
use crate::auth::{ApiKey, KeyKind};
use crate::error::ApiError;
use crate::http::context::Authenticated;
use crate::http::tenant_host;
use crate::plugins::capabilities::Capability;
use crate::plugins::dispatch::{self, PluginRoutes};
use crate::plugins::manifest::Route;
use crate::plugins::registry::LoadedPlugin;
use crate::settings::{self, TenantSettings};
use crate::state::AppState;

/// The most of an answer the page reads.
const ANSWER_CAP: usize = 1 << 20;
/// Columns a table shows; the rest of an item is in the API.
const COLUMNS: usize = 7;
/// A cell longer than this is cut.
const CELL: usize = 80;

#[derive(serde::Deserialize)]
pub struct Shown {
    notice: Option<String>,
    /// The list to show, by operation id, of a plugin whose lists load on request.
    show: Option<String>,
}

/// The plugin's lists and forms. A plugin that declares `ai` may ask the community's provider
/// from a GET: its lists load one at a time, on request, so viewing the page spends no tokens.
pub async fn index(
    State(state): State<AppState>,
    Path(name): Path<String>,
    admin: Admin,
    Query(q): Query<Shown>,
) -> PageResult {
    let (plugin, tenant_settings) = plugin_for(&state, &admin, &name).await?;
    let on = tenant_settings.plugin_on(&name, plugin.enabled_by_default());
    let on_request = plugin.manifest.capabilities.contains(Capability::Ai);
    let mut lists = vec![];
    let mut forms = vec![];
    for route in &plugin.manifest.routes {
        let free = free_params(route);
        if route.method != "GET" {
            forms.push(form_view(route, &free));
            continue;
        }
        // A list is a GET the console can call as it is, of a plugin that is on.
        if !free.is_empty() || !on {
            continue;
        }
        if on_request && q.show.as_deref() != Some(route.operation_id.as_str()) {
            lists.push(context! {
                operation => &route.operation_id, path => &route.path,
                summary => &route.summary, show => &route.operation_id,
            });
            continue;
        }
        let path = fill(&route.path, admin.tenant_slug(), &FormData::default())
            .map_err(|why| page::message(StatusCode::BAD_REQUEST, "Not shown", &why))?;
        let (status, answer) = call(
            &state,
            &admin,
            &plugin,
            &tenant_settings,
            Method::GET,
            &path,
            None,
        )
        .await?;
        lists.push(list_view(route, status, &answer));
    }
    let notice = q.notice.as_deref().and_then(page::notice);
    Ok(page::render(
        &admin,
        StatusCode::OK,
        "admin/plugin_data.html",
        "plugins",
        context! { plugin => &name, on, lists, forms, notice },
    ))
}

/// One write route, called with the form's fields.
pub async fn submit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted(admin, form): Posted,
) -> PageResult {
    let (plugin, tenant_settings) = plugin_for(&state, &admin, &name).await?;
    let operation = form.get("operation");
    let Some(route) = plugin
        .manifest
        .routes
        .iter()
        .find(|r| r.method != "GET" && r.operation_id == operation)
    else {
        return Err(page::message(
            StatusCode::NOT_FOUND,
            "No such action",
            "The plugin has no write route by that name.",
        )
        .into());
    };
    let refused = |why: String| -> Refused {
        page::message(StatusCode::BAD_REQUEST, "Not sent", &why).into()
    };
    let path = fill(&route.path, admin.tenant_slug(), &form).map_err(refused)?;
    let body = body_of(route, &form).map_err(refused)?;
    let method = Method::from_bytes(route.method.as_bytes())
        .map_err(|e| page::internal(anyhow::anyhow!("route method: {e}")))?;
    let (status, answer) = call(
        &state,
        &admin,
        &plugin,
        &tenant_settings,
        method,
        &path,
        body,
    )
    .await?;
    let (db, actor, target) = (
        admin.console.db.clone(),
        admin.actor(),
        format!("{} {path}", route.method),
    );
    let details =
        serde_json::json!({ "plugin": &name, "operation": operation, "status": status.as_u16() });
    blocking(move || {
        db.write(move |w| {
            Ok(crate::audit::record(
                w,
                &actor,
                "plugin.called",
                Some(&target),
                details,
                Utc::now(),
            )?)
        })
    })
    .await?;
    if status.is_client_error() || status.is_server_error() {
        let error = &answer["error"];
        let text = format!(
            "{} answered {} {}: {}",
            name,
            status.as_u16(),
            error["code"].as_str().unwrap_or("error"),
            error["message"].as_str().unwrap_or("no reason given"),
        );
        return Err(page::message(status, "The plugin refused", &text).into());
    }
    Ok(Redirect::to(&format!("/admin/plugins/{name}/data?notice=plugin_called")).into_response())
}

/// The plugin, which must be running, and this community's settings.
async fn plugin_for(
    state: &AppState,
    admin: &Admin,
    name: &str,
) -> Result<(Arc<LoadedPlugin>, TenantSettings), Refused> {
    let Some(plugin) = state.plugins.current().get(name).cloned() else {
        return Err(page::message(
            StatusCode::NOT_FOUND,
            "No such plugin",
            "This server runs no plugin by that name.",
        )
        .into());
    };
    let db = admin.console.db.clone();
    let loaded = blocking(move || db.read(|c| Ok(settings::load(c)?))).await?;
    Ok((plugin, loaded))
}

/// Who the console calls a plugin as: the admin, with every scope the plugin declares, on the
/// community's live data. Never stored, so no client can present it.
fn console_key(admin: &Admin, plugin: &LoadedPlugin) -> ApiKey {
    ApiKey {
        id: format!("console:{}", admin.account.id),
        prefix: String::new(),
        kind: KeyKind::Secret,
        scopes: plugin
            .manifest
            .scopes
            .iter()
            .map(|s| s.name.clone())
            .collect(),
        label: Some(admin.actor()),
        ..ApiKey::anonymous("")
    }
}

/// Calls `path` as [`console_key`]: the same dispatch an API request has past the gate.
async fn call(
    state: &AppState,
    admin: &Admin,
    plugin: &LoadedPlugin,
    tenant_settings: &TenantSettings,
    method: Method,
    path: &str,
    body: Option<Json>,
) -> Result<(StatusCode, Json), Refused> {
    let auth = Authenticated {
        tenant: admin.console.tenant.clone(),
        key: Arc::new(console_key(admin, plugin)),
        db: admin.console.db.clone(),
        settings: Arc::new(tenant_settings.clone()),
    };
    let mut request = Request::builder().method(method).uri(path);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let mut request = request
        .body(body)
        .map_err(|e| page::internal(anyhow::anyhow!("console call to {path}: {e}")))?;
    request.extensions_mut().insert(auth);
    if let Some(id) = crate::http::request_id::current() {
        request.extensions_mut().insert(id);
    }
    let routes = <PluginRoutes as axum::extract::FromRef<AppState>>::from_ref(state);
    let mut response = dispatch::fallback(State(routes), request).await;
    // A refusal of the host's (not the plugin's own answer) is still unrendered.
    if let Some(error) = response.extensions_mut().remove::<Arc<ApiError>>() {
        if error.is_internal() {
            let cause = error.source.as_ref().map(|e| format!("{e:#}"));
            return Err(page::internal(anyhow::anyhow!(
                "console call to {path}: {}",
                cause.unwrap_or_else(|| error.message.to_string())
            ))
            .into());
        }
        let id = crate::http::request_id::current().map_or_else(String::new, |id| id.0.to_string());
        return Ok((error.status, error.envelope(&id)));
    }
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), ANSWER_CAP)
        .await
        .unwrap_or_default();
    let answer = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
    Ok((status, answer))
}

/// The path parameters a form must give: all but the one naming the community.
fn free_params(route: &Route) -> Vec<String> {
    route
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .filter(|p| !names_the_community(&route.path, p))
        .map(str::to_owned)
        .collect()
}

/// Whether `param` is the `{tag}` of a `/api/v1/communities/{tag}/…` route: the tenant, by the
/// rule the gate resolves it with.
fn names_the_community(template: &str, param: &str) -> bool {
    tenant_host::community_of_path(template).is_some_and(|tag| tag == format!("{{{param}}}"))
}

/// What a path segment cannot hold as it is (RFC 3986), `/` and `%` included.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The route's path with its parameters: the community's slug for its `{tag}`, the form's
/// `param.<name>` for the others, each one segment, percent-encoded.
fn fill(template: &str, slug: &str, form: &FormData) -> Result<String, String> {
    let mut path = vec![];
    for segment in template.split('/') {
        let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            path.push(segment.to_owned());
            continue;
        };
        let value = if names_the_community(template, param) {
            slug
        } else {
            form.get(&format!("param.{param}"))
        };
        if value.is_empty() {
            return Err(format!("`{param}` is required."));
        }
        path.push(percent_encoding::utf8_percent_encode(value, SEGMENT).to_string());
    }
    Ok(path.join("/"))
}

/// How a body field is typed in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Input {
    Text,
    LongText,
    Number,
    Bool,
    /// Anything else: typed as JSON.
    Json,
}

/// Fields named for prose get a text area; other strings one line.
const PROSE: &[&str] = &[
    "body",
    "text",
    "html",
    "description",
    "content",
    "markdown",
    "reason",
];

impl Input {
    fn of(name: &str, schema: &Json) -> Input {
        let types: Vec<&str> = match &schema["type"] {
            Json::String(t) => vec![t.as_str()],
            Json::Array(ts) => ts.iter().filter_map(Json::as_str).collect(),
            _ => vec![],
        };
        match types.iter().find(|t| **t != "null").copied() {
            Some("string") if PROSE.contains(&name) => Input::LongText,
            Some("string") => Input::Text,
            Some("integer" | "number") => Input::Number,
            Some("boolean") => Input::Bool,
            _ => Input::Json,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Input::Text => "text",
            Input::LongText => "long",
            Input::Number => "number",
            Input::Bool => "bool",
            Input::Json => "json",
        }
    }
}

/// The request schema's top-level properties, the required ones first: name, schema, required.
fn properties(route: &Route) -> Option<Vec<(String, Json, bool)>> {
    let schema: Json = serde_json::from_str(route.request_schema.as_deref()?).ok()?;
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let props = schema["properties"].as_object()?;
    let mut fields: Vec<(String, Json, bool)> = props
        .iter()
        .map(|(name, s)| (name.clone(), s.clone(), required.contains(&name.as_str())))
        .collect();
    // What must be given first, each part in the schema's order.
    fields.sort_by_key(|(_, _, required)| !required);
    Some(fields)
}

/// The JSON body from the form's `body.<name>` fields; an empty field is left out, so the
/// plugin's default applies. A route without a schema takes its body as JSON (`body`).
fn body_of(route: &Route, form: &FormData) -> Result<Option<Json>, String> {
    let Some(props) = properties(route) else {
        let raw = form.get("body");
        if raw.is_empty() {
            return Ok(None);
        }
        return serde_json::from_str(raw)
            .map(Some)
            .map_err(|e| format!("The body is not JSON: {e}."));
    };
    let mut body = Map::new();
    for (name, schema, _) in props {
        let input = Input::of(&name, &schema);
        let field = format!("body.{name}");
        // Prose keeps its spaces; one-line fields are trimmed.
        let raw = match input {
            Input::LongText => form.raw(&field),
            _ => form.get(&field),
        };
        if raw.trim().is_empty() {
            continue;
        }
        let value = match input {
            Input::Text | Input::LongText => Json::String(raw.to_owned()),
            Input::Number => serde_json::from_str::<serde_json::Number>(raw)
                .map(Json::Number)
                .map_err(|_| format!("`{name}` must be a number."))?,
            Input::Bool => Json::Bool(raw == "true"),
            Input::Json => {
                serde_json::from_str(raw).map_err(|e| format!("`{name}` is not JSON: {e}."))?
            }
        };
        body.insert(name, value);
    }
    Ok(Some(Json::Object(body)))
}

fn form_view(route: &Route, free: &[String]) -> Value {
    let fields: Vec<Value> = properties(route)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, schema, required)| {
            let input = Input::of(&name, &schema).name();
            context! {
                name, required, input,
                description => schema["description"].as_str().unwrap_or(""),
                choices => schema["enum"].as_array().map(|e| e.iter().filter_map(Json::as_str).map(str::to_owned).collect::<Vec<_>>()),
            }
        })
        .collect();
    context! {
        operation => &route.operation_id, method => &route.method, path => &route.path,
        scope => &route.scope, summary => &route.summary, params => free.to_vec(),
        fields, raw_body => route.request_schema.is_none() && route.method != "DELETE",
    }
}

/// A list's answer as a table: its items (`data`, or the answer itself when it is an array),
/// the first columns of each, scalars as they are and the rest as cut JSON.
fn list_view(route: &Route, status: StatusCode, answer: &Json) -> Value {
    let items = answer["data"].as_array().or_else(|| answer.as_array());
    let error = (!status.is_success()).then(|| {
        format!(
            "{} {}",
            status.as_u16(),
            answer["error"]["message"].as_str().unwrap_or("")
        )
    });
    let (columns, rows, total) = match items {
        Some(items) => {
            let mut columns: Vec<String> = vec![];
            for item in items.iter().filter_map(Json::as_object) {
                for key in item.keys() {
                    if columns.len() < COLUMNS && !columns.contains(key) {
                        columns.push(key.clone());
                    }
                }
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| columns.iter().map(|c| cell(&item[c])).collect())
                .collect();
            (columns, rows, answer["total"].as_i64())
        }
        None => (vec![], vec![], None),
    };
    let json = (items.is_none() && status.is_success())
        .then(|| serde_json::to_string_pretty(answer).unwrap_or_default());
    context! {
        operation => &route.operation_id, path => &route.path, summary => &route.summary,
        error, columns, rows, total, json,
    }
}

fn cell(value: &Json) -> String {
    let text = match value {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(CELL) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_follow_the_schema() {
        assert_eq!(Input::of("title", &json!({"type": "string"})), Input::Text);
        assert_eq!(
            Input::of("body", &json!({"type": ["string", "null"]})),
            Input::LongText
        );
        assert_eq!(Input::of("n", &json!({"type": "integer"})), Input::Number);
        assert_eq!(
            Input::of("on", &json!({"type": ["boolean", "null"]})),
            Input::Bool
        );
        assert_eq!(Input::of("tags", &json!({"type": "array"})), Input::Json);
        assert_eq!(Input::of("x", &json!({"$ref": "#/x"})), Input::Json);
    }

    #[test]
    fn a_path_is_filled_one_encoded_segment_per_parameter() {
        let form = FormData::parse(b"param.id=a%2F..%2Fb&param.slug=x").unwrap();
        assert_eq!(
            fill(
                "/api/v1/communities/{tag}/events/{slug}/tiers",
                "acme",
                &form
            )
            .unwrap(),
            "/api/v1/communities/acme/events/x/tiers"
        );
        assert_eq!(
            fill("/api/v1/know/pages/{id}", "acme", &form).unwrap(),
            "/api/v1/know/pages/a%2F..%2Fb"
        );
        assert!(fill("/api/v1/x/{other}", "acme", &form).is_err());
    }

    #[test]
    fn cells_are_cut() {
        assert_eq!(cell(&json!("é".repeat(100))).chars().count(), CELL + 1);
        assert_eq!(cell(&json!(null)), "");
        assert_eq!(cell(&json!({"a": 1})), "{\"a\":1}");
    }
}
