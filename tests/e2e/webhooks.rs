use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{ALL_CORE, Client, Server, eventually};
use crate::receiver::{Received, Receiver, Reply, TestCa};

const WAIT: Duration = Duration::from_secs(15);

/// Server flags for tests with plain-HTTP receivers on loopback and a compressed schedule.
const DEV: &[&str] = &[
    "--webhook-allow-http",
    "--webhook-allow-cidr",
    "127.0.0.0/8",
    "--webhook-retry-schedule",
    "0s,1s,2s",
];

async fn register(client: &Client, url: &str, events: Value) -> (String, String) {
    let r = client
        .post("/api/v1/webhooks", json!({ "url": url, "events": events }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let body = r.json();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// Verifies `Mobieus-Signature` the way a Stripe-style verifier does; returns how many `v1`
/// values `secret` matched.
fn verify_mobieus(received: &Received, secret: &str) -> usize {
    let header = received.header("mobieus-signature");
    let mut t = None;
    let mut sigs = vec![];
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_owned()),
            Some(("v1", v)) => sigs.push(v.to_owned()),
            _ => panic!("unexpected part {part} in {header}"),
        }
    }
    let t = t.expect("t=");
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!(
        (0..300).contains(&age),
        "outside the five-minute tolerance: {age}"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&received.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sigs.iter().filter(|s| **s == expected).count()
}

/// Verifies the Standard Webhooks headers; returns how many signatures `secret` matched.
fn verify_standard(received: &Received, secret: &str) -> usize {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.",
            received.header("webhook-id"),
            received.header("webhook-timestamp")
        )
        .as_bytes(),
    );
    mac.update(&received.body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    received
        .header("webhook-signature")
        .split(' ')
        .filter(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
        .count()
}

#[tokio::test]
async fn https_deliveries_are_the_logged_event_signed_both_ways() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let server = Server::start_with(&[
        "--webhook-allow-cidr",
        "127.0.0.0/8",
        "--webhook-ca-file",
        ca_file.to_str().unwrap(),
    ]);
    let acme = server.tenant_with_key("acme");
    let receiver = Receiver::https(&ca).await;
    let (_, secret) = register(&acme, &receiver.url("/hooks"), json!(["post.created"])).await;
    assert!(secret.starts_with("whsec_") && STANDARD.decode(&secret[6..]).unwrap().len() == 32);
    let ada = acme.user("ada").await;
    acme.post_by(&ada, "hello").await;
    let got = receiver.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 1, "user.registered is not subscribed");
    let delivery = &got[0];
    assert_eq!(delivery.path, "/hooks");
    assert_eq!(delivery.header("content-type"), "application/json");
    let logged = acme.get("/api/v1/events?type=post.created").await.json()["data"][0].clone();
    assert_eq!(
        delivery.json(),
        logged,
        "the body is the event as the log shows it"
    );
    assert_eq!(
        delivery.header("webhook-id"),
        logged["id"].as_str().unwrap()
    );
    assert_eq!(verify_mobieus(delivery, &secret), 1);
    assert_eq!(verify_standard(delivery, &secret), 1);
    assert_eq!(
        verify_mobieus(
            delivery,
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        ),
        0
    );
}

#[tokio::test]
async fn the_test_ca_is_required_for_https() {
    let server = Server::start_with(&[
        "--webhook-allow-cidr",
        "127.0.0.0/8",
        "--webhook-retry-schedule",
        "0s",
    ]);
    let acme = server.tenant_with_key("acme");
    let receiver = Receiver::https(&TestCa::new()).await;
    let (id, _) = register(&acme, &receiver.url("/"), json!(["*"])).await;
    acme.user("ada").await;
    let detail = delivery_when(&acme, &id, |d| d["status"] == "failed").await;
    let error = detail["attempts"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("certificate") || error.contains("connection"),
        "{error}"
    );
    assert_eq!(receiver.count(), 0);
}

/// Polls the endpoint's newest delivery until `done` holds; returns its detail.
async fn delivery_when(client: &Client, webhook: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(WAIT, async || {
        let list = client
            .get(&format!("/api/v1/webhooks/{webhook}/deliveries"))
            .await
            .json();
        let id = list["data"][0]["id"].as_str()?.to_owned();
        let detail = client
            .get(&format!("/api/v1/webhooks/{webhook}/deliveries/{id}"))
            .await
            .json();
        done(&detail).then_some(detail)
    })
    .await
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_during_the_grace_window() {
    let server = Server::start_with(DEV);
    let acme = server.tenant_with_key("acme");
    let receiver = Receiver::http().await;
    let (id, old) = register(&acme, &receiver.url("/"), json!(["user.registered"])).await;
    for bad in [
        json!({"grace_period_hours": 0}),
        json!({"grace_period_hours": 169}),
    ] {
        let r = acme
            .post(&format!("/api/v1/webhooks/{id}/rotate-secret"), bad)
            .await;
        r.assert_error(400, "validation_failed");
    }
    let r = acme
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            json!({"grace_period_hours": 2}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.json()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    acme.user("ada").await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("mobieus-signature").matches("v1=").count(), 2);
    assert_eq!(
        (verify_mobieus(&got[0], &new), verify_mobieus(&got[0], &old)),
        (1, 1)
    );
    assert_eq!(
        (
            verify_standard(&got[0], &new),
            verify_standard(&got[0], &old)
        ),
        (1, 1)
    );
    // The secret is never shown again.
    assert!(
        !acme
            .get(&format!("/api/v1/webhooks/{id}"))
            .await
            .text
            .contains("whsec_")
    );
    // No body: the default window.
    let r = acme
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn failures_retry_on_the_schedule_then_fail_and_disable() {
    let server = Server::start_with(&[DEV, &["--webhook-disable-after", "2"]].concat());
    let acme = server.tenant_with_key("acme");
    let failing = Receiver::http().await;
    failing.answer(|_| Reply::status(500).body("x".repeat(5000)));
    let watcher = Receiver::http().await;
    let (id, _) = register(&acme, &failing.url("/"), json!(["user.registered"])).await;
    register(
        &acme,
        &watcher.url("/"),
        json!(["webhook.delivery_failed", "webhook.disabled"]),
    )
    .await;
    acme.user("ada").await;
    acme.user("bob").await;
    let got = failing.wait_for(6, WAIT).await;
    // Per delivery: attempts at 0 s, +1 s, +2 s.
    let first: Vec<_> = got.iter().filter(|r| r.body == got[0].body).collect();
    assert_eq!(first.len(), 3);
    let gaps: Vec<u128> = first
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_millis())
        .collect();
    assert!(gaps[0] >= 900 && gaps[1] >= 1900, "{gaps:?}");
    let endpoint = eventually(WAIT, async || {
        let e = acme.get(&format!("/api/v1/webhooks/{id}")).await.json();
        (e["enabled"] == false).then_some(e)
    })
    .await;
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("2 failed deliveries")
    );
    let detail = delivery_when(&acme, &id, |d| d["status"] == "failed").await;
    assert_eq!(detail["attempt_count"], 3);
    let attempt = &detail["attempts"][0];
    assert_eq!(attempt["status_code"], 500);
    assert_eq!(
        attempt["response_body"].as_str().unwrap().len(),
        2048,
        "bodies are cut at 2 KB"
    );
    assert!(attempt["latency_ms"].is_number() && attempt["attempted_at"].is_string());
    assert_eq!(attempt["error"], "HTTP 500");
    // The log says so, and the watcher heard it; the failing endpoint was not told of itself.
    let types: Vec<String> = watcher
        .wait_for(3, WAIT)
        .await
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "webhook.delivery_failed")
            .count(),
        2
    );
    assert!(types.contains(&"webhook.disabled".to_owned()));
    assert!(
        failing
            .received()
            .iter()
            .all(|r| r.json()["type"] == "user.registered")
    );
    let logged = acme
        .get("/api/v1/events?type=webhook.disabled")
        .await
        .json();
    assert_eq!(logged["data"][0]["data"]["webhook"]["id"], id.as_str());
    // Disabled: new events are not queued for it.
    acme.user("cy").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(failing.count(), 6);
}

#[tokio::test]
async fn pending_deliveries_wait_while_disabled_and_resume_on_enable() {
    let server = Server::start_with(&[
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
        "--webhook-retry-schedule",
        "0s,2s",
    ]);
    let acme = server.tenant_with_key("acme");
    let receiver = Receiver::http().await;
    receiver.answer(|n| Reply::status(if n == 0 { 503 } else { 204 }));
    let (id, _) = register(&acme, &receiver.url("/"), json!(["*"])).await;
    acme.user("ada").await;
    receiver.wait_for(1, WAIT).await;
    let r = acme
        .patch(&format!("/api/v1/webhooks/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(r.json()["enabled"], false);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.count(), 1, "a disabled endpoint's deliveries wait");
    let r = acme
        .post(&format!("/api/v1/webhooks/{id}/enable"), json!({}))
        .await;
    assert_eq!(r.json()["enabled"], true);
    receiver.wait_for(2, WAIT).await;
    let detail = delivery_when(&acme, &id, |d| d["status"] == "succeeded").await;
    assert_eq!(detail["attempt_count"], 2);
    assert_eq!(detail["attempts"][0]["status_code"], 503);
}

#[tokio::test]
async fn a_410_disables_at_once_and_retry_after_is_honoured() {
    let server = Server::start_with(&[
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
        "--webhook-retry-schedule",
        "0s,0s,0s",
    ]);
    let acme = server.tenant_with_key("acme");
    let gone = Receiver::http().await;
    gone.answer(|_| Reply::status(410));
    let (gone_id, _) = register(&acme, &gone.url("/"), json!(["user.registered"])).await;
    let busy = Receiver::http().await;
    busy.answer(|n| {
        if n == 0 {
            Reply::status(429).header("retry-after", "2")
        } else {
            Reply::status(200)
        }
    });
    register(&acme, &busy.url("/"), json!(["user.registered"])).await;
    acme.user("ada").await;
    let got = busy.wait_for(2, WAIT).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After: 2 was not honoured: {gap:?}"
    );
    assert_eq!(gone.count(), 1);
    let endpoint = acme
        .get(&format!("/api/v1/webhooks/{gone_id}"))
        .await
        .json();
    assert_eq!(endpoint["enabled"], false);
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = Server::start_with(&[
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
        "--webhook-retry-schedule",
        "0s",
    ]);
    let acme = server.tenant_with_key("acme");
    let target = Receiver::http().await;
    let redirecting = Receiver::http().await;
    let location = target.url("/stolen");
    redirecting.answer(move |_| Reply::status(307).header("location", location.clone()));
    let (id, _) = register(&acme, &redirecting.url("/"), json!(["*"])).await;
    acme.user("ada").await;
    let detail = delivery_when(&acme, &id, |d| d["status"] == "failed").await;
    assert!(
        detail["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed")
    );
    assert_eq!(target.count(), 0);
}

#[tokio::test]
async fn a_backlog_survives_sigkill() {
    let mut server = Server::start_with(&[DEV, &["--webhook-timeout", "1s"]].concat());
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", ALL_CORE, &[]);
    let acme = server.client("acme").key(&key);
    let receiver = Receiver::http().await;
    receiver.answer(|_| Reply::status(200).delay(Duration::from_millis(100)));
    register(&acme, &receiver.url("/"), json!(["user.registered"])).await;
    for i in 0..60 {
        acme.user(&format!("u{i}")).await;
    }
    server.kill();
    let before = receiver.count();
    assert!(
        before < 60,
        "the backlog was already drained ({before}); nothing to prove"
    );
    server.restart();
    let acme = server.client("acme").key(&key);
    let events: HashSet<String> = acme
        .get("/api/v1/events?type=user.registered&limit=100")
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events.len(), 60);
    eventually(Duration::from_secs(30), async || {
        let seen: HashSet<String> = receiver
            .received()
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect();
        (seen == events).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_ssrf_guard_refuses_at_registration() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    for url in [
        "http://hooks.example.com/",
        "https://127.0.0.1/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://10.0.0.1/",
        "https://172.16.5.4/",
        "https://192.168.0.10/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://255.255.255.255/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://[64:ff9b::7f00:1]/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://localhost/",
        "https://user:pass@hooks.example.com/",
        "https://hooks.example.com:25/",
        "gopher://hooks.example.com/",
    ] {
        let r = acme
            .post("/api/v1/webhooks", json!({ "url": url, "events": ["*"] }))
            .await;
        r.assert_error(400, "webhook_url_forbidden");
        assert!(
            !r.json()["error"]["reason"].as_str().unwrap().is_empty(),
            "{url}"
        );
    }
    let r = acme
        .post(
            "/api/v1/webhooks",
            json!({ "url": "not a url", "events": ["*"] }),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert_eq!(acme.get("/api/v1/webhooks").await.json()["total_count"], 0);
}

#[tokio::test]
async fn endpoints_are_managed_through_the_api() {
    let server = Server::start_with(DEV);
    let acme = server.tenant_with_key("acme");
    let receiver = Receiver::http().await;
    for (events, field) in [
        (json!([]), "events"),
        (json!(["post.deleted"]), "events"),
        (json!(["*", "post.created"]), "events"),
    ] {
        let r = acme
            .post(
                "/api/v1/webhooks",
                json!({ "url": receiver.url("/"), "events": events }),
            )
            .await;
        r.assert_error(400, "validation_failed");
        assert_eq!(r.json()["error"]["field"], field);
    }
    let r = acme
        .post(
            "/api/v1/webhooks",
            json!({ "url": receiver.url("/"), "events": ["*"], "filter": {"a..b": 1} }),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "filter");
    let r = acme
        .post("/api/v1/webhooks", json!({ "url": receiver.url("/a"), "events": ["post.created"], "description": "BI mirror" }))
        .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("whk_"));
    let one = acme.get(&format!("/api/v1/webhooks/{id}")).await.json();
    assert_eq!(
        (one["description"].as_str(), one["enabled"].as_bool()),
        (Some("BI mirror"), Some(true))
    );
    assert!(one.get("secret").is_none());
    let r = acme
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            json!({ "url": receiver.url("/b"), "events": ["*"], "description": null }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json()["url"].as_str(), r.json()["description"].is_null()),
        (Some(receiver.url("/b").as_str()), true)
    );
    acme.patch(
        &format!("/api/v1/webhooks/{id}"),
        json!({ "url": "https://10.0.0.1/" }),
    )
    .await
    .assert_error(400, "webhook_url_forbidden");
    assert_eq!(acme.get("/api/v1/webhooks").await.json()["total_count"], 1);
    // Scopes: read cannot manage.
    let (_, reader) = server.create_key("acme", "live", "webhooks:read", &[]);
    let reader = server.client("acme").key(&reader);
    assert_eq!(reader.get("/api/v1/webhooks").await.status, 200);
    let r = reader
        .post(
            "/api/v1/webhooks",
            json!({ "url": receiver.url("/"), "events": ["*"] }),
        )
        .await;
    r.assert_error(403, "insufficient_scope");
    assert_eq!(r.json()["error"]["required_scope"], "webhooks:manage");
    acme.get(&format!("/api/v1/webhooks/{id}/deliveries/dlv_nope"))
        .await
        .assert_error(404, "delivery_not_found");
    acme.get(&format!("/api/v1/webhooks/{id}/deliveries?status=lost"))
        .await
        .assert_error(400, "validation_failed");
    let r = acme.delete(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(r.json()["deleted"], true);
    acme.get(&format!("/api/v1/webhooks/{id}"))
        .await
        .assert_error(404, "webhook_not_found");
    acme.post("/api/v1/webhooks/whk_nope/test", json!({}))
        .await
        .assert_error(404, "webhook_not_found");
}

#[tokio::test]
async fn test_events_filters_retries_and_replay() {
    let server = Server::start_with(DEV);
    let acme = server.tenant_with_key("acme");
    let all = Receiver::http().await;
    let only_bob = Receiver::http().await;
    let (all_id, _) = register(&acme, &all.url("/"), json!(["*"])).await;
    let r = acme
        .post("/api/v1/webhooks", json!({ "url": only_bob.url("/"), "events": ["user.registered"], "filter": {"data.user.username": ["bob", "bobby"]} }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bob_id = r.json()["id"].as_str().unwrap().to_owned();

    // webhook.test goes to that endpoint only and is not in the log.
    let r = acme
        .post(&format!("/api/v1/webhooks/{bob_id}/test"), json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let got = only_bob.wait_for(1, WAIT).await;
    assert_eq!(got[0].json()["type"], "webhook.test");
    assert_eq!(
        acme.get("/api/v1/events?type=webhook.test").await.json()["total_count"],
        0
    );

    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    acme.user("ada").await;
    acme.user("bob").await;
    all.wait_for(2, WAIT).await;
    let got = only_bob.wait_for(2, WAIT).await;
    assert_eq!(got[1].json()["data"]["user"]["username"], "bob");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(only_bob.count(), 2, "the filter kept ada's event away");
    assert_eq!(
        all.count(),
        2,
        "webhook.test did not reach the other endpoint"
    );

    // Redeliver one now.
    let list = acme
        .get(&format!(
            "/api/v1/webhooks/{all_id}/deliveries?status=succeeded"
        ))
        .await
        .json();
    assert_eq!(list["total_count"], 2);
    let delivery = list["data"][0]["id"].as_str().unwrap();
    let r = acme
        .post(
            &format!("/api/v1/webhooks/{all_id}/deliveries/{delivery}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    all.wait_for(3, WAIT).await;

    // Replay the window to one endpoint, with its filter.
    let window = json!({ "since": before.to_rfc3339(), "until": chrono::Utc::now().to_rfc3339() });
    let r = acme
        .post(&format!("/api/v1/webhooks/{bob_id}/replay"), window.clone())
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["replayed"], 1);
    only_bob.wait_for(3, WAIT).await;
    let r = acme.post(&format!("/api/v1/webhooks/{all_id}/replay"), json!({ "since": before.to_rfc3339(), "until": chrono::Utc::now().to_rfc3339(), "types": ["user.registered"] })).await;
    assert_eq!(r.json()["replayed"], 2);
    all.wait_for(5, WAIT).await;
    acme.post(
        &format!("/api/v1/webhooks/{all_id}/replay"),
        json!({ "since": "yesterday", "until": "now" }),
    )
    .await
    .assert_error(400, "invalid_since");
}

#[tokio::test]
async fn sandbox_webhooks_carry_sandbox_events_only() {
    let server = Server::start_with(DEV);
    server.create_tenant("acme", "pro");
    let (_, live) = server.create_key("acme", "live", ALL_CORE, &[]);
    let (_, test) = server.create_key("acme", "test", ALL_CORE, &[]);
    let live = server.client("acme").key(&live);
    let test = server.client("acme").key(&test);
    let receiver = Receiver::http().await;
    register(&test, &receiver.url("/"), json!(["*"])).await;
    assert_eq!(live.get("/api/v1/webhooks").await.json()["total_count"], 0);
    live.user("live-user").await;
    test.user("test-user").await;
    let got = receiver.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 1);
    assert_eq!(got[0].json()["data"]["user"]["username"], "test-user");
}

/// The secret column as the tenant file holds it.
fn stored_secret(server: &Server, id: &str) -> String {
    let file = server.live_file("acme");
    file.query_row(
        "SELECT secret FROM webhook_endpoints WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test]
async fn signing_secrets_are_sealed_at_rest_and_old_plaintext_ones_are_sealed_at_start() {
    let mut server = Server::start_with(DEV);
    server.create_tenant("acme", "pro");
    let (_, api_key) = server.create_key("acme", "live", ALL_CORE, &[]);
    let acme = server.client("acme").key(&api_key);
    let receiver = Receiver::http().await;
    let (id, secret) = register(&acme, &receiver.url("/"), json!(["user.registered"])).await;
    // A copied tenant file alone does not reveal it: the key is derived from the server secret,
    // outside the tenant's directory.
    let stored = stored_secret(&server, &id);
    assert!(
        stored.starts_with("sealed.v1.") && !stored.contains(&secret[6..]),
        "{stored}"
    );
    let key = server.data_dir().join("server.secret");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A file from before secrets were sealed: the plaintext is sealed at the next start, and
    // deliveries keep its signatures.
    server.kill();
    let legacy = format!("whsec_{}", STANDARD.encode([9u8; 32]));
    let file = server.live_file("acme");
    file.execute(
        "UPDATE webhook_endpoints SET secret = ?2 WHERE id = ?1",
        [&id, &legacy],
    )
    .unwrap();
    drop(file);
    server.restart();
    eventually(WAIT, async || {
        server
            .log()
            .contains("sealed 1 webhook secrets kept in plaintext")
            .then_some(())
    })
    .await;
    assert!(stored_secret(&server, &id).starts_with("sealed.v1."));
    let acme = server.client("acme").key(&api_key);
    acme.user("ada").await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(
        (
            verify_mobieus(&got[0], &legacy),
            verify_standard(&got[0], &legacy)
        ),
        (1, 1)
    );
}
