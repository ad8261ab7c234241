//! The server keeps answering: concurrent retries under one `Idempotency-Key`, mixed traffic with
//! a liveness probe, and a stop on SIGTERM even with work that never finishes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{ALL_CORE, Client, Resp, Server, eventually};
use crate::market::MARKET;
use crate::receiver::{Receiver, Reply};

/// Fails the test instead of hanging it: every request here must answer within this.
const ANSWER: Duration = Duration::from_secs(15);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(ANSWER, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {ANSWER:?}"))
}

/// Sends `n` copies of one POST at the same moment under one `Idempotency-Key`; asserts exactly
/// one ran (201 without `Idempotent-Replayed`) and every other copy is its replay or a 409
/// `idempotency_in_progress`. Returns the one created resource.
async fn burst(client: &Client, key: &str, path: &str, body: Value, n: usize) -> Value {
    let client = client.clone().header("idempotency-key", key);
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, start, path, body) =
                (client.clone(), start.clone(), path.to_owned(), body.clone());
            tokio::spawn(async move {
                start.wait().await;
                within(&format!("POST {path}"), client.post(&path, body)).await
            })
        })
        .collect();
    let mut answers: Vec<Resp> = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let created: Vec<&Resp> = answers
        .iter()
        .filter(|r| r.status == 201 && r.header("idempotent-replayed").is_none())
        .collect();
    assert_eq!(created.len(), 1, "{n} copies of {path}: {answers:#?}");
    let resource = created[0].json();
    for r in &answers {
        match r.status.as_u16() {
            201 => assert_eq!(r.json(), resource, "a replay differs"),
            409 => assert_eq!(r.code(), "idempotency_in_progress"),
            other => panic!("{n} copies of {path}: unexpected {other}: {}", r.text),
        }
    }
    resource
}

async fn total(client: &Client, path: &str) -> i64 {
    let r = within(path, client.get(path)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["total_count"].as_i64().unwrap()
}

async fn healthz(server: &Server) -> Duration {
    let started = Instant::now();
    let r = within("/healthz", server.client("-").get("/healthz")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    started.elapsed()
}

#[tokio::test]
async fn concurrent_copies_under_one_key_create_once_and_the_server_stays_up() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", &format!("{ALL_CORE},{MARKET}"), &[]);
    let acme = server.client("acme").key(&key);
    let other = server.tenant_with_key("other");
    let author = acme.user("ada").await;

    for n in [2, 8, 64] {
        let before = total(&acme, "/api/v1/posts").await;
        burst(
            &acme,
            &format!("post-{n}"),
            "/api/v1/posts",
            json!({ "author_id": author, "body": format!("{n} at once") }),
            n,
        )
        .await;
        assert_eq!(
            total(&acme, "/api/v1/posts").await,
            before + 1,
            "host route, {n}"
        );

        // A plugin route (Market, built in) goes through the same guard.
        let before = total(&acme, "/api/v1/listings").await;
        let listing = burst(
            &acme,
            &format!("listing-{n}"),
            "/api/v1/listings",
            json!({ "title": format!("bike {n}"), "price": 100, "currency": "EUR", "seller_id": author }),
            n,
        )
        .await;
        assert!(listing["id"].as_str().unwrap().starts_with("lst_"));
        assert_eq!(
            total(&acme, "/api/v1/listings").await,
            before + 1,
            "plugin route, {n}"
        );

        // The rest of the box answers: the probe, another tenant, the same tenant.
        assert!(healthz(&server).await < Duration::from_secs(1));
        assert_eq!(total(&other, "/api/v1/users").await, 0);
        within(
            "a new key",
            acme.post(
                "/api/v1/posts",
                json!({ "author_id": author, "body": "after" }),
            ),
        )
        .await;
    }

    // A key that finished is free again: the same key replays, it does not conflict.
    let r = acme
        .clone()
        .header("idempotency-key", "post-2")
        .post(
            "/api/v1/posts",
            json!({ "author_id": author, "body": "2 at once" }),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.header("idempotent-replayed")),
        (201, Some("true"))
    );
}

/// Reads, writes, same-key retries, plugin calls and webhook deliveries at once for a bounded
/// time, while a probe asks `/healthz` every 100 ms and fails the test if it ever takes a second.
#[tokio::test]
async fn mixed_traffic_never_stalls_the_liveness_probe() {
    const RUN: Duration = Duration::from_secs(12);
    let receiver = Receiver::http().await;
    receiver.answer(|_| Reply::status(200));
    let server = Server::start_with(&[
        "--rate-limit-per-minute",
        "1000000",
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
    ]);
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", &format!("{ALL_CORE},{MARKET}"), &[]);
    let acme = server.client("acme").key(&key);
    let other = server.tenant_with_key("other");
    let author = acme.user("ada").await;
    let r = acme
        .post(
            "/api/v1/webhooks",
            json!({ "url": receiver.url("/hook"), "events": ["post.created"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let until = Instant::now() + RUN;
    let errors = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let posts_written = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let check = |r: &Resp, errors: &AtomicUsize, requests: &AtomicUsize| {
        requests.fetch_add(1, Ordering::Relaxed);
        // 409 is a same-key retry meeting its twin in flight; nothing else may fail.
        if r.status.is_server_error() || (r.status.is_client_error() && r.status != 409) {
            eprintln!("unexpected {}: {}", r.status, r.text);
            errors.fetch_add(1, Ordering::Relaxed);
        }
    };
    for reader in 0..3 {
        let (client, errors, requests) = (
            if reader == 0 {
                other.clone()
            } else {
                acme.clone()
            },
            errors.clone(),
            requests.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                for path in [
                    "/api/v1/posts",
                    "/api/v1/events",
                    "/api/v1/listings?limit=5",
                ] {
                    let r = within(path, client.get(path)).await;
                    if reader != 0 || !path.contains("listings") {
                        check(&r, &errors, &requests);
                    }
                }
            }
        }));
    }
    for writer in 0..2 {
        let (client, errors, requests, written, author) = (
            acme.clone(),
            errors.clone(),
            requests.clone(),
            posts_written.clone(),
            author.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < until {
                i += 1;
                let r = within(
                    "a post",
                    client.post(
                        "/api/v1/posts",
                        json!({ "author_id": author, "body": format!("w{writer} {i}") }),
                    ),
                )
                .await;
                check(&r, &errors, &requests);
                written.fetch_add(usize::from(r.status == 201), Ordering::Relaxed);
                let r = within(
                    "a listing",
                    client.post(
                        "/api/v1/listings",
                        json!({ "title": "t", "price": 1, "currency": "EUR", "seller_id": author }),
                    ),
                )
                .await;
                check(&r, &errors, &requests);
            }
        }));
    }
    {
        let (client, author, written) = (acme.clone(), author.clone(), posts_written.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = 0;
            while Instant::now() < until {
                round += 1;
                burst(
                    &client,
                    &format!("retry-{round}"),
                    "/api/v1/posts",
                    json!({ "author_id": author, "body": format!("retried {round}") }),
                    8,
                )
                .await;
                written.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let slowest = {
        let server_addr_client = server.client("-");
        let probe = tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            while Instant::now() < until {
                let started = Instant::now();
                let r = tokio::time::timeout(
                    Duration::from_secs(5),
                    server_addr_client.get("/healthz"),
                )
                .await
                .expect("/healthz did not answer within 5 s");
                assert_eq!(r.status, 200);
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            slowest
        });
        for task in tasks {
            task.await.unwrap();
        }
        probe.await.unwrap()
    };
    assert!(
        slowest < Duration::from_secs(1),
        "/healthz took {slowest:?}"
    );
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "of {} requests",
        requests.load(Ordering::Relaxed)
    );
    let written = posts_written.load(Ordering::Relaxed) as i64;
    assert!(written > 10, "only {written} posts in {RUN:?}");
    assert_eq!(total(&acme, "/api/v1/posts").await, written);
    // Every post's webhook is delivered once the traffic stops.
    receiver
        .wait_for(written as usize, Duration::from_secs(30))
        .await;
}

/// Sends the head of a POST that promises a body it never sends: a request that cannot finish.
async fn stuck_request(server: &Server) -> tokio::net::TcpStream {
    let (_, key) = server.create_key("acme", "live", "posts:write", &[]);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/posts HTTP/1.1\r\nhost: acme.localhost:{}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{",
        server.addr.port()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

fn sigterm(server: &Server) {
    let pid = server.pid().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn sigterm_stops_an_idle_server_with_status_zero() {
    let mut server = Server::start();
    let acme = server.tenant_with_key("acme");
    acme.user("ada").await;
    sigterm(&server);
    let status = server.wait(Duration::from_secs(10)).expect("it stopped");
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(server.log().contains("stopped"));
}

#[tokio::test]
async fn sigterm_lets_work_finish_then_abandons_what_never_ends() {
    let mut server = Server::start_with(&["--shutdown-grace", "2s"]);
    let acme = server.tenant_with_key("acme");
    acme.user("ada").await;
    let mut stuck = stuck_request(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    sigterm(&server);
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait(Duration::from_secs(20));
        (status, server)
    });
    let (status, server) = status.await.unwrap();
    let status = status.expect("the server did not stop");
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(1), "{}", server.log());
    assert!(
        (Duration::from_millis(1500)..Duration::from_secs(8)).contains(&took),
        "stopped after {took:?}"
    );
    assert!(server.log().contains("abandoned"), "{}", server.log());
    // The stuck connection was closed under it.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stuck.read_to_end(&mut rest)).await;
    assert!(closed.is_ok());
}

/// A second server start on the same data after a forced stop works (nothing was left locked).
#[tokio::test]
async fn a_server_stopped_past_its_grace_starts_again() {
    let mut server = Server::start_with(&["--shutdown-grace", "1s"]);
    let acme = server.tenant_with_key("acme");
    let ada = acme.user("ada").await;
    let _stuck = stuck_request(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sigterm(&server);
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = stopped.clone();
    let mut server = tokio::task::spawn_blocking(move || {
        flag.store(
            server.wait(Duration::from_secs(20)).is_some(),
            Ordering::Relaxed,
        );
        server
    })
    .await
    .unwrap();
    assert!(stopped.load(Ordering::Relaxed));
    server.restart();
    let r = eventually(Duration::from_secs(10), async || {
        let r = server.client("acme").get("/healthz").await;
        (r.status == 200).then_some(r)
    })
    .await;
    assert_eq!(r.status, 200);
    let (_, key) = server.create_key("acme", "live", "users:read", &[]);
    let r = server
        .client("acme")
        .key(&key)
        .get(&format!("/api/v1/users/{ada}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// SIGTERM while deliveries are on the wire to a slow receiver: the server finishes and records
/// them before it exits, so after a restart every event arrives exactly once.
#[tokio::test]
async fn sigterm_under_load_finishes_begun_deliveries_so_none_is_sent_twice_or_lost() {
    let receiver = Receiver::http().await;
    receiver.answer(|_| Reply::status(200).delay(Duration::from_millis(700)));
    let mut server = Server::start_with(&[
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
        "--webhook-timeout",
        "3s",
        "--shutdown-grace",
        "10s",
    ]);
    let acme = server.tenant_with_key("acme");
    let r = acme
        .post(
            "/api/v1/webhooks",
            serde_json::json!({ "url": receiver.url("/hook"), "events": ["user.registered"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Load: 40 writes at once, each an event with a delivery.
    let writes: Vec<_> = (0..40)
        .map(|i| {
            let acme = acme.clone();
            tokio::spawn(async move {
                let body = serde_json::json!({ "username": format!("u{i}") });
                acme.post("/api/v1/users", body).await.status
            })
        })
        .collect();
    for w in writes {
        assert_eq!(w.await.unwrap(), 201);
    }
    // Some deliveries are on the wire (the receiver takes 0.7 s to answer) when the signal comes.
    eventually(Duration::from_secs(10), async || {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    sigterm(&server);
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait(Duration::from_secs(20));
        (status, server)
    })
    .await
    .unwrap();
    let (status, mut server) = status;
    let status = status.expect("it stopped within the grace");
    assert_eq!(status.code(), Some(0), "{}", server.log());
    let before_restart = receiver.received().len();

    server.restart();
    let ids = eventually(Duration::from_secs(30), async || {
        let received = receiver.received();
        let ids: std::collections::HashSet<String> = received
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect();
        (ids.len() >= 40).then_some((ids, received.len()))
    })
    .await;
    let (distinct, total) = ids;
    assert_eq!(distinct.len(), 40, "every event delivered");
    assert_eq!(
        total, 40,
        "none twice ({before_restart} had arrived before the restart)"
    );
}
