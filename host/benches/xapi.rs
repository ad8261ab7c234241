//! xAPI LRS load harness (not a test): statement batches stored and filtered statement queries
//! over a store of 1,000,000 statements, beside the host's posts. Starts the release binary,
//! stores `LRS_STATEMENTS` statements (default 1,000,000, in POSTs of 1,000) spread over 10,000
//! agents, 50 verbs, 1,000 activities and 10,000 registrations, then runs each pair back to
//! back, round after round:
//!
//! - `POST /api/v1/posts` (host) / `POST /api/v1/learn/xapi/statements` with 100 statements,
//! - `GET /api/v1/posts?limit=25` (host) / `GET …/statements?limit=25` filtered by `agent`, by
//!   `verb`, by `activity` and by `registration` (each request another value): each filter an
//!   index read in stored order, so its time does not grow with the store.
//!
//! It prints each run, then per pair the medians of the rounds' throughput and server-CPU ratios.
//!
//! Run: `cargo bench -p mobieus --bench xapi` (env `LRS_STATEMENTS`; `LOAD_SECS`, default 5 s
//! per run; `LOAD_ROUNDS`, default 3; `LOAD_CONNECTIONS`, default 32).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

mod common;

use common::drive::{self, Pair, Scenario};
use common::{cli, start_with};

const AGENTS: usize = 10_000;
const VERBS: usize = 50;
const ACTIVITIES: usize = 1_000;
const REGISTRATIONS: usize = 10_000;
const SEED_BATCH: usize = 1_000;
const XAPI: &str = "/api/v1/learn/xapi/statements";

fn main() {
    let load = drive::Load::from_env();
    let statements = common::env("LRS_STATEMENTS", 1_000_000) as usize;
    let runtime = common::runtime();

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().unwrap().to_owned();
    // A million statements take about 1.1 GiB: past the default plugin quota of 1 GiB.
    let (mut server, addr) = start_with(&data, &["--plugin-quota-mib", "4096"]);
    let pid = server.id();
    cli(&data, &["tenant", "create", "bench", "--plan", "pro"]);
    let key = common::unlimited_key(
        &data,
        "bench",
        "users:write,posts:read,posts:write,learn:xapi:read,learn:xapi:write",
    );
    let host = format!("bench.localhost:{}", addr.port());
    let started = Instant::now();
    let author = runtime.block_on(seed(addr, &host, &key, statements));
    println!(
        "mobieus xAPI harness: {}; {statements} statements stored in {:.0} s",
        load.describe(),
        started.elapsed().as_secs_f64()
    );

    let version = ("x-experience-api-version", "1.0.3");
    let xapi_get = |paths: Vec<String>| {
        Arc::new(Scenario::get_each(paths, Some(&key)).with_header(version.0, version.1))
    };
    let filtered = |name: &str, count: usize, value: &dyn Fn(usize) -> String| {
        (0..count)
            .step_by((count / 200).max(1))
            .map(|i| {
                let v: String = url::form_urlencoded::byte_serialize(value(i).as_bytes()).collect();
                format!("{XAPI}?limit=25&{name}={v}")
            })
            .collect::<Vec<_>>()
    };
    let posts = Arc::new(Scenario::get("/api/v1/posts?limit=25", Some(&key)));
    let batches: Vec<String> = (0..64)
        .map(|b| Value::Array((0..100).map(|i| statement(b * 100 + i)).collect()).to_string())
        .collect();
    let pairs: Vec<Pair> = vec![
        [
            (
                "POST /api/v1/posts (host)",
                Arc::new(Scenario::post(
                    "/api/v1/posts",
                    &key,
                    format!(r#"{{"author_id":"{author}","body":"A post under load"}}"#),
                )),
            ),
            (
                "POST xapi/statements (100 statements)",
                Arc::new(
                    Scenario::post_each(XAPI, &key, batches).with_header(version.0, version.1),
                ),
            ),
        ],
        [
            ("GET /api/v1/posts?limit=25 (host)", posts.clone()),
            (
                "GET xapi/statements?agent=",
                xapi_get(filtered("agent", AGENTS, &|i| agent(i).to_string())),
            ),
        ],
        [
            ("GET /api/v1/posts?limit=25 (host)", posts.clone()),
            (
                "GET xapi/statements?verb=",
                xapi_get(filtered("verb", VERBS, &verb)),
            ),
        ],
        [
            ("GET /api/v1/posts?limit=25 (host)", posts.clone()),
            (
                "GET xapi/statements?activity=",
                xapi_get(filtered("activity", ACTIVITIES, &activity)),
            ),
        ],
        [
            ("GET /api/v1/posts?limit=25 (host)", posts),
            (
                "GET xapi/statements?registration=",
                xapi_get(filtered("registration", REGISTRATIONS, &registration)),
            ),
        ],
    ];
    load.compare_pairs(&runtime, pid, addr, &host, &pairs);
    let _ = server.kill();
}

fn agent(i: usize) -> Value {
    json!({"mbox": format!("mailto:learner{}@example.com", i % AGENTS)})
}

fn verb(i: usize) -> String {
    format!("http://example.com/verbs/v{}", i % VERBS)
}

fn activity(i: usize) -> String {
    format!("http://example.com/activities/a{}", i % ACTIVITIES)
}

fn registration(i: usize) -> String {
    format!("00000000-0000-4000-8000-{:012x}", i % REGISTRATIONS)
}

/// The `n`th statement: its agent, verb, activity and registration spread evenly (a prime
/// stride apart, so no two filters pick the same statements).
fn statement(n: usize) -> Value {
    json!({
        "actor": agent(n),
        "verb": {"id": verb(n * 7)},
        "object": {"id": activity(n * 13), "definition": {"name": {"en-US": "An activity"}}},
        "context": {"registration": registration(n * 17)},
        "result": {"completion": true, "score": {"scaled": 0.5}}
    })
}

/// Stores `count` statements; answers the posts' author.
async fn seed(addr: SocketAddr, host: &str, key: &str, count: usize) -> String {
    let author = common::call(
        addr,
        host,
        key,
        "POST",
        "/api/v1/users",
        json!({"username": "author"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..100 {
        common::call(
            addr,
            host,
            key,
            "POST",
            "/api/v1/posts",
            json!({"author_id": author, "body": format!("post {i}")}),
        )
        .await;
    }
    for start in (0..count).step_by(SEED_BATCH) {
        // A connection per batch: the server may close a long-lived one between them.
        let mut sender = common::connect(addr).await;
        let batch: Vec<Value> = (start..(start + SEED_BATCH).min(count))
            .map(statement)
            .collect();
        let request = hyper::Request::post(XAPI)
            .header("host", host)
            .header("authorization", format!("Bearer {key}"))
            .header("x-experience-api-version", "1.0.3")
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                Value::Array(batch).to_string(),
            )))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200, "seeding at {start}");
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        if start % 100_000 == 0 {
            eprintln!("seeded {start}");
        }
    }
    author
}
