//! The Moderation plugin (embedded, on by default) through the real binary, and the chain of
//! surfaces cooperating through events: a moderator's `remove_content` on a listing makes the
//! Market withdraw it, and a webhook receives both events.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Server, eventually};
use crate::market::{MARKET, events, listing};
use crate::receiver::Receiver;

const MODERATION: &str = "reports:read,reports:write,reports:manage";

fn moderated_tenant(server: &Server, slug: &str) -> Client {
    server.create_tenant(slug, "pro");
    let scopes = format!("{ALL_CORE},{MARKET},{MODERATION}");
    let (_, key) = server.create_key(slug, "live", &scopes, &[]);
    server.client(slug).key(&key)
}

async fn report(client: &Client, kind: &str, id: &str) -> Value {
    let r = client
        .post(
            "/api/v1/reports",
            json!({"target": {"type": kind, "id": id}, "reason": "spam"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

#[tokio::test]
async fn reports_are_filed_listed_and_closed_once() {
    let server = Server::start();
    let acme = moderated_tenant(&server, "acme");
    let ada = acme.user("ada").await;
    let post = acme.post_by(&ada, "buy my followers").await;
    let sale = listing(&acme, &ada, "Bike", 100).await;

    let on_post = report(&acme, "post", &post).await;
    assert!(on_post["id"].as_str().unwrap().starts_with("rpt_"));
    assert_eq!(
        (&on_post["status"], &on_post["target"]),
        (&json!("open"), &json!({"type": "post", "id": post}))
    );
    let on_user = report(&acme, "user", &ada).await;
    let on_listing = report(&acme, "listing", sale["id"].as_str().unwrap()).await;
    let r = acme
        .post(
            "/api/v1/reports",
            json!({"target": {"type": "user", "id": ada}, "reason": "rude", "reporter_id": ada}),
        )
        .await;
    assert_eq!(r.json()["reporter_id"], ada.as_str());

    // Bad reports name the field and change nothing.
    for (body, field) in [
        (
            json!({"target": {"type": "planet", "id": "x"}, "reason": "r"}),
            "target.type",
        ),
        (
            json!({"target": {"type": "post", "id": "usr_01X"}, "reason": "r"}),
            "target.id",
        ),
        (
            json!({"target": {"type": "post", "id": "post_01NOPE"}, "reason": "r"}),
            "target.id",
        ),
        (
            json!({"target": {"type": "user", "id": "usr_01NOPE"}, "reason": "r"}),
            "target.id",
        ),
        (
            json!({"target": {"type": "file", "id": "file_01NOPE"}, "reason": "r"}),
            "target.id",
        ),
        (
            json!({"target": {"type": "post", "id": post}, "reason": " "}),
            "reason",
        ),
        (json!({"reason": "r"}), "target"),
        (
            json!({"target": {"type": "post", "id": post}, "reason": "r", "reporter_id": "usr_01NOPE"}),
            "reporter_id",
        ),
    ] {
        let r = acme.post("/api/v1/reports", body.clone()).await;
        r.assert_error(400, "validation_failed");
        assert_eq!(r.json()["error"]["field"], field, "{body}");
    }

    let id = on_post["id"].as_str().unwrap();
    assert_eq!(
        acme.get(&format!("/api/v1/reports/{id}")).await.json(),
        on_post
    );
    acme.get("/api/v1/reports/rpt_01NOPE")
        .await
        .assert_error(404, "report_not_found");
    acme.post("/api/v1/reports/rpt_01NOPE/dismiss", json!({}))
        .await
        .assert_error(404, "report_not_found");

    // Dismissed once; a second dismiss or a resolve is `already_resolved`.
    let r = acme
        .post(
            &format!("/api/v1/reports/{id}/dismiss"),
            json!({"note": "satire"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.json()["status"], &r.json()["note"]),
        (&json!("dismissed"), &json!("satire"))
    );
    for path in ["dismiss", "resolve"] {
        let r = acme
            .post(&format!("/api/v1/reports/{id}/{path}"), json!({}))
            .await;
        r.assert_error(400, "already_resolved");
        assert_eq!(r.json()["error"]["status"], "dismissed");
    }

    // Resolved without an action, with no body at all.
    let listing_report = on_listing["id"].as_str().unwrap();
    let r = acme
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/reports/{listing_report}/resolve"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.json()["status"], &r.json()["action_id"]),
        (&json!("resolved"), &Value::Null)
    );
    acme.post(
        &format!("/api/v1/reports/{listing_report}/resolve"),
        json!({"action": "remove_content"}),
    )
    .await
    .assert_error(400, "already_resolved");

    // Filters.
    let count = async |query: &str| {
        let r = acme.get(&format!("/api/v1/reports?{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text);
        r.json()["total_count"].as_u64().unwrap()
    };
    assert_eq!(count("").await, 4);
    assert_eq!(count("status=open").await, 2);
    assert_eq!(count("status=dismissed").await, 1);
    assert_eq!(count("target_type=user").await, 2);
    assert_eq!(count("target_type=user&status=open").await, 2);
    assert_eq!(count("since=2020-01-01T00:00:00Z").await, 4);
    acme.get("/api/v1/reports?status=maybe")
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/reports?target_type=planet")
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/reports?since=now")
        .await
        .assert_error(400, "invalid_since");

    // Actions: a warning over a post goes to its author; remove_content is for content.
    let user_report = on_user["id"].as_str().unwrap();
    let r = acme
        .post(
            &format!("/api/v1/reports/{user_report}/resolve"),
            json!({"action": "remove_content"}),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert_eq!(r.json()["error"]["field"], "action");
    acme.post(
        &format!("/api/v1/reports/{user_report}/resolve"),
        json!({"action": "ban_forever"}),
    )
    .await
    .assert_error(400, "validation_failed");
    let r = acme
        .post(
            &format!("/api/v1/reports/{user_report}/resolve"),
            json!({"action": "suspend_user", "note": "third strike"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let suspension = r.json()["action_id"].as_str().unwrap().to_owned();
    let second_post = report(&acme, "post", &post).await;
    let r = acme
        .post(
            &format!(
                "/api/v1/reports/{}/resolve",
                second_post["id"].as_str().unwrap()
            ),
            json!({"action": "warn_user"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let log = acme.get("/api/v1/moderation/actions").await.json();
    assert_eq!(log["total_count"], 2);
    let newest = &log["data"][0];
    assert_eq!(
        (&newest["type"], &newest["user_id"], &newest["target"]["id"]),
        (&json!("warn_user"), &json!(ada), &json!(post))
    );
    assert_eq!(log["data"][1]["id"], suspension.as_str());
    assert_eq!(log["data"][1]["note"], "third strike");
    let only = async |q: &str| acme.get(&format!("/api/v1/moderation/actions?{q}")).await;
    assert_eq!(only("type=suspend_user").await.json()["total_count"], 1);
    assert_eq!(only("target_type=post").await.json()["total_count"], 1);
    assert_eq!(
        only(&format!("report_id={user_report}")).await.json()["total_count"],
        1
    );
    only("type=nap")
        .await
        .assert_error(400, "validation_failed");

    let kinds: Vec<String> = events(
        &acme,
        "report.created,report.resolved,moderation.action_taken",
    )
    .await
    .iter()
    .map(|e| e["type"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "report.created").count(), 5);
    assert_eq!(kinds.iter().filter(|k| *k == "report.resolved").count(), 4);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "moderation.action_taken")
            .count(),
        2
    );
}

#[tokio::test]
async fn moderation_routes_need_their_scopes() {
    let server = Server::start();
    let acme = moderated_tenant(&server, "acme");
    let ada = acme.user("ada").await;
    let id = report(&acme, "user", &ada).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, filer) = server.create_key("acme", "live", "reports:write", &[]);
    let filer = server.client("acme").key(&filer);
    assert_eq!(
        filer
            .post(
                "/api/v1/reports",
                json!({"target": {"type": "user", "id": ada}, "reason": "spam"})
            )
            .await
            .status,
        201
    );
    for path in [
        "/api/v1/reports".to_owned(),
        format!("/api/v1/reports/{id}"),
        "/api/v1/moderation/actions".to_owned(),
    ] {
        let r = filer.get(&path).await;
        r.assert_error(403, "insufficient_scope");
        assert_eq!(r.json()["error"]["required_scope"], "reports:read");
    }
    let (_, reader) = server.create_key("acme", "live", "reports:read", &[]);
    let reader = server.client("acme").key(&reader);
    for action in ["dismiss", "resolve"] {
        let r = reader
            .post(&format!("/api/v1/reports/{id}/{action}"), json!({}))
            .await;
        r.assert_error(403, "insufficient_scope");
        assert_eq!(r.json()["error"]["required_scope"], "reports:manage");
    }
    let r = reader
        .post(
            "/api/v1/reports",
            json!({"target": {"type": "user", "id": ada}, "reason": "spam"}),
        )
        .await;
    r.assert_error(403, "insufficient_scope");
    assert_eq!(r.json()["error"]["required_scope"], "reports:write");
}

#[tokio::test]
async fn removing_a_listing_makes_the_market_withdraw_it_and_a_webhook_sees_both() {
    let server = Server::start_with(&[
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
    ]);
    let acme = moderated_tenant(&server, "acme");
    let receiver = Receiver::http().await;
    let r = acme
        .post(
            "/api/v1/webhooks",
            json!({"url": receiver.url("/hook"), "events": ["moderation.action_taken", "listing.withdrawn"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let seller = acme.user("sam").await;
    let sale = listing(&acme, &seller, "Too good to be true", 1).await;
    let listing_id = sale["id"].as_str().unwrap();
    let kept = listing(&acme, &seller, "Honest bike", 100).await;
    let reported = report(&acme, "listing", listing_id).await;
    let r = acme
        .post(
            &format!(
                "/api/v1/reports/{}/resolve",
                reported["id"].as_str().unwrap()
            ),
            json!({"action": "remove_content", "note": "scam"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let action_id = r.json()["action_id"].as_str().unwrap().to_owned();

    // The Market reacted on its own, through the event.
    let withdrawn = eventually(Duration::from_secs(10), async || {
        let l = acme
            .get(&format!("/api/v1/listings/{listing_id}"))
            .await
            .json();
        (l["status"] == "withdrawn").then_some(l)
    })
    .await;
    assert_eq!(withdrawn["withdrawn_reason"], "moderation");
    assert_eq!(
        acme.get(&format!(
            "/api/v1/listings/{}",
            kept["id"].as_str().unwrap()
        ))
        .await
        .json()["status"],
        "active"
    );

    let got = receiver.wait_for(2, Duration::from_secs(15)).await;
    let mut types: Vec<String> = got
        .iter()
        .map(|d| d.json()["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["listing.withdrawn", "moderation.action_taken"]);
    let action = got
        .iter()
        .find(|d| d.json()["type"] == "moderation.action_taken")
        .unwrap()
        .json();
    assert_eq!(action["data"]["action"]["id"], action_id.as_str());
    assert_eq!(action["data"]["action"]["target"]["id"], listing_id);
    let gone = got
        .iter()
        .find(|d| d.json()["type"] == "listing.withdrawn")
        .unwrap()
        .json();
    assert_eq!(gone["data"]["listing"]["id"], listing_id);
    assert_eq!(gone["data"]["reason"], "moderation");

    // At least once, effects once: the chain left exactly one withdrawal in the log.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(events(&acme, "listing.withdrawn").await.len(), 1);
}
