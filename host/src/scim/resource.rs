//! What Users and Groups share: reading a client's JSON against the schema (canonical names,
//! types, the identity providers' `"True"`), `attributes` / `excludedAttributes`, sorting, paging
//! and the `ETag`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, Result};
use crate::scim::filter::{self, AttrPath, Filter, get_ci};
use crate::scim::gate::ScimCtx;
use crate::scim::schema::{Attr, Kind, LIST_RESPONSE, Mutability, ResourceType};

pub fn scim_error(
    status: StatusCode,
    scim_type: &'static str,
    detail: impl Into<String>,
) -> ApiError {
    let code = match status {
        StatusCode::CONFLICT => "conflict",
        StatusCode::PRECONDITION_FAILED => "precondition_failed",
        _ => "invalid_request",
    };
    ApiError::new(status, code, detail.into()).with("scimType", scim_type)
}

pub fn invalid_value(detail: impl Into<String>) -> ApiError {
    scim_error(StatusCode::BAD_REQUEST, "invalidValue", detail)
}

/// Parses a request body as JSON (either content type SCIM clients send).
pub fn body(headers: &HeaderMap, bytes: &[u8]) -> Result<Value> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/scim+json");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !(essence.eq_ignore_ascii_case("application/scim+json")
        || essence.eq_ignore_ascii_case("application/json"))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send application/scim+json or application/json.",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        scim_error(
            StatusCode::BAD_REQUEST,
            "invalidSyntax",
            format!("the body is not JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(scim_error(
            StatusCode::BAD_REQUEST,
            "invalidSyntax",
            "the body must be a JSON object",
        ));
    }
    Ok(value)
}

/// The client's resource with every known attribute under its canonical name and of its type,
/// read-only attributes and unknown ones dropped (RFC 7644 §3.3: they are ignored), extension
/// attributes under their URN. `"True"` / `"False"` are read as booleans, as Azure AD sends them.
pub fn canonical(input: &Value, rt: &ResourceType) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let Some(object) = input.as_object() else {
        return Err(invalid_value("a resource is a JSON object"));
    };
    for (key, value) in object {
        if let Some(urn) = rt.extension(key) {
            let Some(inner) = value.as_object() else {
                return Err(invalid_value(format!("`{urn}` must be an object")));
            };
            let attrs = rt
                .extensions
                .iter()
                .find(|(u, _)| *u == urn)
                .map(|(_, a)| *a)
                .unwrap_or(&[]);
            let mut ext = Map::new();
            for (k, v) in inner {
                if let Some(attr) = attrs.iter().find(|a| a.name.eq_ignore_ascii_case(k))
                    && let Some(v) = typed(attr, v, urn)?
                {
                    ext.insert(attr.name.to_owned(), v);
                }
            }
            if !ext.is_empty() {
                out.insert(urn.to_owned(), Value::Object(ext));
            }
            continue;
        }
        let Some(resolved) = rt.resolve(None, key, None) else {
            continue;
        };
        let attr = resolved.attr;
        if attr.mutability == Mutability::ReadOnly || attr.name == "meta" {
            continue;
        }
        if let Some(v) = typed(attr, value, "")? {
            out.insert(attr.name.to_owned(), v);
        }
    }
    Ok(out)
}

/// `value` checked against `attr`: `None` for null or an empty list (unassigned).
pub fn typed(attr: &Attr, value: &Value, at: &str) -> Result<Option<Value>> {
    let name = if at.is_empty() {
        attr.name.to_owned()
    } else {
        format!("{at}:{}", attr.name)
    };
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items = match value {
            Value::Array(items) => items.clone(),
            single => vec![single.clone()],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            if let Some(v) = single(attr, item, &name)? {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    single(attr, value, &name)
}

fn single(attr: &Attr, value: &Value, name: &str) -> Result<Option<Value>> {
    let wrong = |what: &str| invalid_value(format!("`{name}` must be {what}"));
    Ok(Some(match attr.kind {
        Kind::Complex => {
            let Some(object) = value.as_object() else {
                return Err(wrong("an object"));
            };
            let mut out = Map::new();
            for (k, v) in object {
                if let Some(sub) = attr.sub.iter().find(|s| s.name.eq_ignore_ascii_case(k))
                    && let Some(v) = single(sub, v, &format!("{name}.{}", sub.name))?
                {
                    out.insert(sub.name.to_owned(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        Kind::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(wrong("true or false")),
        },
        Kind::String | Kind::Reference | Kind::DateTime => match value {
            Value::String(s)
                if s.chars().count() <= 2_048
                    && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') =>
            {
                Value::String(s.clone())
            }
            Value::String(_) => {
                return Err(wrong(
                    "a string of at most 2,048 characters, without control characters",
                ));
            }
            _ => return Err(wrong("a string")),
        },
    }))
}

/// `attributes` / `excludedAttributes`: which attributes a read returns. `id` and `schemas`
/// always are.
#[derive(Debug, Default)]
pub struct Projection {
    include: Vec<AttrPath>,
    exclude: Vec<AttrPath>,
}

impl Projection {
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        rt: &ResourceType,
    ) -> Result<Self> {
        let list = |text: Option<&str>| -> Result<Vec<AttrPath>> {
            let mut out = Vec::new();
            for part in text
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                if rt.extension(part).is_some() {
                    out.push(AttrPath {
                        uri: Some(part.to_owned()),
                        attr: String::new(),
                        sub: None,
                    });
                    continue;
                }
                let path = filter::parse_path(part)
                    .ok()
                    .filter(|p| p.filter.is_none())
                    .map(|p| p.attr)
                    .ok_or_else(|| invalid_value(format!("`{part}` is not an attribute name")))?;
                out.push(path);
            }
            Ok(out)
        };
        Ok(Projection {
            include: list(attributes)?,
            exclude: list(excluded)?,
        })
    }

    /// Whether the read returns `attr` (a top-level attribute of the core schema), so costly
    /// ones (a group's members) are fetched only when returned.
    pub fn returns(&self, attr: &str) -> bool {
        let named = |p: &AttrPath| p.uri.is_none() && p.attr.eq_ignore_ascii_case(attr);
        if !self.include.is_empty() {
            return self.include.iter().any(named);
        }
        !self.exclude.iter().any(|p| named(p) && p.sub.is_none())
    }

    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(mut map) = resource else {
            return resource;
        };
        if !self.include.is_empty() {
            let mut out = Map::new();
            for key in ["schemas", "id"] {
                if let Some(v) = map.get(key) {
                    out.insert(key.to_owned(), v.clone());
                }
            }
            for p in &self.include {
                copy(&map, &mut out, p);
            }
            return Value::Object(out);
        }
        for p in &self.exclude {
            if matches!(p.attr.as_str(), "id" | "schemas") && p.uri.is_none() {
                continue;
            }
            remove(&mut map, p);
        }
        Value::Object(map)
    }
}

fn key_ci(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, p: &AttrPath) {
    // The object the path lives in: the resource, or an extension's object under its URN.
    let (source, target): (&Map<String, Value>, &mut Map<String, Value>) = match &p.uri {
        Some(uri) if !uri.starts_with("urn:ietf:params:scim:schemas:core:") => {
            let Some(key) = key_ci(from, uri) else { return };
            if p.attr.is_empty() {
                to.insert(key.clone(), from[&key].clone());
                return;
            }
            let Some(inner) = from[&key].as_object() else {
                return;
            };
            let slot = to.entry(key).or_insert_with(|| json!({}));
            let Some(slot) = slot.as_object_mut() else {
                return;
            };
            (inner, slot)
        }
        _ => (from, to),
    };
    let Some(key) = key_ci(source, &p.attr) else {
        return;
    };
    let value = &source[&key];
    match &p.sub {
        None => {
            target.insert(key, value.clone());
        }
        Some(sub) => {
            let pick = |v: &Value| -> Option<Value> {
                let k = key_ci(v.as_object()?, sub)?;
                Some(json!({ k.clone(): v[&k].clone() }))
            };
            let picked = match value {
                Value::Array(items) => Value::Array(items.iter().filter_map(pick).collect()),
                v => match pick(v) {
                    Some(v) => v,
                    None => return,
                },
            };
            match (target.get_mut(&key), picked) {
                (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
                (_, picked) => {
                    target.insert(key, picked);
                }
            }
        }
    }
}

fn remove(map: &mut Map<String, Value>, p: &AttrPath) {
    let container = match &p.uri {
        Some(uri) if !uri.starts_with("urn:ietf:params:scim:schemas:core:") => {
            let Some(key) = key_ci(map, uri) else { return };
            if p.attr.is_empty() {
                map.remove(&key);
                return;
            }
            match map.get_mut(&key).and_then(Value::as_object_mut) {
                Some(inner) => inner,
                None => return,
            }
        }
        _ => map,
    };
    let Some(key) = key_ci(container, &p.attr) else {
        return;
    };
    match &p.sub {
        None => {
            container.remove(&key);
        }
        Some(sub) => match container.get_mut(&key) {
            Some(Value::Array(items)) => {
                for item in items {
                    if let Some(o) = item.as_object_mut()
                        && let Some(k) = key_ci(o, sub)
                    {
                        o.remove(&k);
                    }
                }
            }
            Some(Value::Object(o)) => {
                if let Some(k) = key_ci(o, sub) {
                    o.remove(&k);
                }
            }
            _ => {}
        },
    }
}

/// A list request, from the query string or a `POST /.search` body (the same names).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Search {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    #[serde(default, deserialize_with = "names")]
    pub attributes: Option<String>,
    #[serde(default, deserialize_with = "names")]
    pub excluded_attributes: Option<String>,
}

/// `attributes` is a comma-separated string in a query and an array in a search body.
fn names<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    })
}

impl Search {
    /// A `POST …/.search` body.
    pub fn from_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Search> {
        serde_json::from_value(body(headers, bytes)?)
            .map_err(|e| invalid_value(format!("a SearchRequest: {e}")))
    }
}

/// The most resources one page holds (`filter.maxResults` in the service provider config).
pub const MAX_RESULTS: i64 = 200;

/// A parsed list request.
pub struct Listing {
    pub filter: Option<Filter>,
    pub sort: Option<(AttrPath, bool)>,
    pub start: usize,
    pub count: usize,
    pub projection: Projection,
}

impl Search {
    pub fn parse(self, rt: &ResourceType) -> Result<Listing> {
        let filter = match self
            .filter
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            None => None,
            Some(text) => {
                let f = filter::parse(text)
                    .and_then(|f| filter::check(&f, rt, None).map(|_| f))
                    .map_err(|e| {
                        scim_error(
                            StatusCode::BAD_REQUEST,
                            "invalidFilter",
                            format!("filter: {e}"),
                        )
                    })?;
                Some(f)
            }
        };
        let sort = match self
            .sort_by
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(text) => {
                let path = filter::parse_path(text)
                    .ok()
                    .filter(|p| p.filter.is_none())
                    .map(|p| p.attr)
                    .filter(|p| {
                        rt.resolve(p.uri.as_deref(), &p.attr, p.sub.as_deref())
                            .is_some()
                    })
                    .ok_or_else(|| invalid_value(format!("sortBy: no attribute `{text}`")))?;
                let descending = match self.sort_order.as_deref() {
                    None => false,
                    Some(o) if o.eq_ignore_ascii_case("ascending") => false,
                    Some(o) if o.eq_ignore_ascii_case("descending") => true,
                    Some(o) => {
                        return Err(invalid_value(format!(
                            "sortOrder `{o}`: ascending or descending"
                        )));
                    }
                };
                Some((path, descending))
            }
        };
        Ok(Listing {
            filter,
            sort,
            start: self.start_index.unwrap_or(1).max(1) as usize,
            count: self.count.unwrap_or(MAX_RESULTS).clamp(0, MAX_RESULTS) as usize,
            projection: Projection::parse(
                self.attributes.as_deref(),
                self.excluded_attributes.as_deref(),
                rt,
            )?,
        })
    }
}

/// The value a resource sorts by: a multi-valued attribute's primary (else first) element.
fn sort_key<'v>(resource: &'v Value, p: &AttrPath, rt: &ResourceType) -> Option<&'v Value> {
    let resolved = rt.resolve(p.uri.as_deref(), &p.attr, p.sub.as_deref())?;
    let object = match resolved.extension {
        Some(urn) => get_ci(resource, urn)?,
        None => resource,
    };
    let mut v = get_ci(object, resolved.attr.name)?;
    if let Value::Array(items) = v {
        v = items
            .iter()
            .find(|i| get_ci(i, "primary") == Some(&Value::Bool(true)))
            .or(items.first())?;
    }
    match resolved.sub {
        Some(sub) => get_ci(v, sub.name),
        None if resolved.attr.kind == Kind::Complex => get_ci(v, "value"),
        None => Some(v),
    }
}

/// Sorts resources (each with what it was made from) as RFC 7644 §3.4.2.3 asks: without case
/// unless the attribute is case-exact, and resources without a value last when ascending (first
/// when descending).
pub fn sort<T>(items: &mut [(Value, T)], path: &AttrPath, descending: bool, rt: &ResourceType) {
    let exact = rt
        .resolve(path.uri.as_deref(), &path.attr, path.sub.as_deref())
        .is_some_and(|r| r.case_exact());
    let key = |v: &Value| -> Option<String> {
        sort_key(v, path, rt).map(|k| match k {
            Value::String(s) if exact => s.clone(),
            Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        })
    };
    items.sort_by_cached_key(|(v, _)| {
        let k = key(v);
        (k.is_none(), k)
    });
    if descending {
        items.reverse();
    }
}

/// The candidate rows of a list: `select` (which ends in a `WHERE`), narrowed by an indexed
/// equality when the filter requires one (`hint`: a condition on `?1`, and its value).
pub fn candidates<T>(
    conn: &Connection,
    select: &str,
    hint: Option<(&str, String)>,
    from_row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let rows = match hint {
        Some((condition, value)) => conn
            .prepare_cached(&format!("{select} AND {condition} ORDER BY id"))?
            .query_map([value], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => conn
            .prepare_cached(&format!("{select} ORDER BY id"))?
            .query_map([], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    Ok(rows)
}

/// One page of `rows` filtered, sorted and projected as `listing` asks. `build(row, costly)`
/// makes a row's resource, with its costly attribute (a user's `groups`, a group's `members`)
/// only when asked: for every row when the filter or the sort names it, else for the page's
/// rows when the projection returns it.
pub fn page_of<T>(
    rows: &[T],
    listing: &Listing,
    rt: &ResourceType,
    costly: &str,
    mut build: impl FnMut(&T, bool) -> Result<Value>,
) -> Result<Value> {
    let filter = listing.filter.as_ref();
    let needs = filter.is_some_and(|f| filter::mentions(f, costly))
        || listing
            .sort
            .as_ref()
            .is_some_and(|(p, _)| p.attr.eq_ignore_ascii_case(costly));
    let mut found = Vec::new();
    for row in rows {
        let r = build(row, needs)?;
        if filter.is_none_or(|f| filter::matches(f, &r, rt)) {
            found.push((r, row));
        }
    }
    if let Some((path, descending)) = &listing.sort {
        sort(&mut found, path, *descending, rt);
    }
    let total = found.len();
    let wants = listing.projection.returns(costly);
    let page = found
        .into_iter()
        .skip(listing.start - 1)
        .take(listing.count)
        .map(|(r, row)| {
            let r = if wants && !needs {
                build(row, true)?
            } else {
                r
            };
            Ok(listing.projection.apply(r))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(list_response(total, listing.start, page))
}

/// The `ListResponse` of one page.
pub fn list_response(total: usize, start: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `W/"<version>"`, the resource's `meta.version` and `ETag`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// `If-Match`: 412 unless it names the current version (or is `*`).
pub fn check_if_match(headers: &HeaderMap, version: i64) -> Result<()> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let current = etag(version);
    let text = value.to_str().unwrap_or("");
    let strong = current.trim_start_matches("W/");
    let ok = text
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current || t.trim_start_matches("W/") == strong);
    if ok {
        Ok(())
    } else {
        Err(scim_error(
            StatusCode::PRECONDITION_FAILED,
            "invalidVers",
            format!("If-Match does not name the current version ({current})."),
        ))
    }
}

/// `If-None-Match` naming the current version: the client's copy is fresh.
pub fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    let current = etag(version);
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t == current)
        })
}

/// A SCIM response: `application/scim+json`, with `ETag` when it is one versioned resource.
pub fn scim_json(status: StatusCode, value: &Value, version: Option<i64>) -> Response {
    let mut response = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    if let Some(v) = version
        && let Ok(etag) = HeaderValue::from_str(&etag(v))
    {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

pub fn location(base: &str, kind: &str, id: &str) -> String {
    format!("{base}/{kind}/{id}")
}

/// The query string read as `T`; a malformed one is 400 `invalidValue`.
pub fn query<T: DeserializeOwned>(uri: &Uri) -> Result<T> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| invalid_value(format!("query: {}", e.body_text())))
}

/// A read on the tenant's live file, off the async executor.
pub async fn read<T: Send + 'static>(
    ctx: &ScimCtx,
    f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let db = ctx.db.clone();
    tokio::task::spawn_blocking(move || db.read(f)).await?
}

/// A read of one versioned resource: `304` when `If-None-Match` names its version, else it.
pub fn versioned(headers: &HeaderMap, resource: &Value, version: i64) -> Response {
    if not_modified(headers, version) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    scim_json(StatusCode::OK, resource, Some(version))
}

/// `201 Created` with the resource, its `ETag` and its `Location`.
pub fn created(resource: &Value, version: i64) -> Response {
    let mut response = scim_json(StatusCode::CREATED, resource, Some(version));
    if let Some(location) = resource["meta"]["location"]
        .as_str()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
