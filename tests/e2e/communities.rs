//! The Cobuntu-compatible surface's host support (seed 001), through the real binary: keys in
//! Cobuntu's format, its scopes, its per-second limits, and the community named in the path.

use crate::harness::{Client, Server};

/// Mints a key in Cobuntu's format: `kind` publishable or secret.
fn cobuntu_key(server: &Server, tenant: &str, env: &str, kind: &str, scopes: &str) -> String {
    server
        .cli_ok(&[
            "key", "create", "--tenant", tenant, "--env", env, "--kind", kind, "--format",
            "cobuntu", "--scopes", scopes, "--quiet",
        ])
        .trim()
        .to_owned()
}

/// A client at the base domain (`localhost:PORT`), where the path names the community.
fn at_base_domain(server: &Server) -> Client {
    let mut client = server.client("x");
    client.host = client.host.trim_start_matches("x.").to_owned();
    client
}

#[tokio::test]
async fn cobuntu_keys_are_minted_in_its_format_and_accepted_in_either_header() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let pk = cobuntu_key(&server, "acme", "live", "publishable", "users:read");
    let sk = cobuntu_key(&server, "acme", "live", "secret", "users:read,users:write");
    let pk_test = cobuntu_key(&server, "acme", "test", "publishable", "users:read");
    assert!(pk.starts_with("pk_live_") && pk.len() == 8 + 43, "{pk}");
    assert!(sk.starts_with("sk_live_"), "{sk}");
    assert!(pk_test.starts_with("pk_test_"), "{pk_test}");
    // Hashed like ours: the list shows a prefix, never the key.
    let listed = server.cli_ok(&["key", "list", "--tenant", "acme", "--json"]);
    assert!(listed.contains(&pk[..12]) && !listed.contains(&pk));

    for client in [
        server.client("acme").header("x-api-key", &pk),
        server.client("acme").key(&sk),
    ] {
        let r = client.get("/api/v1/users").await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // A publishable key is refused a write even when its record holds the scope (it cannot be
    // minted so: the cap holds at every request too).
    server
        .cli(&[
            "key",
            "create",
            "--tenant",
            "acme",
            "--env",
            "live",
            "--kind",
            "publishable",
            "--format",
            "cobuntu",
            "--scopes",
            "users:write",
        ])
        .status
        .success()
        .then(|| panic!("a publishable key with a write scope was minted"));
    let file = rusqlite::Connection::open(server.data_dir().join("tenants/acme/live.db")).unwrap();
    file.execute(
        "UPDATE api_keys SET scopes = 'users:read users:write' WHERE prefix = ?1",
        [&pk[..12]],
    )
    .unwrap();
    server
        .client("acme")
        .header("x-api-key", &pk)
        .post("/api/v1/users", serde_json::json!({"username": "eve"}))
        .await
        .assert_error(403, "insufficient_scope");
}

#[tokio::test]
async fn cobuntu_keys_are_limited_per_second() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    for (kind, limit) in [("publishable", 100), ("secret", 50)] {
        let key = cobuntu_key(&server, "acme", "live", kind, "users:read");
        let client = server.client("acme").header("x-api-key", &key);
        // Within one second (the window starts at the first request): the limit, then 429.
        let mut answered = Vec::new();
        let started = std::time::Instant::now();
        for _ in 0..=limit {
            answered.push(client.get("/api/v1/users").await);
        }
        if started.elapsed() >= std::time::Duration::from_millis(900) {
            eprintln!("{kind}: {} requests took a second: not judged", limit + 1);
            continue;
        }
        let refused = answered.last().unwrap();
        assert!(answered[..limit].iter().all(|r| r.status == 200), "{kind}");
        refused.assert_error(429, "rate_limited");
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert!(
            refused
                .text
                .contains(&format!("{limit} requests per second"))
        );
        // The next second frees it.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(client.get("/api/v1/users").await.status, 200);
    }
}

#[tokio::test]
async fn the_path_names_the_community_on_any_host() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    server.create_tenant("globex", "pro");
    let acme = cobuntu_key(&server, "acme", "live", "publishable", "users:read");
    let base = at_base_domain(&server).header("x-api-key", &acme);
    // The community exists and the key is its own: past the gate (no such route yet).
    base.get("/api/v1/communities/acme/nothing-here")
        .await
        .assert_error(404, "not_found");
    // Another community's path with this key: 401, as a foreign key is everywhere, on the base
    // domain and on the key's own community's host alike.
    base.get("/api/v1/communities/globex/nothing-here")
        .await
        .assert_error(401, "invalid_api_key");
    server
        .client("acme")
        .header("x-api-key", &acme)
        .get("/api/v1/communities/globex/nothing-here")
        .await
        .assert_error(401, "invalid_api_key");
    base.get("/api/v1/communities/nope/events")
        .await
        .assert_error(404, "tenant_not_found");
    // Elsewhere on the base domain there is no community.
    base.get("/api/v1/users")
        .await
        .assert_error(404, "tenant_not_found");
}
