use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::harness::{Client, Server, eventually};

pub fn test_plugin(name: &str) -> String {
    PathBuf::from(env!("MOBIEUS_TEST_PLUGINS_DIR"))
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

pub const GUESTBOOK: &str = env!("MOBIEUS_GUESTBOOK_WASM");

/// Copies a test plugin into the running server's plugins directory by hand, as an operator
/// might, and waits for the server's log to refuse it with `why`.
pub async fn dropped_in_is_refused(server: &Server, plugin: &str, why: &str) {
    let dir = server.data_dir().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(test_plugin(plugin), dir.join(format!("{plugin}.wasm"))).unwrap();
    eventually(Duration::from_secs(10), async || {
        server.log().contains(why).then_some(())
    })
    .await;
}

/// Waits until the running server serves `path` with something other than 404 `not_found`.
pub async fn until_served(client: &Client, path: &str) {
    eventually(Duration::from_secs(10), async || {
        let r = client.get(path).await;
        (r.status != 404 || r.code() != "not_found").then_some(())
    })
    .await;
}

/// The guestbook as it was built against contract 1.0.0, kept as it was: it must load and serve
/// on this host unchanged.
pub const GUESTBOOK_1_0: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/guestbook-1.0.0.wasm"
);

#[tokio::test]
async fn guestbook_installs_and_serves_without_a_restart() {
    guestbook_serves(GUESTBOOK, "1.1.0").await;
}

#[tokio::test]
async fn a_component_built_against_contract_1_0_serves_unchanged_on_the_1_1_host() {
    guestbook_serves(GUESTBOOK_1_0, "1.0.0").await;
}

async fn guestbook_serves(wasm: &str, contract: &str) {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let installed = server.cli_ok(&["plugin", "install", wasm]);
    assert!(
        installed.contains(&format!("contract {contract}, capabilities: -")),
        "{installed}"
    );
    let (_, key) = server.create_key(
        "acme",
        "live",
        "guestbook:read,guestbook:write,events:read",
        &[],
    );
    let acme = server.client("acme").key(&key);
    // Third-party plugins start off: their routes do not exist for the tenant.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    acme.get("/api/v1/guestbook/entries")
        .await
        .assert_error(404, "not_found");
    server.cli_ok(&["plugin", "enable", "--tenant", "acme", "guestbook"]);
    until_served(&acme, "/api/v1/guestbook/entries").await;

    let r = acme
        .post(
            "/api/v1/guestbook/entries",
            json!({ "name": "Ada", "message": "Hello" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let entry = r.json();
    let id = entry["id"].as_str().unwrap();
    assert_eq!(
        acme.get(&format!("/api/v1/guestbook/entries/{id}"))
            .await
            .json(),
        entry
    );
    let list = acme.get("/api/v1/guestbook/entries").await.json();
    assert_eq!(
        (list["total_count"].as_i64(), list["has_more"].as_bool()),
        (Some(1), Some(false))
    );
    acme.get("/api/v1/guestbook/entries/gb_nope")
        .await
        .assert_error(404, "entry_not_found");
    let r = acme
        .post(
            "/api/v1/guestbook/entries",
            json!({ "name": "", "message": "x" }),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert_eq!(r.json()["error"]["field"], "name");
    acme.get("/api/v1/guestbook/entries?limit=500")
        .await
        .assert_error(400, "validation_failed");
    acme.send(reqwest::Method::DELETE, "/api/v1/guestbook/entries", None)
        .await
        .assert_error(405, "method_not_allowed");
    // The event is in the log, from the same transaction.
    let events = acme
        .get("/api/v1/events?type=guestbook.entry_created")
        .await
        .json();
    assert_eq!(events["data"][0]["data"]["entry"]["id"], id);

    // The host's conventions hold on plugin routes: scopes, idempotency, rate-limit headers.
    let (_, reader) = server.create_key("acme", "live", "guestbook:read", &[]);
    let reader = server.client("acme").key(&reader);
    let r = reader
        .post(
            "/api/v1/guestbook/entries",
            json!({ "name": "Bob", "message": "Hi" }),
        )
        .await;
    r.assert_error(403, "insufficient_scope");
    assert_eq!(r.json()["error"]["required_scope"], "guestbook:write");
    let once = acme.clone().header("idempotency-key", "gb-1");
    let first = once
        .post(
            "/api/v1/guestbook/entries",
            json!({ "name": "Cy", "message": "Once" }),
        )
        .await;
    let again = once
        .post(
            "/api/v1/guestbook/entries",
            json!({ "name": "Cy", "message": "Once" }),
        )
        .await;
    assert_eq!(
        (first.status.as_u16(), again.header("idempotent-replayed")),
        (201, Some("true"))
    );
    assert_eq!(first.json(), again.json());
    assert!(first.header("x-ratelimit-limit").is_some());
    assert_eq!(
        acme.get("/api/v1/guestbook/entries").await.json()["total_count"],
        2
    );

    // Off again: 404, and the data stays for when it comes back.
    server.cli_ok(&["plugin", "disable", "--tenant", "acme", "guestbook"]);
    acme.get("/api/v1/guestbook/entries")
        .await
        .assert_error(404, "not_found");
    server.cli_ok(&["plugin", "enable", "--tenant", "acme", "guestbook"]);
    assert_eq!(
        acme.get("/api/v1/guestbook/entries").await.json()["total_count"],
        2
    );
    let listed = server.cli_ok(&["plugin", "list", "--tenant", "acme", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let guestbook = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "guestbook")
        .expect("guestbook is listed");
    assert_eq!(guestbook["enabled"], true);
    assert_eq!(guestbook["contract"], contract);
    assert_eq!(guestbook["capabilities"], json!([]));
}

#[tokio::test]
async fn test_keys_write_plugin_data_to_the_sandbox() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    server.cli_ok(&["plugin", "install", GUESTBOOK]);
    server.cli_ok(&["plugin", "enable", "--tenant", "acme", "guestbook"]);
    let (_, live) = server.create_key("acme", "live", "guestbook:read,guestbook:write", &[]);
    let (_, test) = server.create_key("acme", "test", "guestbook:read,guestbook:write", &[]);
    let live = server.client("acme").key(&live);
    let test = server.client("acme").key(&test);
    until_served(&test, "/api/v1/guestbook/entries").await;
    let r = test
        .post(
            "/api/v1/guestbook/entries",
            json!({ "name": "Sandbox", "message": "test data" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        test.get("/api/v1/guestbook/entries").await.json()["total_count"],
        1
    );
    assert_eq!(
        live.get("/api/v1/guestbook/entries").await.json()["total_count"],
        0
    );
}

async fn hostile_server() -> (Server, Client) {
    hostile_server_with(
        &["--plugin-timeout", "500ms", "--plugin-memory-mib", "32"],
        "hostile:use,guestbook:read,guestbook:write,events:read,users:write",
    )
    .await
}

/// A server started with `args`, the guestbook and the hostile plugin installed and on for
/// tenant `acme`, and a client of `acme` whose key holds `scopes` (and no rate limit to speak of).
pub async fn hostile_server_with(args: &[&str], scopes: &str) -> (Server, Client) {
    let server = Server::start_with(args);
    server.create_tenant("acme", "pro");
    server.cli_ok(&["plugin", "install", GUESTBOOK]);
    server.cli_ok(&["plugin", "install", &test_plugin("hostile")]);
    for name in ["guestbook", "hostile"] {
        server.cli_ok(&["plugin", "enable", "--tenant", "acme", name]);
    }
    let (_, key) = server.create_key("acme", "live", scopes, &["--rate-limit", "100000"]);
    let client = server.client("acme").key(&key);
    until_served(&client, "/api/v1/hostile/things").await;
    until_served(&client, "/api/v1/guestbook/entries").await;
    (server, client)
}

#[tokio::test]
async fn misbehaving_routes_are_contained_and_the_server_carries_on() {
    let (server, acme) = hostile_server().await;
    let cases = [
        ("/api/v1/hostile/loop", 503, "plugin_timeout"),
        ("/api/v1/hostile/trap", 500, "plugin_failed"),
        ("/api/v1/hostile/oom", 500, "plugin_failed"),
        ("/api/v1/hostile/big", 500, "plugin_failed"),
    ];
    for (path, status, code) in cases {
        let started = std::time::Instant::now();
        let r = acme.get(path).await;
        r.assert_error(status, code);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path} took {:?}",
            started.elapsed()
        );
        let request_id = r.header("x-request-id").unwrap().to_owned();
        let log = server.log();
        let line = log
            .lines()
            .find(|l| l.contains(&request_id))
            .unwrap_or_else(|| panic!("no log line for {path}"));
        assert!(line.contains("plugin `hostile`"), "{line}");
        // Everything else carries on at once.
        assert_eq!(acme.get("/api/v1/hostile/things").await.status, 200);
        assert_eq!(server.client("acme").get("/healthz").await.status, 200);
        assert_eq!(acme.post("/api/v1/users", json!({ "username": format!("u{}", status as u32 + started.elapsed().subsec_nanos() % 1000) })).await.status, 201);
    }
}

#[tokio::test]
async fn the_sql_sandbox_refuses_what_is_not_the_plugins() {
    let (server, acme) = hostile_server().await;
    // The desk's and the wiki's tables exist in this file once each has been called.
    let (_, key) = server.create_key("acme", "live", "helpdesk:read,know:read", &[]);
    let reader = server.client("acme").key(&key);
    for path in ["/api/v1/helpdesk/tickets", "/api/v1/know/pages"] {
        assert_eq!(reader.get(path).await.status, 200, "{path}");
    }
    acme.post(
        "/api/v1/guestbook/entries",
        json!({ "name": "Ada", "message": "mine" }),
    )
    .await;
    for case in [
        "host-table",
        "host-users",
        "other-plugin",
        // The first-party surfaces' tables too: the desk's tickets, the wiki's revisions.
        "helpdesk",
        "know",
        "attach",
        "pragma",
        "pragma-read",
        "extension",
        "schema",
        "drop-host",
    ] {
        let r = acme.get(&format!("/api/v1/hostile/sql/{case}")).await;
        assert_eq!(r.status, 200, "{case}: {}", r.text);
        let body = r.json();
        assert_eq!(body["allowed"], false, "{case} was allowed");
        assert!(
            body["error"].as_str().unwrap().contains("denied")
                || body["error"].as_str().unwrap().contains("refused"),
            "{case}: {body}"
        );
    }
    assert_eq!(
        acme.get("/api/v1/hostile/sql/own").await.json()["allowed"],
        true
    );
    let r = acme.post("/api/v1/hostile/read-users", json!({})).await;
    assert_eq!(r.json()["delete_refused"], true, "{}", r.text);
    // The guestbook's data is untouched, the host's tables too.
    assert_eq!(
        acme.get("/api/v1/guestbook/entries").await.json()["total_count"],
        1
    );
}

#[tokio::test]
async fn writes_and_events_commit_together_or_not_at_all() {
    let (_server, acme) = hostile_server().await;
    let r = acme
        .post("/api/v1/hostile/emit-undeclared", json!({}))
        .await;
    assert_eq!(r.json()["emitted"], serde_json::Value::Null);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("declares in its manifest"),
        "{}",
        r.text
    );

    acme.post("/api/v1/hostile/write-then-trap", json!({}))
        .await
        .assert_error(500, "plugin_failed");
    assert_eq!(
        acme.get("/api/v1/hostile/things").await.json()["count"],
        0,
        "a trap after a write left a row"
    );
    assert_eq!(
        acme.get("/api/v1/events?type=hostile.thing_created")
            .await
            .json()["total_count"],
        0
    );

    let r = acme.post("/api/v1/hostile/things", json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(acme.get("/api/v1/hostile/things").await.json()["count"], 1);
    let events = acme
        .get("/api/v1/events?type=hostile.thing_created")
        .await
        .json();
    assert_eq!(events["data"][0]["data"]["id"], r.json()["id"]);
}

#[tokio::test]
async fn manifests_that_break_the_rules_are_refused() {
    let server = Server::start();
    server.cli_ok(&["plugin", "install", &test_plugin("hostile")]);
    for (plugin, why) in [
        ("badscope", "outside"),
        ("hostns", "belongs to the host"),
        ("copycat", "already claimed by plugin `hostile`"),
    ] {
        let out = server.cli(&["plugin", "install", &test_plugin(plugin)]);
        assert_eq!(out.status.code(), Some(2), "{plugin}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{plugin}: {stderr}");
    }
    // Dropped into the directory by hand: the server says why and runs without it.
    dropped_in_is_refused(&server, "copycat", "already claimed").await;
    let listed: serde_json::Value =
        serde_json::from_str(&server.cli_ok(&["plugin", "list", "--json"])).unwrap();
    let mut names: Vec<&str> = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    // The first-party surfaces are embedded; of the installed ones only `hostile` loaded.
    assert_eq!(
        names,
        [
            "community",
            "helpdesk",
            "hostile",
            "know",
            "learn",
            "market",
            "moderation"
        ]
    );
    assert!(listed["refused"][0].as_str().unwrap().contains("copycat"));
}

#[tokio::test]
async fn upgrades_in_place_run_new_migrations_once_per_tenant() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    server.create_tenant("globex", "pro");
    server.cli_ok(&["plugin", "install", &test_plugin("counter_v1")]);
    let mut clients = vec![];
    for tenant in ["acme", "globex"] {
        server.cli_ok(&["plugin", "enable", "--tenant", tenant, "counter"]);
        let (_, key) = server.create_key(tenant, "live", "counter:use", &[]);
        clients.push(server.client(tenant).key(&key));
    }
    let (acme, globex) = (&clients[0], &clients[1]);
    until_served(acme, "/api/v1/counter/version").await;
    assert_eq!(
        acme.post("/api/v1/counter/hits", json!({})).await.json()["hits"],
        1
    );
    assert_eq!(
        acme.get("/api/v1/counter/version").await.json()["version"],
        1
    );

    server.cli_ok(&["plugin", "install", &test_plugin("counter_v2")]);
    eventually(Duration::from_secs(10), async || {
        (acme.get("/api/v1/counter/version").await.json()["version"] == 2).then_some(())
    })
    .await;
    // v2's migration (a new column) ran on acme's file, and the old row is still there.
    assert_eq!(
        acme.post("/api/v1/counter/hits", json!({})).await.json()["hits"],
        2
    );
    assert_eq!(
        acme.post("/api/v1/counter/hits", json!({})).await.json()["hits"],
        3
    );
    // globex never saw v1's tables: both migrations, once, in order.
    assert_eq!(
        globex.post("/api/v1/counter/hits", json!({})).await.json()["hits"],
        1
    );
    // A refused upgrade leaves the old version serving.
    let out = server.cli(&["plugin", "install", &test_plugin("badscope")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        acme.get("/api/v1/counter/version").await.json()["version"],
        2
    );
}

#[tokio::test]
async fn on_event_reacts_to_other_surfaces_after_commit() {
    let (server, acme) = hostile_server().await;
    // The first event meets the plugin's cursor at the end of the log; later ones are delivered.
    acme.post("/api/v1/users", json!({ "username": "first" }))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = acme.get("/api/v1/hostile/things").await.json()["count"]
        .as_i64()
        .unwrap();
    for name in ["ada", "bob"] {
        assert_eq!(
            acme.post("/api/v1/users", json!({ "username": name }))
                .await
                .status,
            201
        );
    }
    eventually(Duration::from_secs(10), async || {
        (acme.get("/api/v1/hostile/things").await.json()["count"].as_i64() == Some(before + 2))
            .then_some(())
    })
    .await;
    // What the handler emitted is in the log too, naming the event it reacted to.
    let events = acme
        .get("/api/v1/events?type=hostile.thing_created")
        .await
        .json();
    assert!(
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["from"].as_str().is_some())
    );
    // Turned off, it hears nothing; turned on again, it catches up from where it was.
    server.cli_ok(&["plugin", "disable", "--tenant", "acme", "hostile"]);
    acme.post("/api/v1/users", json!({ "username": "cy" }))
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.cli_ok(&["plugin", "enable", "--tenant", "acme", "hostile"]);
    assert_eq!(
        acme.get("/api/v1/hostile/things").await.json()["count"].as_i64(),
        Some(before + 2)
    );
    acme.post("/api/v1/users", json!({ "username": "dee" }))
        .await;
    eventually(Duration::from_secs(10), async || {
        (acme.get("/api/v1/hostile/things").await.json()["count"].as_i64() == Some(before + 4))
            .then_some(())
    })
    .await;
}

/// A plugin GET's gate checks run on the read thread that then makes the call (one hop instead of
/// two): they refuse, count and stamp as the gate does on the host's routes, and before anything
/// the plugin would answer (a bad cursor, a missing listing).
#[tokio::test]
async fn a_plugin_read_is_checked_as_the_gate_checks_a_host_route() {
    use crate::market::{MARKET, listing, market_tenant};
    let server = Server::start();
    let acme = market_tenant(&server, "acme");
    let seller = acme.user("sam").await;
    let id = listing(&acme, &seller, "Lamp", 900).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/listings/{id}");
    server.set_setting("acme", "cors.allowed_origins", "https://a.example");
    let anonymous = server.client("acme");
    let with = |key: &str| server.client("acme").key(key);

    anonymous
        .get("/api/v1/listings?cursor=not-a-cursor")
        .await
        .assert_error(401, "missing_authorization");
    anonymous
        .get("/api/v1/listings/lst_missing")
        .await
        .assert_error(401, "missing_authorization");
    anonymous
        .clone()
        .header("authorization", "Basic YTpi")
        .get(&path)
        .await
        .assert_error(401, "invalid_authorization");
    with("mc_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .get(&path)
        .await
        .assert_error(401, "invalid_api_key");
    server.create_tenant("globex", "pro");
    let (_, globex) = server.create_key("globex", "live", MARKET, &[]);
    with(&globex)
        .get(&path)
        .await
        .assert_error(401, "invalid_api_key");
    let (revoked_id, revoked) = server.create_key("acme", "live", MARKET, &[]);
    assert_eq!(with(&revoked).get(&path).await.status, 200);
    server.cli_ok(&["key", "revoke", "--tenant", "acme", &revoked_id]);
    with(&revoked)
        .get(&path)
        .await
        .assert_error(401, "invalid_api_key");
    server.create_tenant("tiny", "starter");
    let (_, starter) = server.create_key("tiny", "live", MARKET, &[]);
    server
        .client("tiny")
        .key(&starter)
        .get("/api/v1/listings")
        .await
        .assert_error(403, "plan_gated");
    // CORS on a refusal too, so a browser app can read it.
    let r = anonymous
        .clone()
        .header("origin", "https://a.example")
        .get(&path)
        .await;
    r.assert_error(401, "missing_authorization");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example")
    );

    // Admitted: the key's window counts GET and HEAD, its headers are on answers and scope
    // refusals alike, and the limit refuses with Retry-After.
    let (_, writer) = server.create_key("acme", "live", "listings:write", &["--rate-limit", "9"]);
    let r = with(&writer).get(&path).await;
    r.assert_error(403, "insufficient_scope");
    assert_eq!(r.header("x-ratelimit-remaining"), Some("8"));
    let (_, limited) = server.create_key("acme", "live", MARKET, &["--rate-limit", "3"]);
    let limited = with(&limited).header("origin", "https://a.example");
    let r = limited.get(&path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.header("x-ratelimit-limit"),
            r.header("x-ratelimit-remaining"),
            r.header("access-control-allow-origin")
        ),
        (Some("3"), Some("2"), Some("https://a.example"))
    );
    let r = limited.send(reqwest::Method::HEAD, &path, None).await;
    assert_eq!(
        (r.status.as_u16(), r.header("x-ratelimit-remaining")),
        (200, Some("1"))
    );
    limited
        .get("/api/v1/listings/lst_missing")
        .await
        .assert_error(404, "listing_not_found");
    let r = limited.get(&path).await;
    r.assert_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // A test key reads the sandbox, where the live listing is not.
    let (_, test) = server.create_key("acme", "test", MARKET, &[]);
    with(&test)
        .get(&path)
        .await
        .assert_error(404, "listing_not_found");
    assert!(!server.log().contains("internal_error"));
}

#[tokio::test]
async fn headers_cross_the_sandbox_but_credentials_and_the_hosts_own_do_not() {
    let (server, acme) = hostile_server().await;
    let client = acme
        .clone()
        .header("cookie", "session=secret")
        .header("x-custom", "yes")
        .header("if-match", "\"v0\"")
        .header("accept", "application/json");
    let r = client.get("/api/v1/hostile/headers").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The plugin saw the request's headers, not the key (sent as Authorization) or the cookie.
    assert_eq!(
        r.json()["seen"],
        serde_json::json!(["x-custom", "if-match", "accept"])
    );
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert_eq!(r.header("cache-control"), Some("private, max-age=60"));
    assert_eq!(r.header("x-experience-api-version"), Some("1.0.3"));
    // What the host owns is the host's, whatever the plugin said.
    assert!(r.header("x-request-id").unwrap().starts_with("req_"));
    assert!(r.header("set-cookie").is_none());
    assert_ne!(r.header("x-ratelimit-remaining"), Some("999999"));
    assert!(r.header("x-ratelimit-limit").is_some());
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.header("x-split").is_none() && r.header("injected").is_none());
    assert_eq!(
        r.text.len(),
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
    );
    // A conditional request, end to end: the plugin's 304 with its ETag, and no body.
    let r = acme
        .clone()
        .header("if-none-match", "\"v1\"")
        .get("/api/v1/hostile/headers")
        .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert!(r.text.is_empty());
    // The key in X-API-Key stays with the host too.
    let (_, key) = server.create_key("acme", "live", "hostile:use", &[]);
    let r = server
        .client("acme")
        .header("x-api-key", &key)
        .get("/api/v1/hostile/headers")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let seen = r.json()["seen"].clone();
    assert!(
        !seen.as_array().unwrap().contains(&"x-api-key".into()),
        "{seen}"
    );
}
