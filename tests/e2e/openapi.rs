//! The OpenAPI document against the real binary: it validates as OpenAPI 3.1, every operation it
//! lists is answered and every method the server answers on its paths is listed, and one real
//! request and response per operation validate against the operation's schemas.

use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Server};
use crate::receiver::Receiver;

const METHODS: &[&str] = &["get", "post", "patch", "put", "delete"];

pub(crate) fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft202012::new(schema)
        .unwrap_or_else(|e| panic!("not a JSON Schema ({e}): {schema}"))
}

/// `schema` with the document's components beside it, so its `$ref`s resolve.
pub(crate) fn with_components(doc: &Value, schema: &Value) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "$defs": { "target": schema },
        "$ref": "#/$defs/target"
    })
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => v,
    }
}

/// The `/api/v1` operations (SCIM's keep their own conventions: `scim::the_scim_operations…`).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/scim/") {
            continue;
        }
        for m in METHODS {
            if let Some(op) = item.get(*m) {
                ops.push((m.to_string(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

pub(crate) async fn document(client: &Client, path: &str) -> Value {
    let r = client.get(path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    if path.ends_with(".yaml") {
        assert_eq!(r.header("content-type"), Some("application/yaml"));
        serde_norway::from_str(&r.text).expect("YAML")
    } else {
        r.json()
    }
}

#[tokio::test]
async fn the_document_validates_as_openapi_3_1_on_tenant_and_platform_hosts() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let anonymous = server.client("acme");
    let doc = document(&anonymous, "/api/openapi.json").await;
    assert_eq!(
        doc,
        document(&anonymous, "/api/openapi.yaml").await,
        "JSON and YAML agree"
    );

    let oas: Value = serde_json::from_str(include_str!("../openapi/oas-3.1-schema.json")).unwrap();
    let oas = validator(&oas);
    let errors: Vec<String> = oas
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not OpenAPI 3.1: {errors:#?}");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], "1.0.0");

    // Every schema compiles as JSON Schema 2020-12 with its references resolved.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let _ = validator(&with_components(&doc, schema));
        assert!(!name.is_empty());
    }
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no id"));
        assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        if op["x-public"] == true {
            // A public read (Learn's certificate verify page): no key, so nothing to refuse one for.
            assert_eq!(
                (method.as_str(), &op["security"]),
                ("get", &json!([])),
                "{id}"
            );
            assert!(op.get("x-required-scope").is_none() && op["responses"].get("401").is_none());
            continue;
        }
        let scope = op["x-required-scope"].as_str().expect("a scope");
        assert_eq!(
            op["security"],
            json!([{"bearer": [scope]}, {"api_key": [scope]}]),
            "{id}"
        );
        for status in ["401", "403", "429", "500"] {
            let response = resolve(&doc, &op["responses"][status]);
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorEnvelope",
                "{id} {status}"
            );
        }
        if path.contains('{') {
            assert!(op["responses"].get("404").is_some(), "{id}: 404");
        }
        let is_list = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "cursor"));
        if is_list {
            let ok = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(s, _)| s.starts_with('2'))
                .unwrap()
                .1;
            let schema = resolve(&doc, &ok["content"]["application/json"]["schema"]);
            assert_eq!(
                schema["required"],
                json!(["data", "has_more", "next_cursor", "total_count"]),
                "{id}"
            );
            for p in ["limit", "since", "until"] {
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x["name"] == p),
                    "{id}: {p}"
                );
            }
        }
    }
    // The tenant's plugins are in it; the key sees what the document says.
    assert!(ids.contains("createListing") && ids.contains("createReport"));
    // Contract 1.1 says more of a plugin's operation than 2XX: its status, its errors by code,
    // its filters, and its schemas by name.
    let create = &doc["paths"]["/api/v1/listings"]["post"];
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Listing"
    );
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewListing"
    );
    assert!(create["responses"].get("2XX").is_none() && create["responses"].get("4XX").is_none());
    let sell = &doc["paths"]["/api/v1/listings/{id}/sell"]["post"];
    assert_eq!(
        sell["responses"]["404"]["x-error-codes"],
        json!(["listing_not_found"])
    );
    assert_eq!(
        sell["responses"]["409"]["x-error-codes"],
        json!(["invalid_listing_state"])
    );
    let list = &doc["paths"]["/api/v1/listings"]["get"];
    let names: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "limit",
            "cursor",
            "since",
            "until",
            "status",
            "seller_id",
            "seller"
        ]
    );
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ListingPage"
    );
    assert!(doc["webhooks"]["listing.created"].is_object());
    assert!(doc["webhooks"]["post.created"].is_object());

    // A tenant that turns the Market off no longer sees it; the platform document has it.
    server.cli_ok(&["plugin", "disable", "--tenant", "acme", "market"]);
    let doc = document(&anonymous, "/api/openapi.json").await;
    assert!(doc["paths"].get("/api/v1/listings").is_none());
    assert!(doc["paths"].get("/api/v1/reports").is_some());
    acme.get("/api/v1/listings")
        .await
        .assert_error(404, "not_found");
    let mut platform = server.client("acme");
    platform.host = platform.host.replacen("acme.", "", 1);
    let doc = document(&platform, "/api/openapi.json").await;
    assert!(doc["paths"].get("/api/v1/listings").is_some());
    assert!(oas.is_valid(&doc));
    server
        .client("nobody")
        .get("/api/openapi.json")
        .await
        .assert_error(404, "tenant_not_found");
}

/// The calls of the walk, in an order where each finds what it needs; `{…}` are filled with the
/// ids earlier answers gave.
fn walk(receiver: &str) -> Vec<(&'static str, &'static str, Option<Value>)> {
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    vec![
        (
            "post",
            "/api/v1/users",
            Some(json!({"username": "walker", "email": "w@example.com", "display_name": "W"})),
        ),
        ("post", "/api/v1/users", Some(json!({"username": "buyer"}))),
        ("get", "/api/v1/users", None),
        ("get", "/api/v1/users/{id}", None),
        (
            "post",
            "/api/v1/posts",
            Some(json!({"author_id": "{user}", "title": "Hi", "body": "Hello"})),
        ),
        ("get", "/api/v1/posts", None),
        ("get", "/api/v1/posts/{id}", None),
        ("patch", "/api/v1/posts/{id}", Some(json!({"title": null}))),
        ("get", "/api/v1/events", None),
        ("get", "/api/v1/ai/usage", None),
        (
            "post",
            "/api/v1/groups",
            Some(json!({"display_name": "Walkers"})),
        ),
        ("get", "/api/v1/groups", None),
        ("get", "/api/v1/groups/{id}", None),
        (
            "patch",
            "/api/v1/groups/{id}",
            Some(json!({"description": "We walk."})),
        ),
        (
            "post",
            "/api/v1/groups/{id}/members",
            Some(json!({"user_id": "{user}"})),
        ),
        ("get", "/api/v1/groups/{id}/members", None),
        ("delete", "/api/v1/groups/{id}/members/{user_id}", None),
        ("delete", "/api/v1/groups/{id}", None),
        (
            "post",
            "/api/v1/groups",
            Some(json!({"display_name": "Learners"})),
        ),
        (
            "post",
            "/api/v1/groups/{id}/members",
            Some(json!({"user_id": "{user}"})),
        ),
        ("post", "/api/v1/files", None),
        ("get", "/api/v1/files", None),
        ("get", "/api/v1/files/{id}", None),
        ("get", "/api/v1/files/{id}/content", None),
        (
            "post",
            "/api/v1/webhooks",
            Some(json!({"url": receiver, "events": ["*"], "description": "walk"})),
        ),
        ("get", "/api/v1/webhooks", None),
        ("get", "/api/v1/webhooks/{id}", None),
        (
            "patch",
            "/api/v1/webhooks/{id}",
            Some(json!({"description": null})),
        ),
        ("post", "/api/v1/webhooks/{id}/test", None),
        ("get", "/api/v1/webhooks/{id}/deliveries", None),
        (
            "get",
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}",
            None,
        ),
        (
            "post",
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            None,
        ),
        ("post", "/api/v1/webhooks/{id}/enable", None),
        (
            "post",
            "/api/v1/webhooks/{id}/rotate-secret",
            Some(json!({"grace_period_hours": 2})),
        ),
        (
            "post",
            "/api/v1/webhooks/{id}/replay",
            Some(json!({"since": hour_ago, "until": soon})),
        ),
        (
            "post",
            "/api/v1/listings",
            Some(json!({"title": "Bike", "price": 5000, "currency": "EUR", "seller_id": "{user}"})),
        ),
        ("get", "/api/v1/listings", None),
        ("get", "/api/v1/listings/{id}", None),
        (
            "patch",
            "/api/v1/listings/{id}",
            Some(json!({"price": 4500})),
        ),
        (
            "post",
            "/api/v1/listings/{id}/sell",
            Some(json!({"buyer_id": "{buyer}"})),
        ),
        (
            "post",
            "/api/v1/listings",
            Some(json!({"title": "Lamp", "price": 900, "currency": "EUR", "seller_id": "{user}"})),
        ),
        ("post", "/api/v1/listings/{id}/withdraw", None),
        (
            "post",
            "/api/v1/reports",
            Some(json!({"target": {"type": "post", "id": "{post}"}, "reason": "spam"})),
        ),
        ("get", "/api/v1/reports", None),
        ("get", "/api/v1/reports/{id}", None),
        ("post", "/api/v1/reports/{id}/dismiss", None),
        (
            "post",
            "/api/v1/reports",
            Some(json!({"target": {"type": "post", "id": "{post}"}, "reason": "rude"})),
        ),
        (
            "post",
            "/api/v1/reports/{id}/resolve",
            Some(json!({"action": "warn_user"})),
        ),
        ("get", "/api/v1/moderation/actions", None),
        (
            "post",
            "/api/v1/know/pages",
            Some(
                json!({"title": "Walking", "body": "# Where\n\nEverywhere.", "tags": ["outdoors"], "author_id": "{user}"}),
            ),
        ),
        (
            "post",
            "/api/v1/know/pages/{id}/revisions/{revision_id}/approve",
            Some(json!({"reviewer_id": "{user}"})),
        ),
        ("get", "/api/v1/know/pages", None),
        ("get", "/api/v1/know/pages/{id}", None),
        ("get", "/api/v1/know/search", None),
        (
            "patch",
            "/api/v1/know/pages/{id}",
            Some(json!({"body": "# Where\n\nAnywhere.", "summary": "wider"})),
        ),
        ("get", "/api/v1/know/pages/{id}/revisions", None),
        (
            "get",
            "/api/v1/know/pages/{id}/revisions/{revision_id}",
            None,
        ),
        (
            "post",
            "/api/v1/know/pages/{id}/revisions/{revision_id}/reject",
            Some(json!({"reason": "Not everywhere."})),
        ),
        ("delete", "/api/v1/know/pages/{id}", None),
        (
            "post",
            "/api/v1/helpdesk/queues",
            Some(json!({"name": "Walk-ins", "mode": "round_robin", "resolution_minutes": 600})),
        ),
        ("get", "/api/v1/helpdesk/queues", None),
        (
            "patch",
            "/api/v1/helpdesk/queues/{id}",
            Some(json!({"first_response_minutes": 30, "agent_cap": null})),
        ),
        (
            "put",
            "/api/v1/helpdesk/agents/{user_id}",
            Some(json!({"queue_ids": ["{queue}"], "capacity": 3})),
        ),
        ("get", "/api/v1/helpdesk/agents", None),
        (
            "post",
            "/api/v1/helpdesk/topics",
            Some(json!({"name": "Getting lost", "queue_id": "{queue}"})),
        ),
        ("get", "/api/v1/helpdesk/topics", None),
        (
            "post",
            "/api/v1/helpdesk/tickets",
            Some(
                json!({"subject": "Lost", "body": "Where am I?", "requester_id": "{buyer}", "topic_id": "{topic}", "tags": ["lost"]}),
            ),
        ),
        ("get", "/api/v1/helpdesk/tickets", None),
        ("get", "/api/v1/helpdesk/tickets/{id}", None),
        (
            "post",
            "/api/v1/helpdesk/tickets/{id}/replies",
            Some(json!({"author_id": "{user}", "body": "Right here.", "visibility": "public"})),
        ),
        ("get", "/api/v1/helpdesk/tickets/{id}/messages", None),
        (
            "post",
            "/api/v1/helpdesk/tickets/{id}/status",
            Some(json!({"status": "pending", "actor_id": "{user}"})),
        ),
        (
            "post",
            "/api/v1/helpdesk/tickets/{id}/assign",
            Some(json!({"assignee_id": "{user}"})),
        ),
        (
            "put",
            "/api/v1/helpdesk/tickets/{id}/tags",
            Some(json!({"tags": ["lost", "found"]})),
        ),
        ("get", "/api/v1/helpdesk/tickets/{id}/audit", None),
        ("get", "/api/v1/helpdesk/tags", None),
        (
            "post",
            "/api/v1/helpdesk/canned-responses",
            Some(
                json!({"title": "Found", "body": "Hello {{ ticket.requester.name }}, here you are."}),
            ),
        ),
        ("get", "/api/v1/helpdesk/canned-responses", None),
        (
            "patch",
            "/api/v1/helpdesk/canned-responses/{id}",
            Some(json!({"active": false})),
        ),
        ("get", "/api/v1/helpdesk/notification-preferences", None),
        (
            "put",
            "/api/v1/helpdesk/notification-preferences",
            Some(
                json!({"preferences": [{"event": "ticket.replied", "channel": "mail", "enabled": false}]}),
            ),
        ),
        ("get", "/api/v1/helpdesk/audit", None),
        (
            "post",
            "/api/v1/helpdesk/ai/reply-suggest",
            Some(json!({"ticket_id": "{ticket}"})),
        ),
        (
            "post",
            "/api/v1/helpdesk/ai/summary",
            Some(json!({"ticket_id": "{ticket}"})),
        ),
        (
            "post",
            "/api/v1/helpdesk/ai/categorize",
            Some(json!({"ticket_id": "{ticket}", "apply": true})),
        ),
        (
            "post",
            "/api/v1/helpdesk/ai/sentiment",
            Some(json!({"ticket_id": "{ticket}"})),
        ),
        (
            "post",
            "/api/v1/helpdesk/ai/resolution-predict",
            Some(json!({"ticket_id": "{ticket}"})),
        ),
        (
            "post",
            "/api/v1/helpdesk/ai/audit-qa",
            Some(json!({"ticket_id": "{ticket}"})),
        ),
        (
            "post",
            "/api/v1/helpdesk/ai/canned-generate",
            Some(json!({"ticket_id": "{ticket}"})),
        ),
        ("get", "/api/v1/helpdesk/ai/knowledge-gaps", None),
        // Learn: a course from outline to certificate, a cohort, a SCORM package, a live session.
        (
            "post",
            "/api/v1/learn/live-sessions",
            Some(
                json!({"cohort_id": "{group}", "title": "Kick-off", "join_url": "https://zoom.us/j/1", "starts_at": "{starts}"}),
            ),
        ),
        ("get", "/api/v1/learn/live-sessions", None),
        ("get", "/api/v1/learn/live-sessions/{id}", None),
        (
            "post",
            "/api/v1/learn/certificate-templates",
            Some(json!({"name": "Completion", "title": "Certificate of completion"})),
        ),
        ("get", "/api/v1/learn/certificate-templates", None),
        (
            "post",
            "/api/v1/learn/courses",
            Some(json!({"title": "Walking 101", "min_score": 50})),
        ),
        ("get", "/api/v1/learn/courses", None),
        ("get", "/api/v1/learn/courses/{id}", None),
        (
            "patch",
            "/api/v1/learn/courses/{id}",
            Some(json!({"description": "On foot.", "min_score": null})),
        ),
        (
            "post",
            "/api/v1/learn/courses/{id}/modules",
            Some(json!({"title": "Week 1"})),
        ),
        (
            "post",
            "/api/v1/learn/modules/{id}/lessons",
            Some(json!({"title": "Shoes", "body": "# Laces"})),
        ),
        (
            "post",
            "/api/v1/learn/lessons/{id}/activities",
            Some(json!({"kind": "assignment", "title": "Walk a mile"})),
        ),
        ("post", "/api/v1/learn/courses/{id}/publish", None),
        (
            "post",
            "/api/v1/learn/enrollments",
            Some(json!({"course_id": "{course}", "user_id": "{user}"})),
        ),
        ("get", "/api/v1/learn/enrollments", None),
        ("get", "/api/v1/learn/enrollments/{id}", None),
        ("post", "/api/v1/learn/enrollments/{id}/suspend", None),
        ("post", "/api/v1/learn/enrollments/{id}/resume", None),
        (
            "post",
            "/api/v1/learn/activities/{id}/attempts",
            Some(json!({"enrollment_id": "{enrollment}"})),
        ),
        ("get", "/api/v1/learn/attempts", None),
        ("get", "/api/v1/learn/attempts/{id}", None),
        (
            "patch",
            "/api/v1/learn/attempts/{id}",
            Some(json!({"response": "Half a mile so far."})),
        ),
        (
            "post",
            "/api/v1/learn/attempts/{id}/submit",
            Some(json!({"response": "A mile.", "score": 90})),
        ),
        (
            "post",
            "/api/v1/learn/certificates",
            Some(json!({"enrollment_id": "{enrollment}", "template_id": "{template}"})),
        ),
        ("get", "/api/v1/learn/certificates", None),
        ("get", "/api/v1/learn/certificates/{id}", None),
        ("post", "/api/v1/learn/certificates/{id}/regenerate", None),
        ("get", "/api/v1/learn/certificates/{id}/verify", None),
        ("get", "/api/v1/learn/issuer", None),
        (
            "post",
            "/api/v1/learn/certificates/{id}/revoke",
            Some(json!({"reason": "A test."})),
        ),
        (
            "post",
            "/api/v1/learn/enrollments",
            Some(json!({"course_id": "{course}", "user_id": "{buyer}"})),
        ),
        ("post", "/api/v1/learn/enrollments/{id}/cancel", None),
        (
            "post",
            "/api/v1/learn/cohorts/grant",
            Some(json!({"cohort_id": "{group}", "course_id": "{course}"})),
        ),
        (
            "post",
            "/api/v1/learn/scorm-packages",
            Some(json!({"file_id": "{zip}"})),
        ),
        ("get", "/api/v1/learn/scorm-packages", None),
        ("get", "/api/v1/learn/scorm-packages/{id}", None),
        ("post", "/api/v1/learn/courses/{id}/unpublish", None),
        ("post", "/api/v1/learn/courses/{id}/archive", None),
        (
            "post",
            "/api/v1/learn/live-sessions/{id}/recording",
            Some(json!({"recording_url": "https://zoom.us/rec/1"})),
        ),
        ("post", "/api/v1/learn/live-sessions/{id}/cancel", None),
        // The xAPI LRS: its calls are written out in `xapi_call`.
        ("post", "/api/v1/learn/xapi/statements", None),
        ("put", "/api/v1/learn/xapi/statements", None),
        ("get", "/api/v1/learn/xapi/statements", None),
        ("put", "/api/v1/learn/xapi/activities/state", None),
        ("post", "/api/v1/learn/xapi/activities/state", None),
        ("get", "/api/v1/learn/xapi/activities/state", None),
        ("delete", "/api/v1/learn/xapi/activities/state", None),
        ("post", "/api/v1/learn/xapi/activities/profile", None),
        ("put", "/api/v1/learn/xapi/activities/profile", None),
        ("get", "/api/v1/learn/xapi/activities/profile", None),
        ("delete", "/api/v1/learn/xapi/activities/profile", None),
        ("post", "/api/v1/learn/xapi/agents/profile", None),
        ("put", "/api/v1/learn/xapi/agents/profile", None),
        ("get", "/api/v1/learn/xapi/agents/profile", None),
        ("delete", "/api/v1/learn/xapi/agents/profile", None),
        ("get", "/api/v1/learn/xapi/activities", None),
        ("post", "/api/v1/learn/xapi/activities", None),
        ("get", "/api/v1/learn/xapi/agents", None),
        ("post", "/api/v1/learn/xapi/agents", None),
        ("get", "/api/v1/learn/xapi/about", None),
        // The Cobuntu-compatible surface: its calls are written out in `community_call`.
        ("post", "/api/v1/communities/{tag}/members", None),
        ("get", "/api/v1/communities/{tag}/members", None),
        ("post", "/api/v1/communities/{tag}/events", None),
        ("get", "/api/v1/communities/{tag}/events", None),
        ("get", "/api/v1/communities/{tag}/events/{slug}", None),
        (
            "post",
            "/api/v1/communities/{tag}/events/{slug}/tiers",
            None,
        ),
        ("get", "/api/v1/communities/{tag}/events/{slug}/tiers", None),
        (
            "get",
            "/api/v1/communities/{tag}/tiers/{tier_id}/form",
            None,
        ),
        ("post", "/api/v1/communities/{tag}/events/{slug}/rsvp", None),
        ("post", "/api/v1/communities/{tag}/articles", None),
        ("get", "/api/v1/communities/{tag}/articles", None),
        ("post", "/api/v1/communities/{tag}/products", None),
        ("get", "/api/v1/communities/{tag}/products", None),
        ("get", "/api/v1/communities/{tag}/products/{sku}", None),
        ("post", "/api/v1/communities/{tag}/atlas/categories", None),
        ("get", "/api/v1/communities/{tag}/atlas/categories", None),
        ("post", "/api/v1/communities/{tag}/atlas/hotspots", None),
        ("get", "/api/v1/communities/{tag}/atlas/hotspots", None),
        ("get", "/api/v1/communities/{tag}/atlas/hotspots/{id}", None),
        ("post", "/api/v1/communities/{tag}/segments", None),
        ("get", "/api/v1/communities/{tag}/segments/public", None),
        ("get", "/api/v1/communities/{tag}/segments/{id}/form", None),
        (
            "post",
            "/api/v1/communities/{tag}/segments/{id}/submit",
            None,
        ),
        ("patch", "/api/v1/communities/{tag}/segments/{id}", None),
        ("post", "/api/v1/communities/{tag}/rules/accept", None),
        ("post", "/api/v1/communities/{tag}/broadcasts", None),
        ("get", "/api/v1/communities/{tag}/broadcasts", None),
        ("get", "/api/v1/communities/{tag}/segments", None),
        ("post", "/api/v1/communities/{tag}/applications", None),
        (
            "post",
            "/api/v1/communities/{tag}/applications/{id}/approve",
            None,
        ),
        ("post", "/api/v1/communities/{tag}/applications", None),
        (
            "post",
            "/api/v1/communities/{tag}/applications/{id}/reject",
            None,
        ),
        ("get", "/api/v1/communities/{tag}/applications", None),
        (
            "post",
            "/api/v1/communities/{tag}/members/{user_id}/kick",
            None,
        ),
        (
            "post",
            "/api/v1/communities/{tag}/members/{user_id}/ban",
            None,
        ),
        ("delete", "/api/v1/webhooks/{id}", None),
        ("delete", "/api/v1/users/{id}", None),
    ]
}

/// A community call of the walk by its operation: its body (the ids it needs filled from
/// `ids`). The member is the walk's first user (who has an address, for the broadcast).
fn community_call(id: &str) -> Option<Value> {
    let member = json!({"user_id": "{user}"});
    Some(match id {
        "communityAddMember" | "communityAcceptRules" => member,
        "communityCreateEvent" => {
            json!({"slug": "walk", "title": "A walk", "starts_at": "2030-01-01T10:00:00Z"})
        }
        "communityCreateTier" => {
            json!({"name": "Free", "form": [{"name": "diet", "label": "Diet", "kind": "text"}]})
        }
        "communityRsvp" => json!({"user_id": "{user}", "answers": {"diet": "any"}}),
        "communityCreateArticle" => json!({"slug": "hello", "title": "Hello", "body": "Welcome."}),
        "communityCreateProduct" => json!({"sku": "TSHIRT-1", "name": "T-shirt", "price": 2000}),
        "communityCreateCategory" => json!({"name": "Cafés"}),
        "communityCreateHotspot" => {
            json!({"name": "The corner café", "latitude": 48.85, "longitude": 2.35, "category_id": "{category}"})
        }
        "communityCreateSegment" => {
            json!({"name": "Supporters", "public": true, "form": [{"name": "why", "label": "Why", "kind": "text", "required": true}]})
        }
        "communitySubmitSegmentForm" => {
            json!({"user_id": "{user}", "answers": {"why": "Because."}})
        }
        "communityUpdateSegment" => json!({"price": 500}),
        "communitySendBroadcast" => {
            json!({"segment_id": "{segment}", "subject": "News", "text": "Hello, supporters."})
        }
        "communityCreateApplication" => member,
        "communityRejectApplication" => json!({"reason": "Not now."}),
        "communityKickMember" | "communityBanMember" => json!({"reason": "A test."}),
        _ => return None,
    })
}

/// The query, the body (content type and bytes) and the extra headers of one xAPI call.
type XapiCall = (
    String,
    Option<(&'static str, Vec<u8>)>,
    Vec<(&'static str, &'static str)>,
);

/// An xAPI call of the walk by its operation: the query, the body (content type and bytes) and
/// the headers xAPI asks of it (the version header is the client's). The LRS's bodies are
/// xAPI's own, not JSON Schemas of ours: the conformance suite checks them
/// (scripts/xapi-conformance.sh).
fn xapi_call(id: &str) -> XapiCall {
    const ACTIVITY: &str = "activityId=http%3A%2F%2Fexample.com%2Fwalk";
    const AGENT: &str = "agent=%7B%22mbox%22%3A%22mailto%3Awalker%40example.com%22%7D";
    const STATEMENT_ID: &str = "3e1a1c22-43b5-4f5e-9a1b-1b2f6a7b8c9d";
    let statement = |id: Option<&str>| {
        let mut s = json!({
            "actor": { "mbox": "mailto:walker@example.com" },
            "verb": { "id": "http://adlnet.gov/expapi/verbs/experienced" },
            "object": { "id": "http://example.com/walk" }
        });
        if let Some(id) = id {
            s["id"] = json!(id);
        }
        Some(("application/json", s.to_string().into_bytes()))
    };
    let doc = || Some(("application/json", br#"{"step":1}"#.to_vec()));
    match id {
        "xapiPostStatements" => (String::new(), statement(None), vec![]),
        "xapiPutStatements" => (
            format!("statementId={STATEMENT_ID}"),
            statement(Some(STATEMENT_ID)),
            vec![],
        ),
        "xapiGetStatements" => (format!("statementId={STATEMENT_ID}"), None, vec![]),
        "xapiPutActivitiesState" => (format!("{ACTIVITY}&{AGENT}&stateId=s"), doc(), vec![]),
        "xapiPostActivitiesState" => (format!("{ACTIVITY}&{AGENT}&stateId=s"), doc(), vec![]),
        "xapiGetActivitiesState" | "xapiDeleteActivitiesState" => {
            (format!("{ACTIVITY}&{AGENT}&stateId=s"), None, vec![])
        }
        "xapiPostActivitiesProfile" => (format!("{ACTIVITY}&profileId=p"), doc(), vec![]),
        "xapiPutActivitiesProfile" => (
            format!("{ACTIVITY}&profileId=p"),
            doc(),
            vec![("if-match", "*")],
        ),
        "xapiGetActivitiesProfile" | "xapiDeleteActivitiesProfile" => {
            (format!("{ACTIVITY}&profileId=p"), None, vec![])
        }
        "xapiPostAgentsProfile" => (format!("{AGENT}&profileId=p"), doc(), vec![]),
        "xapiPutAgentsProfile" => (
            format!("{AGENT}&profileId=p"),
            doc(),
            vec![("if-match", "*")],
        ),
        "xapiGetAgentsProfile" | "xapiDeleteAgentsProfile" => {
            (format!("{AGENT}&profileId=p"), None, vec![])
        }
        "xapiGetActivities" => (ACTIVITY.into(), None, vec![]),
        "xapiGetAgents" => (AGENT.into(), None, vec![]),
        // The alternate request syntax: a GET as a form POST.
        "xapiPostActivities" => (
            "method=GET".into(),
            Some((
                "application/x-www-form-urlencoded",
                ACTIVITY.as_bytes().to_vec(),
            )),
            vec![],
        ),
        "xapiPostAgents" => (
            "method=GET".into(),
            Some((
                "application/x-www-form-urlencoded",
                AGENT.as_bytes().to_vec(),
            )),
            vec![],
        ),
        _ => (String::new(), None, vec![]),
    }
}

/// A clean SCORM 2004 zip, uploaded: its file id.
async fn scorm_zip(acme: &crate::harness::Client) -> String {
    let zip = crate::learn::zip_of(&[
        ("imsmanifest.xml", crate::learn::SCORM_2004.as_bytes()),
        ("index.html", b"<html/>"),
    ]);
    let r = acme
        .send(
            Method::POST,
            "/api/v1/files?filename=course.zip",
            Some(("application/zip", zip)),
        )
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    crate::harness::eventually(Duration::from_secs(10), async || {
        let file = acme.get(&format!("/api/v1/files/{id}")).await.json();
        (file["status"] == "clean").then_some(())
    })
    .await;
    id
}

/// What the provider answers for one of Help's assists: JSON of the assist's schema.
fn assist_answer(operation: &str, ids: &BTreeMap<String, String>) -> Option<Value> {
    let ticket = ids.get("ticket").cloned().unwrap_or_default();
    Some(match operation {
        "aiReplySuggest" => json!({"reply": "Right here.", "citations": []}),
        "aiSummary" => {
            json!({"summary": "Lost.", "key_points": ["lost"], "next_step": "Find them."})
        }
        "aiCategorize" => json!({"tags": ["found"], "topic_id": null, "confidence": 0.5}),
        "aiSentiment" => json!({"label": "neutral", "score": 0, "confidence": 0.5}),
        "aiResolutionPredict" => {
            json!({"likely_outcome": "solved", "confidence": 0.5, "estimated_hours_to_resolution": 1, "reasons": []})
        }
        "aiAuditQa" => {
            json!({"score": 80, "verdict": "meets_standard", "findings": [], "citations": []})
        }
        "aiCannedGenerate" => json!({"title": "Found", "body": "Here you are.", "citations": []}),
        "aiKnowledgeGaps" => {
            json!({"clusters": [{"question": "Where am I?", "search_terms": "lost", "ticket_ids": [ticket]}]})
        }
        _ => return None,
    })
}

/// Fills `{user}`, `{buyer}`, `{post}` in a body from what the walk created.
fn fill(body: &Value, ids: &BTreeMap<String, String>) -> Value {
    let mut text = body.to_string();
    for (name, id) in ids {
        text = text.replace(&format!("{{{name}}}"), id);
    }
    serde_json::from_str(&text).unwrap()
}

/// Whether a path template (`/a/{id}/b`) matches a concrete path.
fn template_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

fn json_schema<'a>(doc: &'a Value, holder: &'a Value) -> Option<&'a Value> {
    resolve(doc, holder).pointer("/content/application~1json/schema")
}

#[tokio::test]
async fn every_operation_is_answered_and_its_request_and_response_match_the_document() {
    let server = Server::start_with(&[
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
        "--ai-allow-http",
        "--ai-allow-cidr",
        "127.0.0.1/32",
    ]);
    server.create_tenant("acme", "pro");
    let scopes = format!(
        "{ALL_CORE},ai:read,groups:read,groups:write,files:read,files:write,listings:read,listings:write,reports:read,reports:write,reports:manage,know:read,know:write,helpdesk:read,helpdesk:write,helpdesk:admin,learn:read,learn:write,learn:cohorts:grant,learn:xapi:read,learn:xapi:write,ADMIN"
    );
    // The walk and the method sweep make more calls than the default 600 a minute.
    let (_, key) = server.create_key("acme", "live", &scopes, &["--rate-limit", "5000"]);
    let acme = server.client("acme").key(&key);
    let doc = document(&server.client("acme"), "/api/openapi.json").await;
    let receiver = Receiver::http().await;
    // Help's assists answer from a provider on loopback, each its own schema's JSON.
    let provider = Receiver::http().await;
    crate::ai::set_provider(&server, "acme", "openai", &provider.url("/v1"));
    for name in [
        "reply_suggest",
        "summary",
        "categorize",
        "sentiment",
        "resolution_predict",
        "audit_qa",
        "canned_generate",
        "knowledge_gaps",
    ] {
        let flag = format!("ai.{name}");
        server.cli_ok(&[
            "plugin", "flag", "--tenant", "acme", "helpdesk", &flag, "on",
        ]);
    }

    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut last: BTreeMap<&str, String> = BTreeMap::new(); // resource → latest id
    let mut walked = BTreeSet::new();
    for (method, template, body) in walk(&receiver.url("/hook")) {
        let op = &doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not in the document");
        let id = op["operationId"].as_str().unwrap().to_owned();
        // Help's resources sit one level down (`/api/v1/helpdesk/tickets/{id}`).
        let depth = if template.starts_with("/api/v1/helpdesk/")
            || template.starts_with("/api/v1/learn/")
        {
            4
        } else {
            3
        };
        let resource = template.split('/').nth(depth).unwrap();
        if let Some(answer) = assist_answer(&id, &ids) {
            let text = answer.to_string();
            provider.answer(move |_| crate::ai::openai_text(&text));
        }
        let mut path = template.replace("{id}", last.get(resource).map_or("none", |s| s));
        if let Some(d) = ids.get("delivery") {
            path = path.replace("{delivery_id}", d);
        }
        if let Some(u) = ids.get("user") {
            path = path.replace("{user_id}", u);
        }
        if let Some(r) = ids.get("revision") {
            path = path.replace("{revision_id}", r);
        }
        if template.starts_with("/api/v1/communities/") {
            path = template
                .replace("{tag}", "acme")
                .replace("{slug}", "walk")
                .replace("{sku}", "TSHIRT-1")
                .replace("{tier_id}", ids.get("tier").map_or("none", |s| s))
                .replace("{user_id}", ids.get("user").map_or("none", |s| s));
            let which = if template.contains("/applications/") {
                "application"
            } else if template.contains("/segments/") {
                "segment"
            } else {
                "hotspot"
            };
            path = path.replace("{id}", ids.get(which).map_or("none", |s| s));
        }
        if id == "searchPages" {
            path.push_str("?q=walking+where");
        }
        if id == "createLiveSession" {
            let starts = chrono::Utc::now() + chrono::Duration::seconds(2);
            ids.insert("starts".into(), starts.to_rfc3339());
        }
        if id == "createScormPackage" {
            ids.insert("zip".into(), scorm_zip(&acme).await);
        }
        if id == "attachLiveSessionRecording" {
            // The session the walk scheduled has started by now (it starts two seconds in).
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let body = body.or_else(|| community_call(&id));
        let r = if template.starts_with("/api/v1/learn/xapi/") {
            let (query, body, headers) = xapi_call(&id);
            let mut client = acme.clone().header("x-experience-api-version", "1.0.3");
            for (name, value) in headers {
                client = client.header(name, value);
            }
            client
                .send(method.clone(), &format!("{path}?{query}"), body)
                .await
        } else if id == "uploadFile" {
            acme.send(
                method.clone(),
                "/api/v1/files?filename=a.txt",
                Some(("text/plain", b"hello".to_vec())),
            )
            .await
        } else if let Some(body) = body {
            let body = fill(&body, &ids);
            let schema = json_schema(&doc, &op["requestBody"])
                .unwrap_or_else(|| panic!("{id}: no request schema"));
            let v = validator(&with_components(&doc, schema));
            let errors: Vec<String> = v.iter_errors(&body).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{id}: request {body} against its schema: {errors:?}"
            );
            acme.send(
                method.clone(),
                &path,
                Some(("application/json", body.to_string().into_bytes())),
            )
            .await
        } else {
            acme.send(method.clone(), &path, None).await
        };
        let status = r.status.as_u16();
        let documented = op["responses"]
            .get(status.to_string())
            .or_else(|| op["responses"].get(format!("{}XX", status / 100)))
            .unwrap_or_else(|| panic!("{id}: {status} is not documented: {}", r.text));
        // The walk expects success, but a file's content may still be in quarantine.
        assert!(
            status < 300 || (id == "getFileContent" && status == 409),
            "{id}: {status} {}",
            r.text
        );
        if let Some(schema) = json_schema(&doc, documented) {
            let v = validator(&with_components(&doc, schema));
            let body = r.json();
            let errors: Vec<String> = v
                .iter_errors(&body)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{id}: response {status} {body} against its schema: {errors:?}"
            );
        }
        if status < 300 && r.header("content-type") == Some("application/json") {
            let body = r.json();
            // A wiki page's revision: the one the next approve or reject acts on.
            if let Some(revision) = body["revision_id"].as_str() {
                ids.insert("revision".into(), revision.to_owned());
            }
            if let Some(new_id) = body["id"].as_str() {
                let created = method == Method::POST && !template.contains('{');
                if created {
                    last.insert(resource, new_id.to_owned());
                }
                let name = match id.as_str() {
                    "createUser" if ids.contains_key("user") => "buyer",
                    "createUser" => "user",
                    "createPost" => "post",
                    "testWebhook" => "delivery",
                    "createQueue" => "queue",
                    "createHelpTopic" => "topic",
                    "createTicket" => "ticket",
                    "createGroup" => "group",
                    "createCertificateTemplate" => "template",
                    "createCourse" => "course",
                    "createEnrollment" => "enrollment",
                    "communityCreateTier" => "tier",
                    "communityCreateCategory" => "category",
                    "communityCreateHotspot" => "hotspot",
                    "communityCreateSegment" => "segment",
                    "communityCreateApplication" => "application",
                    _ => "",
                };
                // Learn's outline is made under its parents: the next step needs the child.
                let child = match id.as_str() {
                    "createModule" => "modules",
                    "createLesson" => "lessons",
                    "createActivity" => "activities",
                    "startAttempt" => "attempts",
                    _ => "",
                };
                if !child.is_empty() {
                    last.insert(child, new_id.to_owned());
                }
                if !name.is_empty() {
                    ids.insert(name.into(), new_id.to_owned());
                }
            }
        }
        walked.insert(id);
    }
    let documented: BTreeSet<String> = operations(&doc)
        .iter()
        .map(|(_, _, op)| op["operationId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        walked, documented,
        "the walk calls every documented operation"
    );

    // Every method the server answers on a documented path is documented; the others are 405.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/scim/") {
            continue;
        }
        let path = path
            .replace("{id}", "x1")
            .replace("{delivery_id}", "x2")
            .replace("{tag}", "acme");
        for m in METHODS {
            let r = acme
                .send(
                    Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap(),
                    &path,
                    None,
                )
                .await;
            // `PATCH …/segments/public` is `PATCH …/segments/{id}` with the id `public`.
            let other_template = doc["paths"]
                .as_object()
                .unwrap()
                .iter()
                .any(|(t, i)| i.get(*m).is_some() && template_matches(t, &path));
            if item.get(*m).is_none() && !other_template {
                r.assert_error(405, "method_not_allowed");
            } else if item.get(*m).is_some() {
                assert_ne!(r.status, 405, "{m} {path}");
                assert_ne!(
                    r.code_or_empty(),
                    "not_found",
                    "{m} {path} is documented but not routed"
                );
            }
        }
    }
}
