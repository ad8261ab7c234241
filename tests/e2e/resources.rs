use serde_json::json;

use crate::harness::Server;

#[tokio::test]
async fn users_register_and_leave_with_events() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let r = acme
        .post(
            "/api/v1/users",
            json!({ "username": "ada", "email": "ada@example.org", "display_name": "Ada L." }),
        )
        .await;
    assert_eq!(r.status, 201);
    let user = r.json();
    let id = user["id"].as_str().unwrap();
    assert!(id.starts_with("usr_"));
    assert_eq!(user["display_name"], "Ada L.");
    assert!(chrono::DateTime::parse_from_rfc3339(user["created_at"].as_str().unwrap()).is_ok());
    assert_eq!(acme.get(&format!("/api/v1/users/{id}")).await.json(), user);
    acme.post("/api/v1/users", json!({ "username": "ada" }))
        .await
        .assert_error(409, "username_taken");

    let r = acme.delete(&format!("/api/v1/users/{id}")).await;
    assert_eq!(r.status, 200);
    acme.get(&format!("/api/v1/users/{id}"))
        .await
        .assert_error(404, "user_not_found");
    acme.delete(&format!("/api/v1/users/{id}"))
        .await
        .assert_error(404, "user_not_found");
    assert_eq!(acme.get("/api/v1/users").await.json()["total_count"], 0);
    // The username is free again.
    acme.user("ada").await;

    let events = acme.get("/api/v1/events").await.json();
    let types: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["user.registered", "user.left", "user.registered"]);
    let left = &events["data"][1];
    assert_eq!(left["data"]["user"]["id"], id);
    assert!(left["id"].as_str().unwrap().starts_with("evt_"));
}

#[tokio::test]
async fn posts_are_validated_created_and_updated_with_events() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let ada = acme.user("ada").await;
    let field = |r: crate::harness::Resp| {
        r.assert_error(400, "validation_failed");
        r.json()["error"]["field"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        field(
            acme.post("/api/v1/posts", json!({ "author_id": ada, "body": "" }))
                .await
        ),
        "body"
    );
    assert_eq!(
        field(
            acme.post(
                "/api/v1/posts",
                json!({ "author_id": ada, "body": "x".repeat(20_001) })
            )
            .await
        ),
        "body"
    );
    assert_eq!(
        field(
            acme.post(
                "/api/v1/posts",
                json!({ "author_id": ada, "body": "x", "title": "t".repeat(201) })
            )
            .await
        ),
        "title"
    );
    assert_eq!(
        field(
            acme.post(
                "/api/v1/posts",
                json!({ "author_id": "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV", "body": "x" })
            )
            .await
        ),
        "author_id"
    );
    assert_eq!(
        field(
            acme.post("/api/v1/posts", json!({ "author_id": "bob", "body": "x" }))
                .await
        ),
        "author_id"
    );
    assert_eq!(
        field(acme.post("/api/v1/posts", json!({ "body": "x" })).await),
        "author_id"
    );
    assert_eq!(
        acme.get("/api/v1/events").await.json()["total_count"],
        1,
        "refused writes emit nothing"
    );

    let r = acme
        .post(
            "/api/v1/posts",
            json!({ "author_id": ada, "title": "Hello", "body": "First\nline" }),
        )
        .await;
    assert_eq!(r.status, 201);
    let post = r.json();
    let id = post["id"].as_str().unwrap();
    assert_eq!(post["created_at"], post["updated_at"]);

    let r = acme
        .patch(&format!("/api/v1/posts/{id}"), json!({ "body": "Edited" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let edited = r.json();
    assert_eq!(
        (edited["title"].as_str(), edited["body"].as_str()),
        (Some("Hello"), Some("Edited"))
    );
    let r = acme
        .patch(&format!("/api/v1/posts/{id}"), json!({ "title": null }))
        .await;
    assert_eq!(r.json()["title"], serde_json::Value::Null);
    assert_eq!(
        field(acme.patch(&format!("/api/v1/posts/{id}"), json!({})).await),
        "body"
    );
    assert_eq!(
        field(
            acme.patch(&format!("/api/v1/posts/{id}"), json!({ "author_id": "x" }))
                .await
        ),
        "author_id"
    );
    acme.patch("/api/v1/posts/post_nope", json!({ "body": "x" }))
        .await
        .assert_error(404, "post_not_found");

    let events = acme
        .get("/api/v1/events?type=post.created,post.updated")
        .await
        .json();
    let types: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["post.updated", "post.updated", "post.created"]);
    assert_eq!(events["data"][1]["data"]["post"]["body"], "Edited");
    assert_eq!(
        acme.get(&format!("/api/v1/posts/{id}")).await.json()["body"],
        "Edited"
    );
}
