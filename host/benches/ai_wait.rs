//! AI waiting harness (not a test): what 100 plugin calls waiting on a slow AI provider cost
//! everyone else. Starts the release binary with the `capable` test plugin, a provider on
//! loopback that holds every answer until told, and measures, alternating rounds without and
//! with 100 questions held:
//!
//! - `POST /api/v1/posts` on the same tenant (host writes, the tenant's writer),
//! - `POST /api/v1/capable/notes` on the same tenant (plugin writes: writer and plugin slots),
//! - `POST /api/v1/posts` on another tenant,
//! - `GET /healthz`.
//!
//! It prints each one's throughput with the questions held over without (the median of the
//! rounds' ratios; 1.00x is "costs nothing"), then releases the questions and checks that all
//! 100 were answered 201.
//!
//! Run: `cargo bench -p mobieus --bench ai_wait` (env `LOAD_SECS`, default 5 s per run;
//! `LOAD_ROUNDS`, default 3; `LOAD_CONNECTIONS`, default 16).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

mod common;

use common::{cli, request, start_with};

const HELD: usize = 100;

fn main() {
    let secs = common::env("LOAD_SECS", 5);
    let rounds = common::env("LOAD_ROUNDS", 3).max(1) as usize;
    let connections = common::env("LOAD_CONNECTIONS", 16) as usize;
    let runtime = common::runtime();
    let provider = runtime.block_on(Provider::start());

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().unwrap().to_owned();
    let (mut server, addr) = start_with(
        &data,
        &[
            "--ai-allow-http",
            "--ai-allow-cidr",
            "127.0.0.1/32",
            "--ai-timeout",
            "600s",
        ],
    );
    let plugin = format!("{}/capable.wasm", env!("MOBIEUS_TEST_PLUGINS_DIR"));
    cli(&data, &["plugin", "install", &plugin]);
    let mut keys = vec![];
    for slug in ["bench", "other"] {
        cli(&data, &["tenant", "create", slug, "--plan", "pro"]);
        cli(&data, &["plugin", "enable", "--tenant", slug, "capable"]);
        cli(
            &data,
            &[
                "plugin", "flag", "--tenant", slug, "capable", "ai.tag", "on",
            ],
        );
        keys.push(common::unlimited_key(
            &data,
            slug,
            "users:write,posts:write,capable:use",
        ));
    }
    for slug in ["bench", "other"] {
        common::set_ai_provider(&data, slug, "anthropic", "slow", &provider.url());
    }
    let host = |slug: &str| format!("{slug}.localhost:{}", addr.port());
    let (bench, other) = (host("bench"), host("other"));
    let authors = runtime.block_on(async {
        let mut authors = vec![];
        for (h, key) in [(&bench, &keys[0]), (&other, &keys[1])] {
            // The plugin loads within a second of its install.
            let mut tries = 0;
            while request(addr, h, Some(key), "GET", "/api/v1/capable/ai/tagged", None)
                .await
                .0
                != 200
            {
                tries += 1;
                assert!(tries < 100, "the capable plugin never answered");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let (status, body) = request(
                addr,
                h,
                Some(key),
                "POST",
                "/api/v1/users",
                Some(br#"{"username":"bench"}"#.to_vec()),
            )
            .await;
            assert_eq!(status, 201);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            authors.push(v["id"].as_str().unwrap().to_owned());
        }
        authors
    });
    let post = |author: &str| format!(r#"{{"author_id":"{author}","body":"meanwhile"}}"#);
    let scenarios: Vec<(&str, Arc<Work>)> = vec![
        (
            "POST /api/v1/posts (same tenant)",
            Work::post(&bench, &keys[0], "/api/v1/posts", post(&authors[0])),
        ),
        (
            "POST /api/v1/capable/notes (same tenant)",
            Work::post(
                &bench,
                &keys[0],
                "/api/v1/capable/notes",
                r#"{"title":"t","body":"meanwhile"}"#.into(),
            ),
        ),
        (
            "POST /api/v1/posts (another tenant)",
            Work::post(&other, &keys[1], "/api/v1/posts", post(&authors[1])),
        ),
        ("GET /healthz", Work::get(&bench, "/healthz")),
    ];
    println!(
        "mobieus AI waiting harness: {connections} connections, {secs} s per run, {rounds} rounds, {HELD} questions held in the 'with' runs"
    );
    let mut ratios: Vec<Vec<f64>> = scenarios.iter().map(|_| vec![]).collect();
    let mut answered = 0;
    for round in 0..rounds {
        for ((name, work), ratios) in scenarios.iter().zip(&mut ratios) {
            let without = runtime.block_on(run(addr, work, connections, secs));
            // Hold HELD questions, then measure beside them.
            let waiting = runtime.block_on(async {
                let before = provider.arrived();
                let waiting: Vec<_> = (0..HELD)
                    .map(|i| {
                        let (h, key) = (bench.clone(), keys[0].clone());
                        tokio::spawn(async move {
                            let body = format!(r#"{{"text":"question {i}"}}"#).into_bytes();
                            request(
                                addr,
                                &h,
                                Some(&key),
                                "POST",
                                "/api/v1/capable/ai/tag",
                                Some(body),
                            )
                            .await
                            .0
                        })
                    })
                    .collect();
                while provider.arrived() < before + HELD {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                waiting
            });
            let with = runtime.block_on(run(addr, work, connections, secs));
            assert_eq!(provider.held(), HELD, "a question was answered early");
            provider.release();
            answered += runtime.block_on(async {
                let mut ok = 0;
                for w in waiting {
                    if w.await.unwrap() == 201 {
                        ok += 1;
                    }
                }
                ok
            });
            provider.hold();
            let ratio = with.rate() / without.rate();
            println!(
                "round {round}: {name:<42} without {:>7.0} req/s, with {HELD} held {:>7.0} req/s ({ratio:.2}x; errors {} / {})",
                without.rate(),
                with.rate(),
                without.errors,
                with.errors
            );
            ratios.push(ratio);
        }
    }
    for ((name, _), mut ratios) in scenarios.iter().zip(ratios) {
        ratios.sort_by(f64::total_cmp);
        println!(
            "{name}: throughput with {HELD} AI calls waiting / without: {:.2}x (median of {rounds})",
            ratios[ratios.len() / 2]
        );
    }
    println!(
        "questions answered 201 after release: {answered} of {}",
        HELD * rounds * scenarios.len()
    );
    let _ = server.kill();
}

struct Work {
    host: String,
    key: Option<String>,
    method: &'static str,
    path: String,
    body: Option<Bytes>,
}

impl Work {
    fn post(host: &str, key: &str, path: &str, body: String) -> Arc<Work> {
        Arc::new(Work {
            host: host.to_owned(),
            key: Some(key.to_owned()),
            method: "POST",
            path: path.to_owned(),
            body: Some(Bytes::from(body)),
        })
    }

    fn get(host: &str, path: &str) -> Arc<Work> {
        Arc::new(Work {
            host: host.to_owned(),
            key: None,
            method: "GET",
            path: path.to_owned(),
            body: None,
        })
    }
}

struct Ran {
    ok: usize,
    errors: usize,
    elapsed: Duration,
}

impl Ran {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// `connections` keep-alive connections sending `work` back to back for `secs`.
async fn run(addr: SocketAddr, work: &Arc<Work>, connections: usize, secs: u64) -> Ran {
    let (ok, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (ok, errors, work) = (ok.clone(), errors.clone(), work.clone());
            tokio::spawn(async move {
                let mut sender = common::connect(addr).await;
                while Instant::now() < until {
                    let mut b = Request::builder()
                        .method(work.method)
                        .uri(&work.path)
                        .header("host", &work.host);
                    if let Some(key) = &work.key {
                        b = b.header("authorization", format!("Bearer {key}"));
                    }
                    if work.body.is_some() {
                        b = b.header("content-type", "application/json");
                    }
                    let body = Full::new(work.body.clone().unwrap_or_default());
                    match sender.send_request(b.body(body).unwrap()).await {
                        Ok(resp) => {
                            let good = resp.status().is_success();
                            let _ = resp.into_body().collect().await;
                            if good { &ok } else { &errors }.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    Ran {
        ok: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

/// An Anthropic Messages endpoint on loopback that holds every answer while told to.
#[derive(Clone)]
struct Provider {
    addr: SocketAddr,
    arrived: Arc<AtomicUsize>,
    waiting: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Provider {
    async fn start() -> Provider {
        let (arrived, waiting) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let gate = Arc::new(tokio::sync::watch::channel(0).0);
        let (a, w, g) = (arrived.clone(), waiting.clone(), gate.clone());
        let addr = common::serve_loopback(move |_question: Bytes| {
            let (arrived, waiting, gate) = (a.clone(), w.clone(), g.clone());
            async move {
                let mut release = gate.subscribe();
                let generation = *release.borrow();
                arrived.fetch_add(1, Ordering::SeqCst);
                waiting.fetch_add(1, Ordering::SeqCst);
                let _ = release.wait_for(|g| *g > generation && g % 2 == 1).await;
                waiting.fetch_sub(1, Ordering::SeqCst);
                let body = serde_json::json!({
                    "id": "msg", "type": "message", "role": "assistant", "model": "slow",
                    "content": [{ "type": "tool_use", "id": "t", "name": "answer",
                        "input": { "tags": ["bench"] } }],
                    "usage": { "input_tokens": 10, "output_tokens": 5 }
                });
                Bytes::from(body.to_string())
            }
        })
        .await;
        Provider {
            addr,
            arrived,
            waiting,
            gate,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    fn held(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Answers every question held (odd generations release).
    fn release(&self) {
        self.gate.send_modify(|g| *g += 1);
    }

    /// Holds the questions that come next.
    fn hold(&self) {
        self.gate.send_modify(|g| *g += 1);
    }
}
