//! PATCH (RFC 7644 §3.5.2) on a resource's JSON, with what real identity providers send: `op` in
//! any case, no `path` with dotted or URN keys in `value`, value filters in paths
//! (`emails[type eq "work"].value`), members removed by filter or by a value list.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, Result};
use crate::scim::filter::{self, AttrPath, Filter, Op};
use crate::scim::resource::{invalid_value, scim_error, typed};
use crate::scim::schema::{Kind, Mutability, PATCH_OP, ResourceType};

#[derive(Debug, Deserialize)]
pub struct PatchRequest {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<Operation>,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    pub op: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub value: Option<Value>,
}

/// The most operations one PATCH may carry.
const MAX_OPERATIONS: usize = 1_000;

#[derive(Clone, Copy, PartialEq)]
enum Change {
    Add,
    Replace,
    Remove,
}

fn invalid_path(detail: impl Into<String>) -> ApiError {
    scim_error(StatusCode::BAD_REQUEST, "invalidPath", detail)
}

pub fn parse(body: Value) -> Result<PatchRequest> {
    let request: PatchRequest = serde_json::from_value(body).map_err(|e| {
        scim_error(
            StatusCode::BAD_REQUEST,
            "invalidSyntax",
            format!("a PatchOp: {e}"),
        )
    })?;
    if !request.schemas.is_empty() && !request.schemas.iter().any(|s| s == PATCH_OP) {
        return Err(scim_error(
            StatusCode::BAD_REQUEST,
            "invalidSyntax",
            format!("`schemas` must name {PATCH_OP}"),
        ));
    }
    if request.operations.is_empty() || request.operations.len() > MAX_OPERATIONS {
        return Err(invalid_value(format!("1 to {MAX_OPERATIONS} Operations")));
    }
    Ok(request)
}

/// Applies the operations, in order, to `resource` (canonical names; see
/// [`crate::scim::resource::canonical`]). All or nothing: the caller stores the result.
pub fn apply(
    resource: &mut Map<String, Value>,
    request: &PatchRequest,
    rt: &ResourceType,
) -> Result<()> {
    for op in &request.operations {
        let kind = match op.op.to_ascii_lowercase().as_str() {
            "add" => Change::Add,
            "replace" => Change::Replace,
            "remove" => Change::Remove,
            other => {
                return Err(invalid_value(format!(
                    "op `{other}`: add, replace or remove"
                )));
            }
        };
        match op.path.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            None if kind == Change::Remove => {
                return Err(scim_error(
                    StatusCode::BAD_REQUEST,
                    "noTarget",
                    "remove needs a path",
                ));
            }
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(invalid_value(
                        "an operation without a path takes an object value",
                    ));
                };
                for (key, value) in values {
                    if key == "schemas"
                        || key.eq_ignore_ascii_case("id")
                        || key.eq_ignore_ascii_case("meta")
                    {
                        continue;
                    }
                    if let Some(urn) = rt.extension(key) {
                        let Some(inner) = value.as_object() else {
                            return Err(invalid_value(format!("`{urn}` must be an object")));
                        };
                        for (k, v) in inner.iter().filter(|(k, _)| *k != "schemas") {
                            let path = AttrPath {
                                uri: Some(urn.to_owned()),
                                attr: k.clone(),
                                sub: None,
                            };
                            set(resource, &path, kind, Some(v), rt)?;
                        }
                        continue;
                    }
                    let path = filter::parse_path(key)
                        .ok()
                        .filter(|p| p.filter.is_none())
                        .ok_or_else(|| invalid_path(format!("`{key}` is not an attribute")))?;
                    set(resource, &path.attr, kind, Some(value), rt)?;
                }
            }
            Some(text) if rt.extension(text).is_some() => {
                // The whole extension: `path` is its URN.
                let urn = rt.extension(text).expect("checked");
                if kind != Change::Add {
                    resource.remove(urn);
                }
                if kind == Change::Remove {
                    continue;
                }
                let Some(Value::Object(values)) = &op.value else {
                    return Err(invalid_value(format!("`{urn}` takes an object value")));
                };
                for (k, v) in values.iter().filter(|(k, _)| *k != "schemas") {
                    let path = AttrPath {
                        uri: Some(urn.to_owned()),
                        attr: k.clone(),
                        sub: None,
                    };
                    set(resource, &path, Change::Add, Some(v), rt)?;
                }
            }
            Some(text) => {
                let path =
                    filter::parse_path(text).map_err(|e| invalid_path(format!("path: {e}")))?;
                match &path.filter {
                    None => set(resource, &path.attr, kind, op.value.as_ref(), rt)?,
                    Some(f) => elements(
                        resource,
                        &path.attr,
                        f,
                        path.sub.as_deref(),
                        kind,
                        op.value.as_ref(),
                        rt,
                    )?,
                }
            }
        }
    }
    Ok(())
}

/// The object a path's attribute lives in: the resource, or its extension's object.
fn container<'m>(
    resource: &'m mut Map<String, Value>,
    extension: Option<&str>,
) -> &'m mut Map<String, Value> {
    match extension {
        None => resource,
        Some(urn) => {
            let slot = resource
                .entry(urn.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut().expect("made an object above")
        }
    }
}

fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// add / replace / remove of `attr` or `attr.sub`, without a value filter.
fn set(
    resource: &mut Map<String, Value>,
    path: &AttrPath,
    kind: Change,
    value: Option<&Value>,
    rt: &ResourceType,
) -> Result<()> {
    let resolved = rt
        .resolve(path.uri.as_deref(), &path.attr, path.sub.as_deref())
        .ok_or_else(|| invalid_path(format!("no attribute `{}`", filter::display(path))))?;
    let attr = resolved.attr;
    let target = resolved.sub.unwrap_or(attr);
    if target.mutability == Mutability::ReadOnly || attr.mutability == Mutability::ReadOnly {
        return Err(scim_error(
            StatusCode::BAD_REQUEST,
            "mutability",
            format!("`{}` is read-only", attr.name),
        ));
    }
    let object = container(resource, resolved.extension);
    let name = attr.name.to_owned();
    if kind == Change::Remove {
        match (resolved.sub, value) {
            (Some(sub), _) => match object.get_mut(&name) {
                Some(Value::Object(o)) => {
                    o.remove(sub.name);
                }
                Some(Value::Array(items)) => {
                    for item in items {
                        if let Some(o) = item.as_object_mut() {
                            o.remove(sub.name);
                        }
                    }
                }
                _ => {}
            },
            // Azure AD: `remove` of `members` with the members to remove as the value.
            (None, Some(v)) if attr.multi && !v.is_null() => {
                let gone = typed(attr, v, "")?.unwrap_or(Value::Array(vec![]));
                if let Some(Value::Array(items)) = object.get_mut(&name) {
                    let gone = gone.as_array().cloned().unwrap_or_default();
                    items.retain(|i| !gone.iter().any(|g| same_element(i, g)));
                }
            }
            (None, _) => {
                object.remove(&name);
            }
        }
        tidy(object, &name);
        return Ok(());
    }
    let value = value
        .ok_or_else(|| invalid_value(format!("`{}`: add and replace need a value", attr.name)))?;
    if let Some(sub) = resolved.sub {
        if attr.multi {
            return Err(invalid_path(format!(
                "`{}.{}`: name the elements with a filter, as `{}[type eq \"work\"].{}`",
                attr.name, sub.name, attr.name, sub.name
            )));
        }
        let slot = object
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let typed_sub = typed(sub, value, &format!("{}.{}", attr.name, sub.name))?;
        let o = slot.as_object_mut().expect("made an object above");
        match typed_sub {
            Some(v) => o.insert(sub.name.to_owned(), v),
            None => o.remove(sub.name),
        };
        tidy(object, &name);
        return Ok(());
    }
    let Some(new) = typed(attr, value, "")? else {
        object.remove(&name);
        return Ok(());
    };
    match (attr.multi, attr.kind, object.get_mut(&name)) {
        (true, _, Some(Value::Array(items))) if kind == Change::Add => {
            for item in new.as_array().into_iter().flatten() {
                if !items.iter().any(|i| same_element(i, item)) {
                    items.push(item.clone());
                }
            }
        }
        (false, Kind::Complex, Some(Value::Object(existing))) => {
            existing.extend(new.as_object().cloned().unwrap_or_default());
        }
        _ => {
            object.insert(name.clone(), new);
        }
    }
    Ok(())
}

/// Removes an emptied object or list, and an extension left without attributes.
fn tidy(object: &mut Map<String, Value>, name: &str) {
    let empty = match object.get(name) {
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    };
    if empty {
        object.remove(name);
    }
}

/// An operation on the elements of a multi-valued attribute that a value filter selects.
fn elements(
    resource: &mut Map<String, Value>,
    path: &AttrPath,
    selector: &Filter,
    sub: Option<&str>,
    kind: Change,
    value: Option<&Value>,
    rt: &ResourceType,
) -> Result<()> {
    let resolved = rt
        .resolve(path.uri.as_deref(), &path.attr, None)
        .filter(|r| r.attr.multi && r.attr.kind == Kind::Complex)
        .ok_or_else(|| {
            invalid_path(format!(
                "`{}` is not a multi-valued attribute",
                filter::display(path)
            ))
        })?;
    filter::check(
        &Filter::Elements(path.clone(), Box::new(selector.clone())),
        rt,
        None,
    )
    .map_err(|e| invalid_path(format!("path: {e}")))?;
    let attr = resolved.attr;
    let sub_attr = match sub {
        None => None,
        Some(s) => Some(
            attr.sub
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    invalid_path(format!("`{}` has no sub-attribute `{s}`", attr.name))
                })?,
        ),
    };
    if attr.mutability == Mutability::ReadOnly {
        return Err(scim_error(
            StatusCode::BAD_REQUEST,
            "mutability",
            format!("`{}` is read-only", attr.name),
        ));
    }
    let object = container(resource, resolved.extension);
    let name = attr.name.to_owned();
    let mut items: Vec<Value> = match object.remove(&name) {
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
        None => vec![],
    };
    // Each element is matched as a resource of its own that holds only that element.
    let whole = Filter::Elements(path.clone(), Box::new(selector.clone()));
    let selects = |item: &Value| {
        let mut alone = Value::Object(Map::from_iter([(
            name.clone(),
            Value::Array(vec![item.clone()]),
        )]));
        if let Some(urn) = resolved.extension {
            alone = Value::Object(Map::from_iter([(urn.to_owned(), alone)]));
        }
        filter::matches(&whole, &alone, rt)
    };
    let hits: Vec<usize> = (0..items.len()).filter(|&i| selects(&items[i])).collect();
    match kind {
        Change::Remove => match sub_attr {
            None => {
                for &i in hits.iter().rev() {
                    items.remove(i);
                }
            }
            Some(s) => {
                for &i in &hits {
                    if let Some(o) = items[i].as_object_mut() {
                        o.remove(s.name);
                    }
                }
            }
        },
        Change::Add | Change::Replace => {
            let value = value.ok_or_else(|| {
                invalid_value(format!("`{}`: add and replace need a value", attr.name))
            })?;
            let patch: Map<String, Value> = match sub_attr {
                Some(s) => {
                    let mut m = Map::new();
                    if let Some(v) = typed(s, value, &format!("{}.{}", attr.name, s.name))? {
                        m.insert(s.name.to_owned(), v);
                    }
                    m
                }
                None => match typed(attr, value, "")? {
                    Some(Value::Array(mut v)) if v.len() == 1 => {
                        v.remove(0).as_object().cloned().unwrap_or_default()
                    }
                    Some(_) => {
                        return Err(invalid_value(format!(
                            "`{}`: one object for the selected elements",
                            attr.name
                        )));
                    }
                    None => Map::new(),
                },
            };
            if hits.is_empty() {
                // Azure AD replaces `emails[type eq "work"].value` on a user without a work
                // email, meaning "set it": the element is made from the filter's equality.
                let Filter::Compare(p, Op::Eq, v) = selector else {
                    return Err(scim_error(
                        StatusCode::BAD_REQUEST,
                        "noTarget",
                        "no element matches the path's filter",
                    ));
                };
                let mut element = Map::new();
                if let Some(sub) = attr
                    .sub
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(&p.attr))
                {
                    element.insert(sub.name.to_owned(), v.clone());
                }
                element.extend(patch);
                items.push(Value::Object(element));
            } else {
                for &i in &hits {
                    if let Some(o) = items[i].as_object_mut() {
                        o.extend(patch.clone());
                    }
                }
            }
        }
    }
    if !items.is_empty() {
        object.insert(name, Value::Array(items));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::resource::canonical;
    use crate::scim::schema::{ENTERPRISE, GROUPS, USERS};

    fn run(resource: Value, ops: Value, rt: &ResourceType) -> Result<Value> {
        let mut map = canonical(&resource, rt)?;
        let request = parse(json!({ "schemas": [PATCH_OP], "Operations": ops }))?;
        apply(&mut map, &request, rt)?;
        Ok(Value::Object(map))
    }

    #[test]
    fn identity_provider_patches() {
        let user = json!({ "userName": "ada", "active": true,
            "emails": [{ "value": "a@work.example", "type": "work" }] });
        // Azure AD: "Replace", no path, dotted and URN keys, "False".
        let out = run(
            user.clone(),
            json!([{ "op": "Replace", "value": {
            "active": "False", "name.givenName": "Ada", "displayName": "Ada L",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701",
        } }]),
            &USERS,
        )
        .unwrap();
        assert_eq!(out["active"], json!(false));
        assert_eq!(out["name"]["givenName"], "Ada");
        assert_eq!(out[ENTERPRISE]["employeeNumber"], "701");
        // A value filter with a sub-attribute, matching and not.
        let out = run(user.clone(), json!([
            { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@work.example" },
            { "op": "Add", "path": "emails[type eq \"home\"].value", "value": "a@home.example" },
        ]), &USERS).unwrap();
        assert_eq!(
            out["emails"],
            json!([
                { "value": "new@work.example", "type": "work" },
                { "type": "home", "value": "a@home.example" },
            ])
        );
        let out = run(
            user.clone(),
            json!([{ "op": "remove", "path": "emails[type eq \"work\"]" }]),
            &USERS,
        )
        .unwrap();
        assert!(out.get("emails").is_none());
        // Read-only and unknown attributes are refused by name.
        let err = run(
            user.clone(),
            json!([{ "op": "add", "path": "groups", "value": [{ "value": "g" }] }]),
            &USERS,
        )
        .unwrap_err();
        assert_eq!(err.extra["scimType"], "mutability");
        let err = run(
            user.clone(),
            json!([{ "op": "add", "path": "shoeSize", "value": 9 }]),
            &USERS,
        )
        .unwrap_err();
        assert_eq!(err.extra["scimType"], "invalidPath");
        let err = run(user, json!([{ "op": "remove" }]), &USERS).unwrap_err();
        assert_eq!(err.extra["scimType"], "noTarget");
    }

    #[test]
    fn group_members_by_value_list_and_by_filter() {
        let group = json!({ "displayName": "Staff", "members": [{ "value": "usr_a" }, { "value": "usr_b" }] });
        let out = run(group.clone(), json!([
            { "op": "add", "path": "members", "value": [{ "value": "usr_c" }, { "value": "usr_a" }] },
            { "op": "remove", "path": "members[value eq \"usr_b\"]" },
        ]), &GROUPS).unwrap();
        assert_eq!(
            out["members"],
            json!([{ "value": "usr_a" }, { "value": "usr_c" }])
        );
        let out = run(
            group,
            json!([
                { "op": "Remove", "path": "members", "value": [{ "value": "usr_a" }] },
            ]),
            &GROUPS,
        )
        .unwrap();
        assert_eq!(out["members"], json!([{ "value": "usr_b" }]));
    }
}
