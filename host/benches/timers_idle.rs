//! Load harness (not a test): what 100,000 pending plugin timers cost while they wait. Starts the
//! release binary with the `capable` test plugin and measures, before and after setting 100,000
//! timers due in a day:
//!
//! - the server's CPU time over an idle stretch (the timer worker should probe one index and
//!   sleep, not scan),
//! - the events read's throughput (`GET /api/v1/events?limit=20`, 64 keep-alive connections),
//! - and, with the 100,000 waiting, how late a timer due in one second fires.
//!
//! Run: `cargo bench -p mobieus --bench timers_idle` (env `LOAD_SECS`, default 5 s per run;
//! `LOAD_ROUNDS`, default 3; `TIMERS`, default 100000).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

mod common;

use common::drive::{self, RunResult, Scenario};
use common::{cli, request, start};

fn main() {
    let secs = common::env("LOAD_SECS", 5);
    let rounds = common::env("LOAD_ROUNDS", 3).max(1);
    let timers = common::env("TIMERS", 100_000) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().unwrap().to_owned();
    let (mut server, addr) = start(&data);
    cli(&data, &["tenant", "create", "bench", "--plan", "pro"]);
    let plugin = format!("{}/capable.wasm", env!("MOBIEUS_TEST_PLUGINS_DIR"));
    cli(&data, &["plugin", "install", &plugin]);
    cli(&data, &["plugin", "enable", "--tenant", "bench", "capable"]);
    let key = common::unlimited_key(&data, "bench", "events:read,capable:use");
    let host = format!("bench.localhost:{}", addr.port());
    let runtime = common::runtime();
    // The plugin loaded (installs are picked up within a second).
    runtime.block_on(async {
        while fired(addr, &host, &key).await.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let events = Arc::new(Scenario::get("/api/v1/events?limit=20", Some(&key)));
    let idle = Duration::from_secs(secs);
    let read = |runtime: &tokio::runtime::Runtime, server: &std::process::Child| {
        let (s, d) = (events.clone(), Duration::from_secs(secs));
        runtime.block_on(drive::measure(server.id(), addr, &host, s, 64, d))
    };
    let idle_cpu = |server: &std::process::Child| {
        let before = drive::cpu_time(server.id());
        std::thread::sleep(idle);
        drive::cpu_time(server.id()).saturating_sub(before)
    };

    println!("mobieus timers harness: {timers} timers, {secs} s per run, {rounds} rounds");
    let mut before: Vec<RunResult> = vec![];
    let mut idle_before = vec![];
    for _ in 0..rounds {
        idle_before.push(idle_cpu(&server));
        before.push(read(&runtime, &server));
    }

    let started = Instant::now();
    runtime.block_on(set_timers(addr, &host, &key, timers));
    println!(
        "set {timers} timers due in a day in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let mut after: Vec<RunResult> = vec![];
    let mut idle_after = vec![];
    for _ in 0..rounds {
        idle_after.push(idle_cpu(&server));
        after.push(read(&runtime, &server));
    }

    println!("{}   rounds", drive::header());
    for (name, runs) in [
        ("events read, no timers", &before),
        ("events read, timers pending", &after),
    ] {
        let (m, all) = drive::median(runs);
        println!("{}   {all}", m.row(name));
    }
    let ratio = drive::compare(&before, &after).throughput;
    let ms = |d: &[Duration]| {
        d.iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "events read with {timers} timers pending / without: {ratio:.2}x (median of the rounds)"
    );
    println!(
        "server CPU over {secs} s idle: without timers {} ms; with {timers} pending {} ms",
        ms(&idle_before),
        ms(&idle_after)
    );

    // One more, due in a second: how late does it fire with 100,000 waiting behind it?
    let lateness = runtime.block_on(async {
        let body = r#"{"key":"soon","in_ms":1000,"payload":"soon"}"#;
        let set_at = Instant::now();
        let (status, answer) = request(
            addr,
            &host,
            Some(&key),
            "POST",
            "/api/v1/capable/timers",
            Some(body.as_bytes().to_vec()),
        )
        .await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
        loop {
            let fired = fired(addr, &host, &key).await.unwrap_or_default();
            if fired.contains("\"soon\"") {
                return set_at.elapsed().saturating_sub(Duration::from_secs(1));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    println!(
        "a timer due in 1 s fired {:.0} ms after it was due (polled every 5 ms), {timers} others pending",
        lateness.as_secs_f64() * 1000.0
    );
    let _ = server.kill();
}

/// The capable plugin's fired timers, as text; `None` until the plugin answers.
async fn fired(addr: std::net::SocketAddr, host: &str, key: &str) -> Option<String> {
    let path = "/api/v1/capable/fired";
    let (status, body) = request(addr, host, Some(key), "GET", path, None).await;
    (status == 200).then(|| String::from_utf8_lossy(&body).into_owned())
}

/// Sets `n` timers due in a day, over 16 keep-alive connections.
async fn set_timers(addr: std::net::SocketAddr, host: &str, key: &str, n: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (next, host, key) = (next.clone(), host.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let mut sender = common::connect(addr).await;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let body = format!(r#"{{"key":"t{i}","in_ms":86400000,"payload":"later"}}"#);
                    let request = Request::builder()
                        .method("POST")
                        .uri("/api/v1/capable/timers")
                        .header("host", &host)
                        .header("authorization", format!("Bearer {key}"))
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                    let response = sender.send_request(request).await.unwrap();
                    let status = response.status();
                    let _ = response.into_body().collect().await.unwrap();
                    assert_eq!(status, 201);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}
