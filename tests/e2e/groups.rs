//! Host groups through the real binary: create, read, rename, delete; members added (once),
//! listed and removed; names unique whatever their case; the events every change appends; the
//! scopes; a user who leaves leaves their groups; a plugin reads members through `users`.

use serde_json::json;

use crate::harness::{ALL_CORE, Client, Server};
use crate::plugins::{test_plugin, until_served};

async fn groups_tenant(server: &Server, scopes: &str) -> Client {
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key(
        "acme",
        "live",
        &format!("{ALL_CORE},{scopes}"),
        &["--rate-limit", "100000"],
    );
    server.client("acme").key(&key)
}

#[tokio::test]
async fn groups_and_their_members_through_the_api_with_events() {
    let server = Server::start();
    let acme = groups_tenant(&server, "groups:read,groups:write").await;
    let (ada, bob) = (acme.user("ada").await, acme.user("bob").await);

    let made = acme
        .post(
            "/api/v1/groups",
            json!({ "display_name": "Cohort 2027", "description": "Spring" }),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let group = made.json();
    let id = group["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("grp_"));
    assert_eq!(group["member_count"], 0);
    acme.post("/api/v1/groups", json!({ "display_name": "cohort 2027" }))
        .await
        .assert_error(409, "group_name_taken");
    acme.post("/api/v1/groups", json!({ "display_name": "" }))
        .await
        .assert_error(400, "validation_failed");

    let members = format!("/api/v1/groups/{id}/members");
    let added = acme.post(&members, json!({ "user_id": ada })).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.json()["username"], "ada");
    // Again: the membership as it was, no second event.
    assert_eq!(
        acme.post(&members, json!({ "user_id": ada })).await.status,
        200
    );
    assert_eq!(
        acme.post(&members, json!({ "user_id": bob })).await.status,
        201
    );
    acme.post(&members, json!({ "user_id": "usr_nobody" }))
        .await
        .assert_error(400, "validation_failed");
    acme.post("/api/v1/groups/grp_nope/members", json!({ "user_id": ada }))
        .await
        .assert_error(404, "group_not_found");

    let listed = acme.get(&members).await.json();
    assert_eq!(listed["total_count"], 2);
    assert_eq!(listed["data"][0]["user_id"], bob.as_str());
    assert_eq!(
        acme.get(&format!("/api/v1/groups/{id}")).await.json()["member_count"],
        2
    );

    let renamed = acme
        .patch(
            &format!("/api/v1/groups/{id}"),
            json!({ "display_name": "Cohort 27", "description": null }),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert!(renamed.json()["description"].is_null());

    acme.delete(&format!("{members}/{ada}")).await.json();
    acme.delete(&format!("{members}/{ada}"))
        .await
        .assert_error(404, "member_not_found");

    // Bob leaves the community: he leaves the group.
    assert_eq!(
        acme.delete(&format!("/api/v1/users/{bob}")).await.status,
        200
    );
    assert_eq!(acme.get(&members).await.json()["total_count"], 0);

    let gone = acme.delete(&format!("/api/v1/groups/{id}")).await;
    assert_eq!(gone.status, 200);
    assert_eq!(gone.json()["deleted"], true);
    acme.get(&format!("/api/v1/groups/{id}"))
        .await
        .assert_error(404, "group_not_found");

    let events = acme.get("/api/v1/events?type=group.created,group.updated,group.deleted,group.member_added,group.member_removed&limit=100").await.json();
    let mut kinds: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    kinds.reverse();
    assert_eq!(
        kinds,
        [
            "group.created",
            "group.member_added",
            "group.member_added",
            "group.updated",
            "group.member_removed",
            "group.deleted"
        ]
    );
}

#[tokio::test]
async fn reading_groups_needs_groups_read_and_changing_them_groups_write() {
    let server = Server::start();
    let acme = groups_tenant(&server, "groups:read").await;
    assert_eq!(acme.get("/api/v1/groups").await.status, 200);
    acme.post("/api/v1/groups", json!({ "display_name": "x" }))
        .await
        .assert_error(403, "insufficient_scope");
}

#[tokio::test]
async fn a_plugin_reads_a_groups_members_through_the_users_capability() {
    let server = Server::start();
    // The plugin first: its scope must exist before a key can hold it.
    server.cli_ok(&["plugin", "install", &test_plugin("capable")]);
    let acme = groups_tenant(&server, "groups:read,groups:write,capable:use").await;
    server.cli_ok(&["plugin", "enable", "--tenant", "acme", "capable"]);
    until_served(&acme, "/api/v1/capable/fired").await;
    let id = acme
        .post("/api/v1/groups", json!({ "display_name": "Readers" }))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut users = vec![];
    for name in ["u1", "u2", "u3"] {
        let user = acme.user(name).await;
        acme.post(
            &format!("/api/v1/groups/{id}/members"),
            json!({ "user_id": user }),
        )
        .await;
        users.push(user);
    }
    users.sort();
    let read = acme.get(&format!("/api/v1/capable/groups/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json()["members"], json!(users));
    acme.get("/api/v1/capable/groups/grp_none")
        .await
        .assert_error(404, "group_not_found");
}
