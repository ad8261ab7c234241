use reqwest::Method;
use serde_json::json;

use crate::harness::Server;

#[tokio::test]
async fn same_key_replays_and_creates_once() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let once = acme.clone().header("idempotency-key", "signup-ada-1");
    let first = once
        .post("/api/v1/users", json!({ "username": "ada" }))
        .await;
    assert_eq!(first.status, 201);
    assert!(first.header("idempotent-replayed").is_none());
    let again = once
        .post("/api/v1/users", json!({ "username": "ada" }))
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), first.json());
    assert_ne!(again.header("x-request-id"), first.header("x-request-id"));
    assert_eq!(acme.get("/api/v1/users").await.json()["total_count"], 1);
    assert_eq!(acme.get("/api/v1/events").await.json()["total_count"], 1);

    // Same key, different body.
    once.post("/api/v1/users", json!({ "username": "bob" }))
        .await
        .assert_error(422, "idempotency_key_reused");
    // Same key on another path is another request.
    let ada = first.json()["id"].as_str().unwrap().to_owned();
    let r = once
        .post("/api/v1/posts", json!({ "author_id": ada, "body": "hi" }))
        .await;
    assert_eq!(r.status, 201);
    // Same key with another API key is independent.
    let (_, other) = server.create_key("acme", "live", "users:write,users:read", &[]);
    let r = server
        .client("acme")
        .key(&other)
        .header("idempotency-key", "signup-ada-1")
        .post("/api/v1/users", json!({ "username": "ada2" }))
        .await;
    assert_eq!(r.status, 201);
    assert!(r.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_failed_request_is_not_stored() {
    let server = Server::start();
    let acme = server
        .tenant_with_key("acme")
        .header("idempotency-key", "k1");
    acme.post("/api/v1/users", json!({ "username": "a b" }))
        .await
        .assert_error(400, "validation_failed");
    // Nothing was stored for the failure: the corrected request runs under the same key.
    let r = acme
        .post("/api/v1/users", json!({ "username": "ab" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.header("idempotent-replayed").is_none());
}

#[tokio::test]
async fn concurrent_duplicates_create_one_resource() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let once = acme.clone().header("idempotency-key", "race-1");
    let attempts = (0..16).map(|_| {
        let c = once.clone();
        tokio::spawn(async move {
            c.post("/api/v1/users", json!({ "username": "racer" }))
                .await
        })
    });
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for attempt in attempts {
        let r = attempt.await.unwrap();
        match r.status.as_u16() {
            201 => {
                if r.header("idempotent-replayed").is_none() {
                    created += 1;
                }
                ids.insert(r.json()["id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(r.code(), "idempotency_in_progress"),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(acme.get("/api/v1/users").await.json()["total_count"], 1);
    // Afterwards it replays.
    let r = once
        .post("/api/v1/users", json!({ "username": "racer" }))
        .await;
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    // A malformed key is refused.
    let r = acme
        .clone()
        .header("idempotency-key", &"x".repeat(300))
        .send(
            Method::POST,
            "/api/v1/users",
            Some(("application/json", b"{}".to_vec())),
        )
        .await;
    r.assert_error(400, "validation_failed");
}
