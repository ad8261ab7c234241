use std::time::Duration;

use serde_json::json;

use crate::harness::{ALL_CORE, Server, eventually};

#[tokio::test]
async fn first_start_creates_demo_and_prints_a_working_key() {
    let server = Server::start();
    let key = server
        .banner
        .split_whitespace()
        .find(|w| w.starts_with("mc_live_"))
        .expect("a live key in the banner")
        .to_owned();
    assert!(server.banner.contains(&format!(
        "http://demo.localhost:{}/api/v1/events",
        server.addr.port()
    )));
    // It points to the API reference and to the console, with a command whose link works.
    let port = server.addr.port();
    assert!(
        server
            .banner
            .contains(&format!("http://demo.localhost:{port}/api/docs"))
    );
    let invite = format!("--base-url http://localhost:{port}");
    assert!(server.banner.contains(&invite), "{}", server.banner);
    let out = server.cli_ok(&[
        "admin",
        "create",
        "--tenant",
        "demo",
        "--email",
        "you@example.org",
        "--base-url",
        &format!("http://localhost:{port}"),
    ]);
    let link = out
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap();
    assert!(
        link.starts_with(&format!("http://demo.localhost:{port}/admin/setup?token=")),
        "{link}"
    );
    let mut console = crate::admin::Console::new(&server, "demo");
    assert_eq!(
        console
            .get(&link[link.find("/admin").unwrap()..])
            .await
            .status,
        200
    );
    let demo = server.client("demo").key(&key);
    let r = demo.get("/api/v1/events").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Every core scope.
    let id = demo.user("ada").await;
    demo.post_by(&id, "hello").await;
    assert_eq!(demo.get("/api/v1/users").await.status, 200);
    // The key is not printed again on the next start, and no second demo appears.
    let mut server = server;
    server.restart();
    let tenants = server.cli_ok(&["tenant", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&tenants)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn healthz_needs_no_tenant_and_no_key() {
    let server = Server::start();
    let r = server.client("nope").get("/healthz").await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-request-id").unwrap().starts_with("req_"));
}

#[tokio::test]
async fn credentials_are_checked_with_the_documented_codes() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let bare = server.client("acme");
    bare.get("/api/v1/events")
        .await
        .assert_error(401, "missing_authorization");
    for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"] {
        bare.clone()
            .header("authorization", bad)
            .get("/api/v1/events")
            .await
            .assert_error(401, "invalid_authorization");
    }
    bare.clone()
        .key("not-a-key")
        .get("/api/v1/events")
        .await
        .assert_error(401, "invalid_api_key");
    let fake = format!("mc_live_{}", "A".repeat(43));
    bare.clone()
        .key(&fake)
        .get("/api/v1/events")
        .await
        .assert_error(401, "invalid_api_key");
    // X-API-Key works as well as Bearer.
    let (_, key) = server.create_key("acme", "live", "events:read", &[]);
    let r = bare
        .clone()
        .header("x-api-key", &key)
        .get("/api/v1/events")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(acme.get("/api/v1/events").await.status, 200);
}

#[tokio::test]
async fn a_key_of_one_tenant_is_invalid_at_another() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    server.create_tenant("globex", "pro");
    let (_, acme_key) = server.create_key("acme", "live", ALL_CORE, &[]);
    server.client("acme").key(&acme_key).user("ada").await;
    let r = server
        .client("globex")
        .key(&acme_key)
        .get("/api/v1/users")
        .await;
    r.assert_error(401, "invalid_api_key");
    server
        .client("initech")
        .key(&acme_key)
        .get("/api/v1/users")
        .await
        .assert_error(404, "tenant_not_found");
    // Unknown tenants answer the same whether or not a key is sent.
    server
        .client("initech")
        .get("/api/v1/users")
        .await
        .assert_error(404, "tenant_not_found");
}

#[tokio::test]
async fn test_keys_act_on_the_sandbox_and_live_keys_on_live_data() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, live) = server.create_key("acme", "live", ALL_CORE, &[]);
    let (_, test) = server.create_key("acme", "test", ALL_CORE, &[]);
    assert!(test.starts_with("mc_test_"));
    let live = server.client("acme").key(&live);
    let test = server.client("acme").key(&test);
    let ada = live.user("ada").await;
    assert_eq!(test.get("/api/v1/users").await.json()["total_count"], 0);
    test.get(&format!("/api/v1/users/{ada}"))
        .await
        .assert_error(404, "user_not_found");
    let bob = test.user("bob").await;
    // The same username may exist in both: they are different databases.
    test.user("ada").await;
    let live_users = live.get("/api/v1/users").await.json();
    assert_eq!(live_users["total_count"], 1);
    assert_eq!(live_users["data"][0]["id"], ada.as_str());
    live.get(&format!("/api/v1/users/{bob}"))
        .await
        .assert_error(404, "user_not_found");
    assert_eq!(live.get("/api/v1/events").await.json()["total_count"], 1);
    assert_eq!(test.get("/api/v1/events").await.json()["total_count"], 2);
    assert!(server.data_dir().join("tenants/acme/sandbox.db").exists());
}

#[tokio::test]
async fn revoke_takes_effect_on_the_very_next_request() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (id, key) = server.create_key("acme", "live", "events:read", &[]);
    let client = server.client("acme").key(&key);
    assert_eq!(client.get("/api/v1/events").await.status, 200);
    server.cli_ok(&["key", "revoke", "--tenant", "acme", &id]);
    client
        .get("/api/v1/events")
        .await
        .assert_error(401, "invalid_api_key");
    // Revoking twice is harmless; an unknown key is an error.
    server.cli_ok(&["key", "revoke", "--tenant", "acme", &id]);
    assert_eq!(
        server
            .cli(&["key", "revoke", "--tenant", "acme", "key_nope"])
            .status
            .code(),
        Some(2)
    );
}

#[tokio::test]
async fn expired_keys_are_refused() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (_, key) = server.create_key(
        "acme",
        "live",
        "events:read",
        &["--expires-at", &at.to_rfc3339()],
    );
    let client = server.client("acme").key(&key);
    assert_eq!(client.get("/api/v1/events").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    client
        .get("/api/v1/events")
        .await
        .assert_error(401, "invalid_api_key");
    // An expiry in the past is refused at creation.
    let out = server.cli(&[
        "key",
        "create",
        "--tenant",
        "acme",
        "--env",
        "live",
        "--scopes",
        "events:read",
        "--expires-at",
        "2020-01-01T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn scopes_are_checked_before_the_handler() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", "events:read,users:read", &[]);
    let client = server.client("acme").key(&key);
    let r = client
        .post("/api/v1/users", json!({ "username": "ada" }))
        .await;
    r.assert_error(403, "insufficient_scope");
    assert_eq!(r.json()["error"]["required_scope"], "users:write");
    let r = client.get("/api/v1/posts").await;
    r.assert_error(403, "insufficient_scope");
    assert_eq!(r.json()["error"]["required_scope"], "posts:read");
    // A refused write changed nothing.
    assert_eq!(client.get("/api/v1/users").await.json()["total_count"], 0);
    // Even an invalid body is refused on scope first.
    client
        .post("/api/v1/users", json!({ "nope": 1 }))
        .await
        .assert_error(403, "insufficient_scope");
}

#[tokio::test]
async fn plan_gate_applies_on_the_next_request() {
    let server = Server::start();
    server.create_tenant("acme", "starter");
    let (_, key) = server.create_key("acme", "live", "events:read", &[]);
    let client = server.client("acme").key(&key);
    let r = client.get("/api/v1/events").await;
    r.assert_error(403, "plan_gated");
    let error = &r.json()["error"];
    assert_eq!(error["current_plan"], "starter");
    assert_eq!(
        error["required_plans"],
        json!(["pro", "creator-plus", "sovereign"])
    );
    server.cli_ok(&["tenant", "set-plan", "acme", "creator-plus"]);
    assert_eq!(client.get("/api/v1/events").await.status, 200);
    server.cli_ok(&["tenant", "set-plan", "acme", "starter"]);
    client
        .get("/api/v1/events")
        .await
        .assert_error(403, "plan_gated");
    // Authentication still comes first.
    server
        .client("acme")
        .get("/api/v1/events")
        .await
        .assert_error(401, "missing_authorization");
}

#[tokio::test]
async fn publishable_keys_hold_only_read_scopes() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let out = server.cli(&[
        "key",
        "create",
        "--tenant",
        "acme",
        "--env",
        "live",
        "--kind",
        "publishable",
        "--scopes",
        "posts:read,posts:write",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("posts:write"));
    let (_, key) = server.create_key("acme", "live", "posts:read", &["--kind", "publishable"]);
    let client = server.client("acme").key(&key);
    assert_eq!(client.get("/api/v1/posts").await.status, 200);
    client
        .post("/api/v1/posts", json!({}))
        .await
        .assert_error(403, "insufficient_scope");
}

#[tokio::test]
async fn last_use_is_recorded_in_batches() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (id, key) = server.create_key("acme", "live", "events:read", &[]);
    for _ in 0..5 {
        server.client("acme").key(&key).get("/api/v1/events").await;
    }
    let listed = eventually(Duration::from_secs(10), async || {
        let list: serde_json::Value =
            serde_json::from_str(&server.cli_ok(&["key", "list", "--tenant", "acme", "--json"]))
                .unwrap();
        let key = list
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id.as_str())?
            .clone();
        key["last_used_at"].is_string().then_some(key)
    })
    .await;
    assert_eq!(listed["last_used_ip"], "127.0.0.1");
}

#[tokio::test]
async fn key_changes_are_audited_without_the_secret() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (id, key) = server.create_key("acme", "live", "events:read", &["--label", "ci"]);
    assert_eq!(
        server
            .client("acme")
            .key(&key)
            .get("/api/v1/events")
            .await
            .status,
        200
    );
    server.cli_ok(&[
        "key",
        "edit",
        "--tenant",
        "acme",
        &id,
        "--label",
        "deploys",
        "--rate-limit",
        "30",
    ]);
    server.cli_ok(&["key", "revoke", "--tenant", "acme", &id]);
    let audit = server.cli_ok(&["audit", "list", "--tenant", "acme", "--json"]);
    let entries: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["api_key.revoked", "api_key.edited", "api_key.created"]
    );
    for e in entries.as_array().unwrap() {
        assert_eq!(e["target"], id.as_str());
        assert!(e["actor"].as_str().unwrap().starts_with("cli:"));
        assert!(e["at"].is_string());
    }
    assert!(
        !audit.contains(&key[12..]),
        "the secret leaked into the audit log"
    );
    let list = server.cli_ok(&["key", "list", "--tenant", "acme", "--json"]);
    assert!(
        !list.contains(&key[12..]),
        "the secret leaked into key list"
    );
    server
        .client("acme")
        .key(&key)
        .get("/api/v1/events")
        .await
        .assert_error(401, "invalid_api_key");
    let log = server.log();
    assert!(log.contains("invalid_api_key"), "debug log has the refusal");
    assert!(
        !log.contains(&key[12..]),
        "the secret leaked into the server log"
    );
}
