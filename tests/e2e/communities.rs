//! The Cobuntu-compatible surface's host support (seed 001), through the real binary: keys in
//! Cobuntu's format, its scopes, its per-second limits, and the community named in the path.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Client, Server, eventually, ok, s};
use crate::mail::Smtp;

/// Mints a key in Cobuntu's format: `kind` publishable or secret.
pub fn cobuntu_key(server: &Server, tenant: &str, env: &str, kind: &str, scopes: &str) -> String {
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
    let file = server.live_file("acme");
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
        // Within one second of the clock (the window the limiter counts in): the limit, then
        // 429. Started just after a second begins; judged only if it ended within it.
        let second = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
        };
        let into = second().subsec_millis() as u64;
        tokio::time::sleep(std::time::Duration::from_millis(1005 - into.min(1000))).await;
        let started = second().as_secs();
        let mut answered = Vec::new();
        for _ in 0..=limit {
            answered.push(client.get("/api/v1/users").await);
        }
        if second().as_secs() != started {
            eprintln!(
                "{kind}: {} requests took over a second: not judged",
                limit + 1
            );
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

const COMMUNITY: &str = "/api/v1/communities/acme";

/// A community with an `ADMIN` secret key: its clients at the base domain, by scope.
struct Community {
    server: Server,
    admin: Client,
}

impl Community {
    fn start_with(args: &[&str]) -> Community {
        let server = Server::start_with(args);
        server.create_tenant("acme", "pro");
        let admin = cobuntu_key(&server, "acme", "live", "secret", "ADMIN");
        let admin = at_base_domain(&server).header("x-api-key", &admin);
        Community { server, admin }
    }

    /// A client whose key holds these scopes (`publishable` or `secret`).
    fn key(&self, kind: &str, scopes: &str) -> Client {
        let key = cobuntu_key(&self.server, "acme", "live", kind, scopes);
        at_base_domain(&self.server).header("x-api-key", &key)
    }

    /// A host user (with an address), by our own key.
    async fn user(&self, name: &str) -> String {
        let (_, key) = self.server.create_key("acme", "live", "users:write", &[]);
        let r = self
            .server
            .client("acme")
            .key(&key)
            .post(
                "/api/v1/users",
                json!({"username": name, "email": format!("{name}@example.com")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        s(&r.json()["id"])
    }
}

async fn made(client: &Client, path: &str, body: Value) -> Value {
    let r = client.post(&format!("{COMMUNITY}{path}"), body).await;
    assert_eq!(r.status, 201, "{path}: {}", r.text);
    r.json()
}

async fn read(client: &Client, path: &str) -> Value {
    ok(client.get(&format!("{COMMUNITY}{path}")).await)
}

#[tokio::test]
async fn every_row_of_the_seed_answers_under_its_scope() {
    let c = Community::start_with(&[]);
    let admin = &c.admin;
    let ada = c.user("ada").await;
    let bob = c.user("bob").await;

    // The community's data, made with ADMIN.
    made(admin, "/events", json!({"slug": "meetup", "title": "Meetup", "starts_at": "2030-05-01T18:00:00Z", "location": "The hall"})).await;
    let free = made(admin, "/events/meetup/tiers", json!({"name": "Free", "form": [
        {"name": "diet", "label": "Diet", "kind": "select", "options": ["any", "vegan"], "required": true}
    ]}))
    .await;
    let paid = made(
        admin,
        "/events/meetup/tiers",
        json!({"name": "VIP", "price": 2500}),
    )
    .await;
    made(
        admin,
        "/articles",
        json!({"slug": "welcome", "title": "Welcome", "body": "Hello."}),
    )
    .await;
    made(
        admin,
        "/articles",
        json!({"slug": "draft", "title": "Draft", "published": false}),
    )
    .await;
    made(
        admin,
        "/products",
        json!({"sku": "MUG-1", "name": "Mug", "price": 1200}),
    )
    .await;
    let category = made(admin, "/atlas/categories", json!({"name": "Cafés"})).await;
    let hotspot = made(admin, "/atlas/hotspots", json!({"name": "Corner", "latitude": 52.5, "longitude": 13.4, "category_id": category["id"]})).await;
    let segment = made(
        admin,
        "/segments",
        json!({"name": "Supporters", "public": true, "price": 500, "form": [
            {"name": "why", "label": "Why?", "kind": "text", "required": true}
        ]}),
    )
    .await;
    made(admin, "/segments", json!({"name": "Staff"})).await;
    made(admin, "/members", json!({"user_id": ada})).await;
    admin
        .post(
            &format!("{COMMUNITY}/events"),
            json!({"slug": "meetup", "title": "Again", "starts_at": "2030-05-01T18:00:00Z"}),
        )
        .await
        .assert_error(409, "slug_taken");

    // READ_PUBLIC, with a publishable key, reads every GET row.
    let public = c.key("publishable", "READ_PUBLIC");
    assert_eq!(read(&public, "/events").await["total"], 1);
    assert_eq!(
        read(&public, "/events/meetup").await["location"],
        "The hall"
    );
    assert_eq!(read(&public, "/events/meetup/tiers").await["total"], 2);
    let form = read(&public, &format!("/tiers/{}/form", s(&free["id"]))).await;
    assert_eq!(form["fields"][0]["name"], "diet");
    let articles = read(&public, "/articles").await;
    assert_eq!(
        (
            articles["total"].clone(),
            articles["data"][0]["slug"].clone()
        ),
        (json!(1), json!("welcome"))
    );
    assert_eq!(read(&public, "/products").await["data"][0]["sku"], "MUG-1");
    assert_eq!(read(&public, "/products/MUG-1").await["price"], 1200);
    let members = read(&public, "/members").await;
    assert_eq!(members["data"][0]["username"], "ada");
    assert!(
        members["data"][0].get("email").is_none(),
        "public fields only"
    );
    assert_eq!(read(&public, "/atlas/hotspots").await["total"], 1);
    assert_eq!(
        read(&public, &format!("/atlas/hotspots/{}", s(&hotspot["id"]))).await["name"],
        "Corner"
    );
    assert_eq!(
        read(&public, "/atlas/categories").await["data"][0]["name"],
        "Cafés"
    );
    let segments = read(&public, "/segments/public").await;
    assert_eq!(
        (
            segments["total"].clone(),
            segments["data"][0]["name"].clone()
        ),
        (json!(1), json!("Supporters"))
    );
    let sid = s(&segment["id"]);
    assert_eq!(
        read(&public, &format!("/segments/{sid}/form")).await["fields"][0]["name"],
        "why"
    );
    for (path, code) in [
        ("/events/nope", "event_not_found"),
        ("/products/NOPE", "product_not_found"),
        ("/atlas/hotspots/hsp_nope", "hotspot_not_found"),
        ("/segments/seg_nope/form", "segment_not_found"),
        ("/tiers/tier_nope/form", "tier_not_found"),
    ] {
        public
            .get(&format!("{COMMUNITY}{path}"))
            .await
            .assert_error(404, code);
    }
    // A publishable key writes nothing, whatever it asks.
    public
        .post(
            &format!("{COMMUNITY}/events/meetup/rsvp"),
            json!({"user_id": ada}),
        )
        .await
        .assert_error(403, "insufficient_scope");

    // WRITE_SALES: an RSVP to the free tier, answering its form; a paid tier is refused.
    let sales = c.key("secret", "WRITE_SALES");
    let rsvp = format!("{COMMUNITY}/events/meetup/rsvp");
    sales
        .post(&rsvp, json!({"user_id": ada}))
        .await
        .assert_error(400, "validation_failed");
    let made_rsvp = sales
        .post(&rsvp, json!({"user_id": ada, "answers": {"diet": "vegan"}}))
        .await;
    assert_eq!(made_rsvp.status, 201, "{}", made_rsvp.text);
    sales
        .post(&rsvp, json!({"user_id": ada, "answers": {"diet": "any"}}))
        .await
        .assert_error(409, "already_rsvped");
    let r = sales
        .post(&rsvp, json!({"user_id": bob, "tier_id": paid["id"]}))
        .await;
    r.assert_error(402, "payment_required");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2500")
    );
    assert_eq!(
        read(&public, "/events/meetup/tiers").await["data"][0]["taken"],
        1
    );
    // Another scope does not stand in for WRITE_SALES; ADMIN does.
    c.key("secret", "READ_PUBLIC,WRITE_MEMBERS")
        .post(&rsvp, json!({"user_id": bob, "answers": {"diet": "any"}}))
        .await
        .assert_error(403, "insufficient_scope");
    assert_eq!(
        admin
            .post(&rsvp, json!({"user_id": bob, "answers": {"diet": "any"}}))
            .await
            .status,
        201
    );

    // WRITE_MEMBERS: the segment form, the rules, applications, kicks and bans.
    let members = c.key("secret", "WRITE_MEMBERS");
    let submit = format!("{COMMUNITY}/segments/{sid}/submit");
    members
        .post(&submit, json!({"user_id": ada, "answers": {"why": 3}}))
        .await
        .assert_error(400, "validation_failed");
    members
        .post(
            &submit,
            json!({"user_id": ada, "answers": {"why": "Love it", "extra": 1}}),
        )
        .await
        .assert_error(400, "validation_failed");
    assert_eq!(
        members
            .post(
                &submit,
                json!({"user_id": ada, "answers": {"why": "Love it"}})
            )
            .await
            .status,
        201
    );
    assert_eq!(
        read(&public, "/segments/public").await["data"][0]["members"],
        1
    );
    let rules = format!("{COMMUNITY}/rules/accept");
    assert_eq!(
        members.post(&rules, json!({"user_id": ada})).await.status,
        200
    );
    members
        .post(&rules, json!({"user_id": bob}))
        .await
        .assert_error(404, "member_not_found");

    let application = made(
        admin,
        "/applications",
        json!({"user_id": bob, "answers": {"why": "friend of ada"}}),
    )
    .await;
    let approve = format!("{COMMUNITY}/applications/{}/approve", s(&application["id"]));
    assert_eq!(
        ok(members.post(&approve, json!({})).await)["status"],
        "approved"
    );
    members
        .post(&approve, json!({}))
        .await
        .assert_error(409, "application_decided");
    assert_eq!(read(&public, "/members").await["total"], 2);
    let other = made(admin, "/applications", json!({"user_id": ada})).await;
    let rejected = ok(members
        .post(
            &format!("{COMMUNITY}/applications/{}/reject", s(&other["id"])),
            json!({"reason": "already in"}),
        )
        .await);
    assert_eq!(
        (rejected["status"].clone(), rejected["reason"].clone()),
        (json!("rejected"), json!("already in"))
    );
    // ADMIN lists applications (by status) and every segment; a publishable key may not.
    let pending = read(admin, "/applications?status=approved").await;
    assert_eq!(
        (pending["total"].clone(), pending["data"][0]["id"].clone()),
        (json!(1), application["id"].clone())
    );
    assert_eq!(read(admin, "/applications").await["total"], 2);
    admin
        .get(&format!("{COMMUNITY}/applications?status=maybe"))
        .await
        .assert_error(400, "validation_failed");
    assert_eq!(read(admin, "/segments").await["total"], 2);
    assert_eq!(read(&public, "/segments/public").await["total"], 1);
    public
        .get(&format!("{COMMUNITY}/segments"))
        .await
        .assert_error(403, "insufficient_scope");

    // A kick removes bob from the list; a ban refuses ada everything a member does.
    assert_eq!(
        ok(members
            .post(&format!("{COMMUNITY}/members/{bob}/kick"), json!({}))
            .await)["status"],
        "kicked"
    );
    assert_eq!(read(&public, "/members").await["total"], 1);
    let ban = format!("{COMMUNITY}/members/{ada}/ban");
    assert_eq!(
        ok(members.post(&ban, json!({"reason": "spam"})).await)["status"],
        "banned"
    );
    members
        .post(&ban, json!({}))
        .await
        .assert_error(409, "already_banned");
    members
        .post(
            &submit,
            json!({"user_id": ada, "answers": {"why": "again"}}),
        )
        .await
        .assert_error(403, "member_banned");
    members
        .post(&rules, json!({"user_id": ada}))
        .await
        .assert_error(403, "member_banned");
    assert_eq!(read(&public, "/members").await["total"], 0);
    // The ban is in the moderation action log, without a report.
    let (_, moderator) = c.server.create_key("acme", "live", "reports:read", &[]);
    let moderator = c.server.client("acme").key(&moderator);
    let logged = eventually(Duration::from_secs(20), async || {
        let log = ok(moderator
            .get("/api/v1/moderation/actions?type=ban_member")
            .await);
        log["data"]
            .as_array()
            .filter(|a| !a.is_empty())
            .map(|a| a[0].clone())
    })
    .await;
    assert_eq!(logged["user_id"], ada.as_str());
    assert_eq!(logged["note"], "spam");
    assert_eq!(logged["report_id"], Value::Null);
    assert!(s(&logged["taken_by_key"]).starts_with("key_"));

    // PATCH a segment: ADMIN only.
    let patch = format!("{COMMUNITY}/segments/{sid}");
    members
        .patch(&patch, json!({"active": false}))
        .await
        .assert_error(403, "insufficient_scope");
    let changed = ok(admin
        .patch(
            &patch,
            json!({"name": "Patrons", "price": 900, "active": false}),
        )
        .await);
    assert_eq!(
        (
            changed["name"].clone(),
            changed["price"].clone(),
            changed["active"].clone()
        ),
        (json!("Patrons"), json!(900), json!(false))
    );
    assert_eq!(read(&public, "/segments/public").await["total"], 0);

    // Each write is an event webhooks see.
    let (_, reader) = c.server.create_key("acme", "live", "events:read", &[]);
    let log = ok(c
        .server
        .client("acme")
        .key(&reader)
        .get("/api/v1/events?limit=100")
        .await);
    let types: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for wanted in [
        "rsvp.created",
        "segment.submitted",
        "rules.accepted",
        "application.approved",
        "application.rejected",
        "member.kicked",
        "member.banned",
        "segment.updated",
    ] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }
    // The surface's scopes grant nothing elsewhere.
    admin
        .get("/api/v1/users")
        .await
        .assert_error(404, "tenant_not_found");
    c.server
        .client("acme")
        .header(
            "x-api-key",
            &cobuntu_key(&c.server, "acme", "live", "secret", "ADMIN"),
        )
        .get("/api/v1/users")
        .await
        .assert_error(403, "insufficient_scope");
}

#[tokio::test]
async fn lists_page_by_offset_with_the_total() {
    let c = Community::start_with(&[]);
    for i in 0..25 {
        made(
            &c.admin,
            "/products",
            json!({"sku": format!("SKU-{i:02}"), "name": format!("Product {i:02}"), "price": 100}),
        )
        .await;
    }
    let reader = c.key("publishable", "READ_PUBLIC");
    let first = read(&reader, "/products").await;
    assert_eq!(
        (
            first["data"].as_array().unwrap().len(),
            first["total"].clone(),
            first["limit"].clone()
        ),
        (20, json!(25), json!(20))
    );
    let last = read(&reader, "/products?limit=10&offset=20").await;
    assert_eq!(last["data"].as_array().unwrap().len(), 5);
    assert_eq!(last["data"][0]["sku"], "SKU-20");
    assert_eq!(
        read(&reader, "/products?limit=500").await["limit"],
        100,
        "at most 100"
    );
    for bad in ["limit=0", "offset=-1", "limit=ten"] {
        reader
            .get(&format!("{COMMUNITY}/products?{bad}"))
            .await
            .assert_error(400, "validation_failed");
    }
}

#[tokio::test]
async fn broadcasts_mail_each_member_and_five_fill_the_window() {
    let smtp = Smtp::start("Acme <hello@acme.test>", 0);
    let inbox = smtp.inbox.clone();
    let c = Community::start_with(&smtp.with(&[]));
    // A short window, to see it free up; batches of one, to see a broadcast handed on by its
    // timer.
    for (setting, value) in [
        ("community.broadcast_window_secs", "4"),
        ("community.broadcast_batch", "1"),
    ] {
        c.server
            .cli_ok(&["settings", "set", "--tenant", "acme", setting, value]);
    }
    let segment = made(&c.admin, "/segments", json!({"name": "Supporters"})).await;
    let members = c.key("secret", "WRITE_MEMBERS");
    for name in ["ada", "bob"] {
        let id = c.user(name).await;
        made(&c.admin, "/members", json!({"user_id": id})).await;
        let r = members
            .post(
                &format!("{COMMUNITY}/segments/{}/submit", s(&segment["id"])),
                json!({"user_id": id}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let sender = c.key("secret", "WRITE_BROADCASTS");
    let send = |n: usize| json!({"segment_id": segment["id"], "subject": format!("News {n}"), "text": "Hello, supporters."});
    for n in 0..4 {
        let r = sender
            .post(&format!("{COMMUNITY}/broadcasts"), send(n))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        // One handed to the outbox by the request, the other by the timer it set.
        assert_eq!(
            (r.json()["recipients"].clone(), r.json()["pending"].clone()),
            (json!(2), json!(1))
        );
    }
    // The fifth and a sixth at once: one goes, the other is refused.
    let path = format!("{COMMUNITY}/broadcasts");
    let (a, b) = tokio::join!(sender.post(&path, send(4)), sender.post(&path, send(5)));
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 429], "{} / {}", a.text, b.text);
    let refused = if a.status == 429 { a } else { b };
    refused.assert_error(429, "broadcast_limit");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=4).contains(&retry), "{retry}");
    assert!(refused.json()["error"]["retry_at"].is_string());
    // One message per member and broadcast, each to that member alone.
    let delivered = eventually(Duration::from_secs(30), async || {
        let d = inbox.delivered.lock().unwrap();
        (d.len() >= 10).then(|| d.iter().map(|m| m.to.clone()).collect::<Vec<_>>())
    })
    .await;
    assert_eq!(delivered.len(), 10);
    assert!(delivered.iter().all(|to| to.len() == 1));
    let listed = read(&c.admin, "/broadcasts").await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["pending"] == 0),
        "{listed}"
    );
    // Once the window has moved past the first, one more may go.
    tokio::time::sleep(Duration::from_secs(retry + 1)).await;
    assert_eq!(
        sender
            .post(&format!("{COMMUNITY}/broadcasts"), send(6))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn a_client_written_from_the_seed_alone_runs_with_our_url_and_key() {
    let c = Community::start_with(&[]);
    made(
        &c.admin,
        "/events",
        json!({"slug": "meetup", "title": "Meetup", "starts_at": "2030-05-01T18:00:00Z"}),
    )
    .await;
    made(&c.admin, "/events/meetup/tiers", json!({"name": "Free"})).await;
    made(
        &c.admin,
        "/articles",
        json!({"slug": "welcome", "title": "Welcome"}),
    )
    .await;
    made(
        &c.admin,
        "/products",
        json!({"sku": "MUG-1", "name": "Mug", "price": 1200}),
    )
    .await;
    made(
        &c.admin,
        "/atlas/hotspots",
        json!({"name": "Corner", "latitude": 1.0, "longitude": 2.0}),
    )
    .await;
    made(
        &c.admin,
        "/segments",
        json!({"name": "Supporters", "public": true}),
    )
    .await;
    let ada = c.user("ada").await;
    made(&c.admin, "/members", json!({"user_id": ada})).await;
    let key = cobuntu_key(&c.server, "acme", "live", "publishable", "READ_PUBLIC");
    let port = at_base_domain(&c.server)
        .host
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/cobuntu_client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("COBUNTU_API", format!("http://localhost:{port}/api/v1"))
        .env("COBUNTU_KEY", &key)
        .env("COBUNTU_COMMUNITY", "acme")
        .output()
        .expect("python3");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "events: 1",
        "Meetup at 2030-05-01T18:00:00.000Z: 1 tiers",
        "articles: Welcome",
        "product MUG-1: Mug",
        "members: ada",
        "hotspot: Corner",
        "segment Supporters: 0 form fields",
    ] {
        assert!(printed.contains(line), "{line} in {printed}");
    }
}

#[tokio::test]
async fn the_console_makes_the_communitys_data_through_the_plugin_and_shares_the_broadcast_window()
{
    let c = Community::start_with(&[]);
    let mut console = crate::admin::Console::new(&c.server, "acme");
    console
        .set_up(&crate::admin::invite(&c.server, "acme", "ada@acme.example"))
        .await;
    let page = console.get("/admin/plugins/community/data").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"op-communityCreateEvent\""));
    // The community's tag is the console's own: never a field of a form.
    assert!(!page.body.contains("name=\"param.tag\""));
    let csrf = page.csrf();
    let post = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields);
        form
    };
    let send = async |console: &mut crate::admin::Console, form: Vec<(&str, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        console.post("/admin/plugins/community/data", &form).await
    };

    // Data made in the console is the API's.
    let r = send(
        &mut console,
        post(vec![
            ("operation", "communityCreateEvent".into()),
            ("body.slug", "meetup".into()),
            ("body.title", "Winter meetup".into()),
            ("body.description", "  Talks, then  food.\n".into()),
            ("body.starts_at", "2027-01-15T18:00:00Z".into()),
        ]),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location(),
        "/admin/plugins/community/data?notice=plugin_called"
    );
    let event = read(&c.admin, "/events/meetup").await;
    assert_eq!(event["title"], "Winter meetup");
    assert_eq!(event["description"], "  Talks, then  food.\n");
    let r = send(
        &mut console,
        post(vec![
            ("operation", "communityCreateTier".into()),
            ("param.slug", "meetup".into()),
            ("body.name", "Standing".into()),
            ("body.capacity", "40".into()),
            (
                "body.form",
                r#"[{"name": "diet", "label": "Diet", "kind": "text"}]"#.into(),
            ),
        ]),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let tiers = read(&c.admin, "/events/meetup/tiers").await;
    assert_eq!(tiers["data"][0]["capacity"], 40, "{tiers}");
    let listed = console.get("/admin/plugins/community/data").await.body;
    assert!(listed.contains("Winter meetup"), "{listed}");

    // The plugin's own checks answer, with its code; a form the console cannot read is refused
    // before the plugin is called.
    let r = send(
        &mut console,
        post(vec![
            ("operation", "communityCreateEvent".into()),
            ("body.slug", "Not A Slug".into()),
            ("body.title", "x".into()),
            ("body.starts_at", "2027-01-15T18:00:00Z".into()),
        ]),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("validation_failed"), "{}", r.body);
    let r = send(
        &mut console,
        post(vec![
            ("operation", "communityCreateTier".into()),
            ("param.slug", "meetup".into()),
            ("body.name", "Seated".into()),
            ("body.capacity", "forty".into()),
        ]),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("must be a number"), "{}", r.body);
    let r = send(
        &mut console,
        post(vec![
            ("operation", "communityCreateSegment".into()),
            ("body.name", "Broken".into()),
            ("body.form", "[{\"name\": ".into()),
        ]),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("`form` is not JSON"), "{}", r.body);
    // A form past what a plugin could take is refused, drained so the browser reads why.
    let r = send(
        &mut console,
        post(vec![
            ("operation", "communityCreateArticle".into()),
            ("body.body", "x".repeat(4 << 20)),
        ]),
    )
    .await;
    assert_eq!(r.status, 413);
    assert!(r.body.contains("Form too large"), "{}", r.body);
    let r = send(
        &mut console,
        post(vec![("operation", "communityListEvents".into())]),
    )
    .await;
    assert_eq!(r.status, 404, "a read is not an action");

    // Broadcasts: the console's and the API's share one window of five.
    let segment = made(&c.admin, "/segments", json!({"name": "Supporters"})).await;
    let sender = c.key("secret", "WRITE_BROADCASTS");
    for n in 0..4 {
        let body =
            json!({"segment_id": segment["id"], "subject": format!("News {n}"), "text": "Hi."});
        let r = sender.post(&format!("{COMMUNITY}/broadcasts"), body).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // A newsletter's HTML, larger than an ordinary console form.
    let html = format!("<p>{}</p>", "Hello from the console. ".repeat(6_000));
    let broadcast = |subject: &str| {
        post(vec![
            ("operation", "communitySendBroadcast".into()),
            ("body.segment_id", s(&segment["id"])),
            ("body.subject", subject.into()),
            ("body.text", "Hello from the console.".into()),
            ("body.html", html.clone()),
        ])
    };
    let r = send(&mut console, broadcast("Fifth")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = send(&mut console, broadcast("Sixth")).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("broadcast_limit"), "{}", r.body);
    let body = json!({"segment_id": segment["id"], "subject": "Seventh", "text": "Hi."});
    sender
        .post(&format!("{COMMUNITY}/broadcasts"), body)
        .await
        .assert_error(429, "broadcast_limit");
    let sent = read(&c.admin, "/broadcasts").await;
    assert_eq!(sent["total"], 5);
    assert_eq!(sent["data"][0]["subject"], "Fifth");

    // Each call is audited as the admin's.
    let audit = c
        .server
        .cli_ok(&["audit", "list", "--tenant", "acme", "--json"]);
    assert!(audit.contains("plugin.called") && audit.contains("communitySendBroadcast"));
    assert!(audit.contains("admin:ada@acme.example"));
}

#[tokio::test]
async fn a_ban_ends_the_banned_members_console_access_on_live_data_only() {
    let c = Community::start_with(&[
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
    ]);
    let receiver = crate::receiver::Receiver::http().await;
    let (_, hooks) = c.server.create_key("acme", "live", "webhooks:manage", &[]);
    let r = c
        .server
        .client("acme")
        .key(&hooks)
        .post(
            "/api/v1/webhooks",
            json!({"url": receiver.url("/hook"), "events": ["member.banned"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Two admins of the console; one of them is also a member the community will ban.
    let mut ada = crate::admin::Console::new(&c.server, "acme");
    ada.set_up(&crate::admin::invite(&c.server, "acme", "ada@acme.example"))
        .await;
    let mut moderator = crate::admin::Console::new(&c.server, "acme");
    moderator
        .set_up(&crate::admin::invite(&c.server, "acme", "mo@example.com"))
        .await;
    let mo = c.user("mo").await;
    made(&c.admin, "/members", json!({"user_id": mo})).await;
    assert_eq!(moderator.get("/admin/api-keys").await.status, 200);

    // A ban in the test environment is of the test data's users: the console is the live one's.
    let (_, test_key) = c.server.create_key("acme", "test", "users:write", &[]);
    let test_users = c.server.client("acme").key(&test_key);
    let r = test_users
        .post(
            "/api/v1/users",
            json!({"username": "mo", "email": "mo@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let test_mo = s(&r.json()["id"]);
    let test_admin = cobuntu_key(&c.server, "acme", "test", "secret", "ADMIN");
    let test_admin = at_base_domain(&c.server).header("x-api-key", &test_admin);
    let r = test_admin
        .post(
            &format!("{COMMUNITY}/members/{test_mo}/ban"),
            json!({"reason": "testing"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(moderator.get("/admin/api-keys").await.status, 200);

    // Banned on live data, from the console by the other admin: the session ends at once, and
    // the password no longer signs in.
    let page = ada.get("/admin/plugins/community/data").await;
    let r = ada
        .post(
            "/admin/plugins/community/data",
            &[
                ("csrf", &page.csrf()),
                ("operation", "communityBanMember"),
                ("param.user_id", &mo),
                ("body.reason", "Abused the moderator tools."),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = moderator.get("/admin/api-keys").await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/admin/login"));
    let r = moderator
        .log_in("mo@example.com", crate::admin::PASSWORD)
        .await;
    assert_ne!(r.status, 303, "a barred admin is not signed in");
    assert!(
        r.body.contains("did not match") || r.status == 401,
        "{}",
        r.body
    );
    // The other admin works on; the bar is of the banned member alone.
    assert_eq!(ada.get("/admin/api-keys").await.status, 200);
    // The ban made in the console is an event like any other: a webhook receives it (the test
    // environment's is not the live endpoint's).
    let got = receiver.wait_for(1, Duration::from_secs(15)).await;
    let banned = got[0].json();
    assert_eq!(banned["type"], "member.banned");
    assert_eq!(banned["data"]["user_id"], mo.as_str());
    // The console acts as `console:<admin id>` where a key's id would be.
    assert!(
        banned["data"]["by_key"]
            .as_str()
            .unwrap()
            .starts_with("console:adm_")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1);
    // A WRITE_MEMBERS key bans from the community, not from the console: taking that away is
    // ADMIN's (seed 001: "ADMIN: ban/kick members").
    let (_, users) = c.server.create_key("acme", "live", "users:write", &[]);
    let r = c
        .server
        .client("acme")
        .key(&users)
        .post(
            "/api/v1/users",
            json!({"username": "ada", "email": "ada@acme.example"}),
        )
        .await;
    let ada_user = s(&r.json()["id"]);
    let r = c
        .key("secret", "WRITE_MEMBERS")
        .post(&format!("{COMMUNITY}/members/{ada_user}/ban"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ada.get("/admin/api-keys").await.status, 200);
    // Only the operator gives the console back; the ban itself stands.
    let out = c.server.cli_ok(&[
        "admin",
        "create",
        "--tenant",
        "acme",
        "--email",
        "mo@example.com",
    ]);
    assert!(out.contains("--lift-bar"), "{out}");
    assert_ne!(
        moderator
            .log_in("mo@example.com", crate::admin::PASSWORD)
            .await
            .status,
        303
    );
    c.server.cli_ok(&[
        "admin",
        "create",
        "--tenant",
        "acme",
        "--email",
        "mo@example.com",
        "--lift-bar",
    ]);
    let r = moderator
        .log_in("mo@example.com", crate::admin::PASSWORD)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(moderator.get("/admin/api-keys").await.status, 200);
    let audit = c
        .server
        .cli_ok(&["audit", "list", "--tenant", "acme", "--json"]);
    assert!(audit.contains("admin.bar_lifted"));
}
