//! Contract 1.1's capabilities through the real binary: a plugin declares what it uses and gets
//! just that; full-text search in its own FTS5 tables; durable timers fired through `on-timer`;
//! the tenant's clean files; users in a batch.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Server, eventually};
use crate::plugins::{test_plugin, until_served};

const SCOPES: &str = "capable:use,hostile:use,files:read,files:write";

async fn capable_server() -> (Server, Client, String) {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let installed = server.cli_ok(&["plugin", "install", &test_plugin("capable")]);
    assert!(
        installed.contains("contract 1.1.0, capabilities: search,timers,files"),
        "{installed}"
    );
    server.cli_ok(&["plugin", "install", &test_plugin("hostile")]);
    for name in ["capable", "hostile"] {
        server.cli_ok(&["plugin", "enable", "--tenant", "acme", name]);
    }
    let (_, key) = server.create_key(
        "acme",
        "live",
        &format!("{ALL_CORE},{SCOPES}"),
        &["--rate-limit", "100000"],
    );
    let client = server.client("acme").key(&key);
    until_served(&client, "/api/v1/capable/fired").await;
    (server, client, key)
}

#[tokio::test]
async fn a_plugin_that_uses_a_capability_it_did_not_declare_is_refused() {
    let server = Server::start();
    let out = server.cli(&["plugin", "install", &test_plugin("undeclared")]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(
            "imports `mobieus:plugin/timers` but does not declare the `timers` capability"
        ),
        "{said}"
    );
}

#[tokio::test]
async fn full_text_search_ranks_stems_and_highlights_and_stays_the_plugins_own() {
    let (_server, acme, _) = capable_server().await;
    for (title, body) in [
        (
            "Running a server",
            "The servers were running all night, and the secret stayed.",
        ),
        ("Cooking", "Bread and soup for the team."),
        ("Runbook", "What to run when the server is down."),
    ] {
        let r = acme
            .post(
                "/api/v1/capable/notes",
                json!({ "title": title, "body": body }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let found = acme.get("/api/v1/capable/search?q=run").await;
    assert_eq!(found.status, 200, "{}", found.text);
    let found = found.json();
    let titles: Vec<&str> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap())
        .collect();
    // `porter` stems running/run; bm25 ranks the note that says it twice first; highlight()
    // marks the match; the cooking note is not there.
    assert_eq!(titles, ["<b>Running</b> a server", "Runbook"], "{found}");
    assert!(
        found["data"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<b>running</b>"),
        "{found}"
    );
    assert!(found["data"][0]["score"].as_f64().unwrap() < 0.0);
    // The trigram index matches inside words.
    let inside = acme.get("/api/v1/capable/search?q=ook").await.json();
    assert_eq!(inside["trigram_matches"], 2, "{inside}");
    // Another plugin reaches neither the index nor its shadow tables.
    for case in ["other-fts", "other-fts-shadow"] {
        let r = acme
            .get(&format!("/api/v1/hostile/sql/{case}"))
            .await
            .json();
        assert_eq!(r["allowed"], false, "{case}: {r}");
    }
}

async fn fired(client: &Client) -> Vec<Value> {
    client.get("/api/v1/capable/fired").await.json()["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn on_timer_reads_the_tenants_flags_for_the_plugin() {
    let (server, acme, _) = capable_server().await;
    server.cli_ok(&[
        "plugin",
        "flag",
        "--tenant",
        "acme",
        "capable",
        "ai.summary",
        "on",
    ]);
    let r = acme
        .post(
            "/api/v1/capable/timers",
            json!({ "key": "flagged", "in_ms": 0, "payload": "flag" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let got = eventually(Duration::from_secs(10), async || {
        let got = fired(&acme).await;
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(got[0]["payload"], "flag:on");
}

#[tokio::test]
async fn timers_fire_once_due_survive_a_restart_and_can_be_replaced_or_cancelled() {
    let (mut server, acme, key) = capable_server().await;
    let set = |key: &'static str, in_ms: i64, payload: &'static str| {
        let acme = acme.clone();
        async move {
            let r = acme
                .post(
                    "/api/v1/capable/timers",
                    json!({ "key": key, "in_ms": in_ms, "payload": payload }),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    };
    set("soon", 200, "first").await;
    // Same key: replaced, fires once with the new payload.
    set("soon", 300, "replaced").await;
    set("cancelled", 300, "never").await;
    let r = acme.delete("/api/v1/capable/timers/cancelled").await;
    assert_eq!(r.json()["cancelled"], true, "{}", r.text);
    // Set again from inside on-timer under its own key: fires a second time.
    set("again", 100, "again").await;
    // A failing handler keeps its timer (retried with a backoff); nothing it wrote stays.
    set("failing", 0, "fail").await;
    let got = eventually(Duration::from_secs(10), async || {
        let got = fired(&acme).await;
        (got.len() >= 3).then_some(got)
    })
    .await;
    let mut pairs: Vec<(String, String)> = got
        .iter()
        .map(|f| {
            (
                f["key"].as_str().unwrap().into(),
                f["payload"].as_str().unwrap().into(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("again".to_owned(), "again".to_owned()),
            ("again".to_owned(), "second".to_owned()),
            ("soon".to_owned(), "replaced".to_owned()),
        ]
    );
    let events = acme
        .get("/api/v1/events?type=capable.timer_fired")
        .await
        .json();
    assert_eq!(events["data"].as_array().unwrap().len(), 3, "{events}");
    // A GET cannot set one.
    let r = acme.get("/api/v1/capable/timers/set-in-a-get").await.json();
    assert_eq!(r["set"], false);
    assert!(r["error"].as_str().unwrap().contains("not a GET"), "{r}");

    // Durable: set, stop the server before it is due, start again: it fires.
    set("later", 1500, "after-restart").await;
    server.restart();
    let acme = server.client("acme").key(&key);
    let got = eventually(Duration::from_secs(15), async || {
        let got = fired(&acme).await;
        got.iter()
            .any(|f| f["payload"] == "after-restart")
            .then_some(got)
    })
    .await;
    assert_eq!(got.len(), 4);
    assert!(server.log().contains("on-timer failed: asked to fail"));
}

#[tokio::test]
async fn files_are_read_in_chunks_and_only_when_clean_and_users_come_in_a_batch() {
    let (_server, acme, _) = capable_server().await;
    // 2.5 MiB: three chunks of at most 1 MiB.
    let bytes: Vec<u8> = (0..(5 << 19)).map(|i: u32| (i % 251) as u8).collect();
    let r = acme
        .send(
            Method::POST,
            "/api/v1/files?filename=data.bin",
            Some(("application/octet-stream", bytes.clone())),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let read = eventually(Duration::from_secs(10), async || {
        let r = acme.get(&format!("/api/v1/capable/files/{id}")).await;
        (r.status == 200).then_some(r.json())
    })
    .await;
    let checksum = bytes
        .iter()
        .fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
    assert_eq!(
        (&read["size"], &read["read"], &read["checksum"]),
        (
            &json!(bytes.len()),
            &json!(bytes.len()),
            &json!(checksum.to_string())
        )
    );
    // EICAR is rejected by the scan; the plugin may see it exists but not read it.
    let eicar = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    let r = acme
        .send(
            Method::POST,
            "/api/v1/files?filename=eicar.txt",
            Some(("text/plain", eicar.to_vec())),
        )
        .await;
    let bad = r.json()["id"].as_str().unwrap().to_owned();
    let refused = eventually(Duration::from_secs(10), async || {
        let r = acme.get(&format!("/api/v1/capable/files/{bad}")).await;
        (r.status == 409).then_some(r)
    })
    .await;
    refused.assert_error(409, "file_not_clean");
    acme.get("/api/v1/capable/files/file_nope")
        .await
        .assert_error(404, "file_not_found");

    let ada = acme
        .post("/api/v1/users", json!({ "username": "ada" }))
        .await
        .json();
    let bob = acme
        .post("/api/v1/users", json!({ "username": "bob" }))
        .await
        .json();
    let ids = format!(
        "{},usr_nope,{}",
        bob["id"].as_str().unwrap(),
        ada["id"].as_str().unwrap()
    );
    let found = acme
        .get(&format!("/api/v1/capable/users?ids={ids}"))
        .await
        .json();
    assert_eq!(found["usernames"], json!(["bob", "ada"]), "{found}");
}

#[tokio::test]
async fn a_public_route_answers_without_a_key_rate_limited_per_address() {
    let (server, acme, _) = capable_server().await;
    server.set_setting("acme", "default_rate_limit_per_minute", "3");
    let anonymous = server.client("acme");
    let r = anonymous.get("/api/v1/capable/public/CERT-1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({ "code": "CERT-1", "key_id": "", "scopes": [] })
    );
    // A key still counts as one: a bad one is refused, never taken as anonymous.
    server
        .client("acme")
        .key("mc_live_nope")
        .get("/api/v1/capable/public/CERT-1")
        .await
        .assert_error(401, "invalid_api_key");
    // Only what the plugin declares public.
    anonymous
        .get("/api/v1/capable/fired")
        .await
        .assert_error(401, "missing_authorization");
    // Per address, at the community's default rate: three a minute here.
    let mut statuses = vec![];
    for _ in 0..3 {
        statuses.push(
            anonymous
                .get("/api/v1/capable/public/x")
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 429]);
    // The key's own allowance is untouched by the anonymous calls.
    assert_eq!(acme.get("/api/v1/capable/fired").await.status, 200);
    // The document says it needs no key.
    let doc = anonymous.get("/api/openapi.json").await.json();
    let op = &doc["paths"]["/api/v1/capable/public/{code}"]["get"];
    assert_eq!(op["security"], json!([]));
    assert!(op["responses"].get("401").is_none() && op.get("x-required-scope").is_none());
}

/// `?path=` for the capable plugin's chain route.
fn chain(path: &str) -> String {
    format!(
        "/api/v1/capable/chain?path={}",
        url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
    )
}

#[tokio::test]
async fn surfaces_are_called_as_the_caller_never_more_and_one_deep() {
    let (server, acme, _) = capable_server().await;
    acme.post("/api/v1/users", json!({ "username": "ada" }))
        .await;
    // The caller holds users:read: the plugin reads users as it.
    let r = acme.get(&chain("/api/v1/users")).await.json();
    assert_eq!(
        (&r["status"], &r["body"]["total_count"]),
        (&json!(200), &json!(1)),
        "{r}"
    );
    // A caller without users:read: the plugin is refused what its caller would be.
    let (_, narrow) = server.create_key("acme", "live", "capable:use", &[]);
    let narrow = server.client("acme").key(&narrow);
    let r = narrow.get(&chain("/api/v1/users")).await.json();
    assert_eq!(
        (&r["status"], &r["body"]["error"]["code"]),
        (&json!(403), &json!("insufficient_scope")),
        "{r}"
    );
    // Plugin to plugin (here itself): one level works; the surface it calls may not call on.
    let r = acme.get(&chain("/api/v1/capable/fired")).await.json();
    assert_eq!(r["status"], 200, "{r}");
    let r = acme
        .get(&chain(&chain("/api/v1/capable/fired")))
        .await
        .json();
    assert!(
        r["body"]["refused"]
            .as_str()
            .is_some_and(|why| why.contains("at most 1 deep")),
        "{r}"
    );
    // Only paths under /api/v1/.
    let r = acme.get(&chain("/admin/api-keys")).await.json();
    assert!(
        r["refused"]
            .as_str()
            .unwrap()
            .contains("not a path under /api/v1/"),
        "{r}"
    );
    // From a write too: asked with the tenant's writer free, the call run again with the answer.
    let r = acme.post(&chain("/api/v1/users"), json!({})).await.json();
    assert_eq!(
        (&r["status"], &r["body"]["total_count"]),
        (&json!(200), &json!(1)),
        "{r}"
    );
    let r = acme
        .post(&chain(&chain("/api/v1/capable/fired")), json!({}))
        .await
        .json();
    assert!(
        r["body"]["refused"]
            .as_str()
            .is_some_and(|why| why.contains("at most 1 deep")),
        "{r}"
    );
}

#[tokio::test]
async fn a_surface_answer_past_the_cap_is_refused_not_handed_over() {
    let (_server, acme, _) = capable_server().await;
    // A clean file of 17 MiB: its content is one GET, one byte past the 16 MiB a plugin may take.
    let bytes = vec![b'a'; (16 << 20) + 1];
    let r = acme
        .send(
            Method::POST,
            "/api/v1/files?filename=big.txt",
            Some(("text/plain", bytes)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(20), async || {
        let file = acme.get(&format!("/api/v1/files/{id}")).await.json();
        (file["status"] == "clean").then_some(())
    })
    .await;
    let r = acme
        .get(&chain(&format!("/api/v1/files/{id}/content")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let refused = r.json()["refused"].as_str().unwrap_or_default().to_owned();
    assert!(refused.contains("is over 16777216 bytes"), "{}", r.text);
    // Under the cap the same call hands the answer over.
    let r = acme
        .get(&chain(&format!("/api/v1/files/{id}")))
        .await
        .json();
    assert_eq!(r["status"], 200, "{r}");
}

#[tokio::test]
async fn a_flood_of_anonymous_reads_is_held_to_the_address_budget_and_keys_still_answer() {
    let (server, acme, _) = capable_server().await;
    server.set_setting("acme", "default_rate_limit_per_minute", "20");
    let anonymous = server.client("acme");
    let flood: Vec<_> = (0..200)
        .map(|i| {
            let anonymous = anonymous.clone();
            tokio::spawn(
                async move { anonymous.get(&format!("/api/v1/capable/public/c{i}")).await },
            )
        })
        .collect();
    // While it runs, a keyed caller is served on its own allowance.
    let keyed = acme.get("/api/v1/capable/fired").await;
    assert_eq!(keyed.status, 200, "{}", keyed.text);
    let (mut ok, mut limited) = (0, 0);
    for f in flood {
        let r = f.await.unwrap();
        match r.status.as_u16() {
            200 => ok += 1,
            429 => {
                assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
                assert_eq!(r.code(), "rate_limited");
                limited += 1;
            }
            other => panic!("{other}: {}", r.text),
        }
    }
    assert_eq!(ok + limited, 200);
    assert!(
        ok <= 20,
        "{ok} anonymous reads passed a budget of 20 a minute"
    );
    assert!(ok >= 1);
    assert_eq!(acme.get("/api/v1/capable/fired").await.status, 200);
}
