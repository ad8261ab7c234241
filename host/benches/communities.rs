//! Cobuntu-compatible surface load harness (not a test): `GET /communities/{tag}/events` with a
//! publishable key beside the host's events read. Starts the release binary, seeds 50 community
//! events (and a user and 50 posts, whose events fill the log), then runs the pair back to back,
//! round after round:
//!
//! - `GET /api/v1/events?limit=20` (host: the event log, a `mc_` key) /
//!   `GET /api/v1/communities/bench/events` (plugin: the first 20 of 50 and the total, a `pk_`
//!   key at the base domain, the community named by the path).
//!
//! The publishable key is minted with a per-minute limit of its own, or seed 001's 100 requests a
//! second would be the figure. It prints each run, then the medians of the rounds' ratios.
//!
//! Run: `cargo bench -p mobieus --bench communities` (env `LOAD_SECS`, default 5 s per run;
//! `LOAD_ROUNDS`, default 3; `LOAD_CONNECTIONS`, default 32).

use std::sync::Arc;

use serde_json::json;

mod common;

use common::drive::{self, Pair, Scenario};
use common::{cli, start};

fn main() {
    let load = drive::Load::from_env();
    let runtime = common::runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().unwrap().to_owned();
    let (mut server, addr) = start(&data);
    let pid = server.id();
    cli(&data, &["tenant", "create", "bench", "--plan", "pro"]);
    let key = common::unlimited_key(&data, "bench", "events:read,users:write,posts:write");
    // Cobuntu-format keys, each with a per-minute limit of its own (not seed 001's per second).
    let cobuntu = |kind: &str, scopes: &str| {
        let args = [
            "key",
            "create",
            "--tenant",
            "bench",
            "--env",
            "live",
            "--format",
            "cobuntu",
            "--kind",
            kind,
            "--scopes",
            scopes,
            "--rate-limit",
            "1000000000",
            "--quiet",
        ];
        cli(&data, &args).trim().to_owned()
    };
    let admin = cobuntu("secret", "ADMIN");
    let publishable = cobuntu("publishable", "READ_PUBLIC");
    let tenant_host = format!("bench.localhost:{}", addr.port());
    let base_host = format!("localhost:{}", addr.port());
    runtime.block_on(async {
        let author = common::call(addr, &tenant_host, &key, "POST", "/api/v1/users", json!({"username": "author"})).await;
        for i in 0..50 {
            common::call(
                addr,
                &tenant_host,
                &key,
                "POST",
                "/api/v1/posts",
                json!({"author_id": author["id"], "body": format!("post {i}")}),
            )
            .await;
            common::call(
                addr,
                &base_host,
                &admin,
                "POST",
                "/api/v1/communities/bench/events",
                json!({"slug": format!("event-{i}"), "title": format!("Event {i}"), "starts_at": format!("2030-01-{:02}T18:00:00Z", i % 28 + 1)}),
            )
            .await;
        }
    });
    println!(
        "mobieus communities harness: {}; 50 community events, 100 log events",
        load.describe()
    );
    let pairs: Vec<Pair> = vec![[
        (
            "GET /api/v1/events?limit=20 (host)",
            Arc::new(Scenario::get("/api/v1/events?limit=20", Some(&key))),
        ),
        (
            "GET /communities/bench/events (pk_)",
            Arc::new(
                Scenario::get("/api/v1/communities/bench/events", Some(&publishable))
                    .at_host(&base_host),
            ),
        ),
    ]];
    load.compare_pairs(&runtime, pid, addr, &tenant_host, &pairs);
    let _ = server.kill();
}
