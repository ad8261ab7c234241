//! Webhook delivery throughput (not a test): signed deliveries per second from event append to
//! receiver acknowledgement, with 1 endpoint and with 100, through the release binary and a real
//! HTTP receiver on loopback. Every delivery and attempt is recorded durably by the server; the
//! harness checks that every delivery is `succeeded` at the end.
//!
//! Run: `cargo bench -p mobieus --bench webhooks` (env `WEBHOOK_DELIVERIES`, default 20,000 per
//! case).

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{cli, request, start_with};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

fn main() {
    let total: u64 = std::env::var("WEBHOOK_DELIVERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let runtime = common::runtime();
    println!("mobieus webhook harness: {total} deliveries per case, HTTP receiver on loopback");
    println!(
        "{:<12} {:>11} {:>10} {:>14} {:>14}",
        "endpoints", "deliveries", "seconds", "deliveries/s", "appends/s"
    );
    for endpoints in [1u64, 100] {
        runtime.block_on(case(endpoints, total));
    }
}

struct Receiver {
    addr: SocketAddr,
    count: Arc<AtomicU64>,
    last: Arc<Mutex<Option<Instant>>>,
}

async fn receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let last = Arc::new(Mutex::new(None));
    let (c, l) = (count.clone(), last.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (c, l) = (c.clone(), l.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<Incoming>| {
                    let (c, l) = (c.clone(), l.clone());
                    async move {
                        let _ = req.into_body().collect().await;
                        c.fetch_add(1, Ordering::Relaxed);
                        *l.lock().unwrap() = Some(Instant::now());
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Receiver { addr, count, last }
}

async fn case(endpoints: u64, total: u64) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let (mut server, addr) = start_with(
        &data,
        &[
            "--webhook-allow-http",
            "--webhook-allow-cidr",
            "127.0.0.0/8",
        ],
    );
    cli(&data, &["tenant", "create", "bench", "--plan", "pro"]);
    let key = common::unlimited_key(
        &data,
        "bench",
        "users:write,posts:write,webhooks:manage,webhooks:read",
    );
    let host = format!("bench.localhost:{}", addr.port());
    let receiver = receiver().await;
    let mut ids = vec![];
    for i in 0..endpoints {
        let body = format!(
            r#"{{"url":"http://{}/e{i}","events":["post.created"]}}"#,
            receiver.addr
        );
        let (status, body) = request(
            addr,
            &host,
            Some(&key),
            "POST",
            "/api/v1/webhooks",
            Some(body.into_bytes()),
        )
        .await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let (_, body) = request(
        addr,
        &host,
        Some(&key),
        "POST",
        "/api/v1/users",
        Some(br#"{"username":"bench"}"#.to_vec()),
    )
    .await;
    let user: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let author = user["id"].as_str().unwrap().to_owned();

    let posts = total / endpoints;
    let started = Instant::now();
    let writers = 32;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (host, key, author) = (host.clone(), key.clone(), author.clone());
            tokio::spawn(async move {
                let mut sender = common::connect(addr).await;
                for i in (w..posts).step_by(writers as usize) {
                    let body = format!(r#"{{"author_id":"{author}","body":"post {i}"}}"#);
                    let req = hyper::Request::post("/api/v1/posts")
                        .header("host", &host)
                        .header("authorization", format!("Bearer {key}"))
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                    let resp = sender.send_request(req).await.unwrap();
                    assert_eq!(resp.status(), 201);
                    let _ = resp.into_body().collect().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let appended = started.elapsed();
    let expected = posts * endpoints;
    let deadline = Instant::now() + Duration::from_secs(300);
    while receiver.count.load(Ordering::Relaxed) < expected {
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} delivered",
            receiver.count.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let finished = receiver.last.lock().unwrap().unwrap();
    let elapsed = finished - started;
    println!(
        "{:<12} {:>11} {:>10.2} {:>14.0} {:>14.0}",
        endpoints,
        expected,
        elapsed.as_secs_f64(),
        expected as f64 / elapsed.as_secs_f64(),
        posts as f64 / appended.as_secs_f64()
    );
    // Every delivery recorded as succeeded (records may trail the acknowledgements by a batch).
    let mut succeeded = 0;
    for _ in 0..100 {
        succeeded = 0;
        for id in &ids {
            let (_, body) = request(
                addr,
                &host,
                Some(&key),
                "GET",
                &format!("/api/v1/webhooks/{id}/deliveries?status=succeeded&limit=1"),
                None,
            )
            .await;
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            succeeded += v["total_count"].as_u64().unwrap();
        }
        if succeeded == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(succeeded, expected, "deliveries recorded as succeeded");
    let extra = receiver.count.load(Ordering::Relaxed) - expected;
    if extra > 0 {
        println!("  ({extra} duplicate deliveries: at-least-once)");
    }
    let _ = server.kill();
}
