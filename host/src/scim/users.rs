//! `/scim/v2/Users`: the host's users as SCIM resources (core schema and the enterprise
//! extension). The columns the API shows are the source for `userName`, `displayName`,
//! `externalId` and `active`; everything else the identity provider sent is kept as it sent it.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use serde_json::{Map, Value, json};

use crate::admin::accounts;
use crate::domain::users::{self, Profile, Provisioned};
use crate::domain::{groups, validate};
use crate::error::{ApiError, Result};
use crate::scim::filter::{self, Filter};
use crate::scim::gate::ScimCtx;
use crate::scim::patch;
use crate::scim::resource::{
    self, Listing, Search, canonical, invalid_value, location, query, read, scim_json,
};
use crate::scim::schema::{ENTERPRISE, USER, USERS};

/// The resource for `p`; `groups` when the read returns them.
pub fn to_resource(p: &Provisioned, member_of: Option<&[(String, String)]>, base: &str) -> Value {
    let mut map = match &p.extra {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    // A user registered through the API has no profile: their email is its one email.
    if !map.contains_key("emails")
        && let Some(email) = &p.user.email
    {
        map.insert(
            "emails".into(),
            json!([{ "value": email, "primary": true }]),
        );
    }
    let mut schemas = vec![USER];
    if map.contains_key(ENTERPRISE) {
        schemas.push(ENTERPRISE);
    }
    map.insert("schemas".into(), json!(schemas));
    map.insert("id".into(), json!(p.user.id));
    map.insert("userName".into(), json!(p.user.username));
    if let Some(name) = &p.user.display_name {
        map.insert("displayName".into(), json!(name));
    }
    if let Some(external) = &p.external_id {
        map.insert("externalId".into(), json!(external));
    }
    if let Some(active) = p.active_said {
        map.insert("active".into(), json!(active));
    }
    if let Some(list) = member_of.filter(|l| !l.is_empty()) {
        let list: Vec<Value> = list
            .iter()
            .map(|(id, name)| {
                json!({ "value": id, "display": name, "$ref": format!("{base}/Groups/{id}"), "type": "direct" })
            })
            .collect();
        map.insert("groups".into(), Value::Array(list));
    }
    map.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": p.user.created_at,
            "lastModified": p.updated_at,
            "location": location(base, "Users", &p.user.id),
            "version": resource::etag(p.version),
        }),
    );
    Value::Object(map)
}

/// The profile a client's resource describes (canonical names, see
/// [`resource::canonical`]); the columns come out, the rest stays as sent.
fn to_profile(mut map: Map<String, Value>) -> Result<Profile> {
    let username = match map.remove("userName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        _ => return Err(invalid_value("`userName` is required")),
    };
    validate::text("userName", &username, 1, 256, false)?;
    let display_name = match map.remove("displayName") {
        Some(Value::String(s)) => {
            validate::text("displayName", &s, 1, 200, false)?;
            Some(s)
        }
        _ => None,
    };
    let external_id = match map.remove("externalId") {
        Some(Value::String(s)) => {
            validate::text("externalId", &s, 1, 256, false)?;
            Some(s)
        }
        _ => None,
    };
    let active = map.remove("active").and_then(|a| a.as_bool());
    // The email the API shows: the primary one, else the first, when it is an address.
    let emails = map.get("emails").and_then(Value::as_array);
    let email = emails
        .and_then(|e| {
            e.iter()
                .find(|x| x.get("primary") == Some(&Value::Bool(true)))
                .or(e.first())
        })
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .filter(|e| validate::email(e).is_ok())
        .map(str::to_owned);
    let extra = Value::Object(map);
    if extra.to_string().len() > 64 * 1024 {
        return Err(invalid_value("a user's attributes take at most 64 KiB"));
    }
    Ok(Profile {
        username,
        email,
        display_name,
        external_id,
        active,
        extra: Some(extra),
    })
}

fn with_groups(conn: &Connection, p: &Provisioned, base: &str, include: bool) -> Result<Value> {
    let member_of = if include {
        Some(groups::groups_of(conn, &p.user.id)?)
    } else {
        None
    };
    Ok(to_resource(p, member_of.as_deref(), base))
}

fn find(conn: &Connection, id: &str) -> Result<Provisioned> {
    users::find_provisioned(conn, id)?.ok_or_else(|| ApiError::not_found("user"))
}

/// One page of users: an index lookup when the filter requires `userName`, `externalId` or `id`
/// to equal something, else the users in creation order, filtered and sorted here.
pub fn list(conn: &Connection, listing: &Listing, base: &str) -> Result<Value> {
    let wants_groups = listing.projection.returns("groups");
    let plain = listing.filter.is_none() && listing.sort.is_none();
    if plain {
        let total: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM users WHERE left_at IS NULL")?
            .query_row([], |r| r.get(0))?;
        let page: Vec<Provisioned> = conn
            .prepare_cached(&format!(
                "{} ORDER BY id LIMIT ?1 OFFSET ?2",
                users::provisioned_select()
            ))?
            .query_map(
                [listing.count as i64, listing.start as i64 - 1],
                users::provisioned_from_row,
            )?
            .collect::<rusqlite::Result<_>>()?;
        let resources = page
            .iter()
            .map(|p| with_groups(conn, p, base, wants_groups).map(|r| listing.projection.apply(r)))
            .collect::<Result<Vec<_>>>()?;
        return Ok(resource::list_response(
            total as usize,
            listing.start,
            resources,
        ));
    }
    let select = users::provisioned_select();
    let hint = listing.filter.as_ref().and_then(hint);
    let rows = resource::candidates(conn, &select, hint, users::provisioned_from_row)?;
    resource::page_of(&rows, listing, &USERS, "groups", |p, groups| {
        with_groups(conn, p, base, groups)
    })
}

/// The indexed equality a filter requires, as a condition on one bound parameter.
fn hint(f: &Filter) -> Option<(&'static str, String)> {
    if let Some(v) = filter::required_eq(f, "userName") {
        return Some(("username = ?1 COLLATE NOCASE", v.to_owned()));
    }
    if let Some(v) = filter::required_eq(f, "externalId") {
        return Some(("external_id = ?1", v.to_owned()));
    }
    filter::required_eq(f, "id").map(|v| ("id = ?1", v.to_owned()))
}

pub async fn list_users(ctx: ScimCtx, OriginalUri(uri): OriginalUri) -> Result<Response> {
    let listing = query::<Search>(&uri)?.parse(&USERS)?;
    let base = ctx.base.clone();
    let page = read(&ctx, move |conn| list(conn, &listing, &base)).await?;
    Ok(scim_json(StatusCode::OK, &page, None))
}

pub async fn search_users(ctx: ScimCtx, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let listing = Search::from_body(&headers, &body)?.parse(&USERS)?;
    let base = ctx.base.clone();
    let page = read(&ctx, move |conn| list(conn, &listing, &base)).await?;
    Ok(scim_json(StatusCode::OK, &page, None))
}

pub async fn get_user(
    ctx: ScimCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Result<Response> {
    let projection = query::<Search>(&uri)?.parse(&USERS)?.projection;
    let base = ctx.base.clone();
    let (resource, version) = read(&ctx, move |conn| {
        let p = find(conn, &id)?;
        let r = with_groups(conn, &p, &base, projection.returns("groups"))?;
        Ok((projection.apply(r), p.version))
    })
    .await?;
    Ok(resource::versioned(&headers, &resource, version))
}

pub async fn create_user(ctx: ScimCtx, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let profile = to_profile(canonical(&resource::body(&headers, &body)?, &USERS)?)?;
    let base = ctx.base.clone();
    let (resource, version) = ctx
        .db
        .write_async(move |w| {
            let p = users::provision(w, profile)?;
            Ok::<_, ApiError>((to_resource(&p, None, &base), p.version))
        })
        .await?;
    Ok(resource::created(&resource, version))
}

pub async fn replace_user(
    ctx: ScimCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let profile = to_profile(canonical(&resource::body(&headers, &body)?, &USERS)?)?;
    write(&ctx, id, headers, move |_| Ok(profile)).await
}

pub async fn patch_user(
    ctx: ScimCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let request = patch::parse(resource::body(&headers, &body)?)?;
    let base = ctx.base.clone();
    write(&ctx, id, headers, move |current| {
        let mut map = canonical(&to_resource(current, None, &base), &USERS)?;
        patch::apply(&mut map, &request, &USERS)?;
        to_profile(map)
    })
    .await
}

/// Replaces a user with what `change` makes of the current one, under `If-Match`.
async fn write(
    ctx: &ScimCtx,
    id: String,
    headers: HeaderMap,
    change: impl FnOnce(&Provisioned) -> Result<Profile> + Send + 'static,
) -> Result<Response> {
    let base = ctx.base.clone();
    let (resource, version) = ctx
        .db
        .write_async(move |w| {
            let current = find(w, &id)?;
            resource::check_if_match(&headers, current.version)?;
            let profile = change(&current)?;
            let p = users::reprovision(w, &id, profile)?;
            if !p.user.active
                && let Some(email) = &p.user.email
            {
                accounts::end_sessions_of(w, email)?;
            }
            let r = with_groups(w, &p, &base, true)?;
            Ok::<_, ApiError>((r, p.version))
        })
        .await?;
    Ok(scim_json(StatusCode::OK, &resource, Some(version)))
}

pub async fn delete_user(
    ctx: ScimCtx,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    ctx.db
        .write_async(move |w| {
            let current = find(w, &id)?;
            resource::check_if_match(&headers, current.version)?;
            users::leave(w, &id)?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
