//! `/scim/v2/Groups`: the host's groups (the same ones `/api/v1/groups` shows) as SCIM
//! resources. Members are users; a member list is read only when the response returns it, so
//! `excludedAttributes=members` lists big groups cheaply.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use serde_json::{Map, Value, json};

use crate::domain::groups::{self, Provisioned};
use crate::domain::validate;
use crate::error::{ApiError, Result};
use crate::scim::filter::{self, Filter};
use crate::scim::gate::ScimCtx;
use crate::scim::patch;
use crate::scim::resource::{
    self, Listing, Search, canonical, invalid_value, location, query, read, scim_json,
};
use crate::scim::schema::{GROUP, GROUPS};

pub fn to_resource(p: &Provisioned, members: Option<&[(String, String)]>, base: &str) -> Value {
    let mut map = Map::new();
    map.insert("schemas".into(), json!([GROUP]));
    map.insert("id".into(), json!(p.group.id));
    map.insert("displayName".into(), json!(p.group.display_name));
    if let Some(external) = &p.external_id {
        map.insert("externalId".into(), json!(external));
    }
    if let Some(members) = members.filter(|m| !m.is_empty()) {
        let list: Vec<Value> = members
            .iter()
            .map(|(id, _)| json!({ "value": id, "$ref": format!("{base}/Users/{id}") }))
            .collect();
        map.insert("members".into(), Value::Array(list));
    }
    map.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": p.group.created_at,
            "lastModified": p.group.updated_at,
            "location": location(base, "Groups", &p.group.id),
            "version": resource::etag(p.version),
        }),
    );
    Value::Object(map)
}

/// What a client's Group says: its name, external id and member user ids.
struct Wanted {
    display_name: String,
    external_id: Option<String>,
    members: Vec<String>,
}

fn to_wanted(mut map: Map<String, Value>) -> Result<Wanted> {
    let display_name = match map.remove("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        _ => return Err(invalid_value("`displayName` is required")),
    };
    validate::text("displayName", &display_name, 1, 200, false)?;
    let external_id = match map.remove("externalId") {
        Some(Value::String(s)) => {
            validate::text("externalId", &s, 1, 256, false)?;
            Some(s)
        }
        _ => None,
    };
    let mut members = Vec::new();
    for m in map
        .remove("members")
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default()
    {
        if m.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("group"))
        {
            return Err(invalid_value("members are users: groups do not nest"));
        }
        match m.get("value").and_then(Value::as_str) {
            Some(id) if !members.iter().any(|x| x == id) => members.push(id.to_owned()),
            Some(_) => {}
            None => return Err(invalid_value("each member needs a `value`: the user's id")),
        }
    }
    Ok(Wanted {
        display_name,
        external_id,
        members,
    })
}

fn with_members(conn: &Connection, p: &Provisioned, base: &str, include: bool) -> Result<Value> {
    let members = if include {
        Some(groups::all_members(conn, &p.group.id)?)
    } else {
        None
    };
    Ok(to_resource(p, members.as_deref(), base))
}

fn find(conn: &Connection, id: &str) -> Result<Provisioned> {
    groups::find_provisioned(conn, id)?.ok_or_else(|| ApiError::not_found("group"))
}

fn hint(f: &Filter) -> Option<(&'static str, String)> {
    if let Some(v) = filter::required_eq(f, "displayName") {
        return Some(("display_name = ?1 COLLATE NOCASE", v.to_owned()));
    }
    if let Some(v) = filter::required_eq(f, "externalId") {
        return Some(("external_id = ?1", v.to_owned()));
    }
    filter::required_eq(f, "id").map(|v| ("id = ?1", v.to_owned()))
}

pub fn list(conn: &Connection, listing: &Listing, base: &str) -> Result<Value> {
    let select = groups::provisioned_select();
    let hint = listing.filter.as_ref().and_then(hint);
    let rows = resource::candidates(conn, &select, hint, groups::provisioned_from_row)?;
    resource::page_of(&rows, listing, &GROUPS, "members", |p, members| {
        with_members(conn, p, base, members)
    })
}

pub async fn list_groups(ctx: ScimCtx, OriginalUri(uri): OriginalUri) -> Result<Response> {
    let listing = query::<Search>(&uri)?.parse(&GROUPS)?;
    let base = ctx.base.clone();
    let page = read(&ctx, move |conn| list(conn, &listing, &base)).await?;
    Ok(scim_json(StatusCode::OK, &page, None))
}

pub async fn search_groups(ctx: ScimCtx, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let listing = Search::from_body(&headers, &body)?.parse(&GROUPS)?;
    let base = ctx.base.clone();
    let page = read(&ctx, move |conn| list(conn, &listing, &base)).await?;
    Ok(scim_json(StatusCode::OK, &page, None))
}

pub async fn get_group(
    ctx: ScimCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Result<Response> {
    let projection = query::<Search>(&uri)?.parse(&GROUPS)?.projection;
    let base = ctx.base.clone();
    let (resource, version) = read(&ctx, move |conn| {
        let p = find(conn, &id)?;
        let r = with_members(conn, &p, &base, projection.returns("members"))?;
        Ok((projection.apply(r), p.version))
    })
    .await?;
    Ok(resource::versioned(&headers, &resource, version))
}

pub async fn create_group(ctx: ScimCtx, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let wanted = to_wanted(canonical(&resource::body(&headers, &body)?, &GROUPS)?)?;
    let base = ctx.base.clone();
    let (resource, version) = ctx
        .db
        .write_async(move |w| {
            let p = groups::provision(w, wanted.display_name, wanted.external_id, &wanted.members)?;
            let r = with_members(w, &p, &base, true)?;
            Ok::<_, ApiError>((r, p.version))
        })
        .await?;
    Ok(resource::created(&resource, version))
}

pub async fn replace_group(
    ctx: ScimCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let wanted = to_wanted(canonical(&resource::body(&headers, &body)?, &GROUPS)?)?;
    write(&ctx, id, headers, move |_| Ok(wanted)).await
}

pub async fn patch_group(
    ctx: ScimCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let request = patch::parse(resource::body(&headers, &body)?)?;
    write(&ctx, id, headers, move |current| {
        let mut map = canonical(current, &GROUPS)?;
        patch::apply(&mut map, &request, &GROUPS)?;
        to_wanted(map)
    })
    .await
}

/// Replaces a group with what `change` makes of the current one (with its members), under
/// `If-Match`.
async fn write(
    ctx: &ScimCtx,
    id: String,
    headers: HeaderMap,
    change: impl FnOnce(&Value) -> Result<Wanted> + Send + 'static,
) -> Result<Response> {
    let base = ctx.base.clone();
    let (resource, version) = ctx
        .db
        .write_async(move |w| {
            let current = find(w, &id)?;
            resource::check_if_match(&headers, current.version)?;
            let wanted = change(&with_members(w, &current, &base, true)?)?;
            let p = groups::reprovision(
                w,
                &id,
                wanted.display_name,
                wanted.external_id,
                Some(&wanted.members),
            )?;
            let r = with_members(w, &p, &base, true)?;
            Ok::<_, ApiError>((r, p.version))
        })
        .await?;
    Ok(scim_json(StatusCode::OK, &resource, Some(version)))
}

pub async fn delete_group(
    ctx: ScimCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    ctx.db
        .write_async(move |w| {
            let current = find(w, &id)?;
            resource::check_if_match(&headers, current.version)?;
            groups::delete(w, &id)?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
