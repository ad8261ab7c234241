//! SCIM 2.0 through the real binary: discovery, Users and Groups with what identity providers
//! really send, filters, projections, sorting, paging, ETags, the SCIM error schema, tokens that
//! are not API keys (and the reverse), deactivation taking effect on the next request, and the
//! host events every provisioning write appends.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Resp, Server};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub fn token(server: &Server, tenant: &str) -> String {
    server
        .cli_ok(&[
            "scim", "token", "create", "--tenant", tenant, "--label", "okta", "--quiet",
        ])
        .trim()
        .to_owned()
}

/// A tenant with a SCIM client and an API client (every core scope, Know's too).
fn tenant(server: &Server, slug: &str) -> (Client, Client) {
    server.create_tenant(slug, "pro");
    server.set_setting(slug, "default_rate_limit_per_minute", "100000");
    let scim = server.client(slug).key(&token(server, slug));
    let (_, key) = server.create_key(
        slug,
        "live",
        &format!("{ALL_CORE},groups:read,groups:write,know:read,know:write"),
        &[],
    );
    (scim, server.client(slug).key(&key))
}

pub async fn send(c: &Client, method: Method, path: &str, body: Value) -> Resp {
    c.send(
        method,
        path,
        Some(("application/scim+json", body.to_string().into_bytes())),
    )
    .await
}

/// Asserts a SCIM error: the status (also as a string in the body), the `scimType` if any.
fn assert_scim_error(r: &Resp, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let body = r.json();
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], status.to_string(), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(r.header("x-request-id").is_some());
}

fn list_of(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    body
}

async fn filter(c: &Client, resource: &str, query: &str) -> Value {
    let q: String = url_encode(query);
    list_of(&c.get(&format!("/scim/v2/{resource}?{q}")).await)
}

fn url_encode(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b',' | b':' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn discovery_and_the_error_schema() {
    let server = Server::start();
    let (scim, _) = tenant(&server, "acme");
    let config = scim.get("/scim/v2/ServiceProviderConfig").await;
    assert_eq!(config.status, 200, "{}", config.text);
    assert_eq!(config.header("content-type"), Some("application/scim+json"));
    let config = config.json();
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["filter"]["maxResults"], 200);
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], false);
    let types = list_of(&scim.get("/scim/v2/ResourceTypes").await);
    assert_eq!(types["totalResults"], 2);
    assert_eq!(
        types["Resources"][0]["schemaExtensions"][0]["schema"],
        ENTERPRISE
    );
    assert_eq!(
        scim.get("/scim/v2/ResourceTypes/Group").await.json()["endpoint"],
        "/Groups"
    );
    let schemas = list_of(&scim.get("/scim/v2/Schemas").await);
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            USER,
            ENTERPRISE,
            "urn:ietf:params:scim:schemas:core:2.0:Group"
        ]
    );
    let user_schema = scim.get(&format!("/scim/v2/Schemas/{USER}")).await.json();
    let user_name = &user_schema["attributes"][0];
    assert_eq!(
        (user_name["name"].as_str(), user_name["uniqueness"].as_str()),
        (Some("userName"), Some("server"))
    );
    // Discovery is read-only; /Me needs a user a token does not have; unknown paths are 404.
    for path in [
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/Schemas",
        "/scim/v2/ResourceTypes",
    ] {
        assert_scim_error(&send(&scim, Method::POST, path, json!({})).await, 405, None);
    }
    assert_scim_error(&scim.get("/scim/v2/Me").await, 501, None);
    assert_scim_error(&scim.get("/scim/v2/Nope").await, 404, None);
    assert_scim_error(&scim.get("/scim/v2/Users/usr_nope").await, 404, None);
    // Bodies: both content types, and malformed JSON.
    let r = scim
        .send(
            Method::POST,
            "/scim/v2/Users",
            Some(("application/json", br#"{"userName":"json"}"#.to_vec())),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_scim_error(
        &scim
            .send(
                Method::POST,
                "/scim/v2/Users",
                Some(("application/scim+json", b"{nope".to_vec())),
            )
            .await,
        400,
        Some("invalidSyntax"),
    );
    assert_scim_error(
        &scim
            .send(
                Method::POST,
                "/scim/v2/Users",
                Some(("text/plain", b"{}".to_vec())),
            )
            .await,
        415,
        None,
    );
    assert_scim_error(
        &send(
            &scim,
            Method::POST,
            "/scim/v2/Users",
            json!({ "name": { "givenName": "x" } }),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &send(
            &scim,
            Method::POST,
            "/scim/v2/Users",
            json!({ "userName": "x", "active": "maybe" }),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    assert_scim_error(
        &send(
            &scim,
            Method::POST,
            "/scim/v2/Users",
            json!({ "userName": "x", "emails": "x@y.z" }),
        )
        .await,
        400,
        Some("invalidValue"),
    );
}

#[tokio::test]
async fn users_with_what_identity_providers_send() {
    let server = Server::start();
    let (scim, api) = tenant(&server, "acme");
    let made = send(
        &scim,
        Method::POST,
        "/scim/v2/Users",
        json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "00u1okta",
            "userName": "Ada.Lovelace@Example.org",
            "name": { "givenName": "Ada", "familyName": "Lovelace" },
            "displayName": "Ada Lovelace",
            "emails": [
                { "value": "ada@home.example", "type": "home" },
                { "value": "ada@example.org", "type": "work", "primary": true }
            ],
            "active": "True",
            ENTERPRISE: { "employeeNumber": "701", "department": "Engines" }
        }),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let ada = made.json();
    let id = ada["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("usr_"));
    assert_eq!(ada["active"], true, "the string \"True\" is read as true");
    assert_eq!(ada["meta"]["version"], "W/\"1\"");
    assert_eq!(made.header("etag"), Some("W/\"1\""));
    assert_eq!(made.header("location"), ada["meta"]["location"].as_str());
    assert!(
        ada["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );
    assert_eq!(ada[ENTERPRISE]["employeeNumber"], "701");
    // The same person through the API: the primary email, the display name.
    let through_api = api.get(&format!("/api/v1/users/{id}")).await.json();
    assert_eq!(through_api["username"], "Ada.Lovelace@Example.org");
    assert_eq!(through_api["email"], "ada@example.org");
    assert_eq!(through_api["active"], true);

    // userName is unique without case.
    assert_scim_error(
        &send(
            &scim,
            Method::POST,
            "/scim/v2/Users",
            json!({ "userName": "ada.lovelace@example.ORG" }),
        )
        .await,
        409,
        Some("uniqueness"),
    );
    for name in ["bob@example.org", "carol@example.org", "dan@example.org"] {
        let r = send(
            &scim,
            Method::POST,
            "/scim/v2/Users",
            json!({ "userName": name, "title": name.split('@').next().unwrap() }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    // Filters: case-insensitive userName, no match is an empty 200, and each operator family.
    let found = filter(
        &scim,
        "Users",
        r#"filter=userName eq "ADA.LOVELACE@example.org""#,
    )
    .await;
    assert_eq!(
        (
            found["totalResults"].as_u64(),
            found["Resources"][0]["id"].as_str()
        ),
        (Some(1), Some(id.as_str()))
    );
    let none = filter(&scim, "Users", r#"filter=userName eq "nobody@example.org""#).await;
    assert_eq!(
        (
            none["totalResults"].as_u64(),
            none["Resources"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    for (query, total) in [
        (r#"filter=externalId eq "00u1okta""#, 1),
        (r#"filter=userName sw "b" or userName sw "c""#, 2),
        (
            r#"filter=emails[type eq "work" and value ew "example.org"]"#,
            1,
        ),
        (r#"filter=not (title pr) and userName co "@""#, 1),
        (
            r#"filter=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "engines""#,
            1,
        ),
        (r#"filter=meta.created gt "2020-01-01T00:00:00Z""#, 4),
        (
            r#"filter=(title eq "bob" or title eq "dan") and active pr"#,
            0,
        ),
        (r#"filter=title ne "bob""#, 3),
    ] {
        assert_eq!(
            filter(&scim, "Users", query).await["totalResults"],
            total,
            "{query}"
        );
    }
    for bad in [
        r#"filter=userName zz "a""#,
        r#"filter=(userName eq "a""#,
        r#"filter=shoeSize eq 9"#,
    ] {
        assert_scim_error(
            &scim
                .get(&format!("/scim/v2/Users?{}", url_encode(bad)))
                .await,
            400,
            Some("invalidFilter"),
        );
    }

    // Sorting, 1-based paging, projections (on a read and on a search).
    let sorted = filter(
        &scim,
        "Users",
        "sortBy=userName&sortOrder=descending&startIndex=2&count=2",
    )
    .await;
    assert_eq!(
        (
            sorted["totalResults"].as_u64(),
            sorted["startIndex"].as_u64(),
            sorted["itemsPerPage"].as_u64()
        ),
        (Some(4), Some(2), Some(2))
    );
    let names: Vec<&str> = sorted["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol@example.org", "bob@example.org"]);
    let only = scim
        .get(&format!(
            "/scim/v2/Users/{id}?attributes=userName,name.givenName"
        ))
        .await
        .json();
    let mut keys: Vec<&str> = only
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["id", "name", "schemas", "userName"]);
    assert_eq!(only["name"], json!({ "givenName": "Ada" }));
    let without = scim
        .get(&format!(
            "/scim/v2/Users/{id}?excludedAttributes=emails,{ENTERPRISE}"
        ))
        .await
        .json();
    assert!(
        without.get("emails").is_none()
            && without.get(ENTERPRISE).is_none()
            && without["userName"].is_string()
    );
    let searched = send(&scim, Method::POST, "/scim/v2/Users/.search", json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"ada\"", "attributes": ["userName"], "startIndex": 1, "count": 10
    }))
    .await;
    let searched = list_of(&searched);
    assert_eq!(searched["totalResults"], 1);
    assert!(searched["Resources"][0].get("emails").is_none());

    // Azure AD's PATCH: "Replace" without a path, dotted and URN keys, "False".
    let user = format!("/scim/v2/Users/{id}");
    let patched = send(&scim, Method::PATCH, &user, json!({
        "schemas": [PATCH_OP],
        "Operations": [
            { "op": "Replace", "value": {
                "name.givenName": "Augusta Ada",
                "active": "False",
                format!("{ENTERPRISE}:employeeNumber"): "702"
            } },
            { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "ada@engines.example" },
            { "op": "Add", "path": "phoneNumbers", "value": [{ "value": "+44 20 7946 0000", "type": "work" }] },
            { "op": "remove", "path": "emails[type eq \"home\"]" }
        ]
    }))
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let patched = patched.json();
    assert_eq!(
        patched["name"],
        json!({ "givenName": "Augusta Ada", "familyName": "Lovelace" })
    );
    assert_eq!(patched["active"], false);
    assert_eq!(
        patched[ENTERPRISE],
        json!({ "employeeNumber": "702", "department": "Engines" })
    );
    assert_eq!(
        patched["emails"],
        json!([{ "value": "ada@engines.example", "type": "work", "primary": true }])
    );
    assert_eq!(patched["phoneNumbers"][0]["type"], "work");
    assert_eq!(patched["meta"]["version"], "W/\"2\"");

    // ETags: a stale If-Match is 412, the current one passes; If-None-Match answers 304.
    let stale = api_put(
        &scim,
        &user,
        "W/\"1\"",
        json!({ "userName": "ada@example.org", "active": false }),
    )
    .await;
    assert_scim_error(&stale, 412, Some("invalidVers"));
    let fresh = scim
        .clone()
        .header("if-none-match", "W/\"2\"")
        .get(&user)
        .await;
    assert_eq!(fresh.status, 304);
    let replaced = api_put(&scim, &user, "W/\"2\"", json!({ "schemas": [USER], "userName": "ada@example.org", "active": false, "displayName": "Ada" })).await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let replaced = replaced.json();
    assert!(
        replaced.get("name").is_none() && replaced.get(ENTERPRISE).is_none(),
        "PUT replaces: {replaced}"
    );
    assert_eq!(replaced["meta"]["version"], "W/\"3\"");

    // PATCH errors: an unknown op, a read-only attribute, an unknown path, remove without one.
    for (op, scim_type) in [
        (
            json!({ "op": "move", "path": "title", "value": "x" }),
            "invalidValue",
        ),
        (
            json!({ "op": "add", "path": "groups", "value": [{ "value": "grp_x" }] }),
            "mutability",
        ),
        (
            json!({ "op": "add", "path": "shoeSize", "value": "9" }),
            "invalidPath",
        ),
        (json!({ "op": "remove" }), "noTarget"),
    ] {
        let r = send(
            &scim,
            Method::PATCH,
            &user,
            json!({ "schemas": [PATCH_OP], "Operations": [op] }),
        )
        .await;
        assert_scim_error(&r, 400, Some(scim_type));
    }
}

async fn api_put(c: &Client, path: &str, if_match: &str, body: Value) -> Resp {
    c.clone()
        .header("if-match", if_match)
        .send(
            Method::PUT,
            path,
            Some(("application/scim+json", body.to_string().into_bytes())),
        )
        .await
}

#[tokio::test]
async fn deactivation_takes_effect_on_the_next_request_and_every_write_is_an_event() {
    let server = Server::start();
    let (scim, api) = tenant(&server, "acme");
    let made = send(
        &scim,
        Method::POST,
        "/scim/v2/Users",
        json!({ "userName": "grace@example.org", "active": true }),
    )
    .await;
    let id = made.json()["id"].as_str().unwrap().to_owned();
    let page =
        |author: &str| json!({ "title": "Runbook", "body": "Step one.", "author_id": author });
    let kept = api.post("/api/v1/know/pages", page(&id)).await;
    assert_eq!(kept.status, 201, "{}", kept.text);
    let kept = format!(
        "/api/v1/know/pages/{}?revision=latest",
        kept.json()["id"].as_str().unwrap()
    );

    let deactivate = json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "replace", "path": "active", "value": false }] });
    assert_eq!(
        send(
            &scim,
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            deactivate
        )
        .await
        .status,
        200
    );
    // At once: no longer someone a plugin acts for, still readable, their page kept.
    api.post("/api/v1/know/pages", page(&id))
        .await
        .assert_error(400, "validation_failed");
    let read = api.get(&format!("/api/v1/users/{id}")).await;
    assert_eq!(
        (read.status.as_u16(), read.json()["active"].as_bool()),
        (200, Some(false))
    );
    assert_eq!(api.get(&kept).await.json()["author_id"], id.as_str());
    assert_eq!(
        filter(&scim, "Users", "filter=active eq false").await["totalResults"],
        1
    );
    // Restored, they act again.
    let restore = json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "Replace", "value": { "active": "True" } }] });
    assert_eq!(
        send(
            &scim,
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            restore
        )
        .await
        .status,
        200
    );
    assert_eq!(api.post("/api/v1/know/pages", page(&id)).await.status, 201);

    // A group with the user, then a DELETE of the user: out of the directory and the group.
    let group = send(
        &scim,
        Method::POST,
        "/scim/v2/Groups",
        json!({ "displayName": "Ops", "members": [{ "value": id }] }),
    )
    .await;
    assert_eq!(group.status, 201, "{}", group.text);
    let gid = group.json()["id"].as_str().unwrap().to_owned();
    let group_version = async || {
        scim.get(&format!("/scim/v2/Groups/{gid}")).await.json()["meta"]["version"].clone()
    };
    let before = group_version().await;
    assert_eq!(
        scim.delete(&format!("/scim/v2/Users/{id}")).await.status,
        204
    );
    assert_ne!(
        before,
        group_version().await,
        "the group lost a member: its version moved"
    );
    assert_scim_error(&scim.get(&format!("/scim/v2/Users/{id}")).await, 404, None);
    assert_eq!(
        api.get(&format!("/api/v1/groups/{gid}")).await.json()["member_count"],
        0
    );

    let events = api.get("/api/v1/events?limit=100").await.json();
    let mut kinds: Vec<(String, Option<bool>)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["type"].as_str().unwrap().starts_with("user.")
                || e["type"].as_str().unwrap().starts_with("group.")
        })
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["user"]["active"].as_bool(),
            )
        })
        .collect();
    kinds.reverse();
    assert_eq!(
        kinds,
        [
            ("user.registered".to_owned(), Some(true)),
            ("user.updated".to_owned(), Some(false)),
            ("user.updated".to_owned(), Some(true)),
            ("group.created".to_owned(), None),
            ("group.member_added".to_owned(), None),
            ("user.left".to_owned(), Some(true)),
        ]
    );
}

#[tokio::test]
async fn scim_groups_are_the_api_groups() {
    let server = Server::start();
    let (scim, api) = tenant(&server, "acme");
    let mut ids = Vec::new();
    for name in ["u1@example.org", "u2@example.org", "u3@example.org"] {
        let r = send(
            &scim,
            Method::POST,
            "/scim/v2/Users",
            json!({ "userName": name }),
        )
        .await;
        ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let made = send(
        &scim,
        Method::POST,
        "/scim/v2/Groups",
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering", "externalId": "okta-eng",
            "members": [{ "value": ids[0] }, { "value": ids[1], "display": "u2" }]
        }),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let gid = made.json()["id"].as_str().unwrap().to_owned();
    let group = format!("/scim/v2/Groups/{gid}");
    // The same group through the API, and the user's `groups`.
    let through_api = api.get(&format!("/api/v1/groups/{gid}")).await.json();
    assert_eq!(
        (
            through_api["display_name"].as_str(),
            through_api["member_count"].as_u64()
        ),
        (Some("Engineering"), Some(2))
    );
    let u1 = scim.get(&format!("/scim/v2/Users/{}", ids[0])).await.json();
    assert_eq!(u1["groups"][0]["value"], gid.as_str());
    assert_eq!(u1["groups"][0]["display"], "Engineering");
    assert_scim_error(
        &send(
            &scim,
            Method::POST,
            "/scim/v2/Groups",
            json!({ "displayName": "ENGINEERING" }),
        )
        .await,
        409,
        Some("uniqueness"),
    );
    assert_scim_error(
        &send(
            &scim,
            Method::POST,
            "/scim/v2/Groups",
            json!({ "displayName": "X", "members": [{ "value": "usr_nobody" }] }),
        )
        .await,
        400,
        Some("invalidValue"),
    );

    // Members added as a value array, removed by filter and by value array (Azure AD).
    let ops = json!({ "schemas": [PATCH_OP], "Operations": [
        { "op": "Add", "path": "members", "value": [{ "value": ids[2] }] },
        { "op": "Remove", "path": format!("members[value eq \"{}\"]", ids[0]) },
    ] });
    let patched = send(&scim, Method::PATCH, &group, ops).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let patched = patched.json();
    let members: Vec<&str> = patched["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, [ids[1].as_str(), ids[2].as_str()]);
    let value_list = json!({ "schemas": [PATCH_OP], "Operations": [
        { "op": "remove", "path": "members", "value": [{ "value": ids[1] }] },
        { "op": "replace", "path": "displayName", "value": "Platform" },
    ] });
    let patched = send(&scim, Method::PATCH, &group, value_list).await.json();
    assert_eq!(patched["members"][0]["value"], ids[2].as_str());
    assert!(
        patched["members"][0]["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{}", ids[2]))
    );
    assert_eq!(patched["members"].as_array().unwrap().len(), 1);
    assert_eq!(patched["displayName"], "Platform");
    assert_eq!(
        api.get(&format!("/api/v1/groups/{gid}")).await.json()["display_name"],
        "Platform"
    );

    // Lists: displayName filters without case, members left out on request.
    let listed = filter(
        &scim,
        "Groups",
        r#"filter=displayName eq "platform"&excludedAttributes=members"#,
    )
    .await;
    assert_eq!(listed["totalResults"], 1);
    assert!(listed["Resources"][0].get("members").is_none());
    assert_eq!(listed["Resources"][0]["externalId"], "okta-eng");
    let by_member = filter(
        &scim,
        "Groups",
        &format!(r#"filter=members[value eq "{}"]"#, ids[2]),
    )
    .await;
    assert_eq!(by_member["totalResults"], 1);
    // The root search finds users and groups.
    let all = list_of(
        &send(
            &scim,
            Method::POST,
            "/scim/v2/.search",
            json!({ "filter": "meta.created pr" }),
        )
        .await,
    );
    assert_eq!(all["totalResults"], 4);

    // The API sees every SCIM change as group events.
    let events = api
        .get("/api/v1/events?type=group.member_added,group.member_removed,group.updated&limit=50")
        .await
        .json();
    assert_eq!(events["total_count"], 6, "{events}");
    assert_eq!(scim.delete(&group).await.status, 204);
    api.get(&format!("/api/v1/groups/{gid}"))
        .await
        .assert_error(404, "group_not_found");
}

#[tokio::test]
async fn tokens_and_api_keys_are_not_interchangeable() {
    let server = Server::start();
    let (scim, api) = tenant(&server, "acme");
    server.create_tenant("globex", "pro");
    let globex_token = token(&server, "globex");
    server.create_tenant("tiny", "starter");
    let tiny = server.client("tiny").key(&token(&server, "tiny"));
    assert_eq!(scim.get("/scim/v2/Users").await.status, 200);

    // An API key on /scim/v2, a SCIM token on /api/v1, another tenant's token, none at all.
    assert_scim_error(&api.get("/scim/v2/Users").await, 401, None);
    let token_on_api = server.client("acme").key(&token(&server, "acme"));
    token_on_api
        .get("/api/v1/users")
        .await
        .assert_error(401, "invalid_api_key");
    let cross = server.client("acme").key(&globex_token);
    assert_scim_error(&cross.get("/scim/v2/Users").await, 401, None);
    assert_eq!(
        server
            .client("globex")
            .key(&globex_token)
            .get("/scim/v2/Users")
            .await
            .status,
        200
    );
    assert_scim_error(
        &server.client("acme").get("/scim/v2/Users").await,
        401,
        None,
    );
    let gated = tiny.get("/scim/v2/Users").await;
    assert_scim_error(&gated, 403, None);
    assert!(
        gated.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("SCIM provisioning is available on Pro and higher plans."),
        "{}",
        gated.text
    );

    // The tenant's rate limit holds for SCIM too, per token, in SCIM's error schema.
    server.set_setting("globex", "default_rate_limit_per_minute", "2");
    let globex = server.client("globex").key(&globex_token);
    // (Two within the minute at most: the third of these is refused whatever came before.)
    globex.get("/scim/v2/Users").await;
    globex.get("/scim/v2/Users").await;
    let limited = globex.get("/scim/v2/Users").await;
    assert_scim_error(&limited, 429, None);
    assert!(limited.header("retry-after").is_some());

    // Revoked: refused from the next request; both actions are audited, never with the secret.
    let listed: Value = serde_json::from_str(
        &server.cli_ok(&["scim", "token", "list", "--tenant", "acme", "--json"]),
    )
    .unwrap();
    for t in listed.as_array().unwrap() {
        server.cli_ok(&[
            "scim",
            "token",
            "revoke",
            "--tenant",
            "acme",
            t["id"].as_str().unwrap(),
        ]);
    }
    assert_scim_error(&scim.get("/scim/v2/Users").await, 401, None);
    let audit = server.cli_ok(&["audit", "list", "--tenant", "acme", "--json"]);
    assert!(
        audit.contains("scim_token.created") && audit.contains("scim_token.revoked"),
        "{audit}"
    );
    let out = server.cli(&[
        "scim",
        "token",
        "revoke",
        "--tenant",
        "acme",
        "scimtok_nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn deactivating_a_person_ends_their_console_session_at_once() {
    use crate::admin::{Console, PASSWORD, invite};
    let server = Server::start();
    let (scim, _) = tenant(&server, "acme");
    let mut console = Console::new(&server, "acme");
    console
        .set_up(&invite(&server, "acme", "ada@acme.example"))
        .await;
    assert_eq!(console.get("/admin/api-keys").await.status, 200);
    let made = send(
        &scim,
        Method::POST,
        "/scim/v2/Users",
        json!({
            "userName": "ada", "emails": [{ "value": "Ada@Acme.example", "primary": true }]
        }),
    )
    .await;
    let user = format!("/scim/v2/Users/{}", made.json()["id"].as_str().unwrap());
    let set_active = |active: &str| json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "Replace", "path": "active", "value": active }] });

    assert_eq!(
        send(&scim, Method::PATCH, &user, set_active("False"))
            .await
            .status,
        200
    );
    // The next page is the login page, and logging in again is refused.
    let page = console.get("/admin/api-keys").await;
    assert_eq!(page.status, 303);
    assert!(
        page.location().starts_with("/admin/login"),
        "{}",
        page.location()
    );
    let mut again = Console::new(&server, "acme");
    let refused = again.log_in("ada@acme.example", PASSWORD).await;
    assert_ne!(refused.status, 303, "{}", refused.body);

    assert_eq!(
        send(&scim, Method::PATCH, &user, set_active("True"))
            .await
            .status,
        200
    );
    let back = again.log_in("ada@acme.example", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(again.get("/admin/api-keys").await.status, 200);
}

/// Every SCIM operation of the tenant's OpenAPI document, called with a SCIM token in an order
/// where each finds what it needs: its status is documented, its body matches the documented
/// schema, and on a documented path every other method is 405.
#[tokio::test]
async fn the_scim_operations_in_the_document_are_answered_as_documented() {
    use crate::openapi::{document, validator, with_components};
    let server = Server::start();
    let (scim, _) = tenant(&server, "acme");
    let doc = document(&server.client("acme"), "/api/openapi.json").await;
    let user = json!({ "userName": "walker@example.org", "name": { "givenName": "W" }, "emails": [{ "value": "walker@example.org", "primary": true }] });
    let patch = json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "replace", "path": "displayName", "value": "Walker" }] });
    let search = json!({ "filter": "meta.created pr", "count": 5 });
    let calls: Vec<(&str, &str, Option<Value>)> = vec![
        ("get", "/scim/v2/ServiceProviderConfig", None),
        ("get", "/scim/v2/ResourceTypes", None),
        ("get", "/scim/v2/ResourceTypes/{id}", None),
        ("get", "/scim/v2/Schemas", None),
        ("get", "/scim/v2/Schemas/{id}", None),
        ("post", "/scim/v2/Users", Some(user.clone())),
        ("get", "/scim/v2/Users", None),
        ("post", "/scim/v2/Users/.search", Some(search.clone())),
        ("get", "/scim/v2/Users/{id}", None),
        ("put", "/scim/v2/Users/{id}", Some(user)),
        ("patch", "/scim/v2/Users/{id}", Some(patch.clone())),
        (
            "post",
            "/scim/v2/Groups",
            Some(json!({ "displayName": "Walkers", "members": [{ "value": "{user}" }] })),
        ),
        ("get", "/scim/v2/Groups", None),
        ("post", "/scim/v2/Groups/.search", Some(search.clone())),
        ("get", "/scim/v2/Groups/{id}", None),
        (
            "put",
            "/scim/v2/Groups/{id}",
            Some(json!({ "displayName": "Walkers" })),
        ),
        ("patch", "/scim/v2/Groups/{id}", Some(patch)),
        ("post", "/scim/v2/.search", Some(search)),
        ("delete", "/scim/v2/Groups/{id}", None),
        ("delete", "/scim/v2/Users/{id}", None),
    ];
    let mut ids: std::collections::BTreeMap<&str, String> = Default::default();
    ids.insert("ResourceTypes", "User".into());
    ids.insert("Schemas", USER.into());
    let mut walked = std::collections::BTreeSet::new();
    for (method, template, body) in calls {
        let op = &doc["paths"][template][method];
        assert_eq!(
            op["security"],
            json!([{ "scim_token": [] }]),
            "{method} {template}"
        );
        let resource = template.split('/').nth(3).unwrap();
        let path = template.replace("{id}", ids.get(resource).map_or("none", String::as_str));
        let body = body.map(|b| {
            b.to_string()
                .replace("{user}", ids.get("Users").map_or("", String::as_str))
        });
        if let Some(b) = &body {
            let schema = &op["requestBody"]["content"]["application/scim+json"]["schema"];
            let b: Value = serde_json::from_str(b).unwrap();
            assert!(
                validator(&with_components(&doc, schema)).is_valid(&b),
                "{method} {template}: request"
            );
        }
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let r = scim
            .send(
                m,
                &path,
                body.map(|b| ("application/scim+json", b.into_bytes())),
            )
            .await;
        assert!(
            r.status.is_success(),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        let documented = &op["responses"][r.status.as_str()];
        assert!(
            documented.is_object(),
            "{method} {template}: {} not documented",
            r.status
        );
        if let Some(schema) = documented.pointer("/content/application~1scim+json/schema") {
            let errors: Vec<String> = validator(&with_components(&doc, schema))
                .iter_errors(&r.json())
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{method} {template}: {errors:?}");
        }
        if method == "post" && !template.contains('.') {
            ids.insert(resource, r.json()["id"].as_str().unwrap().to_owned());
        }
        walked.insert(op["operationId"].as_str().unwrap().to_owned());
    }
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/scim/"))
    {
        for m in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get(m) else {
                let r = scim
                    .send(
                        Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap(),
                        &path.replace("{id}", "x1"),
                        None,
                    )
                    .await;
                assert_scim_error(&r, 405, None);
                continue;
            };
            documented.insert(op["operationId"].as_str().unwrap().to_owned());
            let unauthorized =
                &op["responses"]["401"]["content"]["application/scim+json"]["schema"]["$ref"];
            assert_eq!(unauthorized, "#/components/schemas/ScimError", "{m} {path}");
        }
    }
    assert_eq!(
        walked, documented,
        "the walk calls every documented SCIM operation"
    );
}
